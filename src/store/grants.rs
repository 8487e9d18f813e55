//! Grants (one per authorization-code redemption), their refresh-token family, consents, and
//! revoked access-token ids. Revoking a grant invalidates every token issued under it.

use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub id: String,
    pub account_id: String,
    pub client_id: String,
    pub scope: String,
    pub sid: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// Space-separated role ids carried by the grant's latest tokens.
    pub roles: String,
    /// The session id the application's ID tokens name (see migration 0018); `sid` may have
    /// moved on to a later login of the same person since.
    pub rp_sid: Option<String>,
}

impl GrantRow {
    /// The session as the application knows it: what its tokens and logout tokens carry.
    pub fn rp_sid(&self) -> &str {
        self.rp_sid.as_deref().unwrap_or(&self.sid)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub token_hash: String,
    pub grant_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert_grant(db: &Db, g: &GrantRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO grants (id, account_id, client_id, scope, sid, auth_time, acr, amr, created_at, expires_at, revoked_at, roles, rp_sid) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        [&g.id, &g.account_id, &g.client_id, &g.scope, &g.sid, g.auth_time, &g.acr, &g.amr, g.created_at, g.expires_at, g.revoked_at, &g.roles, &g.rp_sid],
        execute
    )?;
    Ok(())
}

/// A new grant with its first refresh token (`token_hash`, expiring with the grant). On
/// PostgreSQL one statement, one commit: a login's token request is on the morning's hottest
/// path. On SQLite (in-process, no commit to save) two statements; a grant left without its
/// token by a failure in between is only an unusable row.
pub async fn insert_grant_with_refresh(db: &Db, g: &GrantRow, token_hash: &str) -> Result<(), StoreError> {
    match db {
        Db::Postgres(_) => {
            dispatch!(
                db,
                "WITH g AS (INSERT INTO grants (id, account_id, client_id, scope, sid, auth_time, acr, amr, created_at, \
                   expires_at, revoked_at, roles, rp_sid) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id, created_at, expires_at) \
                 INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at, used_at) \
                 SELECT $14, id, created_at, expires_at, NULL FROM g",
                [&g.id, &g.account_id, &g.client_id, &g.scope, &g.sid, g.auth_time, &g.acr, &g.amr, g.created_at, g.expires_at, g.revoked_at, &g.roles, &g.rp_sid, token_hash],
                execute
            )?;
        }
        Db::Sqlite(_) => {
            insert_grant(db, g).await?;
            let r = RefreshRow {
                token_hash: token_hash.to_string(),
                grant_id: g.id.clone(),
                created_at: g.created_at,
                expires_at: g.expires_at,
                used_at: None,
            };
            insert_refresh(db, &r).await?;
        }
    }
    Ok(())
}

pub async fn get_grant(db: &Db, id: &str) -> Result<Option<GrantRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT id, account_id, client_id, scope, sid, auth_time, acr, amr, created_at, expires_at, revoked_at, roles, rp_sid \
         FROM grants WHERE id = $1",
        [id],
        fetch_optional(GrantRow)
    )?)
}

/// Revokes a grant and with it its whole refresh-token family. Idempotent.
pub async fn revoke_grant(db: &Db, id: &str, now: i64) -> Result<bool, StoreError> {
    let n =
        dispatch!(db, "UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", [now, id], execute)?;
    Ok(n == 1)
}

pub async fn set_grant_roles(db: &Db, id: &str, roles: &str) -> Result<(), StoreError> {
    dispatch!(db, "UPDATE grants SET roles = $1 WHERE id = $2", [roles, id], execute)?;
    Ok(())
}

/// Revokes every live grant of an account (suspension, dismissal).
pub async fn revoke_grants_of_account(db: impl Into<Exec<'_>>, account_id: &str, now: i64) -> Result<u64, StoreError> {
    Ok(dispatch!(
        db,
        "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        [now, account_id],
        execute
    )?)
}

/// Revokes the live grants of an account whose tokens carried a role.
pub async fn revoke_grants_with_role(
    db: impl Into<Exec<'_>>,
    account_id: &str,
    role_id: &str,
    now: i64,
) -> Result<u64, StoreError> {
    let pattern = format!("%{role_id}%");
    Ok(dispatch!(
        db,
        "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL AND roles LIKE $3",
        [now, account_id, &pattern],
        execute
    )?)
}

pub async fn revoke_grants_of_client(db: &Db, client_id: &str, now: i64) -> Result<u64, StoreError> {
    Ok(dispatch!(
        db,
        "UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
        [now, client_id],
        execute
    )?)
}

