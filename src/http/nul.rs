//! Refuses a request whose path or query carries a NUL character (`%00`): no identifier,
//! parameter or name Gerbang takes has one, and PostgreSQL cannot store or compare text holding
//! one, so `/authorize?client_id=%00` answered `server_error` (and counted a database error) on
//! PostgreSQL where SQLite said the client was unknown. The admin API's JSON bodies are checked
//! here too; form bodies by `FormParams`, SCIM bodies as they are read.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, ACCEPT_LANGUAGE};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{error_page, St};
use crate::theme::negotiate;

/// What the refusal says.
pub const NUL_REFUSED: &str = "the request contains a NUL character";

/// Whether `s` (percent-encoded) encodes a NUL.
pub fn has_encoded_nul(s: impl AsRef<[u8]>) -> bool {
    s.as_ref().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// Whether a JSON value holds a NUL in a string or a member name.
pub fn holds_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(holds_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

pub async fn refuse(State(st): State<St>, req: Request, next: Next) -> Response {
    let uri = req.uri();
    let nul = has_encoded_nul(uri.path()) || uri.query().is_some_and(has_encoded_nul);
    if !nul {
        let writes_admin =
            uri.path().starts_with("/admin/api/") && !matches!(*req.method(), Method::GET | Method::HEAD);
        return if writes_admin { admin_body(&st, req, next).await } else { next.run(req).await };
    }
    let path = uri.path();
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Each face's own error form: problem details, a SCIM error, an OAuth error, a page.
    if path.starts_with("/admin/api/") {
        // In the path it can only be in an id, which then names nothing (404, as any unknown id);
        // in the query, a parameter that does not parse (400).
        if has_encoded_nul(path) {
            return super::admin::ProblemResponse(StatusCode::NOT_FOUND, "Not Found", NUL_REFUSED.into())
                .into_response();
        }
        return super::admin::ProblemResponse(StatusCode::BAD_REQUEST, "Bad Request", NUL_REFUSED.into())
            .into_response();
    }
    if path.starts_with("/scim/") {
        return super::scim::ScimResponse(crate::scim::ScimError::invalid_value(NUL_REFUSED)).into_response();
    }
    if super::outage::wants_json(path, accept) {
        let body = serde_json::json!({ "error": "invalid_request", "error_description": NUL_REFUSED });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let languages = req.headers().get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let locale = negotiate(None, languages, &st.config.default_locale);
    error_page(&st, StatusCode::BAD_REQUEST, locale, "error_invalid_request", "invalid_request")
}

/// The admin API's JSON bodies, read here once (within the body limit) and handed on. A body
/// refused here is answered as the API answers any body it cannot take (422).
async fn admin_body(st: &St, req: Request, next: Next) -> Response {
    let unprocessable = |detail: String| {
        super::admin::ProblemResponse(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content", detail)
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, st.config.max_body_bytes).await else {
        return unprocessable("the request body is too large or could not be read".into()).into_response();
    };
    let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    if bytes.contains(&0) || json.as_ref().is_some_and(holds_nul) {
        return unprocessable(NUL_REFUSED.into()).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::has_encoded_nul;

    #[test]
    fn only_an_encoded_nul_is_found() {
        assert!(has_encoded_nul("client_id=%00"));
        assert!(has_encoded_nul("a=b%00c"));
        assert!(!has_encoded_nul("a=%100&b=%2000"), "%10 then 0, %20 then 00: no NUL");
        assert!(!has_encoded_nul("a=100%25"));
    }
}
