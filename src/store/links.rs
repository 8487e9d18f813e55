//! One-time action links (reset, activation, e-mail verification, registration): only a hash of
//! each link's secret is stored.

use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActionLinkRow {
    pub id: String,
    pub purpose: String,
    pub account_id: Option<String>,
    pub target: String,
    pub issued_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const COLUMNS: &str = "id, purpose, account_id, target, issued_by, created_at, expires_at, used_at";

/// Which of the account's open links of the same purpose a new link closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaces<'a> {
    /// All of them: only the newest link sent or shown works.
    Every,
    /// Only those with this `issued_by`: a link someone asked for through a public form must
    /// not close one the help desk handed out.
    IssuedBy(&'a str),
}

/// Stores a new link; the older open links of the same purpose for the same account that it
/// `replaces` are closed in the same transaction (under the account's lock, so two issued at
/// once leave one open).
pub async fn insert(db: &Db, l: &ActionLinkRow, token_hash: &str, replaces: Replaces<'_>) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    if let Some(account) = &l.account_id {
        super::accounts::lock(&mut tx, account).await?;
        match replaces {
            Replaces::Every => dispatch!(
                &mut tx,
                "UPDATE action_links SET used_at = $1 WHERE account_id = $2 AND purpose = $3 AND used_at IS NULL",
                [l.created_at, account, &l.purpose],
                execute
            )?,
            Replaces::IssuedBy(by) => dispatch!(
                &mut tx,
                "UPDATE action_links SET used_at = $1 \
                 WHERE account_id = $2 AND purpose = $3 AND issued_by = $4 AND used_at IS NULL",
                [l.created_at, account, &l.purpose, by],
                execute
            )?,
        };
    }
    dispatch!(
        &mut tx,
        "INSERT INTO action_links (id, purpose, account_id, token_hash, target, issued_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [&l.id, &l.purpose, &l.account_id, token_hash, &l.target, &l.issued_by, l.created_at, l.expires_at],
        execute
    )?;
    tx.commit().await
}

/// Takes the link once: the single UPDATE is both the check and the act, so of many
/// simultaneous requests exactly one gets the row. `None` when unknown, used or expired.
pub async fn take(
    db: impl Into<Exec<'_>>,
    token_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<ActionLinkRow>, StoreError> {
    let sql = format!(
        "UPDATE action_links SET used_at = $1 \
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING {COLUMNS}"
    );
    Ok(dispatch!(db, &sql, [now, token_hash, purpose], fetch_optional(ActionLinkRow))?)
}

/// The link as it stands, without taking it (to show its form, or to say why it was refused).
pub async fn find(db: &Db, token_hash: &str, purpose: &str) -> Result<Option<ActionLinkRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM action_links WHERE token_hash = $1 AND purpose = $2");
    Ok(dispatch!(db, &sql, [token_hash, purpose], fetch_optional(ActionLinkRow))?)
}

/// Opens a taken link again when what it was taken for could not be finished, so nothing is
/// left half done: the person can follow it once more.
pub async fn give_back(db: &Db, id: &str) -> Result<(), StoreError> {
    dispatch!(db, "UPDATE action_links SET used_at = NULL WHERE id = $1", [id], execute)?;
    Ok(())
}

/// Closes every open link of `purpose` for the account (a password set another way, say).
pub async fn close_all(db: impl Into<Exec<'_>>, account_id: &str, purpose: &str, now: i64) -> Result<u64, StoreError> {
    let ex: Exec<'_> = db.into();
    Ok(dispatch!(
        ex,
        "UPDATE action_links SET used_at = $1 WHERE account_id = $2 AND purpose = $3 AND used_at IS NULL",
        [now, account_id, purpose],
        execute
    )?)
}

/// Removes links that expired before `before` (used or not): a pending registration carries a
/// password hash and personal data that must not stay.
pub async fn purge(db: &Db, before: i64) -> Result<u64, StoreError> {
    Ok(dispatch!(db, "DELETE FROM action_links WHERE expires_at < $1", [before], execute)?)
}

/// The account's newest open link of `purpose`, if any (for an e-mail change, the only one: a
/// new one closes the older).
pub async fn open_for(db: &Db, account_id: &str, purpose: &str, now: i64) -> Result<Option<ActionLinkRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM action_links WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL \
         AND expires_at > $3 ORDER BY created_at DESC LIMIT 1"
    );
    Ok(dispatch!(db, &sql, [account_id, purpose, now], fetch_optional(ActionLinkRow))?)
}
