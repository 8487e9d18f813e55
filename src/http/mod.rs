//! Thin HTTP handlers: extract and check the request's shape, call the protocol or domain
//! function, turn its outcome into a response. Shared extractors, cookies and error responses
//! live here.

pub mod account;
pub mod account_certs;
pub mod admin;
pub mod connected;
pub mod console;
pub mod contact;
pub mod demo;
pub mod health;
pub mod limits;
pub mod login;
pub mod metrics;
pub mod nul;
pub mod oidc;
pub mod outage;
pub mod page;
pub mod register;
pub mod reset;
pub mod scim;
pub mod upstream;

pub use page::{browser_form, CsrfBound, PageError, SignedInForm};

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;

use crate::config::Secret;
use crate::oidc::clients::{AuthMethod, ClientCredentials};
use crate::oidc::{ErrorCode, OAuthError};
use crate::state::AppState;

pub type St = Arc<AppState>;

/// An OAuth error as a JSON response (RFC 6749 §5.2), never cached.
pub struct OAuthResponse(pub OAuthError);

impl From<OAuthError> for OAuthResponse {
    fn from(e: OAuthError) -> Self {
        OAuthResponse(e)
    }
}

impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = match e.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({ "error": e.code.as_str(), "error_description": e.description });
        let mut res = (status, axum::Json(body)).into_response();
        if e.code == ErrorCode::InvalidClient {
            res.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"gerbang\""));
        }
        if let Some(secs) = e.retry_after {
            res.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

/// JSON that must not be cached (tokens, introspection, userinfo).
pub fn no_store_json(body: impl serde::Serialize) -> Response {
    let mut res = axum::Json(body).into_response();
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert("pragma", HeaderValue::from_static("no-cache"));
    res
}

/// `application/x-www-form-urlencoded` parameters in order, read with the configured body
/// limit. Rejections are OAuth errors: a wrong content type or an oversized body is the
/// client's mistake and gets a 4xx with an error body.
pub struct FormParams(pub Vec<(String, String)>);

pub struct FormRejection {
    pub status: StatusCode,
    pub description: &'static str,
}

impl IntoResponse for FormRejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": "invalid_request", "error_description": self.description });
        let mut res = (self.status, axum::Json(body)).into_response();
        res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

impl<S: Send + Sync> FromRequest<S> for FormParams {
    type Rejection = FormRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
        if !is_form {
            return Err(FormRejection {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                description: "the body must be application/x-www-form-urlencoded",
            });
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                FormRejection { status: StatusCode::PAYLOAD_TOO_LARGE, description: "the request body is too large" }
            } else {
                FormRejection { status: StatusCode::BAD_REQUEST, description: "the request body could not be read" }
            }
        })?;
        if nul::has_encoded_nul(&bytes) || bytes.contains(&0) {
            return Err(FormRejection { status: StatusCode::BAD_REQUEST, description: nul::NUL_REFUSED });
        }
        Ok(FormParams(url::form_urlencoded::parse(&bytes).into_owned().collect()))
    }
}

impl FormParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// RFC 6749 §3.2: parameters must not be repeated; and no more of them than any protocol
    /// request needs (`oidc::MAX_PARAMS`).
    pub fn check_no_duplicates(&self) -> Result<(), OAuthError> {
        crate::oidc::check_params(&self.0)
    }
}

/// Client authentication from `Authorization: Basic` or the form body (RFC 6749 §2.3.1).
pub fn client_credentials(headers: &HeaderMap, form: &FormParams) -> Result<ClientCredentials, OAuthError> {
    let form_id = form.get("client_id").filter(|s| !s.is_empty());
    let form_secret = form.get("client_secret").filter(|s| !s.is_empty());
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
        let bad = || OAuthError::invalid_client("malformed Basic authorization header");
        let value = auth.to_str().map_err(|_| bad())?;
        let (scheme, rest) = value.split_once(' ').ok_or_else(bad)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::invalid_client("only Basic client authentication is accepted in the header"));
        }
        if form_secret.is_some() {
            return Err(OAuthError::invalid_request("use only one client authentication method"));
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = text.split_once(':').ok_or_else(bad)?;
        // Each part is form-urlencoded (RFC 6749 §2.3.1); a literal `&` is part of it, not a
        // separator. A NUL, raw or encoded, is refused here as in every form field: it never
        // reaches the database (PostgreSQL refuses it in text, SQLite would not).
        let decode = |s: &str| {
            let encoded = format!("x={}", s.replace('&', "%26"));
            url::form_urlencoded::parse(encoded.as_bytes()).next().map(|(_, v)| v.into_owned())
        };
        let id = decode(id).filter(|v| !v.contains('\0')).ok_or_else(bad)?;
        let secret = decode(secret).filter(|v| !v.contains('\0')).ok_or_else(bad)?;
        if form_id.is_some_and(|f| f != id) {
            return Err(OAuthError::invalid_request("client_id in the body differs from the authorization header"));
        }
        return Ok(ClientCredentials { client_id: id, secret: Some(Secret::new(secret)), method: AuthMethod::Basic });
    }
    match (form_id, form_secret) {
        (Some(id), Some(secret)) => Ok(ClientCredentials {
            client_id: id.to_string(),
            secret: Some(Secret::new(secret.to_string())),
            method: AuthMethod::Post,
        }),
        (Some(id), None) => Ok(ClientCredentials { client_id: id.to_string(), secret: None, method: AuthMethod::None }),
        (None, _) => Err(OAuthError::invalid_client("client authentication is required")),
    }
}

