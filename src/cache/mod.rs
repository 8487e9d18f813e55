//! Short-lived shared state with expiry (authorization codes, login flows, SSO sessions, rate
//! counters): in-process by default, Redis when configured so several replicas share it.
//! Entries expire by the server's [`Clock`], so a test that moves the clock forward sees them
//! expire on both backends. A Redis that cannot answer gives [`CacheError::Unavailable`] within
//! a bounded time (see `redis_store`), which the HTTP layer turns into 503 + `Retry-After`.

mod liveness;
mod memory;
pub mod outage;
mod redis_store;
mod scripts;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::Clock;
pub use memory::MemoryCache;
pub use redis_store::RedisCache;
use scripts::*;
pub use settings::{RedisClientCert, RedisConfig};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cached value is damaged: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("cached counter `{0}` is not a decimal number")]
    NotACounter(String),
    /// Redis cannot answer now (refused, dropped, timed out, read-only after a failover):
    /// the request should be retried later, not reported as a server bug.
    #[error("redis is unavailable: {0}")]
    Unavailable(String),
    /// The Redis settings cannot be used (e.g. an unreadable CA file).
    #[error("redis setup: {0}")]
    Setup(String),
}

impl CacheError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CacheError::Unavailable(_))
    }
}

/// Seconds a client is asked to wait (`Retry-After`) when the cache is unavailable: about one
/// cool-off and a reconnect.
pub const RETRY_AFTER_SECONDS: u64 = 2;

/// What [`Cache::count_both`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BothCounted {
    /// Both were below their limits and were counted.
    Both,
    /// The first was at its limit: neither was counted; `second` is the second's count.
    FirstFull { second: u64 },
    /// The first was below its limit, the second at its own: neither was counted.
    SecondFull,
}

#[derive(Clone)]
pub enum Cache {
    Memory(Arc<MemoryCache>),
    Redis(RedisCache),
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Cache {
    pub fn memory(clock: Clock) -> Cache {
        Cache::Memory(Arc::new(MemoryCache::new(clock)))
    }

    /// Connects to Redis (`redis://`, `rediss://`, or the master the Sentinels name).
    pub async fn redis(url: &str, prefix: &str, settings: &RedisConfig, clock: Clock) -> Result<Cache, CacheError> {
        Ok(Cache::Redis(RedisCache::connect(url, prefix, settings, clock).await?))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Cache::Memory(_) => "memory",
            Cache::Redis(_) => "redis",
        }
    }

    /// This process's name among the processes sharing the cache; 0 in-process, where no other
    /// process shares it.
    pub fn instance(&self) -> u64 {
        match self {
            Cache::Memory(_) => 0,
            Cache::Redis(r) => r.instance,
        }
    }

