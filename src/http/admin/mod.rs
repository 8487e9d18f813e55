//! The admin API under `/admin/api/v1` (JSON, errors as RFC 9457 problem details) and its
//! OpenAPI document. Callers present an access token issued by Gerbang to the built-in
//! `gerbang-console` application, at the configured security level; what they may do follows
//! from their live roles. The operations themselves live in `crate::ops`, shared with the
//! console.

mod accounts;
mod applications;
mod audit_trail;
mod certificates;
mod crls;
mod roles;

pub use accounts::*;
pub use applications::*;
pub use audit_trail::*;
pub use certificates::*;
pub use crls::*;
pub use roles::*;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Query};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::St;
use crate::oidc::clients::ClientEdit;
use crate::oidc::registration::AppRequest;
use crate::ops::accounts::{AccountEdit, AccountInput};
use crate::ops::applications::ApplicationInput;
use crate::ops::roles::{Assignment, BulkAssignments, BulkReport, NewRole};
use crate::ops::units::NewUnit;
use crate::ops::{self, AdminError, Principal};

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

pub struct ProblemResponse(pub StatusCode, pub &'static str, pub String);

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

pub(crate) type ApiResult<T> = Result<T, ProblemResponse>;

/// The authenticated administrator of a request.
pub struct AdminAuth(pub Principal);

impl FromRequestParts<St> for AdminAuth {
    type Rejection = ProblemResponse;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))) else {
            return Err(AdminError::Unauthenticated("a bearer access token is required".into()).into());
        };
        Ok(AdminAuth(ops::authenticate(st, token.trim(), st.now()).await?))
    }
}

pub(crate) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(b)| b)
        .map_err(|e| ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", e.body_text()))
}

/// Query parameters that do not parse are the caller's mistake: a 400 problem, not axum's
/// plain-text rejection.
pub(crate) fn query_params<T>(query: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    query.map(|Query(q)| q).map_err(|e| ProblemResponse(StatusCode::BAD_REQUEST, "Bad Request", e.body_text()))
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
        enrolment_link,
        password_reset,
        verify_identity,
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
        signers_csv,
        account_certificates,
        bind_certificate,
        revoke_certificate,
        approve_certificate,
        upload_crl,
        check_certificate,
        logout_deliveries
    ),
    components(schemas(
        Problem,
        AccountView,
        AccountInput,
        CreatedAccount,
        AccountEdit,
        StatusChange,
        FactorReset,
        crate::ops::enrolment::IssuedLink,
        crate::ops::reset::ResetLink,
        crate::ops::reset::Delivery,
        ResetRequest,
        crate::ops::verification::IdentityCheck,
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
        Revocation,
        CrlUpload,
        CrlView,
        crate::ops::backchannel::DeliveryRow
    )),
    modifiers(&BearerAuth, &CommonResponses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// Every operation takes the access token Gerbang issued to `gerbang-console`, as a bearer
/// token (RFC 6750); declared so generated clients and fuzzers send it.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("An access token issued to `gerbang-console` at the configured security level"))
            .build();
        doc.components.get_or_insert_with(Default::default).add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// What any operation may answer besides its own outcomes, declared once so the document says
/// what the server does: errors are `application/problem+json`; every operation may meet a
/// missing, invalid or revoked token (401), a caller without the power (403) or the address's
/// rate limit (429); one with a path
/// id an unknown id (404); one with query parameters unparsable ones (400); one with a JSON body
/// an unreadable body (422).
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        const PROBLEM: &str = "application/problem+json";
        let problem = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(PROBLEM, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
                    .build(),
            )
        };
        for item in doc.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                let params = op.parameters.as_deref().unwrap_or_default();
                let takes = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
                let mut common = vec![("401", "Unauthorized"), ("403", "Forbidden"), ("429", "Too Many Requests")];
                if takes(ParameterIn::Path) {
                    common.push(("404", "Not Found"));
                }
                if takes(ParameterIn::Query) {
                    common.push(("400", "Bad Request"));
                }
                if op.request_body.is_some() {
                    common.push(("422", "Unprocessable Content"));
                }
                for (status, description) in common {
                    op.responses.responses.entry(status.to_string()).or_insert_with(|| problem(description));
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (false, RefOr::T(r)) = (status.starts_with('2'), response) {
                        if let Some(content) = r.content.shift_remove("application/json") {
                            r.content.insert(PROBLEM.to_string(), content);
                        }
                    }
                }
            }
        }
    }
}

pub async fn openapi() -> Response {
    let mut res = Json(ApiDoc::openapi()).into_response();
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}
