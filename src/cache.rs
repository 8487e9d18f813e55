//! Short-lived shared state with expiry (authorization codes, login flows, SSO sessions, rate
//! counters): in-process by default, Redis when configured so several replicas share it.
//! Entries expire by the server's [`Clock`], so a test that moves the clock forward sees them
//! expire on both backends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::Clock;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis error: {0}")]
    Redis(redis::RedisError),
    #[error("cached value is damaged: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("cached counter `{0}` is not a decimal number")]
    NotACounter(String),
}

/// Every Redis error passes here on its way up, so this one place counts them all for
/// `gerbang_cache_errors_total`.
impl From<redis::RedisError> for CacheError {
    fn from(e: redis::RedisError) -> Self {
        crate::metrics::cache_error(if e.is_timeout() {
            "timeout"
        } else if e.is_connection_refusal() {
            "refused"
        } else if e.is_connection_dropped() {
            "dropped"
        } else if e.is_io_error() {
            "io"
        } else {
            "other"
        });
        CacheError::Redis(e)
    }
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
        Cache::Memory(Arc::new(MemoryCache { entries: Mutex::default(), clock }))
    }

    pub async fn redis(url: &str, prefix: &str, clock: Clock) -> Result<Cache, CacheError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Cache::Redis(RedisCache { conn, prefix: prefix.to_string(), clock }))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Cache::Memory(_) => "memory",
            Cache::Redis(_) => "redis",
        }
    }

    pub async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        match self {
            Cache::Memory(m) => {
                m.put(key, value, ttl);
                Ok(())
            }
            Cache::Redis(r) => {
                redis::cmd("SET")
                    .arg(r.key(key))
                    .arg(value)
                    .arg("PX")
                    .arg(r.ttl_ms(ttl))
                    .query_async::<()>(&mut r.conn.clone())
                    .await?;
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
                let done: Option<String> = redis::cmd("SET")
                    .arg(r.key(key))
                    .arg(value)
                    .arg("XX")
                    .arg("KEEPTTL")
                    .query_async(&mut r.conn.clone())
                    .await?;
                Ok(done.is_some())
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.get(key)),
            Cache::Redis(r) if r.clock.shift_ms() > 0 => {
                Ok(r.script(GET_SCRIPT, key).query_async(&mut r.conn.clone()).await?)
            }
            Cache::Redis(r) => Ok(redis::cmd("GET").arg(r.key(key)).query_async(&mut r.conn.clone()).await?),
        }
    }

    /// Reads and deletes in one step: of two concurrent callers (even on two replicas) exactly
    /// one gets the value. Authorization codes depend on this for single use.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.take(key)),
            Cache::Redis(r) if r.clock.shift_ms() > 0 => {
                Ok(r.script(TAKE_SCRIPT, key).query_async(&mut r.conn.clone()).await?)
            }
            Cache::Redis(r) => Ok(redis::cmd("GETDEL").arg(r.key(key)).query_async(&mut r.conn.clone()).await?),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        match self {
            Cache::Memory(m) => {
                m.take(key);
                Ok(())
            }
            Cache::Redis(r) => {
                redis::cmd("DEL").arg(r.key(key)).query_async::<()>(&mut r.conn.clone()).await?;
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
                let n: u64 =
                    r.script(INCR_SCRIPT, key).arg(r.ttl_ms(window)).arg(by).query_async(&mut r.conn.clone()).await?;
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
                    .query_async(&mut r.conn.clone())
                    .await?;
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
                let n: i64 = r
                    .script(COUNT_BELOW_SCRIPT, key)
                    .arg(limit)
                    .arg(r.ttl_ms(window))
                    .query_async(&mut r.conn.clone())
                    .await?;
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
                r.script(REFUND_SCRIPT, key).query_async::<i64>(&mut r.conn.clone()).await?;
                Ok(())
            }
        }
    }

    /// As [`Cache::incr`], also returning how long the counter's window still runs.
    pub async fn incr_window(&self, key: &str, window: Duration) -> Result<(u64, Duration), CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.incr_window(key, window)),
            Cache::Redis(r) => {
                let (n, ms): (u64, i64) =
                    r.script(INCR_WINDOW_SCRIPT, key).arg(r.ttl_ms(window)).query_async(&mut r.conn.clone()).await?;
                // What is left by the server's clock: Redis holds it `shift` longer.
                let left = ms.saturating_sub(r.clock.shift_ms()).max(0);
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
                let mut conn = r.conn.clone();
                let mut cursor: u64 = 0;
                let mut n: u64 = 0;
                loop {
                    let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await?;
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
                redis::cmd("PING").query_async::<String>(&mut r.conn.clone()).await?;
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

// Sent with EVAL rather than EVALSHA: the text is short, Redis caches it, and there is no
// NOSCRIPT round trip after a Redis restart. The first line names the script.
//
// Redis expires keys by the wall clock. A clock moved forward by `shift` ms (tests) keeps them in
// step: every TTL is written `shift` longer, so a key has expired by the server's clock once it
// has no more than the current `shift` left to live. Every script gets that shift as ARGV[1] and
// treats such a key as absent; Redis may hold it longer, never shorter. In production the shift
// is 0 and `gone` costs nothing.
macro_rules! script {
    ($name:literal, $body:literal) => {
        concat!(
            "-- gerbang:",
            $name,
            "
local shift = tonumber(ARGV[1])
local function gone(k)
  if shift <= 0 then return false end
  local t = redis.call('PTTL', k)
  return t >= 0 and t <= shift
end
",
            $body
        )
    };
}

const GET_SCRIPT: &str = script!(
    "get",
    "if gone(KEYS[1]) then return false end
return redis.call('GET', KEYS[1])"
);

const TAKE_SCRIPT: &str = script!(
    "take",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) return false end
return redis.call('GETDEL', KEYS[1])"
);

const INCR_SCRIPT: &str = script!(
    "incr",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) end
local n = redis.call('INCRBY', KEYS[1], ARGV[3])
if n == tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n"
);

