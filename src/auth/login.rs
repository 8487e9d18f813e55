//! Password login with throttling per account, per (address, account) and per client address.
//! Every attempt takes its reservations before the password is verified (see `throttle`): the
//! account's growing delays and lockout, one verification in flight per account, and the
//! address-wide limit. Unknown accounts and wrong passwords get the same answer after the same
//! work. The verdict says what happened in enough detail for the caller to record it.

use std::time::Duration;

use super::password::Hasher;
use super::throttle::{self, Admission, Policy, Verdict};
use crate::cache::{BothCounted, Cache, CacheError};
use crate::config::Secret;
use crate::crypto;
use crate::identity::accounts::{self, Account};
use crate::store::{Db, StoreError};

/// The configured failure limits, from which the per-account and per-address policies follow.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_failures: u64,
    pub lockout_seconds: i64,
    /// [`Policy::lease_seconds`].
    pub lease_seconds: i64,
}

/// Address-wide failures allowed per window: an office behind one NAT address shares it, so it
/// is much higher than the per-account limit…
const ADDRESS_FACTOR: u64 = 20;
/// …and its window much longer than a lockout, so it catches slow password spraying.
const ADDRESS_WINDOW_FACTOR: i64 = 12;

impl Limits {
    /// For one account (and for its second factor).
    pub fn per_account(&self) -> Policy {
        let max = self.max_failures;
        Policy {
            free_failures: max.saturating_sub(2).min(3),
            max_failures: max,
            lockout_seconds: self.lockout_seconds,
            lease_seconds: self.lease_seconds,
        }
    }

    /// Failures one address may make per window, and the window. Only the first
    /// `max_failures` failures of each (address, account) pair in a window count towards it, so
    /// one attacked account never locks out everyone else behind the attacker's address.
    pub fn per_address(&self) -> (u64, i64) {
        (self.max_failures.saturating_mul(ADDRESS_FACTOR), self.lockout_seconds.saturating_mul(ADDRESS_WINDOW_FACTOR))
    }
}

/// The throttle key of a typed identifier that names no account (an account's attempts count
/// under [`account_key`]): unknown identifiers are never stored in clear, and
/// `1985.03.12` and `19850312` count as one.
pub fn login_key(ids: &crypto::IdHasher, login: &str) -> String {
    let norm: String = login.chars().filter(|c| !c.is_whitespace() && *c != '.').collect();
    ids.hash(norm.as_bytes())
}

/// The throttle key of an account: one key whichever of its identifiers is typed (a civil
/// servant may have a NIP and a NIK), so a second identifier gives no guesses of its own.
pub fn account_key(ids: &crypto::IdHasher, account_id: &str) -> String {
    ids.hash(format!("account:{account_id}").as_bytes())
}

/// Names the password an account has (a digest of its stored hash, which a new password always
/// changes: the salt is new), without carrying the hash itself into the cache with a login flow.
/// A login opened with an older stamp than the account's lost a race with a password change.
pub fn password_stamp(hash: Option<&str>) -> String {
    crypto::sha256_hex(hash.unwrap_or("").as_bytes())
}

/// The account's [`password_stamp`] now; `None` when the account is gone.
pub async fn current_password_stamp(db: &Db, account_id: &str) -> Result<Option<String>, StoreError> {
    Ok(crate::store::accounts::password_hash(db, account_id).await?.map(|h| password_stamp(h.as_deref())))
}

#[derive(Debug)]
pub enum PasswordVerdict {
    /// The right password: the account, and the [`password_stamp`] of the hash it was checked
    /// against.
    Accepted(Account, String),
    /// Refused without being judged; `login_key` names the identifier by its hash.
    Throttled { login_key: String, retry_after: i64 },
    /// The right password for an account that may not log in.
    Inactive(Account),
    /// A wrong password or an unknown identifier: `subject` is the account id, or the
    /// identifier's hash (a typo can be someone's NIK). `locked_until` is set when this failure
    /// locked the account.
    Rejected { subject: String, locked_until: Option<i64> },
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

/// The address-wide counters one attempt was charged, to be refunded if it succeeds.
struct AddressCharge {
    pair: Option<String>,
    address: Option<String>,
}

impl AddressCharge {
    fn keys(&self) -> Vec<&str> {
        [&self.pair, &self.address].into_iter().flatten().map(String::as_str).collect()
    }

