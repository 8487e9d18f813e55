//! `/metrics` for Prometheus (on the main port only with `metrics_token`, or on the separate
//! `metrics_listen` listener) and the middleware timing every request by its route pattern.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::St;

/// The exposition format's content type (text format 0.0.4).
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics` on the main port: only when `metrics_token` is set, and then only with it. Without
/// a token configured, any method gets the page an unknown path gets, so the public port does
/// not even show the endpoint exists.
pub async fn scrape(State(st): State<St>, method: Method, headers: HeaderMap) -> Response {
    if st.config.metrics.token.is_none() {
        return super::health::not_found(State(st), headers).await;
    }
    if method != Method::GET {
        let mut res = StatusCode::METHOD_NOT_ALLOWED.into_response();
        res.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return res;
    }
    guarded(&st, &headers).await
}

/// `/metrics` on the separate listener: open to whoever reaches the port (a network policy
/// decides who does), unless `metrics_token` is set.
pub async fn scrape_private(State(st): State<St>, headers: HeaderMap) -> Response {
    guarded(&st, &headers).await
}

async fn guarded(st: &St, headers: &HeaderMap) -> Response {
    if let Some(token) = &st.config.metrics.token {
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Constant time, so the token cannot be guessed byte by byte from response times.
        if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            res.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"metrics\""));
            return res;
        }
    }
    match crate::ops::metrics::scrape(st).await {
        Some(body) => ([(CONTENT_TYPE, HeaderValue::from_static(EXPOSITION))], body).into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Times each request into `gerbang_http_request_duration_seconds`, labelled by the route's
/// pattern (`/account/sessions/{sid}/end`), never the path itself: a path carries ids and
/// tokens, and would make one series per request. Unmatched paths share one label.
pub async fn track(req: Request, next: Next) -> Response {
    // A clone of the pattern the router already holds (reference-counted), not a copy.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let res = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    crate::metrics::http_request(route, method.as_str(), res.status().as_u16(), started.elapsed());
    res
}
