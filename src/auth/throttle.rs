//! Brute-force throttling: after a few free failures each further attempt must wait a growing
//! delay (1 s, 2 s, 4 s, …), and reaching the limit locks the key for a while. Records live in
//! the cache (Redis across replicas) and every decision takes `now`, so expiry is testable.
//!
//! An attempt takes one atomic reservation before its secret is verified: the record is read,
//! decided on, charged with a failure and marked in flight, then written back only if nobody
//! changed it meanwhile ([`Cache::swap`]). So parallel attempts, even on several replicas, get no
//! more verdicts than the policy allows, and only one per key is judged at a time.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::{Cache, CacheError};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures answered without any delay.
    pub free_failures: u64,
    /// Failures that lock the key.
    pub max_failures: u64,
    pub lockout_seconds: i64,
    /// How long an attempt may hold its key while it is judged: beyond the longest a request
    /// may run, so two attempts are never judged at once. A replica that dies mid-attempt is
    /// seen dead by the others within seconds ([`Record::holder`]); only a hold of unknown
    /// holder waits for the lease. See [`lease_after`].
    pub lease_seconds: i64,
}

/// The lease for requests cut off after `request_timeout_seconds`: a few seconds more, for the
/// replicas' clocks to differ by.
pub fn lease_after(request_timeout_seconds: u64) -> i64 {
    i64::try_from(request_timeout_seconds).unwrap_or(i64::MAX / 2).saturating_add(5)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub failures: u64,
    pub last_failure: i64,
    pub locked_until: i64,
    /// An attempt holds the key until then (or until it settles): others are refused meanwhile.
    #[serde(default)]
    pub busy_until: i64,
    /// The process whose attempt holds the key (`Cache::instance`; 0: unnamed). When that
    /// process is gone (a replica killed mid-check), the hold ends at once instead of at
    /// `busy_until`, which is as long as a request may run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub holder: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Too soon after the last failure; the attempt is refused without being judged.
    Wait {
        seconds: i64,
    },
    Locked {
        until: i64,
    },
}

const MAX_DELAY: i64 = 60;

pub fn verdict(r: &Record, p: &Policy, now: i64) -> Verdict {
    if p.max_failures == 0 {
        return Verdict::Allowed;
    }
    if r.locked_until > now {
        return Verdict::Locked { until: r.locked_until };
    }
    if r.locked_until != 0 {
        // The lockout has passed: a clean slate.
        return Verdict::Allowed;
    }
    if r.failures > p.free_failures {
        let exp = (r.failures - p.free_failures - 1).min(6) as u32;
        let delay = (1i64 << exp).min(MAX_DELAY);
        let ready = r.last_failure + delay;
        if ready > now {
            return Verdict::Wait { seconds: ready - now };
        }
    }
    Verdict::Allowed
}

pub fn after_failure(mut r: Record, p: &Policy, now: i64) -> Record {
    if r.locked_until != 0 && r.locked_until <= now {
        r = Record::default();
    }
    r.failures += 1;
    r.last_failure = now;
    if p.max_failures > 0 && r.failures >= p.max_failures {
        r.locked_until = now + p.lockout_seconds;
    }
    r
}

fn key(scope: &str, id: &str) -> String {
    format!("throttle:{scope}:{id}")
}

/// Rounds of read-decide-swap before giving up under contention (and refusing: fail closed).
const ROUNDS: usize = 8;

pub async fn load(cache: &Cache, scope: &str, id: &str) -> Result<Record, CacheError> {
    Ok(cache.get_json(&key(scope, id)).await?.unwrap_or_default())
}

fn keep(r: &Record, p: &Policy, now: i64) -> Duration {
    Duration::from_secs((r.locked_until - now).max(p.lockout_seconds).max(MAX_DELAY).max(p.lease_seconds) as u64)
}

/// What [`reserve`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The attempt may be judged. It is already counted as a failure (`record` is the record
    /// after that count: `locked_until` is set when this attempt is the last one allowed), and
    /// holds the key until [`release`] (judged wrong), [`clear`] (judged right) or
    /// [`unjudged`] (never judged).
    Admitted(Reserved),
    /// Refused unjudged; nothing was written.
    Refused(Verdict),
}

