//! Which processes sharing a Redis are alive: each one writes a short-lived key of its own every
//! second. A throttle reservation names the process holding it, so when a replica dies in the
//! middle of a password check the others see its key lapse within seconds and take the
//! reservation over, instead of keeping that person waiting for the whole lease.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::redis_store::{Inner, RedisCache};

/// How often a process shows itself.
const BEAT: Duration = Duration::from_secs(1);
/// How long one beat counts: a few beats, so a slow moment is not taken for a death.
const ALIVE_FOR: Duration = Duration::from_secs(4);

/// The cache key of process `instance`'s beat.
pub(super) fn key(instance: u64) -> String {
    format!("alive:{instance:016x}")
}

/// A random, non-zero name for this process among those sharing the cache (0 names none).
pub(super) fn new_instance() -> u64 {
    crate::crypto::random_bytes::<8>().map(u64::from_le_bytes).unwrap_or(0).max(1)
}

impl RedisCache {
    /// Writes this process's beat now, then every [`BEAT`] while the cache is in use. A missed
    /// beat is not an outage of any request and starts no cool-off: it is sent outside `run`.
    pub(super) async fn start_beating(&self) {
        self.beat().await;
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let (prefix, clock, instance) = (self.prefix.clone(), self.clock.clone(), self.instance);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                // Ends with the last handle on the cache (tests make many).
                let Some(inner) = weak.upgrade() else { return };
                RedisCache { inner, prefix: prefix.clone(), clock: clock.clone(), instance }.beat().await;
            }
        });
    }

    /// Whether process `instance`'s beat is there. Liveness is about real processes in real
    /// time: the beat's expiry is Redis's own, never moved by the test clock's shift (with the
    /// shift, a clock moved forward by a few seconds made every other replica look dead, and
    /// their holds were taken over while they were still judging).
    pub(super) async fn beating(&self, instance: u64) -> Result<bool, super::CacheError> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(self.key(&key(instance)));
        Ok(self.run::<i64>(&cmd, true).await? == 1)
    }

    async fn beat(&self) {
        let mut cmd = redis::cmd("SET");
        let ttl_ms = u64::try_from(ALIVE_FOR.as_millis()).unwrap_or(u64::MAX);
        cmd.arg(self.key(&key(self.instance))).arg(1).arg("PX").arg(ttl_ms);
        let mut conn = self.conn();
        if let Ok(Err(e)) = tokio::time::timeout(self.inner.budget, cmd.query_async::<()>(&mut conn)).await {
            tracing::debug!(error = %e, "missed a liveness beat");
        }
    }
}
