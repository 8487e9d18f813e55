//! Protocol endpoints: discovery, JWKS, authorize, token, userinfo, introspection, revocation,
//! logout. Each handler extracts, calls `crate::oidc`, and shapes the response.

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use std::net::SocketAddr;

use super::{
    accept_language, browser_id, client_credentials, error_page, no_store_json, page, see_other, Cookies, FormParams,
    FormRejection, OAuthResponse, St,
};
use crate::oidc::authorize::Outcome;
use crate::oidc::introspect::BearerError;
use crate::oidc::logout::{LogoutOutcome, LogoutRequest};
use crate::oidc::token::{self, TokenRequest};
use crate::ops;
use crate::state::AppState;
use crate::theme::negotiate;

fn public_json(body: axum::body::Bytes) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}

pub async fn discovery(State(st): State<St>) -> Response {
    public_json(st.discovery.clone())
}

pub async fn jwks(State(st): State<St>) -> Response {
    let mut res = public_json(st.keys.jwks_json());
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json"));
    // No longer than a new key is published before it signs (checked when settings load), so a
    // relying party's cached copy always holds the key of any token it is shown.
    let cache = format!("public, max-age={}", st.config.keys.jwks_max_age);
    if let Ok(v) = HeaderValue::from_str(&cache) {
        res.headers_mut().insert(CACHE_CONTROL, v);
    }
    res
}

/// Endpoints that accept GET and POST take their parameters from the query or the form.
fn request_params(
    method: &Method,
    query: Option<&str>,
    form: Result<FormParams, FormRejection>,
) -> Vec<(String, String)> {
    if method == Method::POST {
        form.map(|f| f.0).unwrap_or_default()
    } else {
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect()
    }
}

/// GET (query) and POST (form) authorization requests (OIDC Core §3.1.2.1).
pub async fn authorize(
    State(st): State<St>,
    method: Method,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    RawQuery(query): RawQuery,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let params = request_params(&method, query.as_deref(), form);
    let ui = params.iter().find(|(k, _)| k == "ui_locales").map(|(_, v)| v.as_str());
    let locale = negotiate(ui, accept_language(&headers), &st.config.default_locale);
    let lang_links = (method == Method::GET).then(|| lang_links(&params));
    let (jar, bid) = browser_id(&st, jar);
    let sso = Cookies::read(&st, &jar, Cookies::SSO);
    match ops::oauth::authorize(&st, &params, sso.as_deref(), &bid, &ip, st.now()).await {
        Ok(outcome) => (jar, outcome_response(&st, outcome, locale, &bid, lang_links, None)).into_response(),
        Err(limited) => (jar, super::limits::too_many_page(&st, locale, limited)).into_response(),
    }
}

/// Links to the same authorization request in each UI language.
fn lang_links(params: &[(String, String)]) -> minijinja::Value {
    let link = |loc: &str| {
        let mut s = url::form_urlencoded::Serializer::new(String::from("/authorize?"));
        for (k, v) in params.iter().filter(|(k, _)| k != "ui_locales") {
            s.append_pair(k, v);
        }
        s.append_pair("ui_locales", loc);
        s.finish()
    };
    minijinja::context! { id => link("id"), en => link("en") }
}

