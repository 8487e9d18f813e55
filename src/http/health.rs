//! Liveness, readiness, theme static files and the fallback page.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{accept_language, error_page, St};
use crate::theme::negotiate;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready only when the database (and Redis, when configured) answer.
pub async fn readyz(State(st): State<St>) -> Response {
    let db = st.db.ping().await;
    let cache = st.cache.ping().await;
    let body = serde_json::json!({
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "cache": if cache.is_ok() { "ok" } else { "unavailable" },
    });
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unavailable");
    }
    if let Err(e) = &cache {
        tracing::warn!(error = %e, "readiness: cache unavailable");
    }
    let status = if db.is_ok() && cache.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

pub async fn static_file(State(st): State<St>, Path(name): Path<String>) -> Response {
    let Some(bytes) = st.themes.static_file(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let ctype = if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else if name.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    let mut res = bytes.as_ref().clone().into_response();
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    res
}

pub async fn not_found(State(st): State<St>, headers: HeaderMap) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    error_page(&st, StatusCode::NOT_FOUND, locale, "error_not_found", "not_found")
}
