//! Admin API: accounts, their status, second factors and sessions.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{json_body, query_params, AdminAuth, ApiResult, Problem, ProblemResponse};
use crate::auth::session::SsoSession;
use crate::http::St;
use crate::identity::accounts::{Account, AccountKind, AccountStatus};
use crate::ops::accounts::{AccountEdit, AccountInput};
use crate::ops::enrolment::IssuedLink;
use crate::ops::reset::{Delivery, ResetLink};
use crate::ops::verification::IdentityCheck;
use crate::ops::{self};

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub account_type: String,
    pub nip: Option<String>,
    pub nik: Option<String>,
    pub name: String,
    pub status: AccountStatus,
    pub opd_id: Option<String>,
    /// Citizens only: whether an officer verified the person's identity at a counter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    pub email: Option<String>,
    /// Whether the person proved the address by following a link mailed to it.
    pub email_verified: bool,
    pub phone_number: Option<String>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        let verified = (a.kind == AccountKind::Citizen).then(|| ops::verification::is_verified(&a));
        AccountView {
            verified,
            id: a.id,
            account_type: a.kind.as_str().into(),
            nip: a.nip,
            nik: a.nik,
            name: a.name,
            status: a.status,
            opd_id: a.opd_id,
            email: a.email,
            email_verified: a.email_verified,
            phone_number: a.phone_number,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
    query: Result<Query<SearchParams>, QueryRejection>,
) -> ApiResult<Json<Vec<AccountView>>> {
    let p = query_params(query)?;
    let found =
        ops::accounts::search_accounts(&st, &admin, p.q.as_deref().unwrap_or(""), p.limit.unwrap_or(50)).await?;
    Ok(Json(found.into_iter().map(AccountView::from).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccount {
    pub account: AccountView,
    /// Non-blocking remarks about the NIK, such as an unknown region code.
    pub warnings: Vec<String>,
    /// For an account created without a password: the link through which its person sets one
    /// (single use, 24 h, shown only in this answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<ResetLink>,
}

/// Create an account (Diskominfo anywhere; OPD admins in their own units).
#[utoipa::path(post, path = "/admin/api/v1/accounts", request_body = AccountInput,
    responses((status = 201, body = CreatedAccount), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_account(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<AccountInput>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CreatedAccount>)> {
    let (account, warnings, activation) = ops::reset::create_account(&st, &admin, json_body(body)?, st.now()).await?;
    Ok((StatusCode::CREATED, Json(CreatedAccount { account: account.into(), warnings, activation })))
}

/// One account.
#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}", params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_account(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountView>> {
    Ok(Json(ops::accounts::account(&st, &admin, &admin.parse_account_id(&id)?).await?.into()))
}

/// Change the name, the OPD unit or the contact details (stored unverified) of an account.
#[utoipa::path(patch, path = "/admin/api/v1/accounts/{id}", request_body = AccountEdit, params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn edit_account(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<AccountEdit>, JsonRejection>,
) -> ApiResult<Json<AccountView>> {
    let edit = json_body(body)?;
    Ok(Json(ops::accounts::edit_account(&st, &admin, &admin.parse_account_id(&id)?, edit, st.now()).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusChange {
    pub status: AccountStatus,
}

/// Change an account's status (Diskominfo admins). Anything but `active` revokes its tokens.
#[utoipa::path(put, path = "/admin/api/v1/accounts/{id}/status", request_body = StatusChange,
    params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_status(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<StatusChange>, JsonRejection>,
) -> ApiResult<Json<AccountView>> {
    let change = json_body(body)?;
    Ok(Json(
        ops::accounts::set_status(&st, &admin, &admin.parse_account_id(&id)?, change.status, st.now()).await?.into(),
    ))
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
    Ok(Json(FactorReset {
        sessions_ended: ops::accounts::reset_factors(&st, &admin, &admin.parse_account_id(&id)?, st.now()).await?,
    }))
}

/// Issue a one-time enrolment link (single use, 24 h, shown only in this answer) through which
/// the person enrols a first passkey or authenticator app; an account holding an administrative
/// role can enrol its first factor no other way. Never for one's own account.
#[utoipa::path(post, path = "/admin/api/v1/accounts/{id}/enrolment-link", params(("id" = String, Path, description = "account id")),
    responses((status = 201, body = IssuedLink), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn enrolment_link(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<IssuedLink>)> {
    let link = ops::enrolment::issue_link(&st, &admin, &admin.parse_account_id(&id)?, st.now()).await?;
    Ok((StatusCode::CREATED, Json(link)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ResetRequest {
    /// `email` (to the verified address) or `link` (shown in the answer). Without it: e-mail
    /// when the account has a verified address and e-mail is configured, else a link.
    pub delivery: Option<Delivery>,
}

/// Issue a password link (single use, 24 h): a reset link for an account with a password, an
/// activation link for one without. Mailed to the verified address, or returned once. Never
/// for one's own account; accounts holding an administrative role only by Diskominfo admins;
/// only for active accounts. Asking for e-mail when that is impossible answers 409.
#[utoipa::path(post, path = "/admin/api/v1/accounts/{id}/password-reset", request_body(content = Option<ResetRequest>),
    params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = ResetLink), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn password_reset(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<ResetLink>> {
    // The body is optional: an empty one asks for the default delivery.
    let req: ResetRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ResetRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", e.to_string()))?
    };
    let id = admin.parse_account_id(&id)?;
    Ok(Json(ops::reset::issue(&st, &admin, &id, req.delivery, st.now()).await?))
}

/// Record that an officer checked the citizen's identity document (e.g. `KTP-el`) at a counter:
/// the account becomes identity-verified. The one way to set `verified`; never for oneself. Open
/// to Diskominfo, counter officers (`identity-officer`, citizens only) and administrators who
/// manage the account.
#[utoipa::path(post, path = "/admin/api/v1/accounts/{id}/identity-verification", request_body = IdentityCheck,
    params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn verify_identity(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<IdentityCheck>, JsonRejection>,
) -> ApiResult<Json<AccountView>> {
    let check = json_body(body)?;
    let id = admin.parse_account_id(&id)?;
    Ok(Json(ops::verification::verify_identity(&st, &admin, &id, check, st.now()).await?.into()))
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
    Ok(Json(
        ops::accounts::sessions(&st, &admin, &admin.parse_account_id(&id)?, st.now())
            .await?
            .into_iter()
            .map(SessionView::from)
            .collect(),
    ))
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
    ops::accounts::end_session(&st, &admin, &admin.parse_account_id(&id)?, &sid, st.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
