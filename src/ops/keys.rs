//! Signing keys: rotation on the operator's command or on schedule, activation and retirement,
//! each recorded in the audit trail by the replica that made the step.

use serde_json::json;

use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, Event};
use crate::oidc::key_lifecycle::Replaced;
use crate::oidc::keys::{Alg, KeyError};
use crate::state::AppState;
use crate::store::StoreError;

/// Publishes a next key per algorithm, signing after the publish delay (the current ones keep
/// signing until then), recorded as `keys.rotated`. Returns the new (kid, algorithm) pairs.
/// Diskominfo powers only.
pub async fn rotate_keys(st: &AppState, who: &Principal, now: i64) -> Result<Vec<(String, Alg)>, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("rotating the signing keys needs diskominfo-admin"));
    }
    // Steps already due are taken (and recorded) first, as the upkeep would.
    if let Err(e) = lifecycle(st, now).await {
        return Err(internal(e));
    }
    let rotated = match st.keys.rotate(&st.db, now).await {
        Ok(rotated) => rotated,
        Err(e @ KeyError::TooSoon(_)) => return Err(AdminError::Conflict(e.to_string())),
        Err(e) => return Err(internal(e)),
    };
    record_rotation(st, &who.actor(), &rotated, false, now).await;
    Ok(rotated)
}

/// The emergency switch when a signing key is suspected compromised: a new key per algorithm that
/// signs at once (no publish delay) and every published key retired at once, out of JWKS and
/// refused by this replica's own checks from now on, recorded as `keys.compromised`. Refresh
/// tokens are opaque, so sessions go on with tokens of the new keys. Diskominfo powers only,
/// as for a rotation.
pub async fn replace_compromised(st: &AppState, who: &Principal, now: i64) -> Result<Replaced, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("replacing compromised signing keys needs diskominfo-admin"));
    }
    let done = match st.keys.replace_compromised(&st.db, now).await {
        Ok(done) => done,
        Err(KeyError::Store(StoreError::Conflict(_))) => return Err(AdminError::Conflict(
            "another switch replaced the signing keys at this moment; `gerbang keys status` shows the keys now signing"
                .into(),
        )),
        Err(e) => return Err(internal(e)),
    };
    let retired: Vec<_> = done.retired.iter().map(|k| json!({ "kid": k.kid, "alg": k.alg, "state": k.was })).collect();
    let signing: Vec<_> = done.signing.iter().map(|(kid, alg)| json!({ "kid": kid, "alg": alg.as_str() })).collect();
    let detail = json!({ "retired": retired, "signing": signing });
    audit::record(&st.db, Event::new("keys.compromised").actor(&who.actor()).detail(detail), now).await;
    Ok(done)
}

async fn record_rotation(st: &AppState, actor: &str, rotated: &[(String, Alg)], scheduled: bool, now: i64) {
    let keys: Vec<_> = rotated.iter().map(|(kid, alg)| json!({ "kid": kid, "alg": alg.as_str() })).collect();
    let activates_at = now + st.keys.publish_delay();
    let detail = json!({ "keys": keys, "activates_at": activates_at, "scheduled": scheduled });
    audit::record(&st.db, Event::new("keys.rotated").actor(actor).detail(detail), now).await;
}

/// One upkeep round of the lifecycle: the scheduled rotation when due, then activation of
/// waiting keys and retirement of expired ones, then a reload (so keys made elsewhere are picked
/// up too). Each step is recorded once, by the replica that made it.
pub async fn lifecycle(st: &AppState, now: i64) -> Result<(), KeyError> {
    let published = st.keys.rotate_due(&st.db, now).await?;
    if !published.is_empty() {
        record_rotation(st, "system", &published, true, now).await;
    }
    let step = st.keys.step(&st.db, now).await?;
    for (kid, alg, replaced) in &step.activated {
        let detail = json!({ "kid": kid, "alg": alg.as_str(), "replaced": replaced });
        audit::record(&st.db, Event::new("keys.activated").actor("system").detail(detail), now).await;
    }
    if !step.retired.is_empty() {
        let detail = json!({ "keys": step.retired });
        audit::record(&st.db, Event::new("keys.retired").actor("system").detail(detail), now).await;
    }
    Ok(())
}
