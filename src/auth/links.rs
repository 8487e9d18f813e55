//! One-time links sent or shown to people: password reset, account activation, e-mail
//! verification and citizen registration. Each is single use, expires, is stored only as a
//! hash, and replaces the open link of the same purpose for the same account, except that a link
//! asked for through "forgot password" replaces only links asked for the same way. A refused link
//! says why (unknown, used or expired): its secret is 256 random bits, so naming the reason
//! tells an attacker nothing, and it tells the person what to do.

use std::fmt;

use crate::crypto;
use crate::store::links::{self as store, ActionLinkRow};
use crate::store::{Db, StoreError};

/// How long a link may wait to be followed.
pub const LIFETIME: i64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Sets a new password for an account that has one (help desk or "forgot password").
    Reset,
    /// Sets the first password of an account created without one.
    Activation,
    /// Proves the address in `target` belongs to the account's holder.
    Email,
    /// Creates the citizen account described in `target` once its address is proven.
    Registration,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::Activation => "activation",
            Purpose::Email => "email",
            Purpose::Registration => "registration",
        }
    }

    /// Where the link is opened, under the issuer; the secret follows.
    pub fn path(self) -> &'static str {
        match self {
            Purpose::Reset => "/reset/",
            Purpose::Activation => "/activate/",
            Purpose::Email => "/verify-email/",
            Purpose::Registration => "/register/confirm/",
        }
    }
}

/// A freshly issued link. Its URL carries the secret: it is shown once or mailed, never logged.
#[derive(Clone)]
pub struct Issued {
    pub id: String,
    pub url: String,
    pub expires_at: i64,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("id", &self.id)
            .field("url", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a link we issued (mistyped, cut off, forged).
    Unknown,
    /// Followed already, or replaced by a newer link.
    Used,
    Expired,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown",
            Refusal::Used => "used",
            Refusal::Expired => "expired",
        }
    }
}

