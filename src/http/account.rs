//! The self-service account page: profile facts, password change, authenticator app (TOTP)
//! enrolment and removal, recovery codes. It runs on the SSO session; without one the person is
//! sent through the ordinary login as the built-in application `gerbang-account`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use std::collections::HashMap;

use super::{accept_language, browser_id, error_page, page, see_other, Cookies, FormParams, FormRejection, St};
use crate::audit::{self, Event};
use crate::auth::session::{self, SsoSession};
use crate::auth::{passkeys, recovery, totp};
use crate::config::Secret;
use crate::crypto;
use crate::identity::accounts::{self, Account, AccountKind};
use crate::identity::levels;
use crate::oidc::authorize::redirect_with;
use crate::state::{now, AppState};
use crate::store::opd as opd_store;
use crate::theme::negotiate;

use crate::oidc::internal_clients::ACCOUNT_CLIENT_ID;

/// Changing factors needs a recent login, so a session left open on a shared computer cannot be
/// used to take the account over.
const RECENT_AUTH_SECONDS: i64 = 600;

/// Outcome messages shown once on the account page; only these keys are accepted from the URL.
const DONE: &[&str] =
    &["password_changed", "totp_enrolled", "totp_removed", "passkey_added", "passkey_removed", "session_ended"];

/// "Chrome · Windows" from a User-Agent header: enough for a person to recognise a device.
pub fn device(ua: &str) -> String {
    let browser =
        [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
            .iter()
            .find(|(m, _)| ua.contains(m))
            .map(|(_, n)| *n);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(m, _)| ua.contains(m))
    .map(|(_, n)| *n);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} · {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => "?".to_string(),
    }
}

fn locale_of(st: &AppState, headers: &HeaderMap, q: &HashMap<String, String>) -> &'static str {
    negotiate(q.get("ui_locales").map(String::as_str), accept_language(headers), &st.config.default_locale)
}

async fn current(st: &AppState, jar: &CookieJar) -> Option<(SsoSession, Account)> {
    let cookie = Cookies::read(st, jar, Cookies::SSO)?;
    let s = session::load(&st.cache, &cookie, now()).await.ok().flatten()?;
    let a = accounts::get(&st.db, &s.account_id).await.ok().flatten().filter(|a| a.is_active())?;
    Some((s, a))
}

/// Through the ordinary authorization endpoint, as any application would; the code it returns
/// is not needed because the session cookie is what the account page runs on.
fn login_redirect(st: &AppState, force: bool) -> Response {
    let (Ok(state), Ok(verifier)) = (crypto::random_token(16), crypto::random_token(32)) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let redirect_uri = format!("{}/account", st.config.issuer);
    let mut p: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", ACCOUNT_CLIENT_ID),
        ("redirect_uri", &redirect_uri),
        ("scope", "openid"),
        ("state", &state),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    if force {
        p.push(("prompt", "login"));
    }
    see_other(&redirect_with(&format!("{}/authorize", st.config.issuer), &p))
}

macro_rules! require_session {
    ($st:expr, $jar:expr, recent) => {
        match current(&$st, &$jar).await {
            Some((s, a)) if now() - s.auth_time <= RECENT_AUTH_SECONDS => (s, a),
            Some(_) => return login_redirect(&$st, true),
            None => return login_redirect(&$st, false),
        }
    };
    ($st:expr, $jar:expr) => {
        match current(&$st, &$jar).await {
            Some(x) => x,
            None => return login_redirect(&$st, false),
        }
    };
}

