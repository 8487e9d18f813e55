//! What a metrics scrape reads besides the counters: the password-hash queue, whether the
//! database and cache answer, and certificates by state (one cheap grouped query); and the
//! periodic audit-chain verification behind `gerbang_audit_chain_intact`, which reads the whole
//! trail and so runs from the upkeep, never on a scrape.

use std::time::Duration;

use crate::metrics;
use crate::state::AppState;

/// Each scrape-time check gives up after this long: a dead dependency must not hold the scrape
/// past Prometheus's own timeout (10 s by default), and its gauge then says it is down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Refreshes the scrape-time gauges and renders every metric (`None`: metrics are not enabled).
pub async fn scrape(st: &AppState) -> Option<String> {
    metrics::install()?;
    let (running, waiting) = st.hasher.in_use();
    let max_running = st.config.max_concurrent_hashes.max(1);
    metrics::hash_queue(running, waiting, max_running, st.config.hash_queue);
    metrics::SCRAPE_GATE.run_if_stale(|| checks(st)).await;
    metrics::render()
}

/// What a scrape asks the database and the cache (see [`metrics::ScrapeGate`]).
async fn checks(st: &AppState) {
    let now = st.now();
    let warn_until = now + st.config.certs.warn_days * 86_400;
    let (db, cache, certs) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, st.db.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, st.cache.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, crate::store::cert_counts::by_state(&st.db, now, warn_until)),
    );
    metrics::dependency_up("database", matches!(db, Ok(Ok(_))));
    metrics::dependency_up("cache", matches!(cache, Ok(Ok(_))));
    match certs {
        Ok(Ok(counts)) => metrics::certificates(&counts),
        // The gauges keep their last values; `gerbang_dependency_up` says why.
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: could not count certificates"),
        Err(_) => tracing::warn!("metrics: counting certificates timed out"),
    }
}

/// The minute upkeep's part: histogram upkeep. The audit chain is verified by a task of its own
/// ([`audit_chain_every`]): on a long trail it takes seconds to minutes, and the minute round
/// must not wait for it (the round reloads the signing keys, which must reach JWKS on time).
pub async fn upkeep(st: &AppState) {
    if !st.config.metrics.enabled() {
        return;
    }
    metrics::upkeep();
}

/// How often the audit chain is verified for its gauges (at start, then at this interval), or
/// `None` when metrics are off or the setting is 0.
pub fn audit_chain_every(st: &AppState) -> Option<std::time::Duration> {
    let hours = st.config.metrics.audit_verify_hours;
    (st.config.metrics.enabled() && hours > 0).then(|| std::time::Duration::from_secs(hours * 3600))
}

/// Verifies the whole audit chain and sets its gauges; a trail that cannot be read leaves them
/// as they were (the database error is counted and logged).
pub async fn verify_audit_chain(st: &AppState, now: i64) {
    match crate::audit::verify(&st.db).await {
        Ok(v) => {
            if !v.ok {
                tracing::error!(problem = ?v.problem, broken_at = ?v.broken_at, "the audit trail is broken");
            }
            metrics::audit_chain(v.ok, v.records, now);
        }
        Err(e) => tracing::error!(error = %e, "metrics: could not verify the audit trail"),
    }
}
