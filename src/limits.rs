//! Request rate limits per client address and per application: GCRA buckets kept in-process
//! (`governor`) or, when Redis is configured, in Redis so that every replica draws on one budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::cache::Cache;

/// What a limit counts. `*Client` buckets are keyed by an authenticated application, the others
/// by the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Authorize,
    Token,
    TokenClient,
    Introspect,
    IntrospectClient,
    Passkey,
    Admin,
}

impl Bucket {
    pub const ALL: [Bucket; 7] = [
        Bucket::Authorize,
        Bucket::Token,
        Bucket::TokenClient,
        Bucket::Introspect,
        Bucket::IntrospectClient,
        Bucket::Passkey,
        Bucket::Admin,
    ];

    /// The name in the `rate_limits` setting and in Redis keys.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Authorize => "authorize",
            Bucket::Token => "token",
            Bucket::TokenClient => "token_client",
            Bucket::Introspect => "introspect",
            Bucket::IntrospectClient => "introspect_client",
            Bucket::Passkey => "passkey",
            Bucket::Admin => "admin",
        }
    }

    /// Production defaults: generous enough for an office of hundreds behind one NAT address
    /// and for a data centre whose applications share one outgoing address, tight enough that
    /// one address cannot take the server's memory or CPU.
    fn default_rate(self) -> Rate {
        let per_minute = match self {
            Bucket::Authorize => 300,
            Bucket::Token | Bucket::TokenClient => 1200,
            Bucket::Introspect | Bucket::IntrospectClient => 3000,
            Bucket::Passkey => 60,
            Bucket::Admin => 300,
        };
        Rate { count: per_minute, period: Duration::from_secs(60) }
    }
}

/// `count` requests per `period`, at most `count` of them at once (GCRA: one more becomes
/// allowed every `period / count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    /// Time between two requests at the steady rate, never zero.
    fn interval(self) -> Duration {
        (self.period / self.count.max(1)).max(Duration::from_micros(1))
    }
}

/// The configured limit of every bucket; `None` means unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits(HashMap<Bucket, Option<Rate>>);

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits(Bucket::ALL.iter().map(|b| (*b, Some(b.default_rate()))).collect())
    }
}

impl RateLimits {
    /// `token=600, authorize=100/30, passkey=0`: requests per minute, or per the given number
    /// of seconds; 0 switches a limit off; `off` alone switches all off. Buckets not named keep
    /// their defaults.
    pub fn parse(s: &str) -> Result<RateLimits, String> {
        let mut limits = RateLimits::default();
        if s.trim() == "off" {
            limits.0.values_mut().for_each(|r| *r = None);
            return Ok(limits);
        }
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("`{part}` is not like `token=600` or `authorize=100/30` (requests per seconds)");
            let (name, value) = part.split_once('=').ok_or_else(bad)?;
            let bucket = Bucket::ALL.into_iter().find(|b| b.name() == name.trim()).ok_or_else(|| {
                let names: Vec<&str> = Bucket::ALL.iter().map(|b| b.name()).collect();
                format!("unknown limit `{}`; known: {}", name.trim(), names.join(", "))
            })?;
            let (count, secs) = match value.split_once('/') {
                Some((c, p)) => (c.trim(), p.trim()),
                None => (value.trim(), "60"),
            };
            let count: u32 = count.parse().map_err(|_| bad())?;
            let secs: u64 = secs.parse().ok().filter(|s| *s > 0).ok_or_else(bad)?;
            let rate = (count > 0).then(|| Rate { count, period: Duration::from_secs(secs) });
            limits.0.insert(bucket, rate);
        }
        Ok(limits)
    }

    pub fn get(&self, bucket: Bucket) -> Option<Rate> {
        self.0.get(&bucket).copied().flatten()
    }
}

/// A refusal: the caller may try again after `retry_after` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: u64,
}

impl Limited {
    pub fn after(wait: Duration) -> Limited {
        // Rounded up: a client that waits exactly this long is let in.
        Limited { retry_after: wait.as_millis().div_ceil(1000).max(1) as u64 }
    }
}

