//! A request that met an unavailable cache (Redis down, unreachable or read-only) or database
//! (PostgreSQL restarting, connections cut, pool exhausted) answers
//! `503` + `Retry-After`: JSON `temporarily_unavailable` on protocol and API paths, the friendly
//! page elsewhere. Whatever the handler made of the failed step (a `server_error`, an expired
//! flow, an error redirect) would be wrong or misleading; a successful answer is kept, since
//! its work is done.

use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, ACCEPT_LANGUAGE, CACHE_CONTROL, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{page, St};
use crate::cache::{outage, RETRY_AFTER_SECONDS};
use crate::theme::negotiate;

/// Paths whose clients are programs that read JSON, not people.
const JSON_PATHS: &[&str] = &["/token", "/userinfo", "/revoke", "/introspect", "/admin/api/", "/scim/"];

/// Whether an error answer to a request for `path` with this `Accept` should be JSON rather than
/// a page.
pub fn wants_json(path: &str, accept: &str) -> bool {
    JSON_PATHS.iter().any(|p| path == *p || (p.ends_with('/') && path.starts_with(p)))
        || (accept.contains("json") && !accept.contains("html"))
}

pub async fn guard(State(st): State<St>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let json = wants_json(path, accept);
    // Only the header is kept (a reference count): the language is worked out on the rare
    // failure, not on every request.
    let languages = req.headers().get(ACCEPT_LANGUAGE).cloned();
    let (res, seen) = outage::scope(next.run(req)).await;
    if !seen || res.status().is_success() {
        return res;
    }
    let locale = negotiate(None, languages.as_ref().and_then(|v| v.to_str().ok()), &st.config.default_locale);
    let mut res = if res.status() == StatusCode::SERVICE_UNAVAILABLE {
        res
    } else if json {
        let body = serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": "the service is briefly unavailable; try again after Retry-After seconds",
        });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    } else {
        let ctx = minijinja::context! {
            title => st.themes.text(locale, "unavail_title"),
            message => st.themes.text(locale, "unavail_message"),
            code => "temporarily_unavailable",
        };
        page(&st, StatusCode::SERVICE_UNAVAILABLE, "error.html", locale, ctx)
    };
    res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
