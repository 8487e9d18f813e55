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
