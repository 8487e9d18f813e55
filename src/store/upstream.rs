//! Links between upstream identities (an `[[upstream]]` provider's `sub`) and accounts.

use super::accounts::{self, AccountRow};
use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub upstream_id: String,
    pub subject: String,
    pub account_id: String,
    pub issuer: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

const COLUMNS: &str = "upstream_id, subject, account_id, issuer, created_at, last_login_at";

pub async fn find(db: &Db, upstream_id: &str, subject: &str) -> Result<Option<LinkRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM upstream_links WHERE upstream_id = $1 AND subject = $2");
    Ok(dispatch!(db, &sql, [upstream_id, subject], fetch_optional(LinkRow))?)
}

/// The primary key and the one-link-per-account-per-upstream rule make a second, racing link
/// fail with [`StoreError::Conflict`] instead of being stored twice.
pub async fn insert(db: impl Into<Exec<'_>>, l: &LinkRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO upstream_links (upstream_id, subject, account_id, issuer, created_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        [&l.upstream_id, &l.subject, &l.account_id, &l.issuer, l.created_at, l.last_login_at],
        execute
    )?;
    Ok(())
}

/// A new account and its link, both or neither.
pub async fn create_account_linked(db: &Db, account: &AccountRow, link: &LinkRow) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    accounts::insert(&mut tx, account).await?;
    insert(&mut tx, link).await?;
    tx.commit().await
}

pub async fn touch(db: &Db, upstream_id: &str, subject: &str, now: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE upstream_links SET last_login_at = $1 WHERE upstream_id = $2 AND subject = $3",
        [now, upstream_id, subject],
        execute
    )?;
    Ok(())
}

/// The account's links, oldest first.
pub async fn of_account(db: &Db, account_id: &str) -> Result<Vec<LinkRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM upstream_links WHERE account_id = $1 ORDER BY created_at, upstream_id");
    Ok(dispatch!(db, &sql, [account_id], fetch_all(LinkRow))?)
}

/// Removes the account's link to one upstream; the removed row, if there was one.
pub async fn remove(db: &Db, account_id: &str, upstream_id: &str) -> Result<Option<LinkRow>, StoreError> {
    let sql = format!("DELETE FROM upstream_links WHERE account_id = $1 AND upstream_id = $2 RETURNING {COLUMNS}");
    Ok(dispatch!(db, &sql, [account_id, upstream_id], fetch_optional(LinkRow))?)
}
