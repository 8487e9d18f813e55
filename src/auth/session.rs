//! The single-sign-on session: created at login, found again through the browser's cookie, and
//! ended at logout. The cookie value is a 256-bit secret; the cache key is its hash, and the
//! `sid` given to applications is a separate random id, so neither a cache dump nor a token
//! reveals a usable cookie.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::{Cache, CacheError};
use crate::crypto::{self, CryptoError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SsoSession {
    pub sid: String,
    pub account_id: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn key(cookie: &str) -> String {
    format!("sso:{}", crypto::sha256_hex(cookie.as_bytes()))
}

/// Starts a new session (always a new cookie value: no session fixation). Returns the cookie
/// value and the session.
pub async fn create(
    cache: &Cache,
    account_id: &str,
    acr: &str,
    amr: Vec<String>,
    ttl: i64,
    now: i64,
) -> Result<(String, SsoSession), SessionError> {
    let cookie = crypto::random_token(32)?;
    let session = SsoSession {
        sid: crypto::random_token(16)?,
        account_id: account_id.to_string(),
        auth_time: now,
        acr: acr.to_string(),
        amr,
        expires_at: now + ttl,
    };
    cache.put_json(&key(&cookie), &session, Duration::from_secs(ttl.max(1) as u64)).await?;
    Ok((cookie, session))
}

pub async fn load(cache: &Cache, cookie: &str, now: i64) -> Result<Option<SsoSession>, SessionError> {
    if cookie.len() != 43 {
        return Ok(None);
    }
    let s: Option<SsoSession> = cache.get_json(&key(cookie)).await?;
    Ok(s.filter(|s| s.expires_at > now))
}

pub async fn end(cache: &Cache, cookie: &str) -> Result<(), SessionError> {
    cache.delete(&key(cookie)).await?;
    Ok(())
}