/// An admitted attempt: the record as the reservation wrote it, and as it was before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    pub record: Record,
    before: Record,
}

/// Reserves one attempt on a key, failing closed: while the key must wait, is locked or another
/// attempt on it is being judged (by a process still alive), the attempt is refused unjudged;
/// otherwise it is counted as a failure *before* it is judged. When the count cannot be written
/// (a Redis refusing writes but still answering reads, say) the error comes back and the attempt
/// must not be judged, so a broken cache never hands out unthrottled guesses.
pub async fn reserve(cache: &Cache, scope: &str, id: &str, p: &Policy, now: i64) -> Result<Admission, CacheError> {
    let k = key(scope, id);
    // Most keys have no record (a success clears it): try to create the charged record outright,
    // one round trip instead of a read and a swap. A record found there is read and decided on.
    let fresh = charge(Record::default(), p, now, cache);
    if cache.swap(&k, None, &serde_json::to_vec(&fresh)?, keep(&fresh, p, now)).await? {
        return Ok(Admission::Admitted(Reserved { record: fresh, before: Record::default() }));
    }
    for _ in 0..ROUNDS {
        let raw = cache.get(&k).await?;
        let before: Record = match &raw {
            Some(bytes) => serde_json::from_slice(bytes)?,
            None => Record::default(),
        };
        if p.max_failures > 0 && before.busy_until > now && cache.alive(before.holder).await? {
            return Ok(Admission::Refused(Verdict::Wait { seconds: 1 }));
        }
        let v = verdict(&before, p, now);
        if v != Verdict::Allowed {
            return Ok(Admission::Refused(v));
        }
        let charged = charge(before, p, now, cache);
        let bytes = serde_json::to_vec(&charged)?;
        if cache.swap(&k, raw.as_deref(), &bytes, keep(&charged, p, now)).await? {
            return Ok(Admission::Admitted(Reserved { record: charged, before }));
        }
    }
    // Others keep winning the key: they are the attempts being judged.
    Ok(Admission::Refused(Verdict::Wait { seconds: 1 }))
}

/// The record once an attempt allowed on `before` is counted and holds the key.
fn charge(before: Record, p: &Policy, now: i64, cache: &Cache) -> Record {
    let mut charged = after_failure(before, p, now);
    if p.max_failures > 0 {
        charged.busy_until = now + p.lease_seconds;
        charged.holder = cache.instance();
    }
    charged
}

/// Ends a reserved attempt judged wrong: the failure counted in advance stays, the key is free for
/// the next attempt.
pub async fn release(cache: &Cache, scope: &str, id: &str, p: &Policy, now: i64) -> Result<(), CacheError> {
    let k = key(scope, id);
    for _ in 0..ROUNDS {
        let Some(raw) = cache.get(&k).await? else { return Ok(()) };
        let mut r: Record = serde_json::from_slice(&raw)?;
        if r.busy_until == 0 {
            return Ok(());
        }
        r.busy_until = 0;
        r.holder = 0;
        if cache.swap(&k, Some(&raw), &serde_json::to_vec(&r)?, keep(&r, p, now)).await? {
            return Ok(());
        }
    }
    // Only a lease that ran out lets others in meanwhile; it ends on its own.
    Ok(())
}

/// Takes back an attempt that was never judged: the account or its password hash could not be
/// read (a database restarting, say), so the person got an error and no verdict. The record
/// returns to what it was before the reservation, so people whose logins fail while the database
/// is away, and who retry, are not locked out by their retries. No verdict means no guess was
/// answered, so nothing is given away. Only the reservation's own write is undone: a record
/// changed since (cleared, or taken by another attempt after the lease ran out) is left alone.
pub async fn unjudged(
    cache: &Cache,
    scope: &str,
    id: &str,
    r: &Reserved,
    p: &Policy,
    now: i64,
) -> Result<(), CacheError> {
    let written = serde_json::to_vec(&r.record)?;
    let restored = serde_json::to_vec(&r.before)?;
    cache.swap(&key(scope, id), Some(&written), &restored, keep(&r.before, p, now)).await?;
    Ok(())
}

