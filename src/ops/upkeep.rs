//! Periodic upkeep, one round a minute on every replica: expired in-process entries, the
//! signing-key lifecycle (scheduled rotation, activation, retirement, keys rotated elsewhere),
//! token counts, expired grants and audit retention. Failures are logged
//! and retried next round; none stops the server.

use crate::audit::{self, Event};
use crate::state::AppState;
use crate::stats::{self, StatsError, TOKEN_ISSUED};

/// Round `n` (from 1) of the upkeep, at `now`.
pub async fn round(st: &AppState, n: u64, now: i64) {
    st.cache.sweep();
    st.limits.sweep();
    if let Err(e) = super::keys::lifecycle(st, now).await {
        tracing::error!(error = %e, "could not run the signing-key lifecycle");
    }
    if let Err(e) = crate::stats::push_tally(&st.token_tally, &st.cache).await {
        tracing::warn!(error = %e, "could not add token counts to the shared counters; kept for the next round");
    }
    // Every replica flushes the past hour every five minutes: counters are taken atomically,
    // so each token is recorded once, and a token another replica counted into that hour after
    // an earlier flush (clock skew) is picked up by a later one.
    if n % 5 == 0 {
        match flush_token_counts(st, now / 3600 - 1, now).await {
            Ok(k) if k > 0 => tracing::info!(tokens = k, "token counts of the past hour recorded"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not record token counts"),
        }
    }
    super::metrics::upkeep(st).await;
    if n % 60 == 0 {
        match crate::store::grants::purge_expired(&st.db, now).await {
            Ok(k) if k > 0 => tracing::info!(rows = k, "purged expired grants and tokens"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "purge failed"),
        }
        // A day past expiry, so a person who follows an old link is still told it expired
        // rather than that it is unknown; pending registrations carry personal data.
        match crate::store::links::purge(&st.db, now - 86_400).await {
            Ok(k) if k > 0 => tracing::info!(rows = k, "purged expired one-time links"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "purging one-time links failed"),
        }
        match crate::store::logout::purge(&st.db, now - super::backchannel::KEEP_SETTLED).await {
            Ok(k) if k > 0 => tracing::info!(rows = k, "purged settled back-channel logout deliveries"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "purging back-channel logout deliveries failed"),
        }
        // A device unseen longer than its cookie lives is a new device if it ever comes back.
        match crate::store::devices::purge(&st.db, now - 400 * 86_400).await {
            Ok(k) if k > 0 => tracing::info!(rows = k, "forgot devices not seen for 400 days"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "purging known devices failed"),
        }
        // A signed checkpoint of the head in the trail itself, once an hour when anything
        // happened: `gerbang audit checkpoint` exports one to keep away from the server.
        match super::audit::routine_checkpoint(st, now).await {
            Ok(Some(c)) => tracing::info!(seq = c.seq, kid = %c.kid, "audit trail checkpoint signed"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = ?e, "could not sign an audit trail checkpoint"),
        }
        let days = st.config.audit_retention_days;
        if days > 0 {
            match crate::audit::purge_before(&st.db, now - days * 86_400, now).await {
                Ok(k) if k > 0 => tracing::info!(records = k, "audit records past retention removed"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "audit retention failed"),
            }
        }
    }
}

/// Moves every application's token counters of `hour` (Unix time / 3600) into one `token.issued`
/// audit record and returns how many tokens it covers (none: no record). The counters are taken
/// atomically, so replicas flushing the same hour at once never record a token twice; flushing
/// an hour again later records only tokens counted since.
pub async fn flush_token_counts(st: &AppState, hour: i64, now: i64) -> Result<u64, StatsError> {
    let ids = crate::store::clients::ids(&st.db).await?;
    // A cache failure half-way stops the taking, but what was taken is recorded all the same:
    // it is no longer in the cache.
    let (counts, failure) = stats::take_token_counts(&st.cache, &ids, hour).await;
    if counts.total > 0 {
        let detail = counts.detail();
        if let Err(e) = audit::append(&st.db, Event::new(TOKEN_ISSUED).detail(detail.clone()), now).await {
            // The counters have left the cache, so this line is where the figures survive.
            tracing::error!(error = %e, figures = %detail, "could not record token counts in the audit trail");
            return Err(e.into());
        }
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(counts.total),
    }
}