/// The form a link's secret has (32 random bytes, base64url); anything else is not looked up
/// and never echoed.
pub fn plausible(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What is stored of a link's secret (enrolment links keep theirs the same way).
pub fn token_hash(token: &str) -> String {
    crypto::sha256_hex(token.as_bytes())
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no randomness: {0}")]
    Random(String),
}

/// `issued_by` of a link the person asked for themselves through "forgot password".
pub const SELF_SERVICE: &str = "self";

/// Issues a link for `purpose`, closing the account's older open links of that purpose: the
/// newest one a person was sent or handed is the one that works. `account_id` is absent only
/// for registrations, whose account does not exist yet.
pub async fn issue(
    db: &Db,
    issuer: &str,
    purpose: Purpose,
    account_id: Option<&str>,
    target: &str,
    issued_by: &str,
    now: i64,
) -> Result<Issued, LinkError> {
    insert(db, issuer, purpose, account_id, target, issued_by, store::Replaces::Every, now).await
}

/// Issues a reset or activation link asked for through "forgot password" (which anyone who
/// knows a NIP or NIK can do). It closes only earlier links asked for that way, never one the
/// help desk handed out: otherwise a stranger could kill that link with one request, and keep
/// killing each new one.
pub async fn issue_self_service(
    db: &Db,
    issuer: &str,
    purpose: Purpose,
    account_id: &str,
    now: i64,
) -> Result<Issued, LinkError> {
    let replaces = store::Replaces::IssuedBy(SELF_SERVICE);
    insert(db, issuer, purpose, Some(account_id), "", SELF_SERVICE, replaces, now).await
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    db: &Db,
    issuer: &str,
    purpose: Purpose,
    account_id: Option<&str>,
    target: &str,
    issued_by: &str,
    replaces: store::Replaces<'_>,
    now: i64,
) -> Result<Issued, LinkError> {
    let token = crypto::random_token(32).map_err(|e| LinkError::Random(e.to_string()))?;
    let row = ActionLinkRow {
        id: uuid::Uuid::new_v4().to_string(),
        purpose: purpose.as_str().into(),
        account_id: account_id.map(String::from),
        target: target.into(),
        issued_by: issued_by.into(),
        created_at: now,
        expires_at: now + LIFETIME,
        used_at: None,
    };
    store::insert(db, &row, &token_hash(&token), replaces).await?;
    Ok(Issued { id: row.id, url: format!("{issuer}{}{token}", purpose.path()), expires_at: row.expires_at })
}

/// The open link behind `token`, without taking it (to show the form it leads to).
pub async fn inspect(
    db: &Db,
    purpose: Purpose,
    token: &str,
    now: i64,
) -> Result<Result<ActionLinkRow, Refusal>, StoreError> {
    if !plausible(token) {
        return Ok(Err(Refusal::Unknown));
    }
    let row = store::find(db, &token_hash(token), purpose.as_str()).await?;
    Ok(judge(row, now))
}

fn judge(row: Option<ActionLinkRow>, now: i64) -> Result<ActionLinkRow, Refusal> {
    match row {
        None => Err(Refusal::Unknown),
        Some(r) if r.used_at.is_some() => Err(Refusal::Used),
        Some(r) if r.expires_at <= now => Err(Refusal::Expired),
        Some(r) => Ok(r),
    }
}

/// Takes the link once (see `store::links::take`); when refused, says why.
pub async fn take(
    db: &Db,
    purpose: Purpose,
    token: &str,
    now: i64,
) -> Result<Result<ActionLinkRow, Refusal>, StoreError> {
    if !plausible(token) {
        return Ok(Err(Refusal::Unknown));
    }
    let h = token_hash(token);
    if let Some(row) = store::take(db, &h, purpose.as_str(), now).await? {
        return Ok(Ok(row));
    }
    let row = store::find(db, &h, purpose.as_str()).await?;
    Ok(match judge(row, now) {
        // Open a moment ago, taken by a simultaneous request since.
        Ok(_) => Err(Refusal::Used),
        Err(r) => Err(r),
    })
}

/// Opens a taken link again when its work could not be finished.
pub async fn give_back(db: &Db, link: &ActionLinkRow) {
    if let Err(e) = store::give_back(db, &link.id).await {
        tracing::error!(error = %e, link = %link.id, "a taken link could not be reopened");
    }
}

/// Closes the account's open links of `purpose` (its password was set another way, say).
pub async fn close_all(
    db: impl Into<crate::store::Exec<'_>>,
    account_id: &str,
    purpose: Purpose,
    now: i64,
) -> Result<u64, StoreError> {
    store::close_all(db, account_id, purpose.as_str(), now).await
}

/// Closes the account's open password links (reset and activation): once its password was
/// changed, or the address they were mailed to is no longer the account's, a link still open
/// would let whoever holds it set the password again.
pub async fn close_password_links(
    db: impl Into<crate::store::Exec<'_>>,
    account_id: &str,
    now: i64,
) -> Result<u64, StoreError> {
    let mut ex: crate::store::Exec<'_> = db.into();
    let mut closed = 0;
    for purpose in [Purpose::Reset, Purpose::Activation] {
        closed += store::close_all(ex.reborrow(), account_id, purpose.as_str(), now).await?;
    }
    Ok(closed)
}

/// The account's open link of `purpose` (an e-mail change waiting for its proof, say).
pub async fn pending(
    db: &Db,
    account_id: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<ActionLinkRow>, StoreError> {
    store::open_for(db, account_id, purpose.as_str(), now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(used: Option<i64>, expires_at: i64) -> ActionLinkRow {
        ActionLinkRow {
            id: "l".into(),
            purpose: "reset".into(),
            account_id: Some("a".into()),
            target: String::new(),
            issued_by: "x".into(),
            created_at: 0,
            expires_at,
            used_at: used,
        }
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(judge(None, 10).unwrap_err(), Refusal::Unknown);
        assert_eq!(judge(Some(row(Some(5), 100)), 10).unwrap_err(), Refusal::Used);
        assert_eq!(judge(Some(row(None, 10)), 10).unwrap_err(), Refusal::Expired);
        assert!(judge(Some(row(None, 11)), 10).is_ok());
        assert!(!plausible("short"));
        assert!(!plausible(&"a".repeat(42)));
        assert!(plausible(&"a".repeat(43)));
        assert!(!plausible(&format!("{}<", "a".repeat(42))));
    }
}