/// Cookie names: with HTTPS the `__Host-` prefix pins them to this host and path `/`.
pub struct Cookies;

impl Cookies {
    pub const BROWSER: &'static str = "gerbang_bid";
    pub const SSO: &'static str = "gerbang_sso";
    /// An opened enrolment link's secret, kept while its person signs in.
    pub const ENROL: &'static str = "gerbang_enrol";
    /// A random id of the browser that outlives sessions, so a sign-in from a new device can
    /// be told to its person (only a hash of it is stored).
    pub const DEVICE: &'static str = "gerbang_device";

    pub fn name(st: &AppState, base: &'static str) -> String {
        if st.config.secure_cookies() {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    pub fn read(st: &AppState, jar: &CookieJar, base: &'static str) -> Option<String> {
        jar.get(&Cookies::name(st, base)).map(|c| c.value().to_string())
    }

    /// HttpOnly, SameSite=Lax (the redirect back from another site must carry it), Secure on
    /// HTTPS, no expiry: it ends with the browser, which suits shared office computers.
    pub fn make(st: &AppState, base: &'static str, value: String) -> Cookie<'static> {
        Cookies::make_with(st, base, value, SameSite::Lax)
    }

    /// As `make`, with another SameSite policy (the admin console's session cookie is Strict).
    pub fn make_with(st: &AppState, base: &'static str, value: String, same_site: SameSite) -> Cookie<'static> {
        let mut c = Cookie::new(Cookies::name(st, base), value);
        c.set_http_only(true);
        c.set_same_site(same_site);
        c.set_path("/");
        c.set_secure(st.config.secure_cookies());
        c
    }

    /// The device cookie ([`Cookies::DEVICE`]), kept about 400 days (the most browsers allow),
    /// renewed at every sign-in.
    pub fn device(st: &AppState, value: String) -> Cookie<'static> {
        const MAX_AGE: i64 = 400 * 24 * 3600;
        // Parsed to set Max-Age without a date-time dependency; the value is base64url, so this
        // only fails on damage, and a cookie ending with the browser is the safe fallback.
        let mut c = Cookie::parse(format!("{}={value}; Max-Age={MAX_AGE}", Cookies::name(st, Cookies::DEVICE)))
            .unwrap_or_else(|_| Cookie::new(Cookies::name(st, Cookies::DEVICE), value));
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_secure(st.config.secure_cookies());
        c
    }

    pub fn removal(st: &AppState, base: &'static str) -> Cookie<'static> {
        let mut c = Cookies::make(st, base, String::new());
        c.make_removal();
        c
    }
}

/// The browser-binding id, created on first contact. Login flows and CSRF tokens are bound to it.
pub fn browser_id(st: &AppState, jar: CookieJar) -> (CookieJar, String) {
    if let Some(v) = Cookies::read(st, &jar, Cookies::BROWSER).filter(|v| v.len() == 43) {
        return (jar, v);
    }
    let id = crate::crypto::random_token(32).unwrap_or_default();
    let jar = jar.add(Cookies::make(st, Cookies::BROWSER, id.clone()));
    (jar, id)
}

/// A themed page; a template failure degrades to plain text rather than an empty 500.
pub fn page(st: &AppState, status: StatusCode, template: &str, locale: &str, ctx: minijinja::Value) -> Response {
    match st.themes.render(template, locale, ctx) {
        Ok(html) => {
            let mut res = (status, Html(html)).into_response();
            res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => {
            tracing::error!(error = %e, template, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Gerbang: the page could not be shown").into_response()
        }
    }
}

/// The friendly error page: a translated title and message, and the technical code.
pub fn error_page(st: &AppState, status: StatusCode, locale: &str, message_key: &str, code: &str) -> Response {
    let title_key = if status == StatusCode::NOT_FOUND { "error_not_found_title" } else { "error_title" };
    let ctx = minijinja::context! {
        title => st.themes.text(locale, title_key),
        message => st.themes.text(locale, message_key),
        code => code,
    };
    page(st, status, "error.html", locale, ctx)
}

pub fn see_other(url: &str) -> Response {
    // `Redirect::to` panics on a value a header cannot carry (CR, LF, NUL): such a target,
    // from a form field, is a bad request, never a 500.
    match HeaderValue::from_str(url) {
        Ok(v) => (StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, v)]).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "the redirect target is not a valid URL").into_response(),
    }
}

pub fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

/// Seconds a client is asked to wait when the password hashing queue is full.
pub const BUSY_RETRY_SECONDS: u64 = 2;

/// Adds `Retry-After` to a 429 or 503 answer.
pub fn retry_after(mut res: Response, seconds: u64) -> Response {
    res.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
    res
}
