//! Admin API: electronic certificates (monitoring, binding, revocation).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{json_body, query_params, AdminAuth, ApiResult, Problem};
use crate::http::St;
use crate::ops::certificates::HeldCert;
use crate::ops::{self};

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

fn certificate_view(held: HeldCert, now: i64) -> CertificateView {
    let HeldCert { cert: c, holder_name: account_name, .. } = held;
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
#[into_params(parameter_in = Query)]
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
    query: Result<Query<CertificateParams>, QueryRejection>,
) -> ApiResult<Json<Vec<CertificateView>>> {
    let p = query_params(query)?;
    let t = st.now();
    let rows = ops::certificates::certificates(&st, &admin, p.attention.unwrap_or(false), t).await?;
    Ok(Json(rows.into_iter().map(|r| certificate_view(r, t)).collect()))
}

/// An account's certificates.
#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}/certificates", params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = [CertificateView]), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn account_certificates(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<CertificateView>>> {
    let t = st.now();
    let id = admin.parse_account_id(&id)?;
    let rows = ops::certificates::held_certificates_of(&st, &admin, &id).await?;
    Ok(Json(rows.into_iter().map(|c| certificate_view(c, t)).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CertificateUpload {
    /// The person's signing certificate: PEM (optionally followed by the intermediates of its
    /// chain), or base64 of the DER.
    pub certificate: String,
}

/// Bind a person's electronic signing certificate to their account. It must validate to the
/// trust anchors of `certificate_issuers` (without them nothing binds), be in its validity
/// period, meant for signatures and not a CA's.
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
    let t = st.now();
    let id = admin.parse_account_id(&id)?;
    let held = ops::certificates::bind_certificate(&st, &admin, &id, &up.certificate, t).await?;
    Ok((StatusCode::CREATED, Json(certificate_view(held, t))))
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
    let t = st.now();
    let held = ops::certificates::revoke_certificate(&st, &admin, &id, &r.reason, t).await?;
    Ok(Json(certificate_view(held, t)))
}
