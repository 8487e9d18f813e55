//! The built-in demo application at `/demo`: a real relying party of this provider (public
//! client `demo`, authorization code + PKCE) so a first-time operator can see a login end to
//! end. The login itself is `ops::relying_party`; this face keeps its cookie and page.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use std::collections::HashMap;

use super::{accept_language, page, see_other, PageError, St};
use crate::oidc::authorize::redirect_with;
use crate::ops::relying_party::{self, RpError, DEMO};
use crate::theme::negotiate;

const COOKIE: &str = "gerbang_demo";

/// Scoped to `/demo`, so it never rides along elsewhere.
fn cookie(value: String, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::new(COOKIE, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/demo");
    c.set_secure(secure);
    c
}

fn locale_of(st: &St, headers: &HeaderMap) -> &'static str {
    negotiate(None, accept_language(headers), &st.config.default_locale)
}

pub async fn home(State(st): State<St>, headers: HeaderMap) -> Result<Response, PageError> {
    let locale = locale_of(&st, &headers);
    if !DEMO.is_registered(&st).await {
        return Err(PageError::not_found(&st, locale));
    }
    Ok(page(&st, StatusCode::OK, "demo.html", locale, minijinja::context! { login_url => "/demo/start" }))
}

pub async fn start(State(st): State<St>, jar: CookieJar, headers: HeaderMap) -> Result<Response, PageError> {
    let locale = locale_of(&st, &headers);
    if !DEMO.is_registered(&st).await {
        return Err(PageError::not_found(&st, locale));
    }
    let started = relying_party::start(&st, &DEMO, relying_party::Options::default())
        .await
        .map_err(|_| PageError::server(&st, locale))?;
    let secure = st.config.secure_cookies();
    Ok((jar.add(cookie(started.cookie, secure)), see_other(&started.authorize_url)).into_response())
}

pub async fn callback(
    State(st): State<St>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(mut q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let locale = locale_of(&st, &headers);
    let cb = relying_party::Callback { code: q.remove("code"), state: q.remove("state"), error: q.remove("error") };
    let kept = jar.get(COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    let fail = |key, code: &str| PageError::new(&st, locale, StatusCode::BAD_REQUEST, key, code);
    let signed_in = relying_party::finish(&st, &DEMO, &kept, &cb, st.now()).await.map_err(|e| match e {
        RpError::Refused(_) => fail("error_invalid_request", "access_denied"),
        RpError::Expired => fail("err_session_expired", "invalid_request"),
        RpError::UnknownClient => fail("error_not_found", "not_found"),
        RpError::Exchange(code) => fail("error_invalid_request", code.as_str()),
        RpError::NoIdToken | RpError::InvalidToken | RpError::Internal => fail("error_server", "server_error"),
    })?;
    let logout_url = redirect_with(
        &format!("{}/logout", st.config.issuer),
        &[("id_token_hint", &signed_in.id_token), ("post_logout_redirect_uri", &format!("{}/demo", st.config.issuer))],
    );
    let pretty = serde_json::to_string_pretty(&signed_in.claims).unwrap_or_default();
    let mut gone = cookie(String::new(), st.config.secure_cookies());
    gone.make_removal();
    let res = page(
        &st,
        StatusCode::OK,
        "demo.html",
        locale,
        minijinja::context! { claims => pretty, logout_url => logout_url },
    );
    Ok((jar.add(gone), res).into_response())
}
