//! Application registration requests.

use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    pub id: String,
    pub requester_id: String,
    pub opd_id: String,
    pub name: String,
    pub category: String,
    pub redirect_uris: String,
    pub scopes: String,
    pub min_level: i64,
    pub public_client: bool,
    pub status: String,
    pub reason: String,
    pub client_id: Option<String>,
    pub sealed_secret: Option<Vec<u8>>,
    pub reviewed_by: Option<String>,
    pub created_at: i64,
    pub reviewed_at: Option<i64>,
    pub fetched_at: Option<i64>,
}

const COLUMNS: &str =
    "id, requester_id, opd_id, name, category, redirect_uris, scopes, min_level, public_client, status, reason, \
                       client_id, sealed_secret, reviewed_by, created_at, reviewed_at, fetched_at";

pub async fn insert(db: &Db, r: &RequestRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO app_requests (id, requester_id, opd_id, name, category, redirect_uris, scopes, min_level, public_client, status, \
         reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        [&r.id, &r.requester_id, &r.opd_id, &r.name, &r.category, &r.redirect_uris, &r.scopes, r.min_level, r.public_client, &r.status, &r.reason, r.created_at],
        execute
    )?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<RequestRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM app_requests WHERE id = $1");
    Ok(dispatch!(db, &sql, [id], fetch_optional(RequestRow))?)
}

pub async fn list(db: &Db) -> Result<Vec<RequestRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM app_requests ORDER BY created_at DESC, id");
    Ok(dispatch!(db, &sql, [], fetch_all(RequestRow))?)
}

/// Decides a pending request; false when it was no longer pending (decided meanwhile).
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    db: impl Into<Exec<'_>>,
    id: &str,
    status: &str,
    reason: &str,
    client_id: Option<&str>,
    sealed_secret: Option<&[u8]>,
    reviewer: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE app_requests SET status = $1, reason = $2, client_id = $3, sealed_secret = $4, reviewed_by = $5, reviewed_at = $6 \
         WHERE id = $7 AND status = 'pending'",
        [status, reason, client_id, sealed_secret, reviewer, now, id],
        execute
    )?;
    Ok(n == 1)
}

/// Takes the sealed secret away: whoever gets `true` is the only one who saw it.
pub async fn take_secret(db: &Db, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE app_requests SET sealed_secret = NULL, fetched_at = $1 WHERE id = $2 AND fetched_at IS NULL AND status = 'approved'",
        [now, id],
        execute
    )?;
    Ok(n == 1)
}

/// The reviewer's corrections, stored as the request that was approved.
#[allow(clippy::too_many_arguments)]
pub async fn correct(
    db: impl Into<Exec<'_>>,
    id: &str,
    name: &str,
    category: &str,
    redirect_uris: &str,
    scopes: &str,
    min_level: i64,
    public_client: bool,
) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE app_requests SET name = $1, category = $2, redirect_uris = $3, scopes = $4, min_level = $5, public_client = $6 \
         WHERE id = $7 AND status = 'pending'",
        [name, category, redirect_uris, scopes, min_level, public_client, id],
        execute
    )?;
    Ok(())
}
