//! Refuses a request whose path or query carries a NUL character (`%00`): no identifier,
//! parameter or name Gerbang takes has one, and PostgreSQL cannot store or compare text holding
//! one, so `/authorize?client_id=%00` answered `server_error` (and counted a database error) on
//! PostgreSQL where SQLite said the client was unknown. Form bodies are checked by `FormParams`,
//! SCIM bodies as they are read.

use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, ACCEPT_LANGUAGE};
use axum::http::StatusCode;
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

pub async fn refuse(State(st): State<St>, req: Request, next: Next) -> Response {
    let uri = req.uri();
    let nul = has_encoded_nul(uri.path()) || uri.query().is_some_and(has_encoded_nul);
    if !nul {
        return next.run(req).await;
    }
    let path = uri.path();
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Each face's own error form: problem details, a SCIM error, an OAuth error, a page.
    if path.starts_with("/admin/api/") {
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
