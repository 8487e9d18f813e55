//! The login and consent forms of the authorization flow.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::oidc::{outcome_response, ClientIp};
use super::{accept_language, error_page, Cookies, FormParams, FormRejection, St};
use crate::auth::login::{password_login, LoginError};
use crate::auth::session;
use crate::config::Secret;
use crate::oidc::authorize::{self, Flow, FlowError, Outcome};
use crate::oidc::discovery::ACR_LEVEL_1;
use crate::state::now;
use crate::theme::negotiate;

/// A form posted inside a login flow: the flow must exist and belong to this browser, and the
/// CSRF token must match the form's purpose. Otherwise the answer is an explaining page.
async fn flow_form(
    st: &St,
    headers: &HeaderMap,
    jar: &CookieJar,
    form: Result<FormParams, FormRejection>,
    purpose: &str,
) -> Result<(FormParams, String, Flow, &'static str), Response> {
    let default_locale = negotiate(None, accept_language(headers), &st.config.default_locale);
    let Ok(form) = form else {
        return Err(error_page(st, StatusCode::BAD_REQUEST, default_locale, "error_invalid_request", "invalid_request"));
    };
    let bid = Cookies::read(st, jar, Cookies::BROWSER).unwrap_or_default();
    let flow = match authorize::load_flow(st, form.get("login_id").unwrap_or(""), &bid).await {
        Ok(f) => f,
        Err(FlowError::Expired) => {
            return Err(error_page(st, StatusCode::BAD_REQUEST, default_locale, "err_session_expired", "invalid_request"))
        }
        Err(FlowError::Internal) => {
            return Err(error_page(st, StatusCode::INTERNAL_SERVER_ERROR, default_locale, "error_server", "server_error"))
        }
    };
    let locale = negotiate(flow.request.ui_locales.as_deref(), accept_language(headers), &st.config.default_locale);
    if !st.csrf.verify(&bid, purpose, form.get("csrf").unwrap_or("")) {
        return Err(error_page(st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request"));
    }
    Ok((form, bid, flow, locale))
}

pub async fn login(
    State(st): State<St>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (form, bid, flow, locale) = match flow_form(&st, &headers, &jar, form, "login").await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let username = form.get("username").unwrap_or("").trim().to_string();
    let password = Secret::new(form.get("password").unwrap_or("").to_string());
    let t = now();
    let account = match password_login(&st, &username, &password, &ip, t).await {
        Ok(a) => a,
        Err(e) => {
            let (key, status) = match e {
                LoginError::InvalidCredentials => ("err_invalid_credentials", StatusCode::UNAUTHORIZED),
                LoginError::TooManyAttempts => ("err_too_many_attempts", StatusCode::TOO_MANY_REQUESTS),
                LoginError::AccountDisabled => ("err_account_disabled", StatusCode::FORBIDDEN),
                LoginError::Internal => {
                    return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error")
                }
            };
            return outcome_response(&st, Outcome::Login(flow), locale, &bid, None, Some((key, status, Some(username))));
        }
    };
    // A fresh session id at every login: a cookie planted before login is worthless after it.
    if let Some(old) = Cookies::read(&st, &jar, Cookies::SSO) {
        let _ = session::end(&st.cache, &old).await;
    }
    let (cookie, sso) = match session::create(&st.cache, &account.id, ACR_LEVEL_1, vec!["pwd".into()], st.config.session_ttl, t).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "could not create a session");
            return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
        }
    };
    tracing::info!(account = %account.id, "login succeeded");
    let jar = jar.add(Cookies::make(&st, Cookies::SSO, cookie));
    let outcome = authorize::after_login(&st, flow, &sso, t).await;
    (jar, outcome_response(&st, outcome, locale, &bid, None, None)).into_response()
}

pub async fn consent(State(st): State<St>, headers: HeaderMap, jar: CookieJar, form: Result<FormParams, FormRejection>) -> Response {
    let (form, bid, flow, locale) = match flow_form(&st, &headers, &jar, form, "consent").await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let t = now();
    let sso = match Cookies::read(&st, &jar, Cookies::SSO) {
        Some(c) => session::load(&st.cache, &c, t).await.ok().flatten(),
        None => None,
    };
    let allow = form.get("decision") == Some("allow");
    let outcome = authorize::consent(&st, flow, sso.as_ref(), allow, t).await;
    outcome_response(&st, outcome, locale, &bid, None, None)
}
