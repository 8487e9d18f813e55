//! The login and consent forms of the authorization flow: reads the form, the cookies and the
//! headers, checks the flow's CSRF token, calls the login operation and renders its step.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use webauthn_rs::prelude::PublicKeyCredential;

use super::oidc::{outcome_response, ClientIp};
use super::{accept_language, error_page, Cookies, FormParams, FormRejection, St};
use crate::config::Secret;
use crate::oidc::authorize::{Flow, FlowError, Outcome};
use crate::ops::login::{self as ops, Browser, OptionsError, Proof, Refusal, Step};
use crate::theme::negotiate;

/// A form posted inside a login flow: the flow must exist and belong to this browser, and the
/// CSRF token must match the form's purpose. Otherwise the answer is an explaining page.
pub(super) async fn flow_form(
    st: &St,
    headers: &HeaderMap,
    jar: &CookieJar,
    form: Result<FormParams, FormRejection>,
    purpose: &str,
) -> Result<(FormParams, String, Flow, &'static str), Response> {
    let default_locale = negotiate(None, accept_language(headers), &st.config.default_locale);
    let Ok(form) = form else {
        return Err(error_page(
            st,
            StatusCode::BAD_REQUEST,
            default_locale,
            "error_invalid_request",
            "invalid_request",
        ));
    };
    let bid = Cookies::read(st, jar, Cookies::BROWSER).unwrap_or_default();
    let flow = match ops::open_flow(st, form.get("login_id").unwrap_or(""), &bid).await {
        Ok(f) => f,
        Err(FlowError::Expired) => {
            return Err(error_page(
                st,
                StatusCode::BAD_REQUEST,
                default_locale,
                "err_session_expired",
                "invalid_request",
            ))
        }
        Err(FlowError::Internal) => {
            return Err(error_page(
                st,
                StatusCode::INTERNAL_SERVER_ERROR,
                default_locale,
                "error_server",
                "server_error",
            ))
        }
    };
    let locale = negotiate(flow.request.ui_locales.as_deref(), accept_language(headers), &st.config.default_locale);
    if !st.csrf.verify(&bid, purpose, form.get("csrf").unwrap_or("")) {
        return Err(error_page(st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request"));
    }
    Ok((form, bid, flow, locale))
}

/// What a login step needs to know about the browser beyond the form.
pub(super) fn browser<'a>(
    ip: &'a str,
    headers: &'a HeaderMap,
    sso_cookie: Option<&'a str>,
    locale: &'a str,
    device: &'a str,
) -> Browser<'a> {
    let user_agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    Browser { ip, user_agent, sso_cookie, locale, device }
}

/// The browser's device cookie, or a new one (set with the session cookie once signed in).
pub(super) fn device(st: &St, jar: &CookieJar) -> String {
    Cookies::read(st, jar, Cookies::DEVICE)
        .filter(|v| v.len() == 43)
        .unwrap_or_else(|| crate::crypto::random_token(32).unwrap_or_default())
}

fn refusal_message(r: Refusal) -> (&'static str, StatusCode) {
    match r {
        Refusal::InvalidCredentials => ("err_invalid_credentials", StatusCode::UNAUTHORIZED),
        Refusal::TooManyAttempts => ("err_too_many_attempts", StatusCode::TOO_MANY_REQUESTS),
        Refusal::AccountDisabled => ("err_account_disabled", StatusCode::FORBIDDEN),
        Refusal::InvalidCode => ("err_invalid_code", StatusCode::UNAUTHORIZED),
        Refusal::Passkey => ("err_passkey", StatusCode::UNAUTHORIZED),
        Refusal::Busy => ("err_busy", StatusCode::SERVICE_UNAVAILABLE),
        Refusal::PasswordChanged => ("err_password_changed", StatusCode::CONFLICT),
    }
}

