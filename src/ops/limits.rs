//! Admission of requests under the rate limits, and the bound on login flows one address keeps.

use std::time::Duration;

use crate::limits::{address_key, Bucket, Limited};
use crate::oidc::authorize::Outcome;
use crate::oidc::clients::Client;
use crate::oidc::OAuthError;
use crate::state::AppState;

/// One request from the address `ip` against `bucket`.
pub async fn admit(st: &AppState, bucket: Bucket, ip: &str) -> Result<(), Limited> {
    st.limits.check(&st.cache, bucket, &address_key(ip)).await
}

/// One request of an authenticated application against its own budget. Counted only after
/// authentication, so nobody can spend another application's budget by naming it. A public
/// application (a browser or mobile app) has no secret: naming it is all its authentication,
/// so its budget is kept per address (`ip`), or anyone could spend it for all its users.
pub async fn admit_client(st: &AppState, bucket: Bucket, client: &Client, ip: &str) -> Result<(), OAuthError> {
    let key = if client.public { format!("{}@{}", client.id, address_key(ip)) } else { client.id.clone() };
    st.limits.check(&st.cache, bucket, &key).await.map_err(|l| OAuthError::too_many_requests(l.retry_after))
}

/// Counts a login flow the authorization request just stored against the address's budget of
/// `max_flows_per_address` per `login_ttl`; beyond it the new flow is removed again. The count
/// is taken atomically, so concurrent requests cannot overshoot, and at most twice the budget is
/// stored at any time (a window's flows outlive it by at most one `login_ttl`).
pub async fn bound_flows(st: &AppState, ip: &str, outcome: Outcome) -> Result<Outcome, Limited> {
    let flow = match &outcome {
        Outcome::Login(f) | Outcome::SecondFactor(f, _) | Outcome::Consent(f) => f,
        _ => return Ok(outcome),
    };
    let max = st.config.max_flows_per_address;
    if max == 0 {
        return Ok(outcome);
    }
    let window = Duration::from_secs(st.config.login_ttl as u64);
    let key = format!("flows-by-address:{}", address_key(ip));
    match st.cache.incr_window(&key, window).await {
        Ok((n, _)) if n <= max => Ok(outcome),
        Ok((_, left)) => {
            crate::oidc::authorize::end_flow(&st.provider(), &flow.id).await;
            tracing::debug!(max, "login flow refused: this address started too many");
            Err(Limited::after(left))
        }
        Err(e) => {
            tracing::warn!(error = %e, "login flows not counted: the cache failed");
            Ok(outcome)
        }
    }
}
