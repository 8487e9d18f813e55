//! The rate-limit middleware: which endpoints count against which bucket of the client's
//! address, and the 429 answers (JSON for programs, a translated page for people).

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::oidc::ClientIp;
use super::{accept_language, error_page, OAuthResponse, St};
use crate::limits::{Bucket, Limited};
use crate::oidc::OAuthError;
use crate::ops;
use crate::state::AppState;
use crate::theme::negotiate;

/// The address bucket of a path, if it has one.
fn bucket_of(path: &str) -> Option<Bucket> {
    match path {
        "/authorize" => Some(Bucket::Authorize),
        "/token" => Some(Bucket::Token),
        "/introspect" | "/revoke" => Some(Bucket::Introspect),
        "/login/passkey/options" | "/login/otp/passkey-options" | "/account/passkeys/options" => Some(Bucket::Passkey),
        p if p.starts_with("/admin/api/") => Some(Bucket::Admin),
        // Each press of an upstream login button stores a round trip and may reach the upstream.
        p if p.starts_with("/upstream/") && p.ends_with("/start") => Some(Bucket::Authorize),
        _ => None,
    }
}

pub async fn by_address(State(st): State<St>, ClientIp(ip): ClientIp, req: Request, next: Next) -> Response {
    let Some(bucket) = bucket_of(req.uri().path()) else { return next.run(req).await };
    match ops::limits::admit(&st, bucket, &ip).await {
        Ok(()) => next.run(req).await,
        Err(limited) => {
            let locale = negotiate(None, accept_language(req.headers()), &st.config.default_locale);
            too_many(&st, bucket, locale, limited)
        }
    }
}

/// 429 with `Retry-After`, in the form the endpoint's callers understand.
fn too_many(st: &AppState, bucket: Bucket, locale: &str, limited: Limited) -> Response {
    let mut res = match bucket {
        Bucket::Authorize => return too_many_page(st, locale, limited),
        Bucket::Token | Bucket::TokenClient | Bucket::Introspect | Bucket::IntrospectClient => {
            return OAuthResponse(OAuthError::too_many_requests(limited.retry_after)).into_response()
        }
        Bucket::Passkey => {
            (StatusCode::TOO_MANY_REQUESTS, axum::Json(serde_json::json!({ "error": "too_many_requests" })))
                .into_response()
        }
        Bucket::Admin => {
            let body = serde_json::json!({
                "type": "about:blank",
                "title": "Too Many Requests",
                "status": 429,
                "detail": format!("too many requests from this address; try again in {} s", limited.retry_after),
            });
            let mut res = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
            res
        }
    };
    res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(limited.retry_after));
    res
}

/// The translated page a person sees when their address has made too many requests.
pub fn too_many_page(st: &AppState, locale: &str, limited: Limited) -> Response {
    let mut res = error_page(st, StatusCode::TOO_MANY_REQUESTS, locale, "error_too_many_requests", "too_many_requests");
    res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(limited.retry_after));
    res
}
