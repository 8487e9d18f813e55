//! Admin API: the audit trail and its CSV export.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{query_params, AdminAuth, ApiResult, Problem};
use crate::audit;
use crate::http::St;
use crate::ops::{self};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only events about this account id (as actor or subject).
    pub account: Option<String>,
    /// An event kind, or its beginning (`login.`).
    pub kind: Option<String>,
    /// Start, Unix seconds (inclusive).
    pub since: Option<i64>,
    /// End, Unix seconds (exclusive).
    pub until: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub ip: String,
    pub detail: serde_json::Value,
}

/// The audit trail, newest first (Diskominfo admins and auditors).
#[utoipa::path(get, path = "/admin/api/v1/audit", params(AuditParams), responses((status = 200, body = [AuditView]), (status = 403, body = Problem)))]
pub async fn list_audit(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    query: Result<Query<AuditParams>, QueryRejection>,
) -> ApiResult<Json<Vec<AuditView>>> {
    let p = query_params(query)?;
    let filter = audit::Filter {
        kind: p.kind.unwrap_or_default(),
        who: p.account.unwrap_or_default(),
        since: p.since.unwrap_or(0),
        until: p.until.unwrap_or(0),
        limit: p.limit.unwrap_or(100),
    };
    let rows = ops::audit::audit_events(&st, &admin, &filter).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditView {
                detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
                seq: r.seq,
                at: r.at,
                kind: r.kind,
                actor: r.actor,
                subject: r.subject,
                ip: r.ip,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Start, Unix seconds (inclusive).
    pub since: i64,
    /// End, Unix seconds (exclusive).
    pub until: i64,
}

/// The audit trail between two instants as CSV, for the region's SPBE reporting (Diskominfo
/// admins and auditors).
#[utoipa::path(get, path = "/admin/api/v1/audit/export", params(ExportParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn export_audit(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    query: Result<Query<ExportParams>, QueryRejection>,
) -> ApiResult<Response> {
    let p = query_params(query)?;
    let csv = ops::audit::export_audit(&st, &admin, p.since, p.until, st.now()).await?;
    Ok(csv_response(csv))
}

pub fn csv_response(csv: String) -> Response {
    let mut res = csv.into_response();
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    res.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"gerbang-audit.csv\""),
    );
    res
}