/// Renders a login step; a new session's cookie goes into `jar`.
pub(super) fn render(st: &St, step: Step, jar: CookieJar, locale: &'static str, bid: &str, device: String) -> Response {
    match step {
        Step::Authorize(outcome) => outcome_response(st, outcome, locale, bid, None, None),
        Step::LoginAgain { flow, refusal, username } => {
            let (key, status) = refusal_message(refusal);
            let res = outcome_response(st, Outcome::Login(flow), locale, bid, None, Some((key, status, username)));
            if refusal == Refusal::Busy {
                return super::retry_after(res, super::BUSY_RETRY_SECONDS);
            }
            res
        }
        Step::SecondFactorAgain { flow, factors, refusal } => {
            let (key, status) = refusal_message(refusal);
            outcome_response(st, Outcome::SecondFactor(flow, factors), locale, bid, None, Some((key, status, None)))
        }
        Step::SignedIn { cookie, next } => {
            let jar = jar.add(Cookies::make(st, Cookies::SSO, cookie)).add(Cookies::device(st, device));
            (jar, outcome_response(st, next, locale, bid, None, None)).into_response()
        }
        Step::SignedInWithRecoveryCode { cookie, continue_url, remaining } => {
            let jar = jar.add(Cookies::make(st, Cookies::SSO, cookie)).add(Cookies::device(st, device));
            let ctx = minijinja::context! { continue_url => continue_url, remaining => remaining };
            (jar, super::page(st, StatusCode::OK, "recovery_used.html", locale, ctx)).into_response()
        }
        Step::Expired => error_page(st, StatusCode::BAD_REQUEST, locale, "err_session_expired", "invalid_request"),
        Step::Internal => error_page(st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error"),
    }
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
    let username = form.get("username").unwrap_or("").trim();
    let password = Secret::new(form.get("password").unwrap_or("").to_string());
    let sso = Cookies::read(&st, &jar, Cookies::SSO);
    let device = device(&st, &jar);
    let step = ops::password(
        &st,
        flow,
        &browser(&ip, &headers, sso.as_deref(), locale, &device),
        username,
        &password,
        st.now(),
    )
    .await;
    render(&st, step, jar, locale, &bid, device)
}

/// The second step: a passkey, a code from the authenticator app, or a recovery code.
pub async fn second_factor(
    State(st): State<St>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (form, bid, flow, locale) = match flow_form(&st, &headers, &jar, form, "otp").await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let field = |name: &str| form.get(name).unwrap_or("").trim().to_string();
    let (credential, recovery_code) = (field("credential"), field("recovery_code"));
    let proof = if !credential.is_empty() {
        Proof::Passkey(serde_json::from_str::<PublicKeyCredential>(&credential).ok().map(Box::new))
    } else if !recovery_code.is_empty() {
        Proof::RecoveryCode(recovery_code)
    } else {
        Proof::Code(field("code"))
    };
    let sso = Cookies::read(&st, &jar, Cookies::SSO);
    let device = device(&st, &jar);
    let step =
        ops::second_factor(&st, flow, &browser(&ip, &headers, sso.as_deref(), locale, &device), proof, st.now()).await;
    render(&st, step, jar, locale, &bid, device)
}

pub async fn consent(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (form, bid, flow, locale) = match flow_form(&st, &headers, &jar, form, "consent").await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let sso = Cookies::read(&st, &jar, Cookies::SSO);
    let allow = form.get("decision") == Some("allow");
    let outcome = ops::consent(&st, flow, sso.as_deref(), allow, st.now()).await;
    outcome_response(&st, outcome, locale, &bid, None, None)
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
}

fn options_response(options: Result<serde_json::Value, OptionsError>) -> Response {
    match options {
        Ok(v) => super::no_store_json(v),
        Err(OptionsError::Expired) => json_error(StatusCode::BAD_REQUEST, "login_expired"),
        Err(OptionsError::NoPasskey) => json_error(StatusCode::BAD_REQUEST, "no_passkey"),
        Err(OptionsError::Internal) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}

/// Options for passwordless login from the login page (any passkey of this site).
pub async fn passkey_login_options(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (_, _, flow, _) = match flow_form(&st, &headers, &jar, form, "login").await {
        Ok(x) => x,
        Err(_) => return json_error(StatusCode::BAD_REQUEST, "login_expired"),
    };
    options_response(ops::passkey_options(&st, &flow).await)
}

/// Passwordless login with a discoverable passkey and user verification: level 3 at once.
pub async fn passkey_login(
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
    let credential = serde_json::from_str::<PublicKeyCredential>(form.get("credential").unwrap_or("")).ok();
    let sso = Cookies::read(&st, &jar, Cookies::SSO);
    let device = device(&st, &jar);
    let step = ops::passkey(
        &st,
        flow,
        &browser(&ip, &headers, sso.as_deref(), locale, &device),
        credential.as_ref(),
        st.now(),
    )
    .await;
    render(&st, step, jar, locale, &bid, device)
}

/// Options for a passkey as the second step (after the password, or to step a session up).
pub async fn passkey_factor_options(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (_, _, flow, _) = match flow_form(&st, &headers, &jar, form, "otp").await {
        Ok(x) => x,
        Err(_) => return json_error(StatusCode::BAD_REQUEST, "login_expired"),
    };
    options_response(ops::passkey_factor_options(&st, &flow).await)
}