/// Moves a grant to the session that replaced its own (the same person logging in again).
pub async fn set_grant_sid(db: &Db, id: &str, sid: &str) -> Result<(), StoreError> {
    dispatch!(db, "UPDATE grants SET sid = $1 WHERE id = $2", [sid, id], execute)?;
    Ok(())
}

/// Carries the live grants of one of the account's sessions over to the session that replaced
/// it, so that ending the new session ends them too. Scoped to the account like revocation.
pub async fn move_grants_of_account_session(
    db: impl Into<Exec<'_>>,
    account_id: &str,
    from_sid: &str,
    to_sid: &str,
) -> Result<u64, StoreError> {
    Ok(dispatch!(
        db,
        "UPDATE grants SET sid = $1 WHERE account_id = $2 AND sid = $3 AND revoked_at IS NULL",
        [to_sid, account_id, from_sid],
        execute
    )?)
}

pub async fn revoke_grants_of_session(db: impl Into<Exec<'_>>, sid: &str, now: i64) -> Result<u64, StoreError> {
    Ok(dispatch!(db, "UPDATE grants SET revoked_at = $1 WHERE sid = $2 AND revoked_at IS NULL", [now, sid], execute)?)
}

/// Revokes the live grants made under one of the account's sessions: scoped to the account, so
/// a session id can only ever reach its own person's grants.
pub async fn revoke_grants_of_account_session(
    db: impl Into<Exec<'_>>,
    account_id: &str,
    sid: &str,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(dispatch!(
        db,
        "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND sid = $3 AND revoked_at IS NULL",
        [now, account_id, sid],
        execute
    )?)
}

/// Revokes every live grant of an account except those made under the session `keep` (a
/// password change: the person's other devices and any grant outliving its session).
pub async fn revoke_grants_of_account_but_session(
    db: impl Into<Exec<'_>>,
    account_id: &str,
    keep: &str,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(dispatch!(
        db,
        "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND sid <> $3 AND revoked_at IS NULL",
        [now, account_id, keep],
        execute
    )?)
}

pub async fn insert_refresh(db: &Db, r: &RefreshRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5)",
        [&r.token_hash, &r.grant_id, r.created_at, r.expires_at, r.used_at],
        execute
    )?;
    Ok(())
}

pub async fn get_refresh(db: &Db, token_hash: &str) -> Result<Option<RefreshRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT token_hash, grant_id, created_at, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1",
        [token_hash],
        fetch_optional(RefreshRow)
    )?)
}

pub async fn get_consent(db: &Db, account_id: &str, client_id: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = dispatch!(
        db,
        "SELECT scope FROM consents WHERE account_id = $1 AND client_id = $2",
        [account_id, client_id],
        fetch_optional((String,))
    )?;
    Ok(row.map(|r| r.0))
}

/// Whether the consent stands, read after any withdrawal in progress has ended: on PostgreSQL
/// `FOR SHARE` waits for a transaction deleting the row and then finds it gone; on SQLite the
/// withdrawing transaction holds the write lock, so a grant inserted before this read waited
/// for it anyway.
pub async fn consent_stands(db: &Db, account_id: &str, client_id: &str) -> Result<bool, StoreError> {
    let lock = if matches!(db, Db::Postgres(_)) { " FOR SHARE" } else { "" };
    let sql = format!("SELECT 1 FROM consents WHERE account_id = $1 AND client_id = $2{lock}");
    let row: Option<(i32,)> = dispatch!(db, &sql, [account_id, client_id], fetch_optional((i32,)))?;
    Ok(row.is_some())
}

pub async fn put_consent(db: &Db, account_id: &str, client_id: &str, scope: &str, now: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO consents (account_id, client_id, scope, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_id, client_id) DO UPDATE SET scope = excluded.scope, created_at = excluded.created_at",
        [account_id, client_id, scope, now],
        execute
    )?;
    Ok(())
}

pub async fn revoke_jti(db: &Db, jti: &str, expires_at: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        [jti, expires_at],
        execute
    )?;
    Ok(())
}

pub async fn is_jti_revoked(db: &Db, jti: &str) -> Result<bool, StoreError> {
    let row: Option<(i64,)> =
        dispatch!(db, "SELECT expires_at FROM revoked_tokens WHERE jti = $1", [jti], fetch_optional((i64,)))?;
    Ok(row.is_some())
}

/// Deletes what can no longer matter: expired refresh tokens, expired revocation entries, and
/// grants past their lifetime.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, StoreError> {
    let a = dispatch!(db, "DELETE FROM refresh_tokens WHERE expires_at < $1", [now], execute)?;
    let b = dispatch!(db, "DELETE FROM revoked_tokens WHERE expires_at < $1", [now], execute)?;
    let c = dispatch!(db, "DELETE FROM grants WHERE expires_at < $1", [now], execute)?;
    Ok(a + b + c)
}
