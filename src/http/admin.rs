//! The admin API under `/admin/api/v1` (JSON, errors as RFC 9457 problem details) and its
//! OpenAPI document. Callers present an access token issued by Gerbang to the built-in
//! `gerbang-console` application, at the configured security level; what they may do follows
//! from their live roles. The operations themselves live in `crate::ops`, shared with the
//! console.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::St;
use crate::audit;
use crate::auth::session::SsoSession;
use crate::identity::accounts::Account;
use crate::oidc::clients::{Client, ClientEdit};
use crate::oidc::registration::{self, AppRequest};
use crate::ops::accounts::{AccountEdit, AccountInput};
use crate::ops::applications::ApplicationInput;
use crate::ops::roles::{Assignment, BulkAssignments, BulkReport, NewRole};
use crate::ops::units::NewUnit;
use crate::ops::{self, AdminError, Principal};
use crate::state::now;
use crate::store::app_requests::RequestRow;
use crate::store::certs::CertRow;
use crate::store::roles::RoleRow;

pub use crate::oidc::internal_clients::CONSOLE_CLIENT_ID;

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
}

pub struct ProblemResponse(StatusCode, &'static str, String);

impl IntoResponse for ProblemResponse {
    fn into_response(self) -> Response {
        let ProblemResponse(status, title, detail) = self;
        let body = Problem { kind: "about:blank", title, status: status.as_u16(), detail };
        let mut res = (status, Json(body)).into_response();
        res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gerbang-admin\""));
        }
        res
    }
}

impl From<AdminError> for ProblemResponse {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Unauthenticated(d) => ProblemResponse(StatusCode::UNAUTHORIZED, "Unauthorized", d),
            AdminError::NeedsLevel(l) => ProblemResponse(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("administration requires security level {l}; log in with a passkey"),
            ),
            AdminError::Forbidden(d) => ProblemResponse(StatusCode::FORBIDDEN, "Forbidden", d),
            AdminError::NotFound(what) => {
                ProblemResponse(StatusCode::NOT_FOUND, "Not Found", format!("no such {what}"))
            }
            AdminError::Conflict(d) => ProblemResponse(StatusCode::CONFLICT, "Conflict", d),
            AdminError::Invalid(d) => ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", d),
            AdminError::Gone(d) => ProblemResponse(StatusCode::GONE, "Gone", d),
            AdminError::Internal => ProblemResponse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "the server could not complete the request".into(),
            ),
        }
    }
}

type ApiResult<T> = Result<T, ProblemResponse>;

/// The authenticated administrator of a request.
pub struct AdminAuth(pub Principal);

