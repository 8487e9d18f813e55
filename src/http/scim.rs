//! The SCIM 2.0 endpoints under `/scim/v2` (RFC 7644): bearer tokens of provisioning clients,
//! `application/scim+json` in and out, and every refusal a SCIM error (§3.12) — including
//! malformed bodies, oversized bodies, unknown paths and methods.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH, LOCATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::St;
use crate::ops::{self, Principal};
use crate::scim::{Projection, ScimError};

const SCIM_JSON: &str = "application/scim+json";

/// A SCIM error as a response.
pub struct ScimResponse(pub ScimError);

impl From<ScimError> for ScimResponse {
    fn from(e: ScimError) -> Self {
        ScimResponse(e)
    }
}

impl IntoResponse for ScimResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, self.0.body().to_string()).into_response();
        res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gerbang-scim\""));
        }
        res
    }
}

type ScimResult = Result<Response, ScimResponse>;

/// A resource or listing with the SCIM media type; single resources carry their ETag.
fn scim_json(status: StatusCode, body: Value) -> Response {
    let version = body["meta"]["version"].as_str().and_then(|v| HeaderValue::from_str(v).ok());
    let location = (status == StatusCode::CREATED)
        .then(|| body["meta"]["location"].as_str().and_then(|v| HeaderValue::from_str(v).ok()))
        .flatten();
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(v) = version {
        res.headers_mut().insert(ETAG, v);
    }
    if let Some(l) = location {
        res.headers_mut().insert(LOCATION, l);
    }
    res
}

/// The provisioning client of a request.
pub struct ScimAuth(pub Principal);

impl FromRequestParts<St> for ScimAuth {
    type Rejection = ScimResponse;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")));
        Ok(ScimAuth(ops::scim::authenticate(st, token, st.now()).await?))
    }
}

/// The JSON body; too large, unreadable or not JSON are SCIM errors.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ScimResponse> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ScimError::new(413, None, "the request body is too large")
        } else {
            ScimError::invalid_syntax("the request body could not be read")
        }
    })?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))?;
    // PostgreSQL cannot store or compare text holding a NUL (`\u0000` in JSON).
    if super::nul::holds_nul(&value) {
        return Err(ScimError::invalid_value(super::nul::NUL_REFUSED).into());
    }
    Ok(value)
}

/// `filter`, `startIndex`, `count`, `attributes` and `excludedAttributes` of a request.
#[derive(Default)]
struct ListQuery {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    projection: Projection,
}

fn list_query(raw: Option<String>) -> Result<ListQuery, ScimResponse> {
    let mut q = ListQuery::default();
    let names = |v: &str| v.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect::<Vec<_>>();
    let number = |k: &str, v: &str| {
        v.trim().parse::<i64>().map_err(|_| ScimError::invalid_value(format!("{k} must be an integer")))
    };
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "filter" => q.filter = Some(v.into_owned()),
            "startIndex" => q.start_index = Some(number("startIndex", &v)?),
            "count" => q.count = Some(number("count", &v)?),
            "attributes" => q.projection.attributes = names(&v),
            "excludedAttributes" => q.projection.excluded = names(&v),
            _ => {}
        }
    }
    Ok(q)
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers.get(IF_MATCH).and_then(|v| v.to_str().ok()).map(String::from)
}

pub async fn service_provider_config(State(st): State<St>) -> Response {
    scim_json(StatusCode::OK, ops::scim::service_provider_config(&st))
}

pub async fn resource_types(State(st): State<St>) -> ScimResult {
    Ok(scim_json(StatusCode::OK, ops::scim::resource_types(&st, None)?))
}

pub async fn resource_type(State(st): State<St>, Path(id): Path<String>) -> ScimResult {
    Ok(scim_json(StatusCode::OK, ops::scim::resource_types(&st, Some(&id))?))
}

pub async fn schemas(State(st): State<St>) -> ScimResult {
    Ok(scim_json(StatusCode::OK, ops::scim::schemas(&st, None)?))
}

pub async fn schema(State(st): State<St>, Path(id): Path<String>) -> ScimResult {
    Ok(scim_json(StatusCode::OK, ops::scim::schemas(&st, Some(&id))?))
}

