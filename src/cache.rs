//! Short-lived shared state with expiry (authorization codes, login flows, SSO sessions, rate
//! counters): in-process by default, Redis when configured so several replicas share it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cached value is damaged: {0}")]
    Decode(#[from] serde_json::Error),
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
    pub fn memory() -> Cache {
        Cache::Memory(Arc::new(MemoryCache::default()))
    }

    pub async fn redis(url: &str, prefix: &str) -> Result<Cache, CacheError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Cache::Redis(RedisCache { conn, prefix: prefix.to_string() }))
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
                let secs = ttl.as_secs().max(1);
                redis::cmd("SET")
                    .arg(r.key(key))
                    .arg(value)
                    .arg("EX")
                    .arg(secs)
                    .query_async::<()>(&mut r.conn.clone())
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.get(key)),
            Cache::Redis(r) => Ok(redis::cmd("GET").arg(r.key(key)).query_async(&mut r.conn.clone()).await?),
        }
    }

    /// Reads and deletes in one step: of two concurrent callers (even on two replicas) exactly
    /// one gets the value. Authorization codes depend on this for single use.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::Memory(m) => Ok(m.take(key)),
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
        match self {
            Cache::Memory(m) => Ok(m.incr(key, window)),
            Cache::Redis(r) => {
                let script = redis::Script::new(
                    "local n = redis.call('INCR', KEYS[1]) \
                     if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end \
                     return n",
                );
                let n: u64 = script
                    .key(r.key(key))
                    .arg(window.as_secs().max(1))
                    .invoke_async(&mut r.conn.clone())
                    .await?;
                Ok(n)
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
            m.sweep(Instant::now());
        }
    }
}

#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisCache {
    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

#[derive(Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
}

impl MemoryCache {
    // A poisoned lock only means another thread panicked mid-update of a cache entry; the map
    // itself is still consistent, so keep serving rather than failing every request.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, key: &str, value: &[u8], ttl: Duration) {
        self.lock().insert(key.to_string(), (value.to_vec(), Instant::now() + ttl));
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.lock().get(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v.clone())
    }

    fn take(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.lock().remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)
    }

    fn incr(&self, key: &str, window: Duration) -> u64 {
        let now = Instant::now();
        let mut map = self.lock();
        let entry = map.entry(key.to_string()).or_insert_with(|| (b"0".to_vec(), now + window));
        if entry.1 <= now {
            *entry = (b"0".to_vec(), now + window);
        }
        // Decimal text, the same representation Redis uses for counters.
        let n = std::str::from_utf8(&entry.0).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0).saturating_add(1);
        entry.0 = n.to_string().into_bytes();
        n
    }

    fn sweep(&self, now: Instant) {
        self.lock().retain(|_, (_, exp)| *exp > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_take_is_single_use_and_expiry_works() {
        let c = Cache::memory();
        c.put("a", b"1", Duration::from_secs(60)).await.unwrap();
        assert_eq!(c.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(c.take("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(c.take("a").await.unwrap(), None);
        c.put("b", b"2", Duration::from_millis(0)).await.unwrap();
        assert_eq!(c.get("b").await.unwrap(), None);
        assert_eq!(c.incr("n", Duration::from_secs(60)).await.unwrap(), 1);
        assert_eq!(c.incr("n", Duration::from_secs(60)).await.unwrap(), 2);
    }
}
