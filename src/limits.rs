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

/// The buckets of one server. With Redis the in-process buckets stay unused.
pub struct Limiter {
    local: HashMap<Bucket, (Rate, DefaultKeyedRateLimiter<String>)>,
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
        Limiter { local }
    }

    /// Counts one request of `key` against `bucket`. A Redis failure lets the request through
    /// (logged): a cache outage must not lock everyone out.
    pub async fn check(&self, cache: &Cache, bucket: Bucket, key: &str) -> Result<(), Limited> {
        let Some((rate, local)) = self.local.get(&bucket) else { return Ok(()) };
        match cache {
            Cache::Redis(r) => {
                let rkey = format!("rl:{}:{key}", bucket.name());
                match r.gcra(&rkey, rate.interval(), rate.count).await {
                    Ok(None) => Ok(()),
                    Ok(Some(wait)) => Err(Limited::after(wait)),
                    Err(e) => {
                        tracing::warn!(error = %e, bucket = bucket.name(), "rate limit not checked: Redis failed");
                        Ok(())
                    }
                }
            }
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
        let cache = Cache::memory();
        for _ in 0..3 {
            assert_eq!(l.check(&cache, Bucket::Token, "10.0.0.1").await, Ok(()));
        }
        let refused = l.check(&cache, Bucket::Token, "10.0.0.1").await.unwrap_err();
        assert!((1..=20).contains(&refused.retry_after), "{refused:?}");
        assert_eq!(l.check(&cache, Bucket::Token, "10.0.0.2").await, Ok(()), "another address has its own bucket");
        assert_eq!(l.tracked(), 2);
    }
}