    async fn refund(&self, cache: &Cache) {
        for key in self.keys() {
            if let Err(e) = cache.refund(key).await {
                // Left charged: the address reaches its limit a little sooner.
                tracing::warn!(error = %e, "could not refund an address-wide login count");
            }
        }
    }
}

impl PasswordCheck<'_> {
    /// Charges the attempt to its address before it is judged: to the (address, account) pair,
    /// and, while the pair has counted fewer than `max_failures` this window, to the address.
    /// `Err(retry_after)` when the address has reached its limit.
    async fn charge_address(&self, ip: &str, acct: &str, now: i64) -> Result<Result<AddressCharge, i64>, CacheError> {
        let (limit, window) = self.limits.per_address();
        if limit == 0 || self.limits.max_failures == 0 {
            return Ok(Ok(AddressCharge { pair: None, address: None }));
        }
        let window = window.max(1);
        let slot = now.div_euclid(window);
        let retry = (slot + 1) * window - now;
        // Keys carry the window (computed from `now`); the expiry only tidies up.
        let ttl = Duration::from_secs(2 * window as u64);
        // IPv6 counts per /64, as the rate limits do: walking one's own block must not give a
        // fresh budget per address.
        let ip = crate::limits::address_key(ip);
        let (pair_key, address_key) =
            (format!("throttle:pair:{slot}:{ip}:{acct}"), format!("throttle:address:{slot}:{ip}"));
        let keys = [pair_key.as_str(), address_key.as_str()];
        match self.cache.count_both(keys, [self.limits.max_failures, limit], ttl).await? {
            BothCounted::Both => {}
            // This pair has had its share; the address still must not be over its limit.
            BothCounted::FirstFull { second } if second < limit => {
                return Ok(Ok(AddressCharge { pair: None, address: None }))
            }
            BothCounted::FirstFull { .. } | BothCounted::SecondFull => return Ok(Err(retry)),
        }
        Ok(Ok(AddressCharge { pair: Some(pair_key), address: Some(address_key) }))
    }

    pub async fn check(
        &self,
        login: &str,
        password: &Secret<String>,
        ip: &str,
        now: i64,
    ) -> Result<PasswordVerdict, LoginFailure> {
        if login.len() > 64 || password.expose().len() > 1024 {
            return Ok(PasswordVerdict::Oversized);
        }
        // A place in the hashing queue first: an attempt refused for a full queue is not counted.
        let slot = self.hasher.admit()?;
        let ap = self.limits.per_account();
        let typed = login_key(self.ids, login);
        // The account is looked up before anything is charged, so its attempts are counted under
        // the account whichever identifier was typed; an unknown identifier is counted under its
        // own hash. Both cost the same read, and nothing is counted when the read fails.
        let found = accounts::find_for_login(self.db, login).await?;
        let acct = match &found {
            Some((account, _)) => account_key(self.ids, &account.id),
            None => typed.clone(),
        };
        let charge = match self.charge_address(ip, &acct, now).await? {
            Ok(c) => c,
            Err(seconds) => {
                tracing::warn!(ip = %ip, "login refused: too many failed attempts from this address");
                return Ok(PasswordVerdict::Throttled { login_key: typed, retry_after: seconds });
            }
        };
        let charged = match throttle::reserve(self.cache, "acct", &acct, &ap, now).await {
            Ok(Admission::Admitted(r)) => r,
            Ok(Admission::Refused(v)) => {
                charge.refund(self.cache).await;
                tracing::warn!(ip = %ip, "login refused: too many failed attempts");
                let seconds = retry_after(v, now).unwrap_or(1);
                return Ok(PasswordVerdict::Throttled { login_key: typed, retry_after: seconds });
            }
            Err(e) => {
                charge.refund(self.cache).await;
                return Err(e.into());
            }
        };
        let hold = throttle::Hold::new(self.cache, "acct", &acct, &charged, &ap, now);
        // From here on the attempt is counted: whatever the cache does next, the answer depends
        // only on the password, never on whether a write succeeded (no oracle).
        let stored = found.as_ref().and_then(|(_, h)| h.as_deref());
        let ok = match self.hasher.verify_in(slot, password, stored).await {
            Ok(x) => x,
            Err(e) => {
                // No verdict was reached, so none is counted (see `throttle::unjudged`).
                if let Err(e) = throttle::unjudged(self.cache, "acct", &acct, &charged, &ap, now).await {
                    tracing::warn!(error = %e, "could not take back an unjudged login attempt");
                }
                charge.refund(self.cache).await;
                hold.settled();
                return Err(e.into());
            }
        };
        let verdict = match found {
            Some((account, _)) if ok && !account.is_active() => {
                // Counted and answered like a wrong password: the answer must not tell whether
                // a suspended account's password is right.
                self.release(&acct, now).await;
                PasswordVerdict::Inactive(account)
            }
            Some((account, hash)) if ok => {
                // The account's record goes and the address's charges come back, in one call.
                if let Err(e) = throttle::clear_and_refund(self.cache, "acct", &acct, &charge.keys()).await {
                    // A record left behind only makes the next failures count sooner.
                    tracing::warn!(error = %e, "could not clear the login throttle");
                }
                PasswordVerdict::Accepted(account, password_stamp(hash.as_deref()))
            }
            found => {
                self.release(&acct, now).await;
                let subject = found.map(|(a, _)| a.id).unwrap_or(typed);
                let locked_until = (charged.record.locked_until > now).then_some(charged.record.locked_until);
                if let Some(until) = locked_until {
                    tracing::warn!(ip = %ip, account = %subject, until, "login locked after repeated failures");
                }
                PasswordVerdict::Rejected { subject, locked_until }
            }
        };
        hold.settled();
        Ok(verdict)
    }

    async fn release(&self, acct: &str, now: i64) {
        if let Err(e) = throttle::release(self.cache, "acct", acct, &self.limits.per_account(), now).await {
            // The failure is counted already; the key frees itself when its lease runs out.
            tracing::warn!(error = %e, "could not release the login throttle");
        }
    }
}
