//! The admin API under `/admin/api/v1` (JSON, errors as RFC 9457 problem details) and its
//! OpenAPI document. Callers present an access token issued by Gerbang to the built-in
//! `gerbang-console` application, at the configured security level; what they may do follows
//! from their live roles (`identity::admin`).

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::St;
use crate::audit::{self, Event};
use crate::identity::accounts::{self, Account};
use crate::identity::admin::Admin;
use crate::identity::roles::{self, Holder, RoleError};
use crate::oidc::introspect::check_access_token;
use crate::state::now;
use crate::oidc::clients::{self, Client, ClientError};
use crate::oidc::registration::{self, AppRequest, WorkflowError};
use crate::store::app_requests::{self as app_request_store, RequestRow};
use crate::store::opd as opd_store;

pub const CONSOLE_CLIENT_ID: &str = "gerbang-console";

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

fn forbidden(detail: &str) -> ProblemResponse {
    ProblemResponse(StatusCode::FORBIDDEN, "Forbidden", detail.to_string())
}

fn internal(e: impl std::fmt::Display) -> ProblemResponse {
    tracing::error!(error = %e, "admin API failure");
    ProblemResponse(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", "the server could not complete the request".into())
}

fn not_found(what: &str) -> ProblemResponse {
    ProblemResponse(StatusCode::NOT_FOUND, "Not Found", format!("no such {what}"))
}

/// The authenticated administrator of a request.
pub struct AdminAuth(pub Admin);

impl FromRequestParts<St> for AdminAuth {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        let unauthorized = |d: &str| ProblemResponse(StatusCode::UNAUTHORIZED, "Unauthorized", d.to_string());
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))) else {
            return Err(unauthorized("a bearer access token is required"));
        };
        let (claims, grant) = check_access_token(st, token.trim(), now()).await.map_err(|_| unauthorized("the access token is invalid, expired or revoked"))?;
        let grant = grant.ok_or_else(|| forbidden("a person's token is required, not an application's"))?;
        if claims.client_id != CONSOLE_CLIENT_ID {
            return Err(forbidden("the token was not issued to the admin console"));
        }
        let level = claims.security_level.unwrap_or(1);
        if level < st.config.admin_min_level {
            return Err(forbidden(&format!("administration requires security level {}; log in with a passkey", st.config.admin_min_level)));
        }
        let account = accounts::get(&st.db, &grant.account_id).await.map_err(internal)?.filter(|a| a.is_active());
        let account = account.ok_or_else(|| unauthorized("the account is not active"))?;
        let admin = Admin::load(&st.db, account).await.map_err(internal)?.ok_or_else(|| forbidden("no administrative role"))?;
        Ok(AdminAuth(admin))
    }
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
        AccountView { id: a.id, account_type: a.kind.as_str().into(), nip: a.nip, nik: a.nik, name: a.name, status: a.status, opd_id: a.opd_id }
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
pub async fn search_accounts(State(st): State<St>, AdminAuth(admin): AdminAuth, Query(p): Query<SearchParams>) -> Result<Json<Vec<AccountView>>, ProblemResponse> {
    if !admin.sees_accounts() {
        return Err(forbidden("reading accounts needs diskominfo-admin or opd-admin"));
    }
    let q = p.q.unwrap_or_default();
    let found = accounts::search(&st.db, q.trim(), p.limit.unwrap_or(50).clamp(1, 500)).await.map_err(internal)?;
    Ok(Json(found.into_iter().filter(|a| admin.manages_account(a)).map(AccountView::from).collect()))
}

async fn managed_account(st: &St, admin: &Admin, id: &str) -> Result<Account, ProblemResponse> {
    let a = accounts::get(&st.db, id).await.map_err(internal)?.ok_or_else(|| not_found("account"))?;
    if !admin.manages_account(&a) {
        return Err(forbidden("the account is outside the OPD units you manage"));
    }
    Ok(a)
}

