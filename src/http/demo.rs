//! The built-in demo application at `/demo`: a real relying party of this provider (public
//! client `demo`, authorization code + PKCE) so a first-time operator can see a login end to
//! end. It redeems the code in-process through the same token logic the token endpoint uses.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use std::collections::HashMap;

use super::{accept_language, error_page, page, see_other, St};
use crate::crypto;
use crate::oidc::authorize::redirect_with;
use crate::oidc::keys::TokenType;
use crate::oidc::token::TokenRequest;
use crate::ops::bootstrap::DEMO_CLIENT_ID;
use crate::state::{now, AppState};
use crate::theme::negotiate;

const COOKIE: &str = "gerbang_demo";

fn callback_uri(st: &AppState) -> String {
    format!("{}/demo/callback", st.config.issuer)
}

async fn demo_enabled(st: &AppState) -> bool {
    matches!(st.clients.get(&st.db, DEMO_CLIENT_ID).await, Ok(Some(c)) if c.has_redirect_uri(&callback_uri(st)))
}

pub async fn home(State(st): State<St>, headers: HeaderMap) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    if !demo_enabled(&st).await {
        return error_page(&st, StatusCode::NOT_FOUND, locale, "error_not_found", "not_found");
    }
    page(&st, StatusCode::OK, "demo.html", locale, minijinja::context! { login_url => "/demo/start" })
}

pub async fn start(State(st): State<St>, jar: CookieJar, headers: HeaderMap) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    if !demo_enabled(&st).await {
        return error_page(&st, StatusCode::NOT_FOUND, locale, "error_not_found", "not_found");
    }
    let (Ok(state), Ok(verifier), Ok(nonce)) =
        (crypto::random_token(16), crypto::random_token(32), crypto::random_token(16))
    else {
        return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
    };
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let auth = redirect_with(
        &format!("{}/authorize", st.config.issuer),
        &[
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT_ID),
            ("redirect_uri", &callback_uri(&st)),
            ("scope", "openid profile nip nik opd roles asn_profile citizen_profile"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let mut c = Cookie::new(COOKIE, format!("{state}~{verifier}~{nonce}"));
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/demo");
    c.set_secure(st.config.secure_cookies());
    (jar.add(c), see_other(&auth)).into_response()
}

pub async fn callback(
    State(st): State<St>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let fail = |key: &str, code: &str| error_page(&st, StatusCode::BAD_REQUEST, locale, key, code);
    if let Some(e) = q.get("error") {
        tracing::info!(error = %e, "demo login returned an error");
        return fail("error_invalid_request", "access_denied");
    }
    let saved = jar.get(COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    let parts: Vec<&str> = saved.split('~').collect();
    let [state, verifier, nonce] = parts.as_slice() else {
        return fail("err_session_expired", "invalid_request");
    };
    if !crypto::constant_time_eq(q.get("state").map(String::as_str).unwrap_or("").as_bytes(), state.as_bytes()) {
        return fail("err_session_expired", "invalid_request");
    }
    let client = match st.clients.get(&st.db, DEMO_CLIENT_ID).await {
        Ok(Some(c)) => c,
        _ => return fail("error_not_found", "not_found"),
    };
    let req = TokenRequest {
        grant_type: "authorization_code".into(),
        code: q.get("code").cloned(),
        redirect_uri: Some(callback_uri(&st)),
        code_verifier: Some((*verifier).to_string()),
        ..TokenRequest::default()
    };
    let tokens = match crate::ops::oauth::exchange(&st, client, req, now()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(error = %e, "demo code exchange failed");
            return fail("error_invalid_request", e.code.as_str());
        }
    };
    let Some(id_token) = tokens.id_token else {
        return fail("error_server", "server_error");
    };
    let claims: serde_json::Value = match st.keys.verify(&id_token, TokenType::IdToken, &st.config.issuer, true) {
        Ok(c) => c,
        Err(_) => return fail("error_server", "server_error"),
    };
    if claims.get("nonce").and_then(|n| n.as_str()) != Some(*nonce) {
        return fail("err_session_expired", "invalid_request");
    }
    let logout_url = redirect_with(
        &format!("{}/logout", st.config.issuer),
        &[("id_token_hint", &id_token), ("post_logout_redirect_uri", &format!("{}/demo", st.config.issuer))],
    );
    let pretty = serde_json::to_string_pretty(&claims).unwrap_or_default();
    let mut gone = Cookie::new(COOKIE, "");
    gone.set_path("/demo");
    gone.make_removal();
    let res = page(
        &st,
        StatusCode::OK,
        "demo.html",
        locale,
        minijinja::context! { claims => pretty, logout_url => logout_url },
    );
    (jar.add(gone), res).into_response()
}