const INCR_WINDOW_SCRIPT: &str = script!(
    "incr_window",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {n, redis.call('PTTL', KEYS[1])}"
);

const SWAP_SCRIPT: &str = script!(
    "swap",
    "local cur = redis.call('GET', KEYS[1])
if cur and gone(KEYS[1]) then cur = false end
if ARGV[2] == '1' then
  if cur ~= ARGV[3] then return 0 end
elseif cur then
  return 0
end
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
return 1"
);

const COUNT_BELOW_SCRIPT: &str = script!(
    "count_below",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then return -1 end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return n"
);

const REFUND_SCRIPT: &str = script!(
    "refund",
    "if gone(KEYS[1]) then return 0 end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0"
);

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

#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
    clock: Clock,
}

impl RedisCache {
    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// The TTL to give Redis: at least a second as before (Redis refuses 0), plus the clock's
    /// shift (see [`script!`]).
    fn ttl_ms(&self, ttl: Duration) -> i64 {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1000);
        ms.saturating_add(self.clock.shift_ms())
    }

    /// A script call on one key, with the clock's shift as ARGV[1].
    fn script(&self, script: &'static str, key: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(1).arg(self.key(key)).arg(self.clock.shift_ms());
        cmd
    }

    /// One request against a GCRA bucket kept in Redis (the same algorithm as `governor`):
    /// `None` when admitted, else how long until it would be. The time is Redis's own, so the
    /// replicas' clocks do not matter; the numbers are whole milliseconds, which Lua prints
    /// exactly.
    pub async fn gcra(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
        cost: u32,
    ) -> Result<Option<Duration>, CacheError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                "local t = redis.call('TIME') \
                 local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) \
                 local interval = tonumber(ARGV[1]) \
                 local cost = interval * tonumber(ARGV[3]) \
                 local tat = tonumber(redis.call('GET', KEYS[1]) or now) \
                 if tat < now then tat = now end \
                 local allow_at = tat + cost - interval * tonumber(ARGV[2]) \
                 if now < allow_at then return allow_at - now end \
                 redis.call('SET', KEYS[1], tat + cost, 'PX', tat + cost - now + 1000) \
                 return 0",
            )
        });
        let interval_ms = (interval.as_millis() as u64).max(1);
        let wait: u64 = SCRIPT
            .key(self.key(key))
            .arg(interval_ms)
            .arg(burst)
            .arg(cost.max(1))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }
}

