//! Stored WebAuthn credentials.

use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct PasskeyRow {
    pub id: String,
    pub account_id: String,
    pub cred_id: String,
    pub name: String,
    #[serde(skip)]
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// How it was enrolled (see migration 0012); absent for older passkeys.
    pub enrolled_via: Option<String>,
    pub enrolled_level: Option<i64>,
}

const COLUMNS: &str =
    "id, account_id, cred_id, name, credential, created_at, last_used_at, enrolled_via, enrolled_level";

pub async fn insert(db: &Db, p: &PasskeyRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO passkeys (id, account_id, cred_id, name, credential, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [&p.id, &p.account_id, &p.cred_id, &p.name, &p.credential, p.created_at, p.last_used_at],
        execute
    )?;
    Ok(())
}

pub async fn list(db: &Db, account_id: &str) -> Result<Vec<PasskeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE account_id = $1 ORDER BY created_at, id");
    Ok(dispatch!(db, &sql, [account_id], fetch_all(PasskeyRow))?)
}

pub async fn update_after_use(db: &Db, id: &str, credential: &str, now: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE id = $3",
        [credential, now, id],
        execute
    )?;
    Ok(())
}

pub async fn delete(db: &Db, account_id: &str, id: &str) -> Result<bool, StoreError> {
    let n = dispatch!(db, "DELETE FROM passkeys WHERE account_id = $1 AND id = $2", [account_id, id], execute)?;
    Ok(n == 1)
}

/// Every passkey of an account (an administrator's factor reset); returns how many.
pub async fn delete_all(db: impl Into<Exec<'_>>, account_id: &str) -> Result<u64, StoreError> {
    Ok(dispatch!(db, "DELETE FROM passkeys WHERE account_id = $1", [account_id], execute)?)
}
