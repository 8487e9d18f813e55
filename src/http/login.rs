//! The login and consent forms of the authorization flow.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::oidc::{outcome_response, ClientIp};
use super::{accept_language, error_page, Cookies, FormParams, FormRejection, St};
use crate::audit::{self, Event};
use crate::auth::login::{password_login, LoginError};
use crate::auth::passkeys::{self, PasskeyError};
use crate::auth::{recovery, session, throttle, totp, Factors};
use crate::config::Secret;
use crate::identity::levels;
use crate::oidc::authorize::{self, Flow, FlowError, Outcome};
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
        return Err(error_page(
            st,
            StatusCode::BAD_REQUEST,
            default_locale,
            "error_invalid_request",
            "invalid_request",
        ));
    };
    let bid = Cookies::read(st, jar, Cookies::BROWSER).unwrap_or_default();
    let flow = match authorize::load_flow(&st.provider(), form.get("login_id").unwrap_or(""), &bid).await {
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
                LoginError::TooManyAttempts { .. } => ("err_too_many_attempts", StatusCode::TOO_MANY_REQUESTS),
                LoginError::AccountDisabled => ("err_account_disabled", StatusCode::FORBIDDEN),
                LoginError::Internal => {
                    return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error")
                }
            };
            return outcome_response(
                &st,
                Outcome::Login(flow),
                locale,
                &bid,
                None,
                Some((key, status, Some(username))),
            );
        }
    };
    // With a second factor enrolled the password is only the first step, and no session exists
    // until the second one succeeds.
    let factors = match Factors::of(&st.db, &account.id).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "factor lookup failed");
            return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
        }
    };
    if factors.any() {
        if factors.reachable() < flow.required_level {
            return outcome_response(&st, authorize::deny_level(&st.provider(), &flow).await, locale, &bid, None, None);
        }
        let mut flow = flow;
        flow.pending_account = Some(account.id.clone());
        flow.sid = None;
        if let Err(e) = authorize::save_flow(&st.provider(), &flow).await {
            tracing::error!(error = %e, "could not save the login flow");
            return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
        }
        return outcome_response(&st, Outcome::SecondFactor(flow, factors), locale, &bid, None, None);
    }
    tracing::info!(account = %account.id, "login succeeded");
    start_session(&st, &headers, jar, flow, &account.id, 1, vec!["pwd".into()], locale, &bid, &ip, t).await
}

/// A fresh session id at every login and step-up: a cookie planted or stolen before is
/// worthless after it. Then the authorization continues.
#[allow(clippy::too_many_arguments)]
async fn start_session(
    st: &St,
    headers: &HeaderMap,
    jar: CookieJar,
    flow: Flow,
    account_id: &str,
    level: u8,
    amr: Vec<String>,
    locale: &'static str,
    bid: &str,
    ip: &str,
    t: i64,
) -> Response {
    let kind = if flow.sid.is_some() { "login.step_up" } else { "login.succeeded" };
    let detail = serde_json::json!({ "level": level, "amr": amr, "client_id": flow.request.client_id });
    audit::record(&st.db, Event::new(kind).actor(account_id).subject(account_id).ip(ip).detail(detail), t).await;
    if let Some(old) = Cookies::read(st, &jar, Cookies::SSO) {
        let _ = session::end(&st.cache, &old).await;
    }
    let ua = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (cookie, sso) =
        match session::create(&st.cache, account_id, levels::acr(level), amr, st.config.session_ttl, t, ip, ua).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "could not create a session");
                return error_page(st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
            }
        };
    let jar = jar.add(Cookies::make(st, Cookies::SSO, cookie));
    let outcome = authorize::after_login(&st.provider(), flow, &sso, t).await;
    // After a recovery code the person is asked to enrol a new authenticator before going on.
    if amr_is_recovery(&sso) {
        if let Outcome::Redirect(url) = &outcome {
            let remaining = recovery::remaining(&st.db, account_id).await.unwrap_or(0);
            let ctx = minijinja::context! { continue_url => url, remaining => remaining };
            return (jar, super::page(st, StatusCode::OK, "recovery_used.html", locale, ctx)).into_response();
        }
    }
    (jar, outcome_response(st, outcome, locale, bid, None, None)).into_response()
}

