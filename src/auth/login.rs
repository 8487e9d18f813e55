//! Password login with throttling per account and per client address (growing delays, then a
//! temporary lockout). Unknown accounts and wrong passwords get the same answer after the same
//! work.

use super::throttle::{self, Policy, Verdict};
use crate::audit::{self, Event};
use crate::config::Secret;
use crate::crypto;
use crate::identity::accounts::{self, Account};
use crate::state::AppState;

#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    InvalidCredentials,
    /// Locked or asked to wait; the seconds until the next attempt may be judged.
    TooManyAttempts {
        retry_after: i64,
    },
    AccountDisabled,
    Internal,
}

fn account_id(login: &str) -> String {
    let norm: String = login.chars().filter(|c| !c.is_whitespace() && *c != '.').collect();
    crypto::sha256_hex(norm.as_bytes())
}

/// Per-address failures allowed before a lockout: an office behind one NAT address shares it,
/// so it is much higher than the per-account limit.
const IP_FACTOR: u64 = 20;

pub fn account_policy(st: &AppState) -> Policy {
    let max = st.config.login_max_failures;
    Policy {
        free_failures: max.saturating_sub(2).min(3),
        max_failures: max,
        lockout_seconds: st.config.login_lockout_seconds,
    }
}

fn ip_policy(st: &AppState) -> Policy {
    let max = st.config.login_max_failures.saturating_mul(IP_FACTOR);
    Policy { free_failures: max, max_failures: max, lockout_seconds: st.config.login_lockout_seconds }
}

fn refused(v: Verdict, now: i64) -> Option<LoginError> {
    match v {
        Verdict::Allowed => None,
        Verdict::Wait { seconds } => Some(LoginError::TooManyAttempts { retry_after: seconds }),
        Verdict::Locked { until } => Some(LoginError::TooManyAttempts { retry_after: until - now }),
    }
}

pub async fn password_login(
    st: &AppState,
    login: &str,
    password: &Secret<String>,
    ip: &str,
    now: i64,
) -> Result<Account, LoginError> {
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "login failed internally");
        LoginError::Internal
    };
    let (ap, ipp) = (account_policy(st), ip_policy(st));
    let acct = account_id(login);
    let acct_rec = throttle::load(&st.cache, "acct", &acct).await.map_err(|e| internal(&e))?;
    let ip_rec = throttle::load(&st.cache, "ip", ip).await.map_err(|e| internal(&e))?;
    if let Some(e) = refused(throttle::verdict(&acct_rec, &ap, now), now)
        .or_else(|| refused(throttle::verdict(&ip_rec, &ipp, now), now))
    {
        tracing::warn!(ip = %ip, "login refused: too many failed attempts");
        audit::record(&st.db, Event::new("login.throttled").subject(&acct).ip(ip), now).await;
        return Err(e);
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
                audit::record(&st.db, Event::new("login.refused_inactive").subject(&account.id).ip(ip), now).await;
                return Err(LoginError::AccountDisabled);
            }
            let _ = throttle::clear(&st.cache, "acct", &acct).await;
            Ok(account)
        }
        found => {
            let rec = throttle::fail(&st.cache, "acct", &acct, &ap, now).await.map_err(|e| internal(&e))?;
            throttle::fail(&st.cache, "ip", ip, &ipp, now).await.map_err(|e| internal(&e))?;
            // Unknown identifiers are recorded by their hash only: a typo can be someone's NIK.
            let subject = found.as_ref().map(|(a, _)| a.id.clone()).unwrap_or_else(|| acct.clone());
            audit::record(&st.db, Event::new("login.failed").subject(&subject).ip(ip), now).await;
            if rec.locked_until > now {
                tracing::warn!(ip = %ip, account = %subject, until = rec.locked_until, "login locked after repeated failures");
                audit::record(
                    &st.db,
                    Event::new("login.locked")
                        .subject(&subject)
                        .ip(ip)
                        .detail(serde_json::json!({ "until": rec.locked_until })),
                    now,
                )
                .await;
            }
            Err(LoginError::InvalidCredentials)
        }
    }
}
