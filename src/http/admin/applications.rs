//! Admin API: application registration requests and registered applications.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{json_body, AdminAuth, ApiResult, Problem};
use crate::http::St;
use crate::oidc::clients::{Category, Client, ClientEdit};
use crate::oidc::registration::{self, AppRequest};
use crate::ops::applications::ApplicationInput;
use crate::ops::requests::RequestRow;
use crate::ops::{self, AdminError};

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

impl TryFrom<&RequestRow> for RequestView {
    type Error = AdminError;

    fn try_from(r: &RequestRow) -> Result<Self, AdminError> {
        Ok(RequestView {
            id: r.id.clone(),
            status: r.status.clone(),
            requester_id: r.requester_id.clone(),
            opd_id: r.opd_id.clone(),
            request: registration::request_of(r)?,
            reason: r.reason.clone(),
            client_id: r.client_id.clone(),
            created_at: r.created_at,
            reviewed_at: r.reviewed_at,
            credentials_fetched: r.fetched_at.is_some(),
        })
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
    let row = ops::requests::submit_request(&st, &admin, json_body(body)?, st.now()).await?;
    Ok((StatusCode::CREATED, Json(RequestView::try_from(&row)?)))
}

/// Requests visible to the caller, newest first.
#[utoipa::path(get, path = "/admin/api/v1/app-requests", responses((status = 200, body = [RequestView]), (status = 403, body = Problem)))]
pub async fn list_requests(State(st): State<St>, AdminAuth(admin): AdminAuth) -> ApiResult<Json<Vec<RequestView>>> {
    Ok(Json(ops::requests::requests(&st, &admin).await?.iter().map(RequestView::try_from).collect::<Result<_, _>>()?))
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
    let row = ops::requests::decide(&st, &admin, &id, approve, &d.reason, d.corrected, st.now()).await?;
    Ok(Json(RequestView::try_from(&row)?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Credentials {
    pub client_id: String,
    /// Absent for public clients. Shown once.
    pub client_secret: Option<String>,
}

/// The approved application's credentials, for the requester, once.
#[utoipa::path(post, path = "/admin/api/v1/app-requests/{id}/credentials", params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = Credentials), (status = 403, body = Problem), (status = 409, body = Problem), (status = 410, body = Problem)))]
pub async fn fetch_credentials(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (client_id, secret) = ops::requests::fetch_credentials(&st, &admin, &id, st.now()).await?;
    Ok(crate::http::no_store_json(Credentials { client_id, client_secret: secret.map(|s| s.expose().clone()) }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    pub client_id: String,
    pub name: String,
    pub category: Category,
    pub owner_opd_id: Option<String>,
    pub public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub required_roles: Vec<String>,
    pub min_level: u8,
    pub disabled: bool,
    /// Citizens are admitted only once identity-verified at a counter.
    pub require_verified: bool,
    /// Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

impl From<&Client> for ApplicationView {
    fn from(c: &Client) -> Self {
        ApplicationView {
            client_id: c.id.clone(),
            name: c.name.clone(),
            category: c.category,
            owner_opd_id: c.owner_opd_id.clone(),
            public: c.public,
            first_party: c.first_party,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            scopes: c.scopes.clone(),
            required_roles: c.required_roles.clone(),
            min_level: c.min_level,
            disabled: c.disabled,
            require_verified: c.require_verified,
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: c.backchannel_logout_session_required,
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
    let (client, secret) = ops::applications::register_application(&st, &admin, json_body(body)?, st.now()).await?;
    let body = RegisteredApplication {
        application: ApplicationView::from(&client),
        client_secret: secret.map(|s| s.expose().clone()),
    };
    let mut res = crate::http::no_store_json(body);
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
    Ok(Json(ApplicationView::from(
        ops::applications::application(&st, &admin, &admin.parse_client_id(&id)?).await?.as_ref(),
    )))
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
    let edit = json_body(body)?;
    let c = ops::applications::edit_application(&st, &admin, &admin.parse_client_id(&id)?, edit, st.now()).await?;
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
    let id = admin.parse_client_id(&id)?;
    let secret = ops::applications::rotate_secret(&st, &admin, &id, st.now()).await?;
    Ok(crate::http::no_store_json(Credentials { client_id: id.into(), client_secret: Some(secret.expose().clone()) }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Enabled {
    pub enabled: bool,
}

/// Disable (revoking every grant) or enable an application (Diskominfo admins).
#[utoipa::path(put, path = "/admin/api/v1/applications/{id}/enabled", request_body = Enabled, params(("id" = String, Path, description = "client id")),
    responses((status = 200, body = ApplicationView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn set_enabled(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    body: Result<Json<Enabled>, JsonRejection>,
) -> ApiResult<Json<ApplicationView>> {
    let e = json_body(body)?;
    let c = ops::applications::set_enabled(&st, &admin, &admin.parse_client_id(&id)?, e.enabled, st.now()).await?;
    Ok(Json(ApplicationView::from(c.as_ref())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeliveryQuery {
    /// At most this many, newest first (1–500, default 100).
    pub limit: Option<i64>,
}

/// The application's back-channel logout token deliveries, newest first: delivered, pending
/// (with the next attempt) and failed (given up, with the last error).
#[utoipa::path(get, path = "/admin/api/v1/applications/{id}/logout-deliveries",
    params(("id" = String, Path, description = "client id"), DeliveryQuery),
    responses((status = 200, body = [crate::ops::backchannel::DeliveryRow]), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn logout_deliveries(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<DeliveryQuery>,
) -> ApiResult<Json<Vec<crate::ops::backchannel::DeliveryRow>>> {
    let id = admin.parse_client_id(&id)?;
    Ok(Json(ops::backchannel::deliveries(&st, &admin, &id, q.limit.unwrap_or(100)).await?))
}