/// The hold of a reserved attempt, freed if the attempt is dropped before it settles: its client
/// went away or the request timed out mid-check, so neither [`release`], [`clear`] nor
/// [`unjudged`] ran. The failure counted in advance stays (an attempt given up on is no free
/// guess, and no free hash past the address limit), but the key is free at once: left to its
/// lease, one dropped request per lease kept the account's owner out. Only the reservation's own
/// record is touched, so freeing after the attempt did settle changes nothing.
#[must_use = "a hold is freed when dropped: keep it until the attempt settles"]
pub struct Hold {
    armed: Option<(Cache, String, Record, Policy, i64)>,
}

impl Hold {
    pub fn new(cache: &Cache, scope: &str, id: &str, r: &Reserved, p: &Policy, now: i64) -> Hold {
        Hold { armed: Some((cache.clone(), key(scope, id), r.record, *p, now)) }
    }

    /// The attempt settled (released, cleared or taken back): nothing is left to free.
    pub fn settled(mut self) {
        self.armed = None;
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let Some((cache, k, written, p, now)) = self.armed.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            if let Err(e) = free_own(&cache, &k, &written, &p, now).await {
                // The key frees itself when the lease runs out.
                tracing::warn!(error = %e, "could not free the hold of an abandoned attempt");
            }
        });
    }
}

/// Ends the hold the record `written` (as a reservation wrote it) puts on `k`, if it is still
/// that record.
async fn free_own(cache: &Cache, k: &str, written: &Record, p: &Policy, now: i64) -> Result<(), CacheError> {
    let freed = Record { busy_until: 0, holder: 0, ..*written };
    cache.swap(k, Some(&serde_json::to_vec(written)?), &serde_json::to_vec(&freed)?, keep(&freed, p, now)).await?;
    Ok(())
}

/// Ends a reserved attempt judged right (or forgets a key): its record goes.
pub async fn clear(cache: &Cache, scope: &str, id: &str) -> Result<(), CacheError> {
    cache.delete(&key(scope, id)).await
}

