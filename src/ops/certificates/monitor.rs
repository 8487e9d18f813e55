//! Monitoring of bound certificates: the attention list by OPD, notices to holders and
//! administrators (e-mail, webhook), and the CSV of signers per OPD.

use crate::state::AppState;

/// Sends the notices that are due (expiring, expired, revoked, failing checks), each once per
/// certificate and kind; returns how many were sent. Foundation placeholder.
pub async fn notify_due(_st: &AppState, _now: i64) -> usize {
    0
}