/// The second step: a code from the authenticator app (level 2) or a recovery code (level 1,
/// and the code is spent).
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
    let Some(account_id) = flow.pending_account.clone() else {
        return error_page(&st, StatusCode::BAD_REQUEST, locale, "err_session_expired", "invalid_request");
    };
    let t = now();
    // Stepping up an existing session: it must still be the one the flow started from.
    if let Some(sid) = &flow.sid {
        let current = match Cookies::read(&st, &jar, Cookies::SSO) {
            Some(c) => session::load(&st.cache, &c, t).await.ok().flatten(),
            None => None,
        };
        if !current.is_some_and(|s| &s.sid == sid && s.account_id == account_id) {
            return error_page(&st, StatusCode::BAD_REQUEST, locale, "err_session_expired", "invalid_request");
        }
    }
    let factors = match Factors::of(&st.db, &account_id).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "factor lookup failed");
            return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
        }
    };
    let policy = crate::auth::login::account_policy(&st);
    let record = match throttle::load(&st.cache, "otp", &account_id).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "throttle lookup failed");
            return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
        }
    };
    if throttle::verdict(&record, &policy, t) != throttle::Verdict::Allowed {
        return outcome_response(
            &st,
            Outcome::SecondFactor(flow, factors),
            locale,
            &bid,
            None,
            Some(("err_too_many_attempts", StatusCode::TOO_MANY_REQUESTS, None)),
        );
    }
    let code = form.get("code").unwrap_or("").trim();
    let recovery_code = form.get("recovery_code").unwrap_or("").trim();
    let credential = form.get("credential").unwrap_or("").trim();
    let verified = if !credential.is_empty() {
        match serde_json::from_str::<webauthn_rs::prelude::PublicKeyCredential>(credential) {
            Ok(cred) => match passkeys::finish_authentication(
                st.webauthn.as_ref(),
                &st.cache,
                &st.db,
                &account_id,
                &flow.id,
                &cred,
                t,
            )
            .await
            {
                Ok(()) => Ok(Some(3u8)),
                Err(PasskeyError::Store(e)) => Err(e.to_string()),
                Err(PasskeyError::Internal(e)) => Err(e),
                Err(e) => {
                    tracing::info!(account = %account_id, error = %e, "passkey refused");
                    Ok(None)
                }
            },
            Err(_) => Ok(None),
        }
    } else if !recovery_code.is_empty() {
        recovery::redeem(&st.db, &st.recovery, &account_id, recovery_code, t)
            .await
            .map(|ok| ok.then_some(1u8))
            .map_err(|e| e.to_string())
    } else {
        totp::verify(&st.db, &st.sealer, &account_id, code, t)
            .await
            .map(|ok| ok.then_some(2u8))
            .map_err(|e| e.to_string())
    };
    match verified {
        Ok(Some(level)) => {
            let _ = throttle::clear(&st.cache, "otp", &account_id).await;
            let amr: Vec<String> = match level {
                3 => vec!["pwd".into(), "hwk".into(), "mfa".into()],
                2 => vec!["pwd".into(), "otp".into(), "mfa".into()],
                // RFC 8176 has no value for recovery codes; "kba"-like one-off secrets are closest
                // to a "pwd" second use, so the session records only the password plus our marker.
                _ => vec!["pwd".into(), RECOVERY_AMR.into()],
            };
            tracing::info!(account = %account_id, level, "second factor accepted");
            if level == 1 {
                audit::record(
                    &st.db,
                    Event::new("recovery_code.used").actor(&account_id).subject(&account_id).ip(&ip),
                    t,
                )
                .await;
            }
            start_session(&st, &headers, jar, flow, &account_id, level, amr, locale, &bid, &ip, t).await
        }
        Ok(None) => {
            audit::record(&st.db, Event::new("second_factor.failed").subject(&account_id).ip(&ip), t).await;
            let _ = throttle::fail(&st.cache, "otp", &account_id, &policy, t).await;
            outcome_response(
                &st,
                Outcome::SecondFactor(flow, factors),
                locale,
                &bid,
                None,
                Some(("err_invalid_code", StatusCode::UNAUTHORIZED, None)),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "second factor check failed");
            error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error")
        }
    }
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
    let t = now();
    let sso = match Cookies::read(&st, &jar, Cookies::SSO) {
        Some(c) => session::load(&st.cache, &c, t).await.ok().flatten(),
        None => None,
    };
    let allow = form.get("decision") == Some("allow");
    let outcome = authorize::consent(&st.provider(), flow, sso.as_ref(), allow, t).await;
    outcome_response(&st, outcome, locale, &bid, None, None)
}

/// Marks a session opened with a recovery code (level 1; the person should enrol again).
const RECOVERY_AMR: &str = "x-recovery";

fn amr_is_recovery(s: &session::SsoSession) -> bool {
    s.amr.iter().any(|a| a == RECOVERY_AMR)
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
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
    match passkeys::start_discoverable(st.webauthn.as_ref(), &st.cache, &flow.id).await {
        Ok(v) => super::no_store_json(v),
        Err(e) => {
            tracing::error!(error = %e, "passkey options failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        }
    }
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
    let t = now();
    let refused = |st: &St, flow: Flow| {
        outcome_response(
            st,
            Outcome::Login(flow),
            locale,
            &bid,
            None,
            Some(("err_passkey", StatusCode::UNAUTHORIZED, None)),
        )
    };
    let Ok(cred) =
        serde_json::from_str::<webauthn_rs::prelude::PublicKeyCredential>(form.get("credential").unwrap_or(""))
    else {
        return refused(&st, flow);
    };
    let account_id =
        match passkeys::finish_discoverable(st.webauthn.as_ref(), &st.cache, &st.db, &flow.id, &cred, t).await {
            Ok(a) => a,
            Err(PasskeyError::Store(e)) => {
                tracing::error!(error = %e, "passkey login failed");
                return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
            }
            Err(e) => {
                tracing::info!(error = %e, "passkey login refused");
                return refused(&st, flow);
            }
        };
    match crate::identity::accounts::get(&st.db, &account_id).await {
        Ok(Some(a)) if a.is_active() => {}
        Ok(_) => {
            return outcome_response(
                &st,
                Outcome::Login(flow),
                locale,
                &bid,
                None,
                Some(("err_account_disabled", StatusCode::FORBIDDEN, None)),
            )
        }
        Err(_) => return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error"),
    }
    tracing::info!(account = %account_id, "passwordless login succeeded");
    start_session(&st, &headers, jar, flow, &account_id, 3, vec!["hwk".into(), "mfa".into()], locale, &bid, &ip, t)
        .await
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
    let Some(account_id) = flow.pending_account.clone() else {
        return json_error(StatusCode::BAD_REQUEST, "login_expired");
    };
    match passkeys::start_authentication(st.webauthn.as_ref(), &st.cache, &st.db, &account_id, &flow.id).await {
        Ok(v) => super::no_store_json(v),
        Err(PasskeyError::UnknownCredential) => json_error(StatusCode::BAD_REQUEST, "no_passkey"),
        Err(e) => {
            tracing::error!(error = %e, "passkey options failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        }
    }
}
