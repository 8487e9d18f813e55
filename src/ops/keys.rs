//! Signing keys: rotation on the operator's command, recorded with the new key ids.

use serde_json::json;

use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, Event};
use crate::oidc::keys::Alg;
use crate::state::AppState;

/// Makes a new current key per algorithm (the previous ones stay published), recorded as
/// `keys.rotated`. Returns the new (kid, algorithm) pairs. Diskominfo powers only.
pub async fn rotate_keys(st: &AppState, who: &Principal, now: i64) -> Result<Vec<(String, Alg)>, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("rotating the signing keys needs diskominfo-admin"));
    }
    let kids = match st.keys.rotate(&st.db, now).await {
        Ok(kids) => kids,
        Err(e @ crate::oidc::keys::KeyError::TooSoon(_)) => return Err(AdminError::Conflict(e.to_string())),
        Err(e) => return Err(internal(e)),
    };
    // `rotate` makes one key per algorithm, in the order of `Alg::ALL`.
    let rotated: Vec<(String, Alg)> = kids.into_iter().zip(Alg::ALL).collect();
    let keys: Vec<_> = rotated.iter().map(|(kid, alg)| json!({ "kid": kid, "alg": alg.as_str() })).collect();
    audit::record(&st.db, Event::new("keys.rotated").actor(&who.actor()).detail(json!({ "keys": keys })), now).await;
    Ok(rotated)
}
