//! The in-process cache backend: one map behind a mutex, for a single replica. Entries expire
//! by the server's [`Clock`], swept by [`MemoryCache::sweep`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Clock;

/// Expiry times are the clock's milliseconds since the epoch.
type Entries = HashMap<String, (Vec<u8>, i64)>;

pub struct MemoryCache {
    entries: Mutex<Entries>,
    clock: Clock,
}

impl MemoryCache {
    pub(super) fn new(clock: Clock) -> MemoryCache {
        MemoryCache { entries: Mutex::default(), clock }
    }
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

    pub(super) fn put(&self, key: &str, value: &[u8], ttl: Duration) {
        self.lock().insert(key.to_string(), (value.to_vec(), after(self.clock.now_ms(), ttl)));
    }

    pub(super) fn replace(&self, key: &str, value: &[u8]) -> bool {
        let now = self.clock.now_ms();
        match self.lock().get_mut(key) {
            Some(entry) if entry.1 > now => {
                entry.0 = value.to_vec();
                true
            }
            _ => false,
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = self.clock.now_ms();
        self.lock().get(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v.clone())
    }

    pub(super) fn take(&self, key: &str) -> Option<Vec<u8>> {
        let now = self.clock.now_ms();
        self.lock().remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)
    }

    pub(super) fn take_marking(&self, key: &str, mark: &str, field: &str, ttl: Duration) -> Option<Vec<u8>> {
        let now = self.clock.now_ms();
        let mut map = self.lock();
        let taken = map.remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v);
        let kept = taken.as_deref().and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok());
        if let Some(value) = kept.as_ref().and_then(|obj| obj.get(field)) {
            map.insert(mark.to_string(), (value.to_string().into_bytes(), after(now, ttl)));
        }
        taken
    }

    pub(super) fn incr(&self, key: &str, by: u64, window: Duration) -> u64 {
        self.incr_at(key, by, window).0
    }

    pub(super) fn incr_window(&self, key: &str, window: Duration) -> (u64, Duration) {
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

    pub(super) fn swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8], ttl: Duration) -> bool {
        let now = self.clock.now_ms();
        let mut map = self.lock();
        let current = map.get(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v.as_slice());
        if current != expected {
            return false;
        }
        map.insert(key.to_string(), (new.to_vec(), after(now, ttl)));
        true
    }

    pub(super) fn swap_keep_ttl(&self, key: &str, expected: &[u8], new: &[u8]) -> bool {
        let now = self.clock.now_ms();
        match self.lock().get_mut(key) {
            Some(entry) if entry.1 > now && entry.0 == expected => {
                entry.0 = new.to_vec();
                true
            }
            _ => false,
        }
    }

    pub(super) fn count_below(&self, key: &str, limit: u64, window: Duration) -> Option<u64> {
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

    pub(super) fn refund(&self, key: &str) {
        let now = self.clock.now_ms();
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(key).filter(|(_, exp)| *exp > now) {
            let n = std::str::from_utf8(&entry.0).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            entry.0 = n.saturating_sub(1).to_string().into_bytes();
        }
    }

    /// [`super::Cache::count_both`] under one lock.
    pub(super) fn count_both(&self, keys: [&str; 2], limits: [u64; 2], window: Duration) -> super::BothCounted {
        let now = self.clock.now_ms();
        let mut map = self.lock();
        let mut counts = [0u64; 2];
        for (count, key) in counts.iter_mut().zip(keys) {
            let entry = map.entry(key.to_string()).or_insert_with(|| (b"0".to_vec(), after(now, window)));
            if entry.1 <= now {
                *entry = (b"0".to_vec(), after(now, window));
            }
            *count = std::str::from_utf8(&entry.0).ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        }
        if counts[0] >= limits[0] {
            return super::BothCounted::FirstFull { second: counts[1] };
        }
        if counts[1] >= limits[1] {
            return super::BothCounted::SecondFull;
        }
        for (count, key) in counts.iter().zip(keys) {
            if let Some(entry) = map.get_mut(key) {
                entry.0 = (count + 1).to_string().into_bytes();
            }
        }
        super::BothCounted::Both
    }

    pub(super) fn count_prefix(&self, prefix: &str) -> u64 {
        let now = self.clock.now_ms();
        self.lock().iter().filter(|(k, (_, exp))| k.starts_with(prefix) && *exp > now).count() as u64
    }

    pub(super) fn sweep(&self) {
        let now = self.clock.now_ms();
        self.lock().retain(|_, (_, exp)| *exp > now);
    }
}
