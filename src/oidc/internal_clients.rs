//! The provider's own applications (the account page and the admin console): their client ids,
//! and registrations kept in step with the issuer at every start.

use crate::oidc::clients::{self, ClientCache, ClientError, GrantType, NewClient, RedirectPolicy};
use crate::store::{Db, StoreError};

/// The account page signs people in like any application.
pub const ACCOUNT_CLIENT_ID: &str = "gerbang-account";
/// The console is an application of Gerbang like any other; the admin API accepts only tokens
/// issued to it.
pub const CONSOLE_CLIENT_ID: &str = "gerbang-console";

pub async fn ensure(
    db: &Db,
    cache: &ClientCache,
    policy: &RedirectPolicy,
    issuer: &str,
    now: i64,
) -> Result<(), ClientError> {
    ensure_client(db, cache, policy, issuer, (ACCOUNT_CLIENT_ID, "Akun Gerbang", "/account"), &["openid"], now).await?;
    let console = (CONSOLE_CLIENT_ID, "Konsol Admin Gerbang", "/console/callback");
    ensure_client(db, cache, policy, issuer, console, &["openid", "profile", "roles"], now).await
}

async fn ensure_client(
    db: &Db,
    cache: &ClientCache,
    policy: &RedirectPolicy,
    issuer: &str,
    (id, name, path): (&str, &str, &str),
    scopes: &[&str],
    now: i64,
) -> Result<(), ClientError> {
    let redirect = format!("{issuer}{path}");
    if let Some(c) = cache.get(db, id).await? {
        if !c.has_redirect_uri(&redirect) {
            // The issuer changed (say, from a local trial to the region's domain).
            let uris = serde_json::to_string(&[&redirect]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            crate::store::clients::set_redirect_uris(db, id, &uris, "[]", now).await?;
            cache.forget(id);
        }
        return Ok(());
    }
    let mut c = NewClient::web(
        name,
        vec![redirect],
        scopes.iter().map(|s| s.to_string()).collect(),
        vec![GrantType::AuthorizationCode],
    );
    c.id = Some(id.into());
    c.public = true;
    c.development = true;
    match clients::register(db, policy, c, now).await {
        Ok(_) | Err(ClientError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Gerbang's own applications: people reach them through Gerbang itself, so they are no
/// "connected application" a person could withdraw from.
pub fn is_internal(client_id: &str) -> bool {
    matches!(client_id, ACCOUNT_CLIENT_ID | CONSOLE_CLIENT_ID)
}