/// Expiry times are the clock's milliseconds since the epoch.
type Entries = HashMap<String, (Vec<u8>, i64)>;

pub struct MemoryCache {
    entries: Mutex<Entries>,
    clock: Clock,
}

fn after(now: i64, ttl: Duration) -> i64 {
    now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

impl MemoryCache {
    // A poisoned lock only means another thread panicked mid-update of a cache entry; the map
    // itself is still consistent, so keep serving rather than failing every request.
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, key: &str, value: &[u8], ttl: Duration) {
        self.lock().insert(key.to_string(), (value.to_vec(), after(self.clock.now_ms(), ttl)));
    }

    fn replace(&self, key: &str, value: &[u8]) -> bool {
        let now = self.clock.now_ms();
        match self.lock().get_mut(key) {
            Some(entry) if entry.1 > now => {
                entry.0 = value.to_vec();
                true
            }
            _ => false,
        }
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = self.clock.now_ms();
        self.lock().get(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v.clone())
    }

    fn take(&self, key: &str) -> Option<Vec<u8>> {
        let now = self.clock.now_ms();
        self.lock().remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)
    }

    fn incr(&self, key: &str, by: u64, window: Duration) -> u64 {
        self.incr_at(key, by, window).0
    }

    fn incr_window(&self, key: &str, window: Duration) -> (u64, Duration) {
        let (n, expires) = self.incr_at(key, 1, window);
        let left = expires.saturating_sub(self.clock.now_ms()).max(0);
        (n, Duration::from_millis(u64::try_from(left).unwrap_or(0)))
    }

    fn incr_at(&self, key: &str, by: u64, window: Duration) -> (u64, i64) {
        let now = self.clock.now_ms();
        let mut map = self.lock();
        let entry = map.entry(key.to_string()).or_insert_with(|| (b"0".to_vec(), after(now, window)));
        if entry.1 <= now {
            *entry = (b"0".to_vec(), after(now, window));
        }
        // Decimal text, the same representation Redis uses for counters.
        let n = std::str::from_utf8(&entry.0).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0).saturating_add(by);
        entry.0 = n.to_string().into_bytes();
        (n, entry.1)
    }

    fn swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8], ttl: Duration) -> bool {
        let now = self.clock.now_ms();
        let mut map = self.lock();
        let current = map.get(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v.as_slice());
        if current != expected {
            return false;
        }
        map.insert(key.to_string(), (new.to_vec(), after(now, ttl)));
        true
    }

    fn count_below(&self, key: &str, limit: u64, window: Duration) -> Option<u64> {
        let now = self.clock.now_ms();
        let mut map = self.lock();
        let entry = map.entry(key.to_string()).or_insert_with(|| (b"0".to_vec(), after(now, window)));
        if entry.1 <= now {
            *entry = (b"0".to_vec(), after(now, window));
        }
        let n = std::str::from_utf8(&entry.0).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        if n >= limit {
            return None;
        }
        entry.0 = (n + 1).to_string().into_bytes();
        Some(n + 1)
    }

    fn refund(&self, key: &str) {
        let now = self.clock.now_ms();
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(key).filter(|(_, exp)| *exp > now) {
            let n = std::str::from_utf8(&entry.0).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            entry.0 = n.saturating_sub(1).to_string().into_bytes();
        }
    }

    fn count_prefix(&self, prefix: &str) -> u64 {
        let now = self.clock.now_ms();
        self.lock().iter().filter(|(k, (_, exp))| k.starts_with(prefix) && *exp > now).count() as u64
    }

    fn sweep(&self) {
        let now = self.clock.now_ms();
        self.lock().retain(|_, (_, exp)| *exp > now);
    }
}

#[cfg(test)]
mod tests;