impl FromRequestParts<St> for AdminAuth {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))) else {
            return Err(AdminError::Unauthenticated("a bearer access token is required".into()).into());
        };
        Ok(AdminAuth(ops::authenticate(st, token.trim(), now()).await?))
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(b)| b)
        .map_err(|e| ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", e.body_text()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub account_type: String,
    pub nip: Option<String>,
    pub nik: Option<String>,
    pub name: String,
    pub status: String,
    pub opd_id: Option<String>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        AccountView {
            id: a.id,
            account_type: a.kind.as_str().into(),
            nip: a.nip,
            nik: a.nik,
            name: a.name,
            status: a.status,
            opd_id: a.opd_id,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    /// Part of the name, or the beginning of a NIP/NIK.
    pub q: Option<String>,
    pub limit: Option<i64>,
}

/// Search accounts. Diskominfo admins see everyone; OPD admins their own subtree's staff.
#[utoipa::path(get, path = "/admin/api/v1/accounts", params(SearchParams),
    responses((status = 200, body = [AccountView]), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn search_accounts(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<Vec<AccountView>>> {
    let found =
        ops::accounts::search_accounts(&st, &admin, p.q.as_deref().unwrap_or(""), p.limit.unwrap_or(50)).await?;
    Ok(Json(found.into_iter().map(AccountView::from).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccount {
    pub account: AccountView,
    /// Non-blocking remarks about the NIK, such as an unknown region code.
    pub warnings: Vec<String>,
}

/// Create an account (Diskominfo anywhere; OPD admins in their own units).
#[utoipa::path(post, path = "/admin/api/v1/accounts", request_body = AccountInput,
    responses((status = 201, body = CreatedAccount), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_account(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<AccountInput>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CreatedAccount>)> {
    let (account, warnings) = ops::accounts::create_account(&st, &admin, json_body(body)?, now()).await?;
    Ok((StatusCode::CREATED, Json(CreatedAccount { account: account.into(), warnings })))
}

/// One account.
#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}", params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_account(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountView>> {
    Ok(Json(ops::accounts::account(&st, &admin, &id).await?.into()))
}

/// Change the name or the OPD unit of an account.
#[utoipa::path(patch, path = "/admin/api/v1/accounts/{id}", request_body = AccountEdit, params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn edit_account(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<AccountEdit>, JsonRejection>,
) -> ApiResult<Json<AccountView>> {
    Ok(Json(ops::accounts::edit_account(&st, &admin, &id, json_body(body)?, now()).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusChange {
    /// active, suspended, retired or dismissed
    pub status: String,
}

/// Change an account's status (Diskominfo admins). Anything but `active` revokes its tokens.
#[utoipa::path(put, path = "/admin/api/v1/accounts/{id}/status", request_body = StatusChange,
    params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_status(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<StatusChange>, JsonRejection>,
) -> ApiResult<Json<AccountView>> {
    let change = json_body(body)?;
    Ok(Json(ops::accounts::set_status(&st, &admin, &id, &change.status, now()).await?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FactorReset {
    pub sessions_ended: usize,
}

/// Remove every second factor (TOTP, passkeys, recovery codes) and end the person's sessions
/// (Diskominfo admins).
#[utoipa::path(post, path = "/admin/api/v1/accounts/{id}/factor-reset", params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = FactorReset), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn reset_factors(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<FactorReset>> {
    Ok(Json(FactorReset { sessions_ended: ops::accounts::reset_factors(&st, &admin, &id, now()).await? }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The session's public id (`sid` in ID tokens).
    pub sid: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub acr: String,
    pub amr: Vec<String>,
    pub ip: String,
    pub user_agent: String,
}

impl From<SsoSession> for SessionView {
    fn from(s: SsoSession) -> Self {
        SessionView {
            sid: s.sid,
            auth_time: s.auth_time,
            expires_at: s.expires_at,
            acr: s.acr,
            amr: s.amr,
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}

/// The account's live single sign-on sessions.
#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}/sessions", params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = [SessionView]), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_sessions(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<SessionView>>> {
    Ok(Json(ops::accounts::sessions(&st, &admin, &id, now()).await?.into_iter().map(SessionView::from).collect()))
}

/// End a session; tokens issued under it are revoked.
#[utoipa::path(delete, path = "/admin/api/v1/accounts/{id}/sessions/{sid}",
    params(("id" = String, Path, description = "account id"), ("sid" = String, Path, description = "session id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn end_session(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path((id, sid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::accounts::end_session(&st, &admin, &id, &sid, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    /// Empty for a global role.
    pub client_id: String,
    pub description: String,
}

impl From<RoleRow> for RoleView {
    fn from(r: RoleRow) -> Self {
        RoleView { name: r.name, client_id: r.client_id, description: r.description }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountRoles {
    /// Assigned to the person; these can be removed from them.
    pub direct: Vec<RoleView>,
    /// Everything held, including roles of the person's OPD unit and the units above it.
    pub effective: Vec<RoleView>,
}

/// The roles an account holds.
#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}/roles", params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountRoles), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn account_roles(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountRoles>> {
    let (direct, effective) = ops::roles::roles_of(&st, &admin, &id).await?;
    Ok(Json(AccountRoles {
        direct: direct.into_iter().map(RoleView::from).collect(),
        effective: effective.into_iter().map(RoleView::from).collect(),
    }))
}

/// Roles the caller may assign.
#[utoipa::path(get, path = "/admin/api/v1/roles", responses((status = 200, body = [RoleView]), (status = 403, body = Problem)))]
pub async fn list_roles(State(st): State<St>, AdminAuth(admin): AdminAuth) -> ApiResult<Json<Vec<RoleView>>> {
    Ok(Json(ops::roles::assignable_roles(&st, &admin).await?.into_iter().map(RoleView::from).collect()))
}

/// Define a role: global (Diskominfo) or of an application the caller manages.
#[utoipa::path(post, path = "/admin/api/v1/roles", request_body = NewRole,
    responses((status = 201, body = RoleView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_role(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<NewRole>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    let role = ops::roles::create_role(&st, &admin, json_body(body)?, now()).await?;
    Ok((StatusCode::CREATED, Json(role.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpdView {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<String>,
}

/// Add an OPD unit (Diskominfo anywhere; OPD admins below their own units).
#[utoipa::path(post, path = "/admin/api/v1/opd", request_body = NewUnit,
    responses((status = 201, body = OpdView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_opd(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<NewUnit>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<OpdView>)> {
    let o = ops::units::create_unit(&st, &admin, json_body(body)?, now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(OpdView { id: o.id, code: o.code, name: o.name, kind: o.kind, parent_id: o.parent_id }),
    ))
}

/// The OPD tree (OPD admins: their own subtree).
#[utoipa::path(get, path = "/admin/api/v1/opd", responses((status = 200, body = [OpdView]), (status = 403, body = Problem)))]
pub async fn list_opd(State(st): State<St>, AdminAuth(admin): AdminAuth) -> ApiResult<Json<Vec<OpdView>>> {
    let rows = ops::units::opd_units(&st, &admin).await?;
    Ok(Json(
        rows.into_iter()
            .map(|o| OpdView { id: o.id, code: o.code, name: o.name, kind: o.kind, parent_id: o.parent_id })
            .collect(),
    ))
}

/// Give a role to an account.
#[utoipa::path(post, path = "/admin/api/v1/role-assignments", request_body = Assignment,
    responses((status = 201), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn assign_role(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<Assignment>, JsonRejection>,
) -> ApiResult<StatusCode> {
    ops::roles::assign(&st, &admin, &json_body(body)?, now()).await?;
    Ok(StatusCode::CREATED)
}

/// Take a role away; tokens that carried it are revoked.
#[utoipa::path(delete, path = "/admin/api/v1/role-assignments", request_body = Assignment,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn unassign_role(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<Assignment>, JsonRejection>,
) -> ApiResult<StatusCode> {
    ops::roles::unassign(&st, &admin, &json_body(body)?, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Assign or remove many roles at once. Every item is checked before any is applied: one
/// refused item refuses the whole request.
#[utoipa::path(post, path = "/admin/api/v1/role-assignments/bulk", request_body = BulkAssignments,
    responses((status = 200, body = BulkReport), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn bulk_assignments(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<BulkAssignments>, JsonRejection>,
) -> ApiResult<Json<BulkReport>> {
    Ok(Json(ops::roles::bulk(&st, &admin, &json_body(body)?, now()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
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
    Query(p): Query<AuditParams>,
) -> ApiResult<Json<Vec<AuditView>>> {
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
pub struct ExportParams {
    /// Start, Unix seconds (inclusive).
    pub since: i64,
    /// End, Unix seconds (exclusive).
    pub until: i64,
}

/// The audit trail between two instants as CSV, for the region's SPBE reporting (Diskominfo
/// admins and auditors).
#[utoipa::path(get, path = "/admin/api/v1/audit/export", params(ExportParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = Problem)))]
pub async fn export_audit(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Query(p): Query<ExportParams>,
) -> ApiResult<Response> {
    let csv = ops::audit::export_audit(&st, &admin, p.since, p.until, now()).await?;
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

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub status: String,
    pub requester_id: String,
    pub opd_id: String,
    pub request: AppRequest,
    /// The reviewer's reason for a rejection.
    pub reason: String,
    pub client_id: Option<String>,
    pub created_at: i64,
    pub reviewed_at: Option<i64>,
    pub credentials_fetched: bool,
}

impl From<&RequestRow> for RequestView {
    fn from(r: &RequestRow) -> Self {
        RequestView {
            id: r.id.clone(),
            status: r.status.clone(),
            requester_id: r.requester_id.clone(),
            opd_id: r.opd_id.clone(),
            request: registration::request_of(r),
            reason: r.reason.clone(),
            client_id: r.client_id.clone(),
            created_at: r.created_at,
            reviewed_at: r.reviewed_at,
            credentials_fetched: r.fetched_at.is_some(),
        }
    }
}

/// Request an application for one's own OPD unit (OPD admins and OPD developers).
#[utoipa::path(post, path = "/admin/api/v1/app-requests", request_body = AppRequest,
    responses((status = 201, body = RequestView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn submit_request(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<AppRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let row = ops::requests::submit_request(&st, &admin, json_body(body)?, now()).await?;
    Ok((StatusCode::CREATED, Json(RequestView::from(&row))))
}

/// Requests visible to the caller, newest first.
#[utoipa::path(get, path = "/admin/api/v1/app-requests", responses((status = 200, body = [RequestView]), (status = 403, body = Problem)))]
pub async fn list_requests(State(st): State<St>, AdminAuth(admin): AdminAuth) -> ApiResult<Json<Vec<RequestView>>> {
    Ok(Json(ops::requests::requests(&st, &admin).await?.iter().map(RequestView::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Decision {
    /// `approve` or `reject`
    pub decision: String,
    /// Required for a rejection; shown to the requester.
    #[serde(default)]
    pub reason: String,
    /// The reviewer's corrections, replacing the request when approving.
    pub corrected: Option<AppRequest>,
}

/// Approve (optionally corrected) or reject with a reason (Diskominfo admins).
#[utoipa::path(post, path = "/admin/api/v1/app-requests/{id}/decision", request_body = Decision,
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn decide_request(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<Decision>, JsonRejection>,
) -> ApiResult<Json<RequestView>> {
    let d = json_body(body)?;
    let approve = match d.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(AdminError::Invalid("decision: must be approve or reject".into()).into()),
    };
    let row = ops::requests::decide(&st, &admin, &id, approve, &d.reason, d.corrected, now()).await?;
    Ok(Json(RequestView::from(&row)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Credentials {
    pub client_id: String,
    /// Absent for public clients. Shown once.
    pub client_secret: Option<String>,
}

/// The approved application's credentials, for the requester, once.
#[utoipa::path(post, path = "/admin/api/v1/app-requests/{id}/credentials", params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = Credentials), (status = 403, body = Problem), (status = 410, body = Problem)))]
pub async fn fetch_credentials(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (client_id, secret) = ops::requests::fetch_credentials(&st, &admin, &id, now()).await?;
    Ok(super::no_store_json(Credentials { client_id, client_secret: secret.map(|s| s.expose().clone()) }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    pub client_id: String,
    pub name: String,
    pub category: String,
    pub owner_opd_id: Option<String>,
    pub public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub required_roles: Vec<String>,
    pub min_level: u8,
    pub disabled: bool,
}

impl From<&Client> for ApplicationView {
    fn from(c: &Client) -> Self {
        ApplicationView {
            client_id: c.id.clone(),
            name: c.name.clone(),
            category: c.category.clone(),
            owner_opd_id: c.owner_opd_id.clone(),
            public: c.public,
            first_party: c.first_party,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            scopes: c.scopes.clone(),
            required_roles: c.required_roles.clone(),
            min_level: c.min_level,
            disabled: c.disabled,
        }
    }
}

/// Registered applications (OPD admins: those their subtree owns).
#[utoipa::path(get, path = "/admin/api/v1/applications", responses((status = 200, body = [ApplicationView]), (status = 403, body = Problem)))]
pub async fn list_applications(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
) -> ApiResult<Json<Vec<ApplicationView>>> {
    Ok(Json(ops::applications::applications(&st, &admin).await?.iter().map(ApplicationView::from).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredApplication {
    pub application: ApplicationView,
    /// Absent for public clients. Shown once.
    pub client_secret: Option<String>,
}

/// Register an application directly (Diskominfo admins; OPDs submit a request instead).
#[utoipa::path(post, path = "/admin/api/v1/applications", request_body = ApplicationInput,
    responses((status = 201, body = RegisteredApplication), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_application(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<ApplicationInput>, JsonRejection>,
) -> ApiResult<Response> {
    let (client, secret) = ops::applications::register_application(&st, &admin, json_body(body)?, now()).await?;
    let body = RegisteredApplication {
        application: ApplicationView::from(&client),
        client_secret: secret.map(|s| s.expose().clone()),
    };
    let mut res = super::no_store_json(body);
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

/// One application.
#[utoipa::path(get, path = "/admin/api/v1/applications/{id}", params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = ApplicationView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_application(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<ApplicationView>> {
    Ok(Json(ApplicationView::from(ops::applications::application(&st, &admin, &id).await?.as_ref())))
}

/// Edit an application's settings (Diskominfo, or the owning OPD's admin; category and owner
/// only Diskominfo). Absent fields stay unchanged.
#[utoipa::path(patch, path = "/admin/api/v1/applications/{id}", request_body = ClientEdit, params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = ApplicationView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn edit_application(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<ClientEdit>, JsonRejection>,
) -> ApiResult<Json<ApplicationView>> {
    let c = ops::applications::edit_application(&st, &admin, &id, json_body(body)?, now()).await?;
    Ok(Json(ApplicationView::from(&c)))
}

/// A new client secret (Diskominfo, or the owning OPD's admin); the old one stops working.
#[utoipa::path(post, path = "/admin/api/v1/applications/{id}/secret", params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = Credentials), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn rotate_secret(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let secret = ops::applications::rotate_secret(&st, &admin, &id, now()).await?;
    Ok(super::no_store_json(Credentials { client_id: id, client_secret: Some(secret.expose().clone()) }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Enabled {
    pub enabled: bool,
}

/// Disable (revoking every grant) or enable an application (Diskominfo admins).
#[utoipa::path(put, path = "/admin/api/v1/applications/{id}/enabled", request_body = Enabled, params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = ApplicationView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn set_enabled(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<Enabled>, JsonRejection>,
) -> ApiResult<Json<ApplicationView>> {
    let e = json_body(body)?;
    let c = ops::applications::set_enabled(&st, &admin, &id, e.enabled, now()).await?;
    Ok(Json(ApplicationView::from(c.as_ref())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    pub id: String,
    pub account_id: String,
    pub account_name: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    pub not_before: i64,
    pub not_after: i64,
    /// `valid`, `expiring` (within 30 days), `expired` or `revoked`.
    pub standing: String,
    pub revoked_at: Option<i64>,
    pub revocation_reason: String,
}

fn certificate_view(c: CertRow, account_name: String, now: i64) -> CertificateView {
    CertificateView {
        standing: crate::certs::standing(&c, now, ops::certificates::CERT_WARN_DAYS).as_str().into(),
        id: c.id,
        account_id: c.account_id,
        account_name,
        subject: c.subject,
        issuer: c.issuer,
        serial: c.serial,
        fingerprint: c.fingerprint,
        not_before: c.not_before,
        not_after: c.not_after,
        revoked_at: c.revoked_at,
        revocation_reason: c.revocation_reason,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CertificateParams {
    /// Only revoked, expired and soon-expiring certificates.
    pub attention: Option<bool>,
}

/// Bound electronic certificates for monitoring (Diskominfo and auditors: all; OPD admins: their
/// staff's), soonest expiry first.
#[utoipa::path(get, path = "/admin/api/v1/certificates", params(CertificateParams),
    responses((status = 200, body = [CertificateView]), (status = 403, body = Problem)))]
pub async fn list_certificates(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Query(p): Query<CertificateParams>,
) -> ApiResult<Json<Vec<CertificateView>>> {
    let t = now();
    let rows = ops::certificates::certificates(&st, &admin, p.attention.unwrap_or(false), t).await?;
    Ok(Json(rows.into_iter().map(|r| certificate_view(r.cert, r.holder_name, t)).collect()))
}

/// An account's certificates.
#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}/certificates", params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = [CertificateView]), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn account_certificates(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<CertificateView>>> {
    let t = now();
    let a = ops::accounts::account(&st, &admin, &id).await?;
    let rows = ops::certificates::certificates_of(&st, &admin, &id).await?;
    Ok(Json(rows.into_iter().map(|c| certificate_view(c, a.name.clone(), t)).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CertificateUpload {
    /// The person's signing certificate: PEM, or base64 of the DER.
    pub certificate: String,
}

/// Bind a person's electronic signing certificate to their account. It must be in its validity
/// period, meant for signatures, not a CA's, and issued by a configured issuer when
/// `certificate_issuers` is set.
#[utoipa::path(post, path = "/admin/api/v1/accounts/{id}/certificates", request_body = CertificateUpload,
    params(("id" = String, Path, description = "account id")),
    responses((status = 201, body = CertificateView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn bind_certificate(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<CertificateUpload>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CertificateView>)> {
    let up = json_body(body)?;
    let t = now();
    let row = ops::certificates::bind_certificate(&st, &admin, &id, &up.certificate, t).await?;
    let name = ops::accounts::account(&st, &admin, &id).await?.name;
    Ok((StatusCode::CREATED, Json(certificate_view(row, name, t))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Revocation {
    pub reason: String,
}

/// Record that a certificate was revoked (by its authority, or at the holder's request).
#[utoipa::path(post, path = "/admin/api/v1/certificates/{id}/revocation", request_body = Revocation,
    params(("id" = String, Path, description = "certificate id")),
    responses((status = 200, body = CertificateView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke_certificate(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<Revocation>, JsonRejection>,
) -> ApiResult<Json<CertificateView>> {
    let r = json_body(body)?;
    let t = now();
    let row = ops::certificates::revoke_certificate(&st, &admin, &id, &r.reason, t).await?;
    let name = ops::accounts::account(&st, &admin, &row.account_id).await?.name;
    Ok(Json(certificate_view(row, name, t)))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gerbang admin API",
        description = "Administration of accounts, OPD units, roles, applications, sessions, electronic certificates and the audit trail. Errors are RFC 9457 problem details."
    ),
    paths(
        search_accounts,
        create_account,
        get_account,
        edit_account,
        set_status,
        reset_factors,
        list_sessions,
        end_session,
        account_roles,
        list_roles,
        create_role,
        list_opd,
        create_opd,
        assign_role,
        unassign_role,
        bulk_assignments,
        list_audit,
        export_audit,
        submit_request,
        list_requests,
        decide_request,
        fetch_credentials,
        list_applications,
        register_application,
        get_application,
        edit_application,
        rotate_secret,
        set_enabled,
        list_certificates,
        account_certificates,
        bind_certificate,
        revoke_certificate
    ),
    components(schemas(
        Problem,
        AccountView,
        AccountInput,
        CreatedAccount,
        AccountEdit,
        StatusChange,
        FactorReset,
        SessionView,
        RoleView,
        AccountRoles,
        NewRole,
        NewUnit,
        OpdView,
        Assignment,
        BulkAssignments,
        BulkReport,
        AuditView,
        AppRequest,
        RequestView,
        Decision,
        Credentials,
        ApplicationView,
        ApplicationInput,
        RegisteredApplication,
        ClientEdit,
        Enabled,
        CertificateView,
        CertificateUpload,
        Revocation
    ))
)]
pub struct ApiDoc;

pub async fn openapi() -> Response {
    let mut res = Json(ApiDoc::openapi()).into_response();
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}
