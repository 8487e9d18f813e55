//! Password login with throttling per account and per client address (growing delays, then a
//! temporary lockout). Unknown accounts and wrong passwords get the same answer after the same
//! work. The verdict says what happened in enough detail for the caller to record it.

use super::password::Hasher;
use super::throttle::{self, Policy, Verdict};
use crate::cache::{Cache, CacheError};
use crate::config::Secret;
use crate::crypto;
use crate::identity::accounts::{self, Account};
use crate::store::{Db, StoreError};

/// The configured failure limits, from which the per-account and per-address policies follow.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_failures: u64,
    pub lockout_seconds: i64,
}

/// Per-address failures allowed before a lockout: an office behind one NAT address shares it,
/// so it is much higher than the per-account limit.
const IP_FACTOR: u64 = 20;

impl Limits {
    /// For one account (and for its second factor).
    pub fn per_account(&self) -> Policy {
        let max = self.max_failures;
        Policy { free_failures: max.saturating_sub(2).min(3), max_failures: max, lockout_seconds: self.lockout_seconds }
    }

    pub fn per_address(&self) -> Policy {
        let max = self.max_failures.saturating_mul(IP_FACTOR);
        Policy { free_failures: max, max_failures: max, lockout_seconds: self.lockout_seconds }
    }
}

/// The throttle key of a typed identifier: unknown identifiers are never stored in clear, and
/// `1985.03.12` and `19850312` count as one.
pub fn login_key(ids: &crypto::IdHasher, login: &str) -> String {
    let norm: String = login.chars().filter(|c| !c.is_whitespace() && *c != '.').collect();
    ids.hash(norm.as_bytes())
}

#[derive(Debug)]
pub enum PasswordVerdict {
    Accepted(Account),
    /// Refused without being judged; `login_key` names the identifier by its hash.
    Throttled {
        login_key: String,
        retry_after: i64,
    },
    /// The right password for an account that may not log in.
    Inactive(Account),
    /// A wrong password or an unknown identifier: `subject` is the account id, or the
    /// identifier's hash (a typo can be someone's NIK). `locked_until` is set when this failure
    /// locked the account.
    Rejected {
        subject: String,
        locked_until: Option<i64>,
    },
    /// Longer than any real identifier or password: refused without work or counting.
    Oversized,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginFailure {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] super::password::HashError),
}

/// What a password check needs: where accounts and throttle records live, and the limits.
pub struct PasswordCheck<'a> {
    pub db: &'a Db,
    pub cache: &'a Cache,
    pub hasher: &'a Hasher,
    pub limits: Limits,
    pub ids: &'a crypto::IdHasher,
}

fn retry_after(v: Verdict, now: i64) -> Option<i64> {
    match v {
        Verdict::Allowed => None,
        Verdict::Wait { seconds } => Some(seconds),
        Verdict::Locked { until } => Some(until - now),
    }
}

impl PasswordCheck<'_> {
    pub async fn check(
        &self,
        login: &str,
        password: &Secret<String>,
        ip: &str,
        now: i64,
    ) -> Result<PasswordVerdict, LoginFailure> {
        let (ap, ipp) = (self.limits.per_account(), self.limits.per_address());
        let acct = login_key(self.ids, login);
        let acct_rec = throttle::load(self.cache, "acct", &acct).await?;
        let ip_rec = throttle::load(self.cache, "ip", ip).await?;
        if let Some(seconds) = retry_after(throttle::verdict(&acct_rec, &ap, now), now)
            .or_else(|| retry_after(throttle::verdict(&ip_rec, &ipp, now), now))
        {
            tracing::warn!(ip = %ip, "login refused: too many failed attempts");
            return Ok(PasswordVerdict::Throttled { login_key: acct, retry_after: seconds });
        }
        if login.len() > 64 || password.expose().len() > 1024 {
            return Ok(PasswordVerdict::Oversized);
        }
        let found = accounts::find_for_login(self.db, login).await?;
        let stored = found.as_ref().and_then(|(_, h)| h.as_deref());
        let ok = self.hasher.verify(password, stored).await?;
        match found {
            Some((account, _)) if ok && !account.is_active() => {
                // Counted and answered like a wrong password: the answer must not tell whether
                // a suspended account's password is right.
                throttle::fail(self.cache, "acct", &acct, &ap, now).await?;
                throttle::fail(self.cache, "ip", ip, &ipp, now).await?;
                Ok(PasswordVerdict::Inactive(account))
            }
            Some((account, _)) if ok => {
                if let Err(e) = throttle::clear(self.cache, "acct", &acct).await {
                    // A record left behind only makes the next failures count sooner.
                    tracing::warn!(error = %e, "could not clear the login throttle");
                }
                Ok(PasswordVerdict::Accepted(account))
            }
            found => {
                let rec = throttle::fail(self.cache, "acct", &acct, &ap, now).await?;
                throttle::fail(self.cache, "ip", ip, &ipp, now).await?;
                let subject = found.map(|(a, _)| a.id).unwrap_or(acct);
                let locked_until = (rec.locked_until > now).then_some(rec.locked_until);
                if let Some(until) = locked_until {
                    tracing::warn!(ip = %ip, account = %subject, until, "login locked after repeated failures");
                }
                Ok(PasswordVerdict::Rejected { subject, locked_until })
            }
        }
    }
}