    /// Whether process `instance` has shown itself within the last few seconds (see
    /// `liveness`). Always true for this process, in-process, and for 0 (unnamed: a record
    /// written by an earlier version, whose holder cannot be told dead).
    pub async fn alive(&self, instance: u64) -> Result<bool, CacheError> {
        match self {
            _ if instance == 0 || instance == self.instance() => Ok(true),
            Cache::Memory(_) => Ok(true),
            Cache::Redis(r) => r.beating(instance).await,
        }
    }

    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        match self {
            Cache::Memory(m) => {
                m.put(key, value, ttl);
                Ok(())
            }
            Cache::Redis(r) => {
                redis::cmd("SET").arg(r.key(key)).arg(value).arg("PX").arg(r.ttl_ms(ttl)).on::<()>(r).await?;
                Ok(())
            }
        }
    }

    /// Overwrites a live key's value and keeps its expiry; false (nothing written) when the key
    /// is absent. For records whose lifetime follows something else, such as an account's
    /// session index, which lives as long as its newest session.
    pub async fn replace(&self, key: &str, value: &[u8]) -> Result<bool, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.replace(key, value)),
            Cache::Redis(r) => {
                let done: Option<String> =
                    redis::cmd("SET").arg(r.key(key)).arg(value).arg("XX").arg("KEEPTTL").on(r).await?;
                Ok(done.is_some())
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.get(key)),
            Cache::Redis(r) if r.shift_ms() > 0 => Ok(r.script(GET_SCRIPT, key).on(r).await?),
            Cache::Redis(r) => Ok(redis::cmd("GET").arg(r.key(key)).on(r).await?),
        }
    }

    /// Reads and deletes in one step: of two concurrent callers (even on two replicas) exactly
    /// one gets the value. Authorization codes depend on this for single use.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.take(key)),
            Cache::Redis(r) if r.shift_ms() > 0 => Ok(r.script(TAKE_SCRIPT, key).on(r).await?),
            Cache::Redis(r) => Ok(redis::cmd("GETDEL").arg(r.key(key)).on(r).await?),
        }
    }

    /// [`Cache::take`] of a JSON object, leaving its member `field` (as JSON) under `mark` for
    /// `ttl`, in the same atomic step: for a value used once whose second use must be recognised
    /// (a replayed authorization code revokes the grant its first use produced).
    pub async fn take_marking(
        &self,
        key: &str,
        mark: &str,
        field: &str,
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.take_marking(key, mark, field, ttl)),
            Cache::Redis(r) => {
                Ok(r.script_keys(TAKE_MARKING_SCRIPT, &[key, mark]).arg(r.ttl_ms(ttl)).arg(field).on(r).await?)
            }
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        match self {
            Cache::Memory(m) => {
                m.take(key);
                Ok(())
            }
            Cache::Redis(r) => {
                redis::cmd("DEL").arg(r.key(key)).on::<()>(r).await?;
                Ok(())
            }
        }
    }

    /// Increments a counter whose window starts at its first increment; returns the new count.
    pub async fn incr(&self, key: &str, window: Duration) -> Result<u64, CacheError> {
        self.incr_by(key, 1, window).await
    }

    /// Adds `by` to a counter whose window starts when it is created; returns the new count.
    pub async fn incr_by(&self, key: &str, by: u64, window: Duration) -> Result<u64, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.incr(key, by, window)),
            Cache::Redis(r) => {
                let n: u64 = r.script(INCR_SCRIPT, key).arg(r.ttl_ms(window)).arg(by).on(r).await?;
                Ok(n)
            }
        }
    }

    /// Writes `new` only if the key still holds `expected` (`None`: absent), atomically even across
    /// replicas; false when someone changed it first. Throttle records are read, decided on and
    /// written back with this, so two concurrent attempts can never both take the same slot.
    pub async fn swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.swap(key, expected, new, ttl)),
            Cache::Redis(r) => {
                let n: i64 = r
                    .script(SWAP_SCRIPT, key)
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(new)
                    .arg(r.ttl_ms(ttl))
                    .on(r)
                    .await?;
                Ok(n == 1)
            }
        }
    }

    /// [`Cache::swap`] of a live key that keeps its expiry: `new` is written only if the key still
    /// holds `expected`; false when it changed or is gone. For records whose lifetime follows
    /// something else, as [`Cache::replace`].
    pub async fn swap_keep_ttl(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.swap_keep_ttl(key, expected, new)),
            Cache::Redis(r) => {
                let n: i64 = r.script(SWAP_KEEP_TTL_SCRIPT, key).arg(expected).arg(new).on(r).await?;
                Ok(n == 1)
            }
        }
    }

    /// Adds one to a counter only while it is below `limit`, atomically; returns the new count, or
    /// `None` (and leaves it) when the limit is reached. The window starts at the first count.
    pub async fn count_below(&self, key: &str, limit: u64, window: Duration) -> Result<Option<u64>, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.count_below(key, limit, window)),
            Cache::Redis(r) => {
                let n: i64 = r.script(COUNT_BELOW_SCRIPT, key).arg(limit).arg(r.ttl_ms(window)).on(r).await?;
                Ok(u64::try_from(n).ok())
            }
        }
    }

    /// Takes one back from a counter made by [`Cache::count_below`] (never below zero), keeping
    /// its window: an attempt charged in advance that turned out not to count.
    pub async fn refund(&self, key: &str) -> Result<(), CacheError> {
        match self {
            Cache::Memory(m) => {
                m.refund(key);
                Ok(())
            }
            Cache::Redis(r) => {
                r.script(REFUND_SCRIPT, key).on::<i64>(r).await?;
                Ok(())
            }
        }
    }

    /// Adds one to each of two counters only while both are below their limits, atomically, in one
    /// round trip (see [`BothCounted`]); the windows start at the first count.
    pub async fn count_both(
        &self,
        keys: [&str; 2],
        limits: [u64; 2],
        window: Duration,
    ) -> Result<BothCounted, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.count_both(keys, limits, window)),
            Cache::Redis(r) => {
                let (code, second): (i64, u64) = r
                    .script_keys(COUNT_BOTH_SCRIPT, &keys)
                    .arg(limits[0])
                    .arg(limits[1])
                    .arg(r.ttl_ms(window))
                    .on(r)
                    .await?;
                Ok(match code {
                    1 => BothCounted::Both,
                    2 => BothCounted::FirstFull { second },
                    _ => BothCounted::SecondFull,
                })
            }
        }
    }

    /// Deletes `delete` and takes one back from each counter of `refunds` (as [`Cache::refund`]),
    /// in one round trip: how a throttled attempt that succeeded settles.
    pub async fn settle(&self, delete: &str, refunds: &[&str]) -> Result<(), CacheError> {
        match self {
            Cache::Memory(m) => {
                m.take(delete);
                for k in refunds {
                    m.refund(k);
                }
                Ok(())
            }
            Cache::Redis(r) => {
                let keys: Vec<&str> = std::iter::once(delete).chain(refunds.iter().copied()).collect();
                r.script_keys(SETTLE_SCRIPT, &keys).on::<i64>(r).await?;
                Ok(())
            }
        }
    }

    /// As [`Cache::incr`], also returning how long the counter's window still runs.
    pub async fn incr_window(&self, key: &str, window: Duration) -> Result<(u64, Duration), CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.incr_window(key, window)),
            Cache::Redis(r) => {
                let (n, ms): (u64, i64) = r.script(INCR_WINDOW_SCRIPT, key).arg(r.ttl_ms(window)).on(r).await?;
                // What is left by the server's clock: Redis holds it `shift` longer.
                let left = ms.saturating_sub(r.shift_ms()).max(0);
                Ok((n, Duration::from_millis(u64::try_from(left).unwrap_or(0))))
            }
        }
    }

    /// Reads a counter made by [`Cache::incr`] without resetting it; 0 when absent or expired.
    pub async fn peek_count(&self, key: &str) -> Result<u64, CacheError> {
        parse_count(key, self.get(key).await?)
    }

    /// Reads and removes a counter made by [`Cache::incr`] in one step, so of several replicas
    /// collecting the same counter only one sees each increment.
    pub async fn take_count(&self, key: &str) -> Result<u64, CacheError> {
        parse_count(key, self.take(key).await?)
    }

    /// How many live keys start with `prefix`. Redis walks the key space with SCAN in batches:
    /// KEYS would block a shared Redis for the whole walk.
    pub async fn count_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.count_prefix(prefix)),
            Cache::Redis(r) => {
                let pattern = format!("{}*", glob_escape(&r.key(prefix)));
                let mut cursor: u64 = 0;
                let mut n: u64 = 0;
                loop {
                    let (next, keys): (u64, Vec<Vec<u8>>) =
                        redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).on(r).await?;
                    // SCAN may return a key twice when the table is rehashed mid-walk, and keys a
                    // moved test clock has expired are still there; for a dashboard figure that
                    // slight overcount is acceptable.
                    n += keys.len() as u64;
                    if next == 0 {
                        return Ok(n);
                    }
                    cursor = next;
                }
            }
        }
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        match self {
            Cache::Memory(_) => Ok(()),
            Cache::Redis(r) => {
                redis::cmd("PING").on::<String>(r).await?;
                Ok(())
            }
        }
    }

    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T, ttl: Duration) -> Result<(), CacheError> {
        self.put(key, &serde_json::to_vec(value)?, ttl).await
    }

    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        match self.get(key).await? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    pub async fn take_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        match self.take(key).await? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Drops expired in-process entries; Redis expires keys itself.
    pub fn sweep(&self) {
        if let Cache::Memory(m) = self {
            m.sweep();
        }
    }
}

/// Counters are decimal text in both backends (Redis INCR keeps them that way).
fn parse_count(key: &str, value: Option<Vec<u8>>) -> Result<u64, CacheError> {
    match value {
        None => Ok(0),
        Some(v) => std::str::from_utf8(&v)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| CacheError::NotACounter(key.to_string())),
    }
}

/// A Redis key prefix (e.g. one with `[` or `*` in `redis_prefix`) must match only itself in a
/// MATCH pattern.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Sends a command through [`RedisCache::run`], recording an outage for the request.
trait RunOn {
    fn on<T: redis::FromRedisValue + Send>(
        &self,
        r: &RedisCache,
    ) -> impl std::future::Future<Output = Result<T, CacheError>> + Send;
}

impl RunOn for redis::Cmd {
    fn on<T: redis::FromRedisValue + Send>(
        &self,
        r: &RedisCache,
    ) -> impl std::future::Future<Output = Result<T, CacheError>> + Send {
        r.run(self, true)
    }
}

#[cfg(test)]
mod tests;
