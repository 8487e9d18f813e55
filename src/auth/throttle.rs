//! Brute-force throttling: after a few free failures each further attempt must wait a growing
//! delay (1 s, 2 s, 4 s, …), and reaching the limit locks the key for a while. Records live in
//! the cache (Redis across replicas) and every decision takes `now`, so expiry is testable.

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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub failures: u64,
    pub last_failure: i64,
    pub locked_until: i64,
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

pub async fn load(cache: &Cache, scope: &str, id: &str) -> Result<Record, CacheError> {
    Ok(cache.get_json(&key(scope, id)).await?.unwrap_or_default())
}

/// Records a failure; returns the new record (locked or not).
pub async fn fail(cache: &Cache, scope: &str, id: &str, p: &Policy, now: i64) -> Result<Record, CacheError> {
    let r = after_failure(load(cache, scope, id).await?, p, now);
    store(cache, scope, id, &r, p, now).await?;
    Ok(r)
}

async fn store(cache: &Cache, scope: &str, id: &str, r: &Record, p: &Policy, now: i64) -> Result<(), CacheError> {
    let keep = (r.locked_until - now).max(p.lockout_seconds).max(MAX_DELAY) as u64;
    cache.put_json(&key(scope, id), r, Duration::from_secs(keep)).await
}

/// Admits one attempt, failing closed: while the key must wait or is locked the attempt is
/// refused unjudged; otherwise it is counted as a failure *before* it is judged, and the caller
/// clears the record when it succeeds. When the count cannot be written (a Redis refusing writes
/// but still answering reads, say) the error comes back and the attempt must not be judged, so
/// a broken cache never hands out unthrottled guesses.
pub async fn admit(cache: &Cache, scope: &str, id: &str, p: &Policy, now: i64) -> Result<Verdict, CacheError> {
    let before = load(cache, scope, id).await?;
    let v = verdict(&before, p, now);
    if v == Verdict::Allowed {
        store(cache, scope, id, &after_failure(before, p, now), p, now).await?;
    }
    Ok(v)
}

pub async fn clear(cache: &Cache, scope: &str, id: &str) -> Result<(), CacheError> {
    cache.delete(&key(scope, id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy { free_failures: 2, max_failures: 5, lockout_seconds: 300 };

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
    async fn admitted_attempts_are_counted_before_they_are_judged() {
        let cache = Cache::memory();
        let t = 1_000_000;
        assert_eq!(admit(&cache, "otp", "a", &P, t).await.unwrap(), Verdict::Allowed);
        assert_eq!(load(&cache, "otp", "a").await.unwrap().failures, 1, "charged in advance");
        clear(&cache, "otp", "a").await.unwrap();
        for i in 0..5 {
            assert_eq!(admit(&cache, "otp", "a", &P, t + 10 * i).await.unwrap(), Verdict::Allowed);
        }
        assert_eq!(admit(&cache, "otp", "a", &P, t + 41).await.unwrap(), Verdict::Locked { until: t + 340 });
        assert_eq!(load(&cache, "otp", "a").await.unwrap().failures, 5, "a refused attempt is not counted again");
    }

    #[test]
    fn zero_max_disables_throttling() {
        let p = Policy { free_failures: 0, max_failures: 0, lockout_seconds: 1 };
        let r = after_failure(Record::default(), &p, 5);
        assert_eq!(verdict(&r, &p, 5), Verdict::Allowed);
    }
}