/// The buckets of one server. With Redis the in-process buckets stay unused; instead each
/// replica takes a few requests' worth of the shared budget at a time (a lease), so a busy
/// `/token` does not pay a Redis round trip per request.
pub struct Limiter {
    local: HashMap<Bucket, (Rate, DefaultKeyedRateLimiter<String>)>,
    leases: std::sync::Mutex<HashMap<(Bucket, String), LeaseSlot>>,
}

/// One key's lease. Requests that find it empty queue on its lock while one of them fetches
/// the next lease, so a burst of concurrent requests makes one Redis call, not one each.
type LeaseSlot = std::sync::Arc<tokio::sync::Mutex<Lease>>;

/// Requests of the shared budget this replica took and has not used yet.
#[derive(Debug, Clone, Copy)]
struct Lease {
    left: u32,
    until: std::time::Instant,
    /// No whole lease is asked for before this (the budget was short of one).
    bulk_after: std::time::Instant,
}

/// How long a lease's unused requests stay this replica's: short, so a budget is never held
/// back from the other replicas for long (what lapses is simply not used: under-admission).
const LEASE_LIFETIME: Duration = Duration::from_secs(1);

/// How many requests one Redis call takes: a 1/40 of the burst, between 1 and 32. Small limits
/// (as the tests and the passkey bucket use) stay exact; on a large one, N replicas can admit
/// at most N × (lease − 1) beyond it, under 3 % per replica.
fn lease_size(rate: Rate) -> u32 {
    (rate.count / 40).clamp(1, 32)
}

impl Limiter {
    pub fn new(limits: &RateLimits) -> Limiter {
        let mut local = HashMap::new();
        for b in Bucket::ALL {
            let Some(rate) = limits.get(b) else { continue };
            let Some(burst) = NonZeroU32::new(rate.count) else { continue };
            if let Some(q) = Quota::with_period(rate.interval()) {
                local.insert(b, (rate, RateLimiter::keyed(q.allow_burst(burst))));
            }
        }
        Limiter { local, leases: std::sync::Mutex::new(HashMap::new()) }
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<(Bucket, String), LeaseSlot>> {
        // A poisoned lock only means a panic elsewhere mid-update; the counts stay usable.
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slot(&self, bucket: Bucket, key: &str) -> LeaseSlot {
        let now = std::time::Instant::now();
        let empty = || std::sync::Arc::new(tokio::sync::Mutex::new(Lease { left: 0, until: now, bulk_after: now }));
        self.leases().entry((bucket, key.to_string())).or_insert_with(empty).clone()
    }

    async fn check_shared(
        &self,
        r: &crate::cache::RedisCache,
        bucket: Bucket,
        rate: Rate,
        key: &str,
    ) -> Result<Option<Duration>, crate::cache::CacheError> {
        let rkey = || format!("rl:{}:{key}", bucket.name());
        let size = lease_size(rate);
        if size > 1 {
            let slot = self.slot(bucket, key);
            let mut lease = slot.lock().await;
            if lease.left > 0 && lease.until > std::time::Instant::now() {
                lease.left -= 1;
                return Ok(None);
            }
            let now = std::time::Instant::now();
            if lease.bulk_after <= now {
                match r.gcra(&rkey(), rate.interval(), rate.count, size).await? {
                    None => {
                        *lease = Lease { left: size - 1, until: now + LEASE_LIFETIME, bulk_after: now };
                        return Ok(None);
                    }
                    // Less than a lease is left: single requests until a whole one could be.
                    Some(wait) => lease.bulk_after = now + wait,
                }
            }
        }
        // Not a whole lease left (or none needed): one request, exactly.
        r.gcra(&rkey(), rate.interval(), rate.count, 1).await
    }

    /// Counts one request of `key` against `bucket`. A Redis failure lets the request through
    /// (logged): a cache outage must not lock everyone out.
    pub async fn check(&self, cache: &Cache, bucket: Bucket, key: &str) -> Result<(), Limited> {
        let Some((rate, local)) = self.local.get(&bucket) else { return Ok(()) };
        match cache {
            Cache::Redis(r) => match self.check_shared(r, bucket, *rate, key).await {
                Ok(None) => Ok(()),
                Ok(Some(wait)) => Err(Limited::after(wait)),
                // An outage is logged once by the cache, not here for every request.
                Err(e) if e.is_unavailable() => Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, bucket = bucket.name(), "rate limit not checked: Redis failed");
                    Ok(())
                }
            },
            Cache::Memory(_) => {
                local.check_key(&key.to_string()).map_err(|n| Limited::after(n.wait_time_from(local.clock().now())))
            }
        }
    }

