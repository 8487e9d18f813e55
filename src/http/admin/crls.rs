//! Admin API: certificate revocation lists uploaded by Diskominfo (for authorities whose
//! distribution points the server cannot reach).

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{json_body, AdminAuth, ApiResult, Problem};
use crate::http::St;
use crate::ops;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CrlUpload {
    /// The CRL as PEM (`-----BEGIN X509 CRL-----`) or base64 of the DER.
    pub crl: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CrlView {
    /// The certificate authority that issued (and signed) the list.
    pub issuer: String,
    pub this_update: i64,
    pub next_update: Option<i64>,
    /// How many certificates the list names as revoked.
    pub revoked_count: usize,
}

/// Upload a certificate revocation list. It must be signed by a CA of `certificate_issuers`;
/// it replaces the earlier upload for the same CA and is used for that CA's certificates when
/// their distribution points give no answer. Diskominfo only.
#[utoipa::path(post, path = "/admin/api/v1/certificate-crls", request_body = CrlUpload,
    responses((status = 201, body = CrlView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn upload_crl(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    body: Result<Json<CrlUpload>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CrlView>)> {
    let up = json_body(body)?;
    let t = st.now();
    let r = ops::certificates::crls::upload_crl(&st, &admin, &up.crl, t).await?;
    Ok((
        StatusCode::CREATED,
        Json(CrlView {
            issuer: r.issuer,
            this_update: r.this_update,
            next_update: r.next_update,
            revoked_count: r.revoked_count,
        }),
    ))
}

/// Ask the certificate authority (OCSP, CRL) and BSrE now about a bound certificate, and record
/// the answer. For an administrator who manages its holder.
#[utoipa::path(post, path = "/admin/api/v1/certificates/{id}/check",
    params(("id" = String, Path, description = "certificate id")),
    responses((status = 200, body = super::CertificateView), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn check_certificate(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<Json<super::CertificateView>> {
    let t = st.now();
    let held = ops::certificates::checks::check_certificate_now(&st, &admin, &id, t).await?;
    Ok(Json(super::certificates::certificate_view(held, t, st.config.certs.warn_days)))
}
