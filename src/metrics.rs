//! Every Prometheus metric's name and labels, in one place; the rest of the code calls the small
//! functions here (`metrics::login(..)`) and never names a metric itself. See docs/metrics.md.
//!
//! The recorder is process-wide (the `metrics` facade has one global recorder) and installed at
//! most once, only when metrics are enabled: without it every call here costs nothing. Several
//! servers in one process (the tests) share it, so their counters add up.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const LOGINS: &str = "gerbang_logins_total";
pub const LOCKOUTS: &str = "gerbang_lockouts_total";
pub const TOKENS: &str = "gerbang_tokens_total";
pub const HTTP_DURATION: &str = "gerbang_http_request_duration_seconds";
pub const HASH_RUNNING: &str = "gerbang_password_hashes_running";
pub const HASH_WAITING: &str = "gerbang_password_hashes_waiting";
pub const HASH_CAPACITY: &str = "gerbang_password_hash_capacity";
pub const DB_ERRORS: &str = "gerbang_database_errors_total";
pub const CACHE_ERRORS: &str = "gerbang_cache_errors_total";
pub const DEPENDENCY_UP: &str = "gerbang_dependency_up";
pub const CERTIFICATES: &str = "gerbang_certificates";
pub const AUDIT_INTACT: &str = "gerbang_audit_chain_intact";
pub const AUDIT_VERIFIED_AT: &str = "gerbang_audit_chain_verified_timestamp_seconds";
pub const AUDIT_RECORDS: &str = "gerbang_audit_chain_records";
pub const BUILD_INFO: &str = "gerbang_build_info";

/// Latency buckets (seconds): a page or token answer in milliseconds, a password login near a
/// quarter second (argon2id), and a slow dependency up to the request timeout.
const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0];

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    /// A session was opened (or stepped up).
    Success,
    /// The credential was judged and refused.
    Failure,
    /// Refused by the throttle or a lockout without being judged.
    Throttled,
    /// Turned away because the password hashing queue was full.
    Busy,
    /// Failed internally (database, cache).
    Error,
}

impl LoginResult {
    fn as_str(self) -> &'static str {
        match self {
            LoginResult::Success => "success",
            LoginResult::Failure => "failure",
            LoginResult::Throttled => "throttled",
            LoginResult::Busy => "busy",
            LoginResult::Error => "error",
        }
    }
}

/// The factor an attempt was judged on: `password`, `otp`, `passkey`, `recovery_code` or
/// `upstream`.
pub type Method = &'static str;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder the first time it is called; later calls (another server in
/// the same process) reuse it. `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "metrics: bad histogram buckets");
                    return None;
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(e) = ::metrics::set_global_recorder(recorder) {
                tracing::error!(error = %e, "metrics: another recorder is already installed");
                return None;
            }
            describe();
            ::metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(handle)
        })
        .as_ref()
}

/// The text exposition format of every metric, or `None` when none is installed.
pub fn render() -> Option<String> {
    let handle = HANDLE.get()?.as_ref()?;
    // Moves recorded histogram samples into their buckets and publishes descriptions.
    handle.run_upkeep();
    Some(handle.render())
}

/// Whether a recorder is installed; the hot paths skip building labels when not.
fn enabled() -> bool {
    matches!(HANDLE.get(), Some(Some(_)))
}

/// Keeps histogram samples from piling up between scrapes (or when nobody scrapes).
pub fn upkeep() {
    if let Some(Some(handle)) = HANDLE.get() {
        handle.run_upkeep();
    }
}

fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(LOGINS, "Login attempts by result, method and assurance level");
    describe_counter!(LOCKOUTS, "Accounts locked after repeated failed passwords");
    describe_counter!(TOKENS, "Token responses issued, by grant type and application");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Request latency by route, method and status class");
    describe_gauge!(HASH_RUNNING, "Password hashes being computed now");
    describe_gauge!(HASH_WAITING, "Password checks admitted and waiting for a hashing slot");
    describe_gauge!(HASH_CAPACITY, "Configured hashing slots (running) and queue places (queue)");
    describe_counter!(DB_ERRORS, "Database errors, by kind");
    describe_counter!(CACHE_ERRORS, "Cache (Redis) errors, by kind");
    describe_gauge!(DEPENDENCY_UP, "1 when the dependency answered at the last scrape, else 0");
    describe_gauge!(CERTIFICATES, "Bound electronic certificates by state");
    describe_gauge!(AUDIT_INTACT, "1 when the last audit-chain verification found it intact, 0 when broken");
    describe_gauge!(AUDIT_VERIFIED_AT, Unit::Seconds, "When the audit chain was last verified (Unix time)");
    describe_gauge!(AUDIT_RECORDS, "Audit records checked by the last verification");
    describe_gauge!(BUILD_INFO, "Always 1; the version label names the running build");
}

fn level_label(level: u8) -> &'static str {
    match level {
        0 => "0",
        1 => "1",
        2 => "2",
        3 => "3",
        _ => "4",
    }
}