pub async fn overview(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    let (s, a) = require_session!(st, jar);
    let opd = match &a.opd_id {
        Some(id) => opd_store::get(&st.db, id).await.ok().flatten().map(|o| o.name),
        None => None,
    };
    let (Ok(totp_enrolled), Ok(remaining)) =
        (totp::is_enrolled(&st.db, &a.id).await, recovery::remaining(&st.db, &a.id).await)
    else {
        return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
    };
    let level =
        levels::get(levels::from_acr(&s.acr).unwrap_or(1)).map(|l| if locale == "en" { l.name_en } else { l.name_id });
    let Ok(keys) = passkeys::list(&st.db, &a.id).await else {
        return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
    };
    let day =
        |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let keys: Vec<minijinja::Value> = keys
        .iter()
        .map(|k| minijinja::context! { id => k.id, name => k.name, created => day(k.created_at), last_used => k.last_used_at.map(day) })
        .collect();
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t + 7 * 3600, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M WIB").to_string())
            .unwrap_or_default()
    };
    let sessions: Vec<minijinja::Value> = match session::list_for_account(&st.cache, &a.id, now()).await {
        Ok(list) => list
            .iter()
            .map(|x| minijinja::context! { sid => x.sid, since => when(x.auth_time), ip => x.ip, device => device(&x.user_agent), current => x.sid == s.sid })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "session list unavailable");
            Vec::new()
        }
    };
    let (jar, bid) = browser_id(&st, jar);
    let done =
        q.get("done").filter(|d| DONE.contains(&d.as_str())).map(|d| st.themes.text(locale, &format!("done_{d}")));
    let ctx = minijinja::context! {
        sessions => sessions,
        name => a.name,
        account_type => st.themes.text(locale, if a.kind == AccountKind::Asn { "account_type_asn" } else { "account_type_citizen" }),
        nip => a.nip,
        nik => a.nik,
        opd => opd,
        level => level,
        totp_enrolled => totp_enrolled,
        recovery_remaining => remaining,
        low_on_codes => totp_enrolled && remaining <= 3,
        done => done,
        passkeys => keys,
        passkeys_enabled => st.webauthn.is_some(),
        csrf => st.csrf.token(&bid, "account"),
    };
    (jar, page(&st, StatusCode::OK, "account.html", locale, ctx)).into_response()
}

/// Creation options for a new passkey (fetched by the page's script).
pub async fn passkey_options(
    State(st): State<St>,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let Some((s, a)) = current(&st, &jar).await else {
        return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({ "error": "login_required" })))
            .into_response();
    };
    if now() - s.auth_time > RECENT_AUTH_SECONDS || !checked_post(&st, &jar, form).await {
        return (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({ "error": "reauthenticate" }))).into_response();
    }
    let user = a.nip.clone().or(a.nik.clone()).unwrap_or_else(|| a.id.clone());
    match passkeys::start_registration(st.webauthn.as_ref(), &st.cache, &st.db, &a.id, &user, &a.name).await {
        Ok(v) => super::no_store_json(v),
        Err(e) => {
            tracing::error!(error = %e, "passkey registration options failed");
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(serde_json::json!({ "error": "server_error" })))
                .into_response()
        }
    }
}

