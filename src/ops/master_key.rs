//! Master-key rotation: re-sealing every sealed value under the new key, and where the values
//! stand. Diskominfo powers only; every run that changes or refuses is recorded.

use serde_json::json;

use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, Event};
use crate::master_key::{self, ColumnCount, MasterKeyError, Resealed};
use crate::state::AppState;

/// Re-seals every value under `master_key`, recorded as `master_key.resealed` (or
/// `master_key.reseal_refused` when a value opens with neither key, or `master_key_next` is set:
/// nothing is changed then).
pub async fn rotate(st: &AppState, who: &Principal, now: i64) -> Result<Resealed, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("rotating the master key needs diskominfo-admin"));
    }
    let keys = json!({
        "key_id": st.sealer.id(),
        "previous_key_id": st.sealer.previous_id(),
        "next_key_id": st.sealer.next_id(),
    });
    match master_key::reseal_all(&st.db, &st.sealer).await {
        Ok(done) => {
            let counts: serde_json::Map<String, serde_json::Value> =
                done.iter().map(|(c, n)| ((*c).to_string(), json!(n))).collect();
            let detail = json!({ "keys": keys, "resealed": counts });
            audit::record(&st.db, Event::new("master_key.resealed").actor(&who.actor()).detail(detail), now).await;
            Ok(done)
        }
        Err(e @ (MasterKeyError::Unopenable { .. } | MasterKeyError::Busy | MasterKeyError::NextKeyHeld)) => {
            let detail = json!({ "keys": keys, "reason": e.to_string() });
            audit::record(&st.db, Event::new("master_key.reseal_refused").actor(&who.actor()).detail(detail), now)
                .await;
            Err(AdminError::Conflict(e.to_string()))
        }
        Err(e) => Err(internal(e)),
    }
}

/// How many sealed values are under the current key, the previous one, the next one, or another.
pub async fn status(st: &AppState, who: &Principal) -> Result<Vec<ColumnCount>, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("the master key's state needs diskominfo-admin"));
    }
    master_key::status(&st.db, &st.sealer).await.map_err(internal)
}