/// One account.
#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}", params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_account(State(st): State<St>, AdminAuth(admin): AdminAuth, Path(id): Path<String>) -> Result<Json<AccountView>, ProblemResponse> {
    Ok(Json(managed_account(&st, &admin, &id).await?.into()))
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
    body: Result<Json<StatusChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<AccountView>, ProblemResponse> {
    if !admin.changes_status() {
        return Err(forbidden("changing a status needs diskominfo-admin"));
    }
    let change = json_body(body)?;
    let mut a = accounts::get(&st.db, &id).await.map_err(internal)?.ok_or_else(|| not_found("account"))?;
    let before = a.status.clone();
    match accounts::set_status(&st.db, &a.id, &change.status, now()).await {
        Ok(_) => {}
        Err(accounts::AccountError::Status) => {
            return Err(ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", "status must be active, suspended, retired or dismissed".into()))
        }
        Err(e) => return Err(internal(e)),
    }
    let detail = serde_json::json!({ "before": before, "after": change.status });
    audit::record(&st.db, Event::new("account.status_changed").actor(&admin.account.id).subject(&a.id).detail(detail), now()).await;
    a.status = change.status;
    Ok(Json(a.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpdView {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<String>,
}

/// The OPD tree (OPD admins: their own subtree).
#[utoipa::path(get, path = "/admin/api/v1/opd", responses((status = 200, body = [OpdView]), (status = 403, body = Problem)))]
pub async fn list_opd(State(st): State<St>, AdminAuth(admin): AdminAuth) -> Result<Json<Vec<OpdView>>, ProblemResponse> {
    if !admin.sees_accounts() {
        return Err(forbidden("reading the OPD tree needs diskominfo-admin or opd-admin"));
    }
    let rows = opd_store::list(&st.db).await.map_err(internal)?;
    Ok(Json(
        rows.into_iter()
            .filter(|o| admin.manages_unit(Some(&o.id)))
            .map(|o| OpdView { id: o.id, code: o.code, name: o.name, kind: o.kind, parent_id: o.parent_id })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Assignment {
    pub role: String,
    /// The application the role belongs to; absent for a global role.
    pub client_id: Option<String>,
    pub account_id: String,
}

async fn check_assignment(st: &St, admin: &Admin, a: &Assignment) -> Result<(crate::store::roles::RoleRow, Account), ProblemResponse> {
    let client = a.client_id.as_deref().unwrap_or("");
    let owner = if client.is_empty() {
        None
    } else {
        let c = st.clients.get(&st.db, client).await.map_err(internal)?.ok_or_else(|| not_found("application"))?;
        Some(c.owner_opd_id.clone())
    };
    if !admin.assigns_role(owner.as_ref().map(|o| o.as_deref())) {
        return Err(forbidden("you may assign only roles of applications your OPD units own"));
    }
    let account = managed_account(st, admin, &a.account_id).await?;
    let role = match roles::find(&st.db, client, &a.role).await {
        Ok(r) => r,
        Err(RoleError::UnknownRole(_)) => return Err(not_found("role")),
        Err(e) => return Err(internal(e)),
    };
    Ok((role, account))
}

/// Give a role to an account.
#[utoipa::path(post, path = "/admin/api/v1/role-assignments", request_body = Assignment,
    responses((status = 201), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn assign_role(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<Assignment>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ProblemResponse> {
    let a = json_body(body)?;
    let (role, account) = check_assignment(&st, &admin, &a).await?;
    match roles::assign(&st.db, &role, &Holder::Account(account.id.clone()), now()).await {
        Ok(()) => {}
        Err(RoleError::AlreadyAssigned) => return Err(ProblemResponse(StatusCode::CONFLICT, "Conflict", "the account already holds this role".into())),
        Err(e) => return Err(internal(e)),
    }
    let detail = serde_json::json!({ "role": role.name, "client_id": role.client_id });
    audit::record(&st.db, Event::new("role.assigned").actor(&admin.account.id).subject(&account.id).detail(detail), now()).await;
    Ok(StatusCode::CREATED)
}

/// Take a role away; tokens that carried it are revoked.
#[utoipa::path(delete, path = "/admin/api/v1/role-assignments", request_body = Assignment,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn unassign_role(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<Assignment>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ProblemResponse> {
    let a = json_body(body)?;
    let (role, account) = check_assignment(&st, &admin, &a).await?;
    let revoked = roles::unassign(&st.db, &role, &Holder::Account(account.id.clone()), now()).await.map_err(internal)?;
    let detail = serde_json::json!({ "role": role.name, "client_id": role.client_id, "revoked_grants": revoked });
    audit::record(&st.db, Event::new("role.unassigned").actor(&admin.account.id).subject(&account.id).detail(detail), now()).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Only events about this account id.
    pub account: Option<String>,
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
pub async fn list_audit(State(st): State<St>, AdminAuth(admin): AdminAuth, Query(p): Query<AuditParams>) -> Result<Json<Vec<AuditView>>, ProblemResponse> {
    if !admin.reads_audit() {
        return Err(forbidden("reading the audit trail needs diskominfo-admin or auditor"));
    }
    let rows = audit::list(&st.db, p.limit.unwrap_or(100), p.account.as_deref()).await.map_err(internal)?;
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

fn workflow_problem(e: WorkflowError) -> ProblemResponse {
    match e {
        WorkflowError::Invalid(ClientError::Invalid { field, message }) => {
            ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", format!("{field}: {message}"))
        }
        WorkflowError::Invalid(ClientError::Conflict) => ProblemResponse(StatusCode::CONFLICT, "Conflict", "an application with this id exists".into()),
        WorkflowError::NoUnit => forbidden("you belong to no OPD unit"),
        WorkflowError::NotFound => not_found("request"),
        WorkflowError::AlreadyDecided => ProblemResponse(StatusCode::CONFLICT, "Conflict", "the request was already decided".into()),
        WorkflowError::ReasonRequired => ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", "a rejection needs a reason".into()),
        WorkflowError::AlreadyFetched => ProblemResponse(StatusCode::GONE, "Gone", "the credentials were already fetched; ask Diskominfo to rotate the secret".into()),
        WorkflowError::NotRequester => forbidden("only the requester may fetch the credentials"),
        WorkflowError::NotApproved => ProblemResponse(StatusCode::CONFLICT, "Conflict", "the request is not approved".into()),
        e => internal(e),
    }
}

fn json_body<T>(body: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ProblemResponse> {
    body.map(|Json(b)| b).map_err(|e| ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", e.body_text()))
}

/// Request an application for one's own OPD unit (OPD admins and OPD developers).
#[utoipa::path(post, path = "/admin/api/v1/app-requests", request_body = AppRequest,
    responses((status = 201, body = RequestView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn submit_request(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<AppRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<RequestView>), ProblemResponse> {
    if !admin.requests_applications() {
        return Err(forbidden("requesting an application needs opd-admin or opd-developer and an OPD unit"));
    }
    let req = json_body(body)?;
    let row = registration::submit(&st, &admin.account, req, now()).await.map_err(workflow_problem)?;
    audit::record(&st.db, Event::new("app_request.submitted").actor(&admin.account.id).detail(serde_json::json!({ "request": row.id, "name": row.name })), now()).await;
    Ok((StatusCode::CREATED, Json(RequestView::from(&row))))
}

/// Requests visible to the caller, newest first.
#[utoipa::path(get, path = "/admin/api/v1/app-requests", responses((status = 200, body = [RequestView]), (status = 403, body = Problem)))]
pub async fn list_requests(State(st): State<St>, AdminAuth(admin): AdminAuth) -> Result<Json<Vec<RequestView>>, ProblemResponse> {
    if !(admin.reviews_applications() || admin.requests_applications()) {
        return Err(forbidden("application requests are for Diskominfo, OPD admins and OPD developers"));
    }
    let rows = app_request_store::list(&st.db).await.map_err(internal)?;
    Ok(Json(rows.iter().filter(|r| admin.sees_request(&r.opd_id, &r.requester_id)).map(RequestView::from).collect()))
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
    body: Result<Json<Decision>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<RequestView>, ProblemResponse> {
    if !admin.reviews_applications() {
        return Err(forbidden("reviewing requests needs diskominfo-admin"));
    }
    let d = json_body(body)?;
    let row = match d.decision.as_str() {
        "approve" => registration::approve(&st, &id, &admin.account, d.corrected, now()).await,
        "reject" => registration::reject(&st, &id, &admin.account, &d.reason, now()).await,
        _ => return Err(ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", "decision must be approve or reject".into())),
    }
    .map_err(workflow_problem)?;
    let kind = if row.status == "approved" { "app_request.approved" } else { "app_request.rejected" };
    let detail = serde_json::json!({ "request": row.id, "client_id": row.client_id, "reason": row.reason });
    audit::record(&st.db, Event::new(kind).actor(&admin.account.id).subject(&row.requester_id).detail(detail), now()).await;
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
pub async fn fetch_credentials(State(st): State<St>, AdminAuth(admin): AdminAuth, Path(id): Path<String>) -> Result<Response, ProblemResponse> {
    let (client_id, secret) = registration::fetch_credentials(&st, &id, &admin.account, now()).await.map_err(workflow_problem)?;
    audit::record(&st.db, Event::new("app_request.credentials_fetched").actor(&admin.account.id).detail(serde_json::json!({ "request": id })), now()).await;
    Ok(super::no_store_json(Credentials { client_id, client_secret: secret.map(|s| s.expose().clone()) }))
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
pub async fn export_audit(State(st): State<St>, AdminAuth(admin): AdminAuth, Query(p): Query<ExportParams>) -> Result<Response, ProblemResponse> {
    if !admin.reads_audit() {
        return Err(forbidden("exporting the audit trail needs diskominfo-admin or auditor"));
    }
    let rows = audit::range(&st.db, p.since, p.until).await.map_err(internal)?;
    let mut res = audit::to_csv(&rows).into_response();
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    res.headers_mut().insert(axum::http::header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"gerbang-audit.csv\""));
    audit::record(&st.db, Event::new("audit.exported").actor(&admin.account.id).detail(serde_json::json!({ "since": p.since, "until": p.until, "records": rows.len() })), now()).await;
    Ok(res)
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
    pub scopes: Vec<String>,
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
            scopes: c.scopes.clone(),
            min_level: c.min_level,
            disabled: c.disabled,
        }
    }
}

/// Registered applications (OPD admins: those their subtree owns).
#[utoipa::path(get, path = "/admin/api/v1/applications", responses((status = 200, body = [ApplicationView]), (status = 403, body = Problem)))]
pub async fn list_applications(State(st): State<St>, AdminAuth(admin): AdminAuth) -> Result<Json<Vec<ApplicationView>>, ProblemResponse> {
    if !admin.sees_accounts() {
        return Err(forbidden("reading applications needs diskominfo-admin or opd-admin"));
    }
    let all = clients::list(&st.db).await.map_err(internal)?;
    Ok(Json(all.iter().filter(|c| admin.manages_unit(c.owner_opd_id.as_deref())).map(ApplicationView::from).collect()))
}

async fn managed_application(st: &St, admin: &Admin, id: &str) -> Result<std::sync::Arc<Client>, ProblemResponse> {
    let c = st.clients.get(&st.db, id).await.map_err(internal)?.ok_or_else(|| not_found("application"))?;
    if !admin.manages_unit(c.owner_opd_id.as_deref()) {
        return Err(forbidden("the application belongs to an OPD you do not manage"));
    }
    Ok(c)
}

/// A new client secret (Diskominfo, or the owning OPD's admin); the old one stops working.
#[utoipa::path(post, path = "/admin/api/v1/applications/{id}/secret", params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = Credentials), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn rotate_secret(State(st): State<St>, AdminAuth(admin): AdminAuth, Path(id): Path<String>) -> Result<Response, ProblemResponse> {
    let c = managed_application(&st, &admin, &id).await?;
    if c.public {
        return Err(ProblemResponse(StatusCode::CONFLICT, "Conflict", "a public client has no secret".into()));
    }
    let secret = clients::rotate_secret(&st.db, &st.clients, &c.id, now()).await.map_err(internal)?;
    let Some(secret) = secret else { return Err(not_found("application")) };
    audit::record(&st.db, Event::new("application.secret_rotated").actor(&admin.account.id).detail(serde_json::json!({ "client_id": c.id })), now()).await;
    Ok(super::no_store_json(Credentials { client_id: c.id.clone(), client_secret: Some(secret.expose().clone()) }))
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
    body: Result<Json<Enabled>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ApplicationView>, ProblemResponse> {
    if !admin.diskominfo {
        return Err(forbidden("disabling an application needs diskominfo-admin"));
    }
    let e = json_body(body)?;
    if !clients::set_disabled(&st.db, &st.clients, &id, !e.enabled, now()).await.map_err(internal)? {
        return Err(not_found("application"));
    }
    let kind = if e.enabled { "application.enabled" } else { "application.disabled" };
    audit::record(&st.db, Event::new(kind).actor(&admin.account.id).detail(serde_json::json!({ "client_id": id })), now()).await;
    let c = st.clients.get(&st.db, &id).await.map_err(internal)?.ok_or_else(|| not_found("application"))?;
    Ok(Json(ApplicationView::from(c.as_ref())))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Gerbang admin API", description = "Administration of accounts, OPD units, roles and the audit trail. Errors are RFC 9457 problem details."),
    paths(search_accounts, get_account, set_status, list_opd, assign_role, unassign_role, list_audit,
          submit_request, list_requests, decide_request, fetch_credentials, list_applications, rotate_secret, set_enabled, export_audit),
    components(schemas(Problem, AccountView, StatusChange, OpdView, Assignment, AuditView, AppRequest, RequestView, Decision, Credentials,
                       ApplicationView, Enabled))
)]
pub struct ApiDoc;

pub async fn openapi() -> Response {
    let mut res = Json(ApiDoc::openapi()).into_response();
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}