    /// Forgets addresses whose buckets are full again, so memory follows the recent callers.
    pub fn sweep(&self) {
        for (_, l) in self.local.values() {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let now = std::time::Instant::now();
        // A slot in use is kept; an idle one only while its lease runs.
        self.leases().retain(|_, slot| slot.try_lock().map(|l| l.until > now).unwrap_or(true));
    }

    /// How many keys the in-process buckets hold (for tests and diagnostics).
    pub fn tracked(&self) -> usize {
        self.local.values().map(|(_, l)| l.len()).sum()
    }
}

/// The key of an address: IPv6 addresses count per /64, the block one subscriber usually holds,
/// so that walking through one's own block does not multiply the budget.
pub fn address_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_exact_for_small_limits_and_a_small_share_of_large_ones() {
        let per_minute = |count| Rate { count, period: Duration::from_secs(60) };
        assert_eq!(lease_size(per_minute(5)), 1);
        assert_eq!(lease_size(per_minute(60)), 1);
        assert_eq!(lease_size(per_minute(400)), 10);
        assert_eq!(lease_size(per_minute(1200)), 30);
        assert_eq!(lease_size(per_minute(100_000)), 32);
    }

    #[test]
    fn settings_override_defaults_bucket_by_bucket() {
        let l = RateLimits::parse("token=5, authorize=2/10, passkey=0").unwrap();
        assert_eq!(l.get(Bucket::Token), Some(Rate { count: 5, period: Duration::from_secs(60) }));
        assert_eq!(l.get(Bucket::Authorize), Some(Rate { count: 2, period: Duration::from_secs(10) }));
        assert_eq!(l.get(Bucket::Passkey), None);
        assert_eq!(l.get(Bucket::Admin), Bucket::Admin.default_rate().into());
        assert!(Bucket::ALL.iter().all(|b| RateLimits::parse("off").unwrap().get(*b).is_none()));
        assert_eq!(RateLimits::parse("").unwrap(), RateLimits::default());
        for bad in ["tokens=5", "token", "token=x", "token=5/0", "token=-1"] {
            assert!(RateLimits::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_addresses_share_their_64_block() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), address_key("2001:db8:1:2:bbbb::2"));
        assert_ne!(address_key("2001:db8:1:2::1"), address_key("2001:db8:1:3::1"));
        assert_eq!(address_key("::ffff:10.1.2.3"), "10.1.2.3");
        assert_eq!(address_key("10.1.2.3"), "10.1.2.3");
    }

    #[tokio::test]
    async fn in_process_buckets_refuse_after_the_burst_and_say_when_to_return() {
        let limits = RateLimits::parse("token=3/60").unwrap();
        let l = Limiter::new(&limits);
        let cache = Cache::memory(crate::clock::Clock::system());
        for _ in 0..3 {
            assert_eq!(l.check(&cache, Bucket::Token, "10.0.0.1").await, Ok(()));
        }
        let refused = l.check(&cache, Bucket::Token, "10.0.0.1").await.unwrap_err();
        assert!((1..=20).contains(&refused.retry_after), "{refused:?}");
        assert_eq!(l.check(&cache, Bucket::Token, "10.0.0.2").await, Ok(()), "another address has its own bucket");
        assert_eq!(l.tracked(), 2);
    }
}
