//! Admin API: electronic certificates (monitoring, binding, revocation).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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
    /// `valid`, `expiring` (within `certificate_warn_days`), `expired` or `revoked`.
    pub standing: String,
    pub revoked_at: Option<i64>,
    pub revocation_reason: String,
    /// What the binding still waits for: `""` (in force), `proof` (the holder's proof of
    /// possession) or `approval` (a second administrator's).
    pub pending: String,
    /// How possession of the key was shown: `none`, `signature`, `cms` or `approved`.
    pub possession: String,
    /// How the certificate names the holder: `name`, `email` or `none`.
    pub name_match: String,
    pub bound_by: String,
    pub approved_by: String,
    /// The last revocation check: `unchecked`, `good`, `revoked`, `unknown` or `failed`.
    pub check_status: String,
    /// Where its answer came from: `ocsp`, `crl`, `bsre` or empty.
    pub check_source: String,
    pub checked_at: Option<i64>,
    /// The reason of a failed check, or the revocation's date and reason.
    pub check_detail: String,
}

pub(super) fn certificate_view(held: HeldCert, now: i64, warn_days: i64) -> CertificateView {
    let HeldCert { cert: c, holder_name: account_name, .. } = held;
    CertificateView {
        standing: crate::certs::standing(&c, now, warn_days).as_str().into(),
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
        pending: c.pending,
        possession: c.possession,
        name_match: c.name_match,
        bound_by: c.bound_by,
        approved_by: c.approved_by,
        check_status: c.check_status,
        check_source: c.check_source,
        checked_at: c.checked_at,
        check_detail: c.check_detail,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CertificateParams {
    /// `attention` (revoked, expired, expiring or failing checks), `expiring`, `expired`,
    /// `revoked` (by an administrator or the authority), `failing` (the last revocation check
    /// failed or the authority does not know it), `pending` (waiting for proof or approval),
    /// `signers` (making their holder a signer now) or `all` (the default).
    pub state: Option<String>,
    /// Only revoked, expired and soon-expiring certificates (the same as `state=attention`).
    pub attention: Option<bool>,
    /// An OPD unit's id: its holders and those of the units below it. OPD admins may name only
    /// units they manage; without it they get their own unit's.
    pub opd: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// Rows to skip, for the next pages.
    pub offset: Option<i64>,
}

/// The filter a list's query parameters name; an unknown state is the caller's mistake.
pub(crate) fn cert_filter(
    state: Option<&str>,
    attention: bool,
    default: ops::certificates::CertState,
    opd: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
) -> Result<ops::certificates::CertFilter, ops::AdminError> {
    use ops::certificates::CertState;
    let state = match state.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => CertState::parse(s).ok_or_else(|| {
            let names: Vec<&str> = CertState::ALL.iter().map(|c| c.as_str()).collect();
            ops::AdminError::Invalid(format!("state: one of {}", names.join(", ")))
        })?,
        None if attention => CertState::Attention,
        None => default,
    };
    Ok(ops::certificates::CertFilter { state, opd: opd.filter(|o| !o.trim().is_empty()), limit, offset })
}

/// Bound electronic certificates for monitoring (Diskominfo and auditors: all; OPD admins: their
/// staff's), by state and OPD unit, soonest expiry first, one page at a time.
#[utoipa::path(get, path = "/admin/api/v1/certificates", params(CertificateParams),
    responses((status = 200, body = [CertificateView]), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_certificates(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    query: Result<Query<CertificateParams>, QueryRejection>,
) -> ApiResult<Json<Vec<CertificateView>>> {
    let p = query_params(query)?;
    let t = st.now();
    let filter = cert_filter(
        p.state.as_deref(),
        p.attention.unwrap_or(false),
        ops::certificates::CertState::All,
        p.opd,
        p.limit,
        p.offset,
    )?;
    let warn_days = st.config.certs.warn_days;
    let rows = ops::certificates::certificates(&st, &admin, &filter, t).await?;
    Ok(Json(rows.into_iter().map(|r| certificate_view(r, t, warn_days)).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignersParams {
    /// An OPD unit's id: its signers and those of the units below it. Without it: every unit
    /// the caller monitors (Diskominfo and auditors: the whole region).
    pub opd: Option<String>,
}

/// The signers (certificates in force that make their holder a transaction signer now) of an
/// OPD as CSV: opd, nip_or_nik, name, subject, serial, issuer, not_after, check_status,
/// checked_at. Cells that a spreadsheet would read as a formula begin with `'`.
#[utoipa::path(get, path = "/admin/api/v1/certificates/signers.csv", params(SignersParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn signers_csv(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    query: Result<Query<SignersParams>, QueryRejection>,
) -> ApiResult<Response> {
    let p = query_params(query)?;
    let csv = ops::certificates::monitor::signers_csv(&st, &admin, p.opd.as_deref(), st.now()).await?;
    Ok(signers_response(csv))
}

/// A signers CSV as a download.
pub fn signers_response(csv: String) -> Response {
    let mut res = csv.into_response();
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    res.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"gerbang-signers.csv\""),
    );
    res
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
    Ok(Json(rows.into_iter().map(|c| certificate_view(c, t, st.config.certs.warn_days)).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CertificateUpload {
    /// The person's signing certificate: PEM (optionally followed by the intermediates of its
    /// chain), or base64 of the DER.
    pub certificate: String,
}

/// Bind a person's electronic signing certificate to their account. It must be in its validity
/// period, meant for signatures, not a CA's, and validate to the trust anchors of
/// `certificate_issuers` (without them nothing binds). The binding
/// waits (`pending` = `proof`) for the holder's proof of possession on the account page or a
/// second administrator's approval. Nobody binds a certificate to their own account (403).
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
    Ok((StatusCode::CREATED, Json(certificate_view(held, t, st.config.certs.warn_days))))
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
    Ok(Json(certificate_view(held, t, st.config.certs.warn_days)))
}

/// A second administrator approves a pending binding (waiting for the holder's proof, or for a
/// name that differs from the account's). Not the administrator who bound it, not the holder;
/// 409 when it is not (or no longer) pending.
#[utoipa::path(post, path = "/admin/api/v1/certificates/{id}/approval",
    params(("id" = String, Path, description = "certificate id")),
    responses((status = 200, body = CertificateView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn approve_certificate(
    State(st): State<St>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<CertificateView>> {
    let t = st.now();
    let held = ops::certificates::approve(&st, &admin, &id, t).await?;
    Ok(Json(certificate_view(held, t, st.config.certs.warn_days)))
}