/// [`clear`], and takes back the counts `refunds` (made with `Cache::count_below` or
/// `Cache::count_both`) that the attempt was charged in advance, in one round trip.
pub async fn clear_and_refund(cache: &Cache, scope: &str, id: &str, refunds: &[&str]) -> Result<(), CacheError> {
    cache.settle(&key(scope, id), refunds).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy { free_failures: 2, max_failures: 5, lockout_seconds: 300, lease_seconds: 20 };

    #[test]
    fn delays_grow_then_lock_then_expire() {
        let t = 1_000_000;
        let mut r = Record::default();
        for i in 0..2 {
            assert_eq!(verdict(&r, &P, t + i), Verdict::Allowed);
            r = after_failure(r, &P, t + i);
        }
        assert_eq!(verdict(&r, &P, t + 1), Verdict::Allowed, "two free failures");
        r = after_failure(r, &P, t + 2);
        assert_eq!(verdict(&r, &P, t + 2), Verdict::Wait { seconds: 1 });
        assert_eq!(verdict(&r, &P, t + 3), Verdict::Allowed);
        r = after_failure(r, &P, t + 3);
        assert_eq!(verdict(&r, &P, t + 4), Verdict::Wait { seconds: 1 }, "4th failure: wait 2 s");
        assert_eq!(verdict(&r, &P, t + 5), Verdict::Allowed);
        r = after_failure(r, &P, t + 5);
        assert_eq!(r.failures, 5);
        assert_eq!(verdict(&r, &P, t + 6), Verdict::Locked { until: t + 305 });
        assert_eq!(verdict(&r, &P, t + 304), Verdict::Locked { until: t + 305 });
        assert_eq!(verdict(&r, &P, t + 305), Verdict::Allowed, "the lockout expires");
        r = after_failure(r, &P, t + 306);
        assert_eq!(r.failures, 1, "a fresh count after the lockout");
    }

    #[tokio::test]
    async fn reserved_attempts_are_counted_before_they_are_judged() {
        let cache = Cache::memory(crate::clock::Clock::system());
        let t = 1_000_000;
        let Admission::Admitted(r) = reserve(&cache, "otp", "a", &P, t).await.unwrap() else { panic!("admitted") };
        assert_eq!(r.record.failures, 1);
        assert_eq!(load(&cache, "otp", "a").await.unwrap().failures, 1, "charged in advance");
        clear(&cache, "otp", "a").await.unwrap();
        for i in 0..5 {
            assert!(matches!(reserve(&cache, "otp", "a", &P, t + 10 * i).await.unwrap(), Admission::Admitted(_)));
            release(&cache, "otp", "a", &P, t + 10 * i).await.unwrap();
        }
        let refused = reserve(&cache, "otp", "a", &P, t + 41).await.unwrap();
        assert_eq!(refused, Admission::Refused(Verdict::Locked { until: t + 340 }));
        assert_eq!(load(&cache, "otp", "a").await.unwrap().failures, 5, "a refused attempt is not counted again");
    }

    #[tokio::test]
    async fn one_attempt_per_key_is_judged_at_a_time() {
        let cache = Cache::memory(crate::clock::Clock::system());
        let t = 1_000_000;
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { reserve(&cache, "acct", "k", &P, t).await.unwrap() })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            match task.await.unwrap() {
                Admission::Admitted(_) => admitted += 1,
                Admission::Refused(v) => assert_eq!(v, Verdict::Wait { seconds: 1 }),
            }
        }
        assert_eq!(admitted, 1, "the others wait for the one in flight");
        assert_eq!(
            reserve(&cache, "acct", "k", &P, t + P.lease_seconds - 1).await.unwrap(),
            Admission::Refused(Verdict::Wait { seconds: 1 })
        );
        release(&cache, "acct", "k", &P, t).await.unwrap();
        assert!(matches!(reserve(&cache, "acct", "k", &P, t).await.unwrap(), Admission::Admitted(_)), "free again");
        // A holder that never settles (its replica died) lets go when the lease runs out.
        assert!(matches!(reserve(&cache, "acct", "k", &P, t + P.lease_seconds).await.unwrap(), Admission::Admitted(_)));
    }

    #[tokio::test]
    async fn an_unjudged_attempt_is_taken_back_and_only_its_own_write() {
        let cache = Cache::memory(crate::clock::Clock::system());
        let t = 1_000_000;
        // Ten attempts that could not be judged (twice the limit): none counts.
        for i in 0..10 {
            let Admission::Admitted(r) = reserve(&cache, "acct", "a", &P, t + i).await.unwrap() else {
                panic!("attempt {i} admitted")
            };
            unjudged(&cache, "acct", "a", &r, &P, t + i).await.unwrap();
        }
        assert_eq!(load(&cache, "acct", "a").await.unwrap(), Record::default(), "nothing counted, nothing held");
        // A judged failure stays; an unjudged attempt after it restores exactly that failure.
        let Admission::Admitted(_) = reserve(&cache, "acct", "a", &P, t + 20).await.unwrap() else { panic!() };
        release(&cache, "acct", "a", &P, t + 20).await.unwrap();
        let judged = load(&cache, "acct", "a").await.unwrap();
        assert_eq!(judged.failures, 1);
        let Admission::Admitted(r) = reserve(&cache, "acct", "a", &P, t + 30).await.unwrap() else { panic!() };
        unjudged(&cache, "acct", "a", &r, &P, t + 30).await.unwrap();
        assert_eq!(load(&cache, "acct", "a").await.unwrap(), judged);
        // Held past its lease and taken by another attempt: the late taking back changes nothing.
        let Admission::Admitted(late) = reserve(&cache, "acct", "a", &P, t + 40).await.unwrap() else { panic!() };
        let Admission::Admitted(other) = reserve(&cache, "acct", "a", &P, t + 40 + P.lease_seconds).await.unwrap()
        else {
            panic!("the lease ran out")
        };
        unjudged(&cache, "acct", "a", &late, &P, t + 41 + P.lease_seconds).await.unwrap();
        assert_eq!(load(&cache, "acct", "a").await.unwrap(), other.record, "the other attempt's hold stays");
    }

    #[test]
    fn zero_max_disables_throttling() {
        let p = Policy { free_failures: 0, max_failures: 0, lockout_seconds: 1, lease_seconds: 20 };
        let r = after_failure(Record::default(), &p, 5);
        assert_eq!(verdict(&r, &p, 5), Verdict::Allowed);
    }
}
