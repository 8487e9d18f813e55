//! Reading and exporting the audit trail.

use serde_json::json;

use super::{forbidden, AdminError, Principal};
use crate::audit::{self, AuditRow, Event};
use crate::state::AppState;

pub async fn audit_events(st: &AppState, who: &Principal, filter: &audit::Filter) -> Result<Vec<AuditRow>, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("reading the audit trail needs diskominfo-admin or auditor"));
    }
    Ok(audit::search(&st.db, filter).await?)
}

/// CSV of the trail between two instants, for the region's SPBE reporting; the export itself is
/// recorded.
pub async fn export_audit(
    st: &AppState,
    who: &Principal,
    since: i64,
    until: i64,
    now: i64,
) -> Result<String, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("exporting the audit trail needs diskominfo-admin or auditor"));
    }
    if until <= since {
        return Err(AdminError::Invalid("until: must be after since".into()));
    }
    let rows = audit::range(&st.db, since, until).await?;
    let detail = json!({ "since": since, "until": until, "records": rows.len() });
    audit::record(&st.db, Event::new("audit.exported").actor(&who.actor()).detail(detail), now).await;
    Ok(audit::to_csv(&rows))
}

/// Checks the hash chain of the whole trail.
pub async fn verify_audit(st: &AppState, who: &Principal) -> Result<audit::Verification, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("checking the audit trail needs diskominfo-admin or auditor"));
    }
    Ok(audit::verify(&st.db).await?)
}

/// The latest records, newest first, optionally only those about one account.
pub async fn latest_events(
    st: &AppState,
    who: &Principal,
    limit: i64,
    subject: Option<&str>,
) -> Result<Vec<AuditRow>, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("reading the audit trail needs diskominfo-admin or auditor"));
    }
    Ok(audit::list(&st.db, limit, subject).await?)
}

/// The records between two instants, oldest first, for an export in any format (the command
/// line's CSV or JSON); the export is recorded as with `export_audit`.
pub async fn export_records(
    st: &AppState,
    who: &Principal,
    since: i64,
    until: i64,
    now: i64,
) -> Result<Vec<AuditRow>, AdminError> {
    if !who.reads_audit() {
        return Err(forbidden("exporting the audit trail needs diskominfo-admin or auditor"));
    }
    // An empty range is an empty export, as the command line has always answered.
    let rows = audit::range(&st.db, since, until).await?;
    let detail = json!({ "since": since, "until": until, "records": rows.len() });
    audit::record(&st.db, Event::new("audit.exported").actor(&who.actor()).detail(detail), now).await;
    Ok(rows)
}
