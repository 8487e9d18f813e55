//! Revocation checking of bound certificates: CRLs (fetched and uploaded), OCSP with a short
//! timeout, the BSrE status connector, and the background job that keeps answers fresh.

use super::CertRow;
use crate::state::AppState;
use crate::store::StoreError;

/// What the authorities said of a certificate, to be recorded in its `check_*` columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAnswer {
    /// `unchecked`, `good`, `revoked`, `unknown` or `failed`.
    pub status: String,
    /// `crl`, `ocsp`, `bsre` or empty.
    pub source: String,
    pub detail: String,
    pub checked_at: Option<i64>,
    pub valid_until: Option<i64>,
}

impl CheckAnswer {
    pub fn unchecked() -> CheckAnswer {
        CheckAnswer {
            status: "unchecked".into(),
            source: String::new(),
            detail: String::new(),
            checked_at: None,
            valid_until: None,
        }
    }
}

/// Brings a binding's revocation answer up to date when it has gone stale (past its
/// `check_valid_until`), within the OCSP timeout; a failed check keeps the last answer.
/// Foundation placeholder: returns the row as it is until revocation checking lands.
pub async fn refresh_if_stale(_st: &AppState, row: CertRow, _now: i64) -> CertRow {
    row
}

/// Asks the authorities now (OCSP, CRL, BSrE) and records the answer on the binding.
/// Foundation placeholder.
pub async fn check_now(_st: &AppState, row: CertRow, _now: i64) -> Result<CertRow, StoreError> {
    Ok(row)
}

/// What the authorities say of a certificate about to be bound (`nik`: the holder's, for the
/// BSrE connector). `Err` carries the reason a revoked or unknown-to-BSrE certificate is
/// refused. Foundation placeholder.
pub async fn at_binding(
    _st: &AppState,
    _checked: &crate::certs::Checked,
    _nik: Option<&str>,
    _now: i64,
) -> Result<CheckAnswer, String> {
    Ok(CheckAnswer::unchecked())
}