/// A login attempt judged on `method`, reaching (or, refused, meant to reach) `level`.
pub fn login(result: LoginResult, method: Method, level: u8) {
    ::metrics::counter!(LOGINS, "result" => result.as_str(), "method" => method, "level" => level_label(level))
        .increment(1);
}

/// An account locked after too many failed passwords.
pub fn lockout() {
    ::metrics::counter!(LOCKOUTS).increment(1);
}

/// A token response for `client_id` under `grant` (`authorization_code`, `refresh_token`,
/// `client_credentials`). Client ids are bounded by registrations.
pub fn token(grant: &'static str, client_id: &str) {
    if !enabled() {
        return;
    }
    ::metrics::counter!(TOKENS, "grant" => grant, "client_id" => client_id.to_string()).increment(1);
}

/// One answered request: `route` is the route's pattern (never the raw path, so the number of
/// series stays bounded), `status` the HTTP status code.
pub fn http_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    if !enabled() {
        return;
    }
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let method = match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    };
    ::metrics::histogram!(HTTP_DURATION, "route" => route.to_string(), "method" => method, "status" => class)
        .record(elapsed.as_secs_f64());
}

/// The password-hash queue as seen now, and its configured size.
pub fn hash_queue(running: usize, waiting: usize, max_running: usize, queue: usize) {
    ::metrics::gauge!(HASH_RUNNING).set(running as f64);
    ::metrics::gauge!(HASH_WAITING).set(waiting as f64);
    ::metrics::gauge!(HASH_CAPACITY, "kind" => "running").set(max_running as f64);
    ::metrics::gauge!(HASH_CAPACITY, "kind" => "queue").set(queue as f64);
}

/// A database error on its way to becoming an internal error (`kind`: `pool_timeout`, `io`,
/// `database`, `pool_closed`, `other`).
pub fn database_error(kind: &'static str) {
    ::metrics::counter!(DB_ERRORS, "kind" => kind).increment(1);
}

/// A cache (Redis) error (`kind`: `timeout`, `refused`, `dropped`, `io`, `other`).
pub fn cache_error(kind: &'static str) {
    ::metrics::counter!(CACHE_ERRORS, "kind" => kind).increment(1);
}

/// Whether `dependency` (`database`, `cache`) answered.
pub fn dependency_up(dependency: &'static str, up: bool) {
    ::metrics::gauge!(DEPENDENCY_UP, "dependency" => dependency).set(if up { 1.0 } else { 0.0 });
}

/// The states certificates are counted in; every one is always exported (zero included), so
/// an alert's expression never meets a missing series.
pub const CERT_STATES: [&str; 8] =
    ["valid", "expiring", "expired", "replaced", "revoked", "failing", "unchecked", "pending"];

/// Bound certificates per state (`CERT_STATES`); states not given are set to zero.
pub fn certificates(counts: &[(String, i64)]) {
    for state in CERT_STATES {
        let n = counts.iter().filter(|(s, _)| s == state).map(|(_, n)| *n).sum::<i64>();
        ::metrics::gauge!(CERTIFICATES, "state" => state).set(n as f64);
    }
}

/// The outcome of an audit-chain verification at `at` (Unix time).
pub fn audit_chain(intact: bool, records: u64, at: i64) {
    ::metrics::gauge!(AUDIT_INTACT).set(if intact { 1.0 } else { 0.0 });
    ::metrics::gauge!(AUDIT_RECORDS).set(records as f64);
    ::metrics::gauge!(AUDIT_VERIFIED_AT).set(at as f64);
}

/// Runs the scrape-time checks (database and cache pings, the certificate count) at most once
/// per `fresh`, whoever scrapes: scrapes that arrive together wait for one run and share its
/// gauges. The metrics listener may be reachable by more than Prometheus, and each run takes
/// connections from the pool logins use: a flood of scrapes costs one set of queries per
/// `fresh`, not one per scrape.
pub struct ScrapeGate {
    last: tokio::sync::Mutex<Option<std::time::Instant>>,
    fresh: Duration,
}

impl ScrapeGate {
    pub const fn new(fresh: Duration) -> ScrapeGate {
        ScrapeGate { last: tokio::sync::Mutex::const_new(None), fresh }
    }

    /// Runs `checks` unless a run ended less than `fresh` ago; says whether it ran.
    pub async fn run_if_stale<F, Fut>(&self, checks: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut last = self.last.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.fresh) {
            return false;
        }
        checks().await;
        *last = Some(std::time::Instant::now());
        true
    }
}

/// The process's gate (the gauges it refreshes are process-wide too).
pub static SCRAPE_GATE: ScrapeGate = ScrapeGate::new(Duration::from_secs(1));

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn scrapes_arriving_together_share_one_run_of_the_checks() {
        let gate = ScrapeGate::new(Duration::from_millis(300));
        let runs = AtomicUsize::new(0);
        let check = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let ran = futures_util::future::join_all((0..50).map(|_| gate.run_if_stale(check))).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "fifty scrapes at once, one run");
        assert_eq!(ran.iter().filter(|r| **r).count(), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(gate.run_if_stale(check).await, "stale again: runs");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
