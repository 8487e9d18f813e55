//! The audit trail: filtered view and CSV export.

use axum::extract::Query;
use axum::response::Response;
use minijinja::{context, Value};
use serde::Deserialize;

use super::{local_url, Console};
use crate::audit;
use crate::ops;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    kind: Option<String>,
    who: Option<String>,
    /// `YYYY-MM-DD`, the region's local date.
    since: Option<String>,
    until: Option<String>,
}

/// Start of a local date in Unix seconds; `end` gives the start of the following day.
fn local_day(c: &Console, date: Option<&str>, end: bool) -> Option<i64> {
    let d = date.filter(|d| !d.is_empty())?;
    let day = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?;
    let start = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp() - i64::from(c.st.config.utc_offset_minutes) * 60;
    Some(if end { start + 86_400 } else { start })
}

const AUDIT_KINDS: &[&str] = &[
    "login.",
    "login.succeeded",
    "login.failed",
    "login.locked",
    "login.step_up",
    "second_factor.failed",
    "token.issued",
    "account.",
    "role.",
    "application.",
    "app_request.",
    "session.",
    "passkey.",
    "totp.",
    "audit.exported",
    "upstream.",
    "certificate.",
    "keys.",
    "master_key.",
    "backup.",
];

pub async fn audit_view(c: Console, Query(q): Query<AuditQuery>) -> Response {
    let since = local_day(&c, q.since.as_deref(), false);
    let until = local_day(&c, q.until.as_deref(), true);
    let filter = audit::Filter {
        kind: q.kind.clone().unwrap_or_default().trim().to_string(),
        who: q.who.clone().unwrap_or_default().trim().to_string(),
        since: since.unwrap_or(0),
        until: until.unwrap_or(0),
        limit: 200,
    };
    let rows = match ops::audit::audit_events(&c.st, &c.admin, &filter).await {
        Ok(r) => r,
        Err(e) => return c.fail(e, "/console"),
    };
    let events: Vec<Value> = rows
        .iter()
        .map(|r| context! { seq => r.seq, time => c.local_time(r.at), kind => r.kind, actor => r.actor, subject => r.subject, ip => r.ip, detail => r.detail })
        .collect();
    // The export covers the chosen dates, or the last 30 days when none are given.
    let t = c.st.now();
    let export_since = since.unwrap_or(t - 30 * 86_400).to_string();
    let export_until = until.unwrap_or(t + 1).to_string();
    let export_url = local_url("/console/audit/export", &[("since", &export_since), ("until", &export_until)]);
    let f = context! { kind => q.kind, who => q.who, since => q.since, until => q.until };
    c.ok(
        "console_audit.html",
        "audit",
        context! { events => events, f => f, kinds => AUDIT_KINDS, export_url => export_url },
    )
}

#[derive(Deserialize)]
pub struct ExportQuery {
    since: i64,
    until: i64,
}

pub async fn audit_export(c: Console, Query(q): Query<ExportQuery>) -> Response {
    match ops::audit::export_audit(&c.st, &c.admin, q.since, q.until, c.st.now()).await {
        Ok(csv) => crate::http::admin::csv_response(csv),
        Err(e) => c.fail(e, "/console/audit"),
    }
}
