//! Registered applications (OAuth clients). Lists are stored as JSON (URIs) or space-separated
//! text (scopes, grant types) so one schema serves both databases.

use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub public_client: bool,
    pub first_party: bool,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub scopes: String,
    pub grant_types: String,
    pub token_alg: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub category: String,
    pub owner_opd_id: Option<String>,
    /// Space-separated: `asn`, `citizen`.
    pub account_types: String,
    /// Space-separated role names; a person needs at least one of them.
    pub required_roles: String,
    pub min_level: i64,
    pub development: bool,
    /// `public` or `pairwise`.
    pub subject_type: String,
    pub disabled: bool,
    /// Citizens must be identity-verified (counter verification) to sign in.
    pub require_verified: bool,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

const COLUMNS: &str = "id, name, secret_hash, public_client, first_party, redirect_uris, post_logout_redirect_uris, \
                       scopes, grant_types, token_alg, created_at, updated_at, category, owner_opd_id, account_types, \
                       required_roles, min_level, development, subject_type, disabled, require_verified, \
                       backchannel_logout_uri, backchannel_logout_session_required";

pub async fn insert(db: impl Into<Exec<'_>>, c: &ClientRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO clients (id, name, secret_hash, public_client, first_party, redirect_uris, post_logout_redirect_uris, \
         scopes, grant_types, token_alg, created_at, updated_at, category, owner_opd_id, account_types, required_roles, min_level, \
         development, subject_type, require_verified, backchannel_logout_uri, backchannel_logout_session_required) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
        [
            &c.id, &c.name, &c.secret_hash, c.public_client, c.first_party, &c.redirect_uris,
            &c.post_logout_redirect_uris, &c.scopes, &c.grant_types, &c.token_alg, c.created_at, c.updated_at,
            &c.category, &c.owner_opd_id, &c.account_types, &c.required_roles, c.min_level, c.development, &c.subject_type,
            c.require_verified, &c.backchannel_logout_uri, c.backchannel_logout_session_required
        ],
        execute
    )?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ClientRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM clients WHERE id = $1");
    Ok(dispatch!(db, &sql, [id], fetch_optional(ClientRow))?)
}

pub async fn list(db: &Db) -> Result<Vec<ClientRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM clients ORDER BY created_at, id");
    Ok(dispatch!(db, &sql, [], fetch_all(ClientRow))?)
}

/// Every registered application's id, for jobs that need no more than that.
pub async fn ids(db: &Db) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = dispatch!(db, "SELECT id FROM clients ORDER BY id", [], fetch_all((String,)))?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub async fn set_redirect_uris(
    db: &Db,
    id: &str,
    redirect_uris: &str,
    post_logout: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE clients SET redirect_uris = $1, post_logout_redirect_uris = $2, updated_at = $3 WHERE id = $4",
        [redirect_uris, post_logout, now, id],
        execute
    )?;
    Ok(n == 1)
}

pub async fn set_secret_hash(db: &Db, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE clients SET secret_hash = $1, updated_at = $2 WHERE id = $3 AND public_client = FALSE",
        [hash, now, id],
        execute
    )?;
    Ok(n == 1)
}

pub async fn set_disabled(db: &Db, id: &str, disabled: bool, now: i64) -> Result<bool, StoreError> {
    let n =
        dispatch!(db, "UPDATE clients SET disabled = $1, updated_at = $2 WHERE id = $3", [disabled, now, id], execute)?;
    Ok(n == 1)
}

/// The settings an administrator may edit after registration.
pub async fn update_settings(db: &Db, c: &ClientRow) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE clients SET name = $1, redirect_uris = $2, post_logout_redirect_uris = $3, scopes = $4, category = $5, \
         owner_opd_id = $6, account_types = $7, required_roles = $8, min_level = $9, updated_at = $10, \
         require_verified = $11, backchannel_logout_uri = $12, backchannel_logout_session_required = $13 \
         WHERE id = $14",
        [
            &c.name, &c.redirect_uris, &c.post_logout_redirect_uris, &c.scopes, &c.category, &c.owner_opd_id,
            &c.account_types, &c.required_roles, c.min_level, c.updated_at, c.require_verified,
            &c.backchannel_logout_uri, c.backchannel_logout_session_required, &c.id
        ],
        execute
    )?;
    Ok(n == 1)
}