/// Turns an authorization outcome into a page or redirect. `error` is a translated message
/// key shown on the login page after a failed attempt.
pub fn outcome_response(
    st: &AppState,
    outcome: Outcome,
    locale: &str,
    bid: &str,
    lang_links: Option<minijinja::Value>,
    login_error: Option<(&str, StatusCode, Option<String>)>,
) -> Response {
    match outcome {
        Outcome::Redirect(url) => see_other(&url),
        Outcome::ErrorPage { message_key, code, detail } => {
            tracing::info!(code, detail = %detail, "authorization request refused");
            error_page(st, StatusCode::BAD_REQUEST, locale, message_key, code)
        }
        Outcome::Login(flow) => {
            let (error, status, username) = match login_error {
                Some((key, status, username)) => (Some(st.themes.text(locale, key)), status, username),
                None => (None, StatusCode::OK, flow.request.login_hint.clone()),
            };
            let ctx = minijinja::context! {
                client_name => flow.client_name,
                csrf => st.csrf.token(bid, "login"),
                login_id => flow.id,
                action => "/login",
                username => username,
                error => error,
                lang_links => lang_links,
                passkeys_enabled => st.webauthn.is_some(),
                upstreams => super::upstream::buttons(st),
                registration_open => st.config.citizen_registration && st.mailer.configured(),
            };
            page(st, status, "login.html", locale, ctx)
        }
        Outcome::Denied { message_key, level, back_url } => {
            let mut message = st.themes.text(locale, message_key);
            if let Some(l) = level.and_then(crate::identity::levels::get) {
                let name = if locale == "en" { l.name_en } else { l.name_id };
                message = message.replace("{level}", &l.level.to_string()).replace("{name}", name);
            }
            if message_key == "denied_unverified" {
                message = message.replace("{counter}", &super::register::counter_info(st, locale));
            }
            // Level 4 without a bound certificate: the account page is where one is bound.
            let account_url = (message_key == crate::oidc::authorize::NO_SIGNER_KEY).then_some("/account");
            let ctx = minijinja::context! {
                title => st.themes.text(locale, "error_access_denied_title"),
                message => message,
                code => "access_denied",
                back_url => back_url,
                account_url => account_url,
            };
            page(st, StatusCode::FORBIDDEN, "error.html", locale, ctx)
        }
        Outcome::SecondFactor(flow, factors) => {
            let (error, status) = match login_error {
                Some((key, status, _)) => (Some(st.themes.text(locale, key)), status),
                None => (None, StatusCode::OK),
            };
            // A one-time code reaches level 2 only: offered when that is enough.
            let totp = factors.totp && flow.required_level <= 2;
            let ctx = minijinja::context! {
                client_name => flow.client_name,
                csrf => st.csrf.token(bid, "otp"),
                login_id => flow.id,
                action => "/login/otp",
                error => error,
                totp => totp,
                passkey => factors.passkeys,
            };
            page(st, status, "totp.html", locale, ctx)
        }
        Outcome::Consent(flow) => {
            let scopes: Vec<minijinja::Value> = flow
                .request
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(
                    |s| minijinja::context! { name => s, description => st.themes.text(locale, &format!("scope_{s}")) },
                )
                .collect();
            let ctx = minijinja::context! {
                client_name => flow.client_name,
                scopes => scopes,
                csrf => st.csrf.token(bid, "consent"),
                login_id => flow.id,
                action => "/consent",
            };
            page(st, StatusCode::OK, "consent.html", locale, ctx)
        }
    }
}

