//! One-time enrolment links for a first strong factor, and how each factor was enrolled.

use super::{dispatch, Db, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub id: String,
    pub account_id: String,
    pub issued_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
    pub redeemed_sid: Option<String>,
    pub completed_at: Option<i64>,
}

const COLUMNS: &str = "id, account_id, issued_by, created_at, expires_at, redeemed_at, redeemed_sid, completed_at";

pub async fn insert(db: &Db, l: &LinkRow, token_hash: &str) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO enrolment_links (id, account_id, token_hash, issued_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        [&l.id, &l.account_id, token_hash, &l.issued_by, l.created_at, l.expires_at],
        execute
    )?;
    Ok(())
}

/// Takes the link for the session `sid` of its own account, once: the single UPDATE is the
/// check and the act, so of many simultaneous redemptions exactly one wins. `None` when the
/// link is unknown, another person's, used or expired (the caller does not say which).
pub async fn redeem(
    db: &Db,
    token_hash: &str,
    account_id: &str,
    sid: &str,
    now: i64,
) -> Result<Option<LinkRow>, StoreError> {
    let sql = format!(
        "UPDATE enrolment_links SET redeemed_at = $1, redeemed_sid = $2 \
         WHERE token_hash = $3 AND account_id = $4 AND redeemed_at IS NULL AND expires_at > $1 RETURNING {COLUMNS}"
    );
    Ok(dispatch!(db, &sql, [now, sid, token_hash, account_id], fetch_optional(LinkRow))?)
}

/// The link redeemed by session `sid` whose enrolment is still open (redeemed after `since`).
pub async fn open_for_session(db: &Db, account_id: &str, sid: &str, since: i64) -> Result<Option<LinkRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM enrolment_links WHERE account_id = $1 AND redeemed_sid = $2 \
         AND redeemed_at > $3 AND completed_at IS NULL ORDER BY redeemed_at DESC LIMIT 1"
    );
    Ok(dispatch!(db, &sql, [account_id, sid, since], fetch_optional(LinkRow))?)
}

/// Closes a link's enrolment once its factor is stored; false when it was closed already.
pub async fn complete(db: &Db, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE enrolment_links SET completed_at = $1 WHERE id = $2 AND completed_at IS NULL",
        [now, id],
        execute
    )?;
    Ok(n == 1)
}

/// Records how a passkey was enrolled (see the migration).
pub async fn mark_passkey(db: &Db, passkey_id: &str, via: &str, level: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE passkeys SET enrolled_via = $1, enrolled_level = $2 WHERE id = $3",
        [via, level, passkey_id],
        execute
    )?;
    Ok(())
}

pub async fn mark_totp(db: &Db, account_id: &str, via: &str, level: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE totp_factors SET enrolled_via = $1, enrolled_level = $2 WHERE account_id = $3",
        [via, level, account_id],
        execute
    )?;
    Ok(())
}

/// How the account's authenticator app was enrolled: `(via, level)`, both absent for older ones.
pub async fn totp_origin(db: &Db, account_id: &str) -> Result<Option<(Option<String>, Option<i64>)>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT enrolled_via, enrolled_level FROM totp_factors WHERE account_id = $1 AND confirmed = TRUE",
        [account_id],
        fetch_optional((Option<String>, Option<i64>))
    )?)
}

pub async fn reopen(db: &Db, id: &str) -> Result<(), StoreError> {
    dispatch!(db, "UPDATE enrolment_links SET completed_at = NULL WHERE id = $1", [id], execute)?;
    Ok(())
}