pub async fn passkey_add(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let (_, a) = require_session!(st, jar, recent);
    let bid = Cookies::read(&st, &jar, Cookies::BROWSER).unwrap_or_default();
    let Ok(form) = form else {
        return error_page(&st, StatusCode::BAD_REQUEST, locale, "error_invalid_request", "invalid_request");
    };
    if !st.csrf.verify(&bid, "account", form.get("csrf").unwrap_or("")) {
        return error_page(&st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request");
    }
    let Ok(cred) =
        serde_json::from_str::<webauthn_rs::prelude::RegisterPublicKeyCredential>(form.get("credential").unwrap_or(""))
    else {
        return error_page(&st, StatusCode::BAD_REQUEST, locale, "err_passkey", "invalid_request");
    };
    match passkeys::finish_registration(
        st.webauthn.as_ref(),
        &st.cache,
        &st.db,
        &a.id,
        form.get("name").unwrap_or(""),
        &cred,
        now(),
    )
    .await
    {
        Ok(row) => {
            tracing::info!(account = %a.id, passkey = %row.id, "passkey registered");
            audit::record(&st.db, Event::new("passkey.registered").actor(&a.id).subject(&a.id), now()).await;
            see_other("/account?done=passkey_added")
        }
        Err(passkeys::PasskeyError::Store(e)) => {
            tracing::error!(error = %e, "passkey registration failed");
            error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error")
        }
        Err(e) => {
            tracing::info!(error = %e, "passkey registration refused");
            error_page(&st, StatusCode::BAD_REQUEST, locale, "err_passkey", "invalid_request")
        }
    }
}

pub async fn passkey_remove_form(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::extract::Path(id): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    let _ = require_session!(st, jar, recent);
    confirm_page(
        &st,
        jar,
        locale,
        &format!("/account/passkeys/{id}/remove"),
        "confirm_passkey_remove",
        "confirm_remove_passkey",
    )
}

pub async fn passkey_remove(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let (_, a) = require_session!(st, jar, recent);
    if !checked_post(&st, &jar, form).await {
        return error_page(&st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request");
    }
    match passkeys::remove(&st.db, &a.id, &id).await {
        Ok(true) => {
            tracing::info!(account = %a.id, passkey = %id, "passkey removed");
            audit::record(&st.db, Event::new("passkey.removed").actor(&a.id).subject(&a.id), now()).await;
            see_other("/account?done=passkey_removed")
        }
        Ok(false) => error_page(&st, StatusCode::NOT_FOUND, locale, "error_not_found", "not_found"),
        Err(_) => error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error"),
    }
}

pub async fn password_form(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    let _ = require_session!(st, jar);
    let (jar, bid) = browser_id(&st, jar);
    let ctx = minijinja::context! { csrf => st.csrf.token(&bid, "account"), action => "/account/password" };
    (jar, page(&st, StatusCode::OK, "account_password.html", locale, ctx)).into_response()
}

pub async fn password_change(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let (_, a) = require_session!(st, jar);
    let bid = Cookies::read(&st, &jar, Cookies::BROWSER).unwrap_or_default();
    let Ok(form) = form else {
        return error_page(&st, StatusCode::BAD_REQUEST, locale, "error_invalid_request", "invalid_request");
    };
    if !st.csrf.verify(&bid, "account", form.get("csrf").unwrap_or("")) {
        return error_page(&st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request");
    }
    let again = |key: &str, status: StatusCode| {
        let ctx = minijinja::context! {
            csrf => st.csrf.token(&bid, "account"), action => "/account/password", error => st.themes.text(locale, key),
        };
        page(&st, status, "account_password.html", locale, ctx)
    };
    let current_pw = Secret::new(form.get("current_password").unwrap_or("").to_string());
    let new_pw = Secret::new(form.get("new_password").unwrap_or("").to_string());
    if form.get("new_password") != form.get("repeat_password") {
        return again("pw_mismatch", StatusCode::BAD_REQUEST);
    }
    match accounts::change_password(&st.db, &st.hasher, &a.id, &current_pw, &new_pw, now()).await {
        Ok(()) => {
            tracing::info!(account = %a.id, "password changed");
            audit::record(&st.db, Event::new("password.changed").actor(&a.id).subject(&a.id), now()).await;
            see_other("/account?done=password_changed")
        }
        Err(accounts::PasswordChangeError::WrongCurrent) => again("pw_wrong_current", StatusCode::BAD_REQUEST),
        Err(accounts::PasswordChangeError::Policy(rule)) => again(rule.message_key(), StatusCode::BAD_REQUEST),
        Err(accounts::PasswordChangeError::Internal(e)) => {
            tracing::error!(error = %e, "password change failed");
            error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error")
        }
    }
}

pub async fn totp_form(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    let (_, a) = require_session!(st, jar, recent);
    match totp::is_enrolled(&st.db, &a.id).await {
        Ok(true) => return see_other("/account"),
        Ok(false) => {}
        Err(_) => return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error"),
    }
    let label = a.nip.clone().or(a.nik.clone()).unwrap_or_default();
    let Ok(e) = totp::start_enrolment(&st.db, &st.sealer, &a.id, &label, "Gerbang", now()).await else {
        return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
    };
    let (jar, bid) = browser_id(&st, jar);
    let ctx = minijinja::context! {
        csrf => st.csrf.token(&bid, "account"), action => "/account/totp",
        qr => e.qr_svg_data_uri, secret => e.secret_base32, uri => e.uri,
    };
    (jar, page(&st, StatusCode::OK, "account_totp.html", locale, ctx)).into_response()
}

pub async fn totp_confirm(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let (_, a) = require_session!(st, jar, recent);
    let bid = Cookies::read(&st, &jar, Cookies::BROWSER).unwrap_or_default();
    let Ok(form) = form else {
        return error_page(&st, StatusCode::BAD_REQUEST, locale, "error_invalid_request", "invalid_request");
    };
    if !st.csrf.verify(&bid, "account", form.get("csrf").unwrap_or("")) {
        return error_page(&st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request");
    }
    let t = now();
    match totp::confirm_enrolment(&st.db, &st.sealer, &a.id, form.get("code").unwrap_or(""), t).await {
        Ok(true) => {}
        Ok(false) => {
            return error_page(&st, StatusCode::BAD_REQUEST, locale, "err_invalid_code_enrol", "invalid_request")
        }
        Err(e) => {
            tracing::error!(error = %e, "TOTP confirmation failed");
            return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
        }
    }
    tracing::info!(account = %a.id, "authenticator app enrolled");
    audit::record(&st.db, Event::new("totp.enrolled").actor(&a.id).subject(&a.id), now()).await;
    // The first enrolment comes with recovery codes, shown once.
    match recovery::remaining(&st.db, &a.id).await {
        Ok(0) => show_new_codes(&st, &a, locale, t).await,
        Ok(_) => see_other("/account?done=totp_enrolled"),
        Err(_) => error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error"),
    }
}

async fn show_new_codes(st: &AppState, a: &Account, locale: &str, t: i64) -> Response {
    match recovery::generate(&st.db, &st.recovery, &a.id, t).await {
        Ok(codes) => {
            audit::record(&st.db, Event::new("recovery_codes.generated").actor(&a.id).subject(&a.id), t).await;
            page(st, StatusCode::OK, "account_codes.html", locale, minijinja::context! { codes => codes })
        }
        Err(e) => {
            tracing::error!(error = %e, "recovery code generation failed");
            error_page(st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error")
        }
    }
}

/// Destructive actions first show what will happen, with a way to cancel.
fn confirm_page(
    st: &AppState,
    jar: CookieJar,
    locale: &str,
    action: &str,
    message_key: &str,
    button_key: &str,
) -> Response {
    let (jar, bid) = browser_id(st, jar);
    let ctx = minijinja::context! {
        csrf => st.csrf.token(&bid, "account"), action => action,
        message => st.themes.text(locale, message_key), confirm_label => st.themes.text(locale, button_key),
        cancel_url => "/account",
    };
    (jar, page(st, StatusCode::OK, "confirm.html", locale, ctx)).into_response()
}

pub async fn totp_remove_form(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    let _ = require_session!(st, jar, recent);
    confirm_page(&st, jar, locale, "/account/totp/remove", "confirm_totp_remove", "confirm_remove")
}

pub async fn recovery_form(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    let _ = require_session!(st, jar, recent);
    confirm_page(&st, jar, locale, "/account/recovery", "confirm_recovery_new", "confirm_generate")
}

async fn checked_post(st: &AppState, jar: &CookieJar, form: Result<FormParams, FormRejection>) -> bool {
    let bid = Cookies::read(st, jar, Cookies::BROWSER).unwrap_or_default();
    form.is_ok_and(|f| st.csrf.verify(&bid, "account", f.get("csrf").unwrap_or("")))
}

pub async fn totp_remove(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let (_, a) = require_session!(st, jar, recent);
    if !checked_post(&st, &jar, form).await {
        return error_page(&st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request");
    }
    let removed = totp::remove(&st.db, &a.id).await;
    let cleared = crate::store::factors::delete_recovery_codes(&st.db, &a.id).await;
    if removed.is_err() || cleared.is_err() {
        return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
    }
    tracing::info!(account = %a.id, "authenticator app removed");
    audit::record(&st.db, Event::new("totp.removed").actor(&a.id).subject(&a.id), now()).await;
    see_other("/account?done=totp_removed")
}

pub async fn recovery_new(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let (_, a) = require_session!(st, jar, recent);
    if !checked_post(&st, &jar, form).await {
        return error_page(&st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request");
    }
    show_new_codes(&st, &a, locale, now()).await
}

pub async fn session_end_form(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::extract::Path(sid): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    let _ = require_session!(st, jar);
    confirm_page(
        &st,
        jar,
        locale,
        &format!("/account/sessions/{sid}/end"),
        "confirm_session_end",
        "confirm_end_session",
    )
}

pub async fn session_end(
    State(st): State<St>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::extract::Path(sid): axum::extract::Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let (current_session, a) = require_session!(st, jar);
    if !checked_post(&st, &jar, form).await {
        return error_page(&st, StatusCode::FORBIDDEN, locale, "err_csrf", "invalid_request");
    }
    match session::end_by_sid(&st.cache, &a.id, &sid).await {
        Ok(true) => {
            audit::record(
                &st.db,
                Event::new("session.ended").actor(&a.id).subject(&a.id).detail(serde_json::json!({ "sid": sid })),
                now(),
            )
            .await;
            if sid == current_session.sid {
                return (jar.add(Cookies::removal(&st, Cookies::SSO)), see_other("/account")).into_response();
            }
            see_other("/account?done=session_ended")
        }
        Ok(false) => error_page(&st, StatusCode::NOT_FOUND, locale, "error_not_found", "not_found"),
        Err(_) => error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error"),
    }
}