pub async fn token(
    State(st): State<St>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let form = match form {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    match token_inner(&st, &headers, form, &ip).await {
        Ok(res) => no_store_json(res),
        Err(e) => OAuthResponse(e).into_response(),
    }
}

async fn token_inner(
    st: &AppState,
    headers: &HeaderMap,
    form: FormParams,
    ip: &str,
) -> Result<token::TokenResponse, crate::oidc::OAuthError> {
    form.check_no_duplicates()?;
    let creds = client_credentials(headers, &form)?;
    let s = |k: &str| form.get(k).map(String::from);
    let req = TokenRequest {
        grant_type: form.get("grant_type").unwrap_or("").to_string(),
        code: s("code"),
        redirect_uri: s("redirect_uri"),
        code_verifier: s("code_verifier"),
        refresh_token: s("refresh_token"),
        scope: s("scope"),
    };
    ops::oauth::token(st, &creds, req, ip, st.now()).await
}

fn bearer_error(e: BearerError) -> Response {
    let (status, header) = match e {
        BearerError::Missing => (StatusCode::UNAUTHORIZED, "Bearer realm=\"gerbang\"".to_string()),
        BearerError::InvalidRequest(d) => {
            (StatusCode::BAD_REQUEST, format!("Bearer error=\"invalid_request\", error_description=\"{d}\""))
        }
        BearerError::InvalidToken(d) => {
            (StatusCode::UNAUTHORIZED, format!("Bearer error=\"invalid_token\", error_description=\"{d}\""))
        }
        BearerError::InsufficientScope(d) => {
            (StatusCode::FORBIDDEN, format!("Bearer error=\"insufficient_scope\", error_description=\"{d}\""))
        }
        BearerError::Server => return OAuthResponse(crate::oidc::OAuthError::server("userinfo")).into_response(),
    };
    let body = match e {
        BearerError::InvalidToken(d) => serde_json::json!({ "error": "invalid_token", "error_description": d }),
        BearerError::InvalidRequest(d) => serde_json::json!({ "error": "invalid_request", "error_description": d }),
        BearerError::InsufficientScope(d) => {
            serde_json::json!({ "error": "insufficient_scope", "error_description": d })
        }
        _ => serde_json::json!({ "error": "invalid_request", "error_description": "an access token is required" }),
    };
    let mut res = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&header) {
        res.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    res
}

/// The bearer token from the Authorization header or, for POST, the form (RFC 6750 §2.1–2.2).
fn bearer(headers: &HeaderMap, form: Option<&FormParams>) -> Result<Option<String>, BearerError> {
    if let Some(h) = headers.get(AUTHORIZATION) {
        let v = h.to_str().map_err(|_| BearerError::InvalidToken("malformed authorization header"))?;
        let (scheme, token) = v.split_once(' ').ok_or(BearerError::InvalidToken("malformed authorization header"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(BearerError::Missing);
        }
        // RFC 6750 §2: a client must not use more than one method to send the token.
        if form.is_some_and(|f| f.get("access_token").is_some()) {
            return Err(BearerError::InvalidRequest("the access token was sent in the header and the body"));
        }
        return Ok(Some(token.trim().to_string()));
    }
    Ok(form.and_then(|f| f.get("access_token")).map(String::from))
}

pub async fn userinfo(State(st): State<St>, headers: HeaderMap, form: Result<FormParams, FormRejection>) -> Response {
    let token = match bearer(&headers, form.as_ref().ok()) {
        Ok(t) => t,
        Err(e) => return bearer_error(e),
    };
    match ops::oauth::userinfo(&st, token.as_deref(), st.now()).await {
        Ok(claims) => no_store_json(claims),
        Err(e) => bearer_error(e),
    }
}

pub async fn introspect(
    State(st): State<St>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let form = match form {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let result = async {
        form.check_no_duplicates()?;
        let creds = client_credentials(&headers, &form)?;
        let token = form.get("token").ok_or_else(|| crate::oidc::OAuthError::invalid_request("token is missing"))?;
        ops::oauth::introspect(&st, &creds, token, &ip, st.now()).await
    }
    .await;
    match result {
        Ok(v) => no_store_json(v),
        Err(e) => OAuthResponse(e).into_response(),
    }
}

pub async fn revoke(
    State(st): State<St>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let form = match form {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let result = async {
        form.check_no_duplicates()?;
        let creds = client_credentials(&headers, &form)?;
        let token = form.get("token").ok_or_else(|| crate::oidc::OAuthError::invalid_request("token is missing"))?;
        ops::oauth::revoke(&st, &creds, token, form.get("token_type_hint"), &ip, st.now()).await
    }
    .await;
    match result {
        Ok(()) => (StatusCode::OK, [(CACHE_CONTROL, "no-store")]).into_response(),
        Err(e) => OAuthResponse(e).into_response(),
    }
}

/// RP-initiated logout, GET or POST.
pub async fn logout(
    State(st): State<St>,
    method: Method,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    RawQuery(query): RawQuery,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let params = request_params(&method, query.as_deref(), form);
    let get = |k: &str| params.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let locale = negotiate(get("ui_locales").as_deref(), accept_language(&headers), &st.config.default_locale);
    let req = LogoutRequest {
        id_token_hint: get("id_token_hint"),
        client_id: get("client_id"),
        post_logout_redirect_uri: get("post_logout_redirect_uri"),
        state: get("state"),
    };
    let (jar, bid) = browser_id(&st, jar);
    let sso = Cookies::read(&st, &jar, Cookies::SSO);
    match ops::oauth::logout_request(&st, &req, sso.as_deref(), st.now()).await {
        LogoutOutcome::ErrorPage { message_key, detail } => {
            tracing::info!(detail = %detail, "logout request refused");
            (jar, error_page(&st, StatusCode::BAD_REQUEST, locale, message_key, "invalid_request")).into_response()
        }
        LogoutOutcome::Done { redirect } => finish_logout(&st, jar, redirect, locale, &ip).await,
        LogoutOutcome::Confirm { client_name } => {
            let hidden: Vec<minijinja::Value> = ["client_id", "post_logout_redirect_uri", "state", "ui_locales"]
                .iter()
                .filter_map(|k| get(k).map(|v| minijinja::context! { name => k, value => v }))
                .chain(req.id_token_hint.iter().map(|v| minijinja::context! { name => "id_token_hint", value => v }))
                .collect();
            let ctx = minijinja::context! {
                csrf => st.csrf.token(&bid, "logout"),
                action => "/logout/confirm",
                client_name => client_name,
                hidden => hidden,
            };
            (jar, page(&st, StatusCode::OK, "logout.html", locale, ctx)).into_response()
        }
    }
}

/// The answer from the logout confirmation page.
pub async fn logout_confirm(
    State(st): State<St>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let Ok(form) = form else {
        return error_page(&st, StatusCode::BAD_REQUEST, locale, "error_invalid_request", "invalid_request");
    };
    let locale = negotiate(form.get("ui_locales"), accept_language(&headers), &st.config.default_locale);
    let bid = Cookies::read(&st, &jar, Cookies::BROWSER).unwrap_or_default();
    if !st.csrf.verify(&bid, "logout", form.get("csrf").unwrap_or("")) {
        return error_page(&st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request");
    }
    let get = |k: &str| form.get(k).map(String::from).filter(|v| !v.is_empty());
    let req = LogoutRequest {
        id_token_hint: get("id_token_hint"),
        client_id: get("client_id"),
        post_logout_redirect_uri: get("post_logout_redirect_uri"),
        state: get("state"),
    };
    // Re-check the redirect: the hidden fields came back from the browser.
    let redirect = match ops::oauth::logout_request(&st, &req, None, st.now()).await {
        LogoutOutcome::Done { redirect } => redirect,
        LogoutOutcome::ErrorPage { message_key, .. } => {
            return error_page(&st, StatusCode::BAD_REQUEST, locale, message_key, "invalid_request")
        }
        LogoutOutcome::Confirm { .. } => None,
    };
    if form.get("decision") != Some("logout") {
        return match redirect {
            Some(url) => see_other(&url),
            None => see_other("/"),
        };
    }
    finish_logout(&st, jar, redirect, locale, &ip).await
}

async fn finish_logout(st: &AppState, jar: CookieJar, redirect: Option<String>, locale: &str, ip: &str) -> Response {
    if let Some(cookie) = Cookies::read(st, &jar, Cookies::SSO) {
        if let Err(e) = ops::oauth::end_session(st, &cookie, ip, st.now()).await {
            tracing::error!(error = %e, "could not end the session");
            return error_page(st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
        }
    }
    let jar = jar.add(Cookies::removal(st, Cookies::SSO));
    match redirect {
        Some(url) => (jar, see_other(&url)).into_response(),
        None => (jar, page(st, StatusCode::OK, "logged_out.html", locale, minijinja::context! {})).into_response(),
    }
}

/// The client's address, for throttling: the peer address, or — when the peer is a trusted
/// proxy — the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub struct ClientIp(pub String);

impl axum::extract::FromRequestParts<St> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, st: &St) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied() else {
            return Ok(ClientIp("unknown".into()));
        };
        let trusted = |ip: std::net::IpAddr| st.config.trusted_proxies.iter().any(|c| c.contains(ip));
        let mut client = peer.ip();
        if trusted(client) {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",");
            for hop in forwarded.rsplit(',').map(str::trim) {
                match hop.parse::<std::net::IpAddr>() {
                    Ok(ip) => {
                        client = ip;
                        if !trusted(ip) {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        Ok(ClientIp(client.to_string()))
    }
}
