//! Password login with throttling per account and per client address. Unknown accounts and
//! wrong passwords get the same answer after the same work.

use std::time::Duration;

use crate::config::Secret;
use crate::crypto;
use crate::identity::accounts::{self, Account};
use crate::state::AppState;

#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    InvalidCredentials,
    TooManyAttempts,
    AccountDisabled,
    Internal,
}

fn account_key(login: &str) -> String {
    let norm: String = login.chars().filter(|c| !c.is_whitespace() && *c != '.').collect();
    format!("fail:acct:{}", crypto::sha256_hex(norm.as_bytes()))
}

fn ip_key(ip: &str) -> String {
    format!("fail:ip:{ip}")
}

/// Per-address failures allowed before a lockout: an office behind one NAT address shares it,
/// so it is much higher than the per-account limit.
const IP_FACTOR: u64 = 20;

pub async fn password_login(st: &AppState, login: &str, password: &Secret<String>, ip: &str, _now: i64) -> Result<Account, LoginError> {
    let cfg = &st.config;
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "login failed internally");
        LoginError::Internal
    };
    let window = Duration::from_secs(cfg.login_lockout_seconds as u64);
    let counts = |key: String| async move { st.cache.get(&key).await.map(|v| v.and_then(|b| parse_count(&b)).unwrap_or(0)) };
    let acct_fails = counts(account_key(login)).await.map_err(|e| internal(&e))?;
    let ip_fails = counts(ip_key(ip)).await.map_err(|e| internal(&e))?;
    if cfg.login_max_failures > 0 && (acct_fails >= cfg.login_max_failures || ip_fails >= cfg.login_max_failures * IP_FACTOR) {
        tracing::warn!(ip = %ip, "login refused: too many failed attempts");
        return Err(LoginError::TooManyAttempts);
    }
    if login.len() > 64 || password.expose().len() > 1024 {
        return Err(LoginError::InvalidCredentials);
    }
    let found = accounts::find_for_login(&st.db, login).await.map_err(|e| internal(&e))?;
    let stored = found.as_ref().and_then(|(_, h)| h.as_deref());
    let ok = st.hasher.verify(password, stored).await.map_err(|e| internal(&e))?;
    match found {
        Some((account, _)) if ok => {
            if !account.is_active() {
                return Err(LoginError::AccountDisabled);
            }
            let _ = st.cache.delete(&account_key(login)).await;
            Ok(account)
        }
        _ => {
            st.cache.incr(&account_key(login), window).await.map_err(|e| internal(&e))?;
            st.cache.incr(&ip_key(ip), window).await.map_err(|e| internal(&e))?;
            Err(LoginError::InvalidCredentials)
        }
    }
}

/// Counters are decimal text in both cache implementations.
fn parse_count(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}