pub async fn list_users(State(st): State<St>, ScimAuth(who): ScimAuth, RawQuery(raw): RawQuery) -> ScimResult {
    let q = list_query(raw)?;
    let found = ops::scim::list_users(&st, &who, q.filter.as_deref(), q.start_index, q.count, &q.projection).await?;
    Ok(scim_json(StatusCode::OK, found))
}

pub async fn create_user(
    State(st): State<St>,
    ScimAuth(who): ScimAuth,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult {
    let body = json_body(body)?;
    Ok(scim_json(StatusCode::CREATED, ops::scim::create_user(&st, &who, &body, st.now()).await?))
}

pub async fn get_user(
    State(st): State<St>,
    ScimAuth(who): ScimAuth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ScimResult {
    let q = list_query(raw)?;
    Ok(scim_json(StatusCode::OK, ops::scim::get_user(&st, &who, &id, &q.projection).await?))
}

pub async fn replace_user(
    State(st): State<St>,
    ScimAuth(who): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult {
    let body = json_body(body)?;
    let done = ops::scim::replace_user(&st, &who, &id, &body, if_match(&headers).as_deref(), st.now()).await?;
    Ok(scim_json(StatusCode::OK, done))
}

pub async fn patch_user(
    State(st): State<St>,
    ScimAuth(who): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult {
    let body = json_body(body)?;
    let done = ops::scim::patch_user(&st, &who, &id, &body, if_match(&headers).as_deref(), st.now()).await?;
    Ok(scim_json(StatusCode::OK, done))
}

pub async fn delete_user(State(st): State<St>, ScimAuth(who): ScimAuth, Path(id): Path<String>) -> ScimResult {
    ops::scim::delete_user(&st, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_groups(State(st): State<St>, ScimAuth(who): ScimAuth, RawQuery(raw): RawQuery) -> ScimResult {
    let q = list_query(raw)?;
    let found = ops::scim::list_groups(&st, &who, q.filter.as_deref(), q.start_index, q.count, &q.projection).await?;
    Ok(scim_json(StatusCode::OK, found))
}

pub async fn create_group(
    State(st): State<St>,
    ScimAuth(who): ScimAuth,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult {
    let body = json_body(body)?;
    Ok(scim_json(StatusCode::CREATED, ops::scim::create_group(&st, &who, &body, st.now()).await?))
}

pub async fn get_group(
    State(st): State<St>,
    ScimAuth(who): ScimAuth,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ScimResult {
    let q = list_query(raw)?;
    Ok(scim_json(StatusCode::OK, ops::scim::get_group(&st, &who, &id, &q.projection).await?))
}

pub async fn replace_group(
    State(st): State<St>,
    ScimAuth(who): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult {
    let body = json_body(body)?;
    let done = ops::scim::replace_group(&st, &who, &id, &body, if_match(&headers).as_deref(), st.now()).await?;
    Ok(scim_json(StatusCode::OK, done))
}

pub async fn patch_group(
    State(st): State<St>,
    ScimAuth(who): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult {
    let body = json_body(body)?;
    let done = ops::scim::patch_group(&st, &who, &id, &body, if_match(&headers).as_deref(), st.now()).await?;
    Ok(scim_json(StatusCode::OK, done))
}

pub async fn delete_group(State(st): State<St>, ScimAuth(who): ScimAuth, Path(id): Path<String>) -> ScimResult {
    ops::scim::delete_group(&st, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Any other path under `/scim/v2`.
pub async fn not_found() -> ScimResponse {
    ScimError::not_found("no such SCIM endpoint").into()
}

/// A method the endpoint does not offer.
pub async fn method_not_allowed() -> ScimResponse {
    ScimError::new(405, None, "the endpoint does not support this method").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_anywhere_in_a_body_is_refused_and_a_written_backslash_is_not() {
        for text in [r#"{"userName":"a\u0000"}"#, r#"{"emails":[{"value":"\u0000"}]}"#, r#"{"a\u0000":1}"#] {
            assert!(json_body(Ok(Bytes::from(text))).is_err(), "{text}");
        }
        assert!(json_body(Ok(Bytes::from(r#"{"userName":"a\\u0000"}"#))).is_ok(), "a backslash, then u0000");
    }
}
