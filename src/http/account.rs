//! The self-service account page: profile facts, password change, authenticator app (TOTP)
//! enrolment and removal, recovery codes. It runs on the SSO session; without one the person is
//! sent through the ordinary login as the built-in application `gerbang-account`.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::{accept_language, browser_id, page, see_other, Cookies, CsrfBound, FormParams, FormRejection, PageError};
use super::{SignedInForm, St};
use crate::audit::{self, Event};
use crate::auth::session::{self, SsoSession};
use crate::auth::{passkeys, recovery, totp};
use crate::config::Secret;
use crate::identity::accounts::{self, Account, AccountKind};
use crate::identity::levels;
use crate::ops::relying_party;
use crate::state::{now, AppState};
use crate::store::opd as opd_store;
use crate::theme::negotiate;

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

fn locale_of(st: &AppState, headers: &HeaderMap, ui_locales: Option<&str>) -> &'static str {
    negotiate(ui_locales, accept_language(headers), &st.config.default_locale)
}

async fn current(st: &AppState, jar: &CookieJar) -> Option<(SsoSession, Account)> {
    let cookie = Cookies::read(st, jar, Cookies::SSO)?;
    let s = session::load(&st.cache, &cookie, now()).await.ok().flatten()?;
    let a = accounts::get(&st.db, &s.account_id).await.ok().flatten().filter(|a| a.is_active())?;
    Some((s, a))
}

/// Through the ordinary authorization endpoint, as any application would; the code it returns
/// is not needed because the session cookie is what the account page runs on.
async fn login_redirect(st: &St, locale: &'static str, force: bool) -> Response {
    let opts = relying_party::Options { prompt: force.then_some("login"), ..Default::default() };
    match relying_party::start(st, &relying_party::ACCOUNT, opts).await {
        Ok(started) => see_other(&started.authorize_url),
        Err(_) => PageError::server(st, locale).into_response(),
    }
}

/// The person signed in through the single sign-on session; without one, the login.
pub struct Person {
    st: St,
    session: SsoSession,
    account: Account,
    locale: &'static str,
    /// The browser-binding id this person's forms are bound to (empty before any page).
    bid: String,
}

/// A person who logged in within `RECENT_AUTH_SECONDS`, as changing factors needs; otherwise the
/// login again.
pub struct RecentPerson(Person);

impl FromRequestParts<St> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let ui_locales = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "ui_locales")
            .map(|(_, v)| v.into_owned());
        let locale = locale_of(st, &parts.headers, ui_locales.as_deref());
        let Some((session, account)) = current(st, &jar).await else {
            return Err(login_redirect(st, locale, false).await);
        };
        let bid = Cookies::read(st, &jar, Cookies::BROWSER).unwrap_or_default();
        Ok(Person { st: st.clone(), session, account, locale, bid })
    }
}

impl FromRequestParts<St> for RecentPerson {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        let p = Person::from_request_parts(parts, st).await?;
        if now() - p.session.auth_time > RECENT_AUTH_SECONDS {
            return Err(login_redirect(st, p.locale, true).await);
        }
        Ok(RecentPerson(p))
    }
}

impl CsrfBound for Person {
    fn csrf_binding(&self) -> (&str, &'static str) {
        (&self.bid, "account")
    }

    fn locale(&self) -> &'static str {
        self.locale
    }
}

impl CsrfBound for RecentPerson {
    fn csrf_binding(&self) -> (&str, &'static str) {
        self.0.csrf_binding()
    }

    fn locale(&self) -> &'static str {
        self.0.locale
    }
}

impl Person {
    fn server_error(&self) -> PageError {
        PageError::server(&self.st, self.locale)
    }

    fn text(&self, key: &str) -> String {
        self.st.themes.text(self.locale, key)
    }
}

pub async fn overview(
    p: Person,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (st, locale, s, a) = (&p.st, p.locale, &p.session, &p.account);
    let opd = match &a.opd_id {
        Some(id) => opd_store::get(&st.db, id).await.ok().flatten().map(|o| o.name),
        None => None,
    };
    let (Ok(totp_enrolled), Ok(remaining)) =
        (totp::is_enrolled(&st.db, &a.id).await, recovery::remaining(&st.db, &a.id).await)
    else {
        return Err(p.server_error());
    };
    let level =
        levels::get(levels::from_acr(&s.acr).unwrap_or(1)).map(|l| if locale == "en" { l.name_en } else { l.name_id });
    let keys = passkeys::list(&st.db, &a.id).await.map_err(|_| p.server_error())?;
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
    let (jar, bid) = browser_id(st, jar);
    let done = q.get("done").filter(|d| DONE.contains(&d.as_str())).map(|d| p.text(&format!("done_{d}")));
    let ctx = minijinja::context! {
        sessions => sessions,
        name => a.name,
        account_type => p.text(if a.kind == AccountKind::Asn { "account_type_asn" } else { "account_type_citizen" }),
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
    Ok((jar, page(st, StatusCode::OK, "account.html", locale, ctx)).into_response())
}

/// Creation options for a new passkey (fetched by the page's script, so refusals are JSON).
pub async fn passkey_options(
    State(st): State<St>,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let Some((s, a)) = current(&st, &jar).await else {
        return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({ "error": "login_required" })))
            .into_response();
    };
    let bid = Cookies::read(&st, &jar, Cookies::BROWSER).unwrap_or_default();
    let checked = form.is_ok_and(|f| st.csrf.verify(&bid, "account", f.get("csrf").unwrap_or("")));
    if now() - s.auth_time > RECENT_AUTH_SECONDS || !checked {
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
    SignedInForm { who: RecentPerson(p), form }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    let (st, a) = (&p.st, &p.account);
    let refused = || PageError::new(st, p.locale, StatusCode::BAD_REQUEST, "err_passkey", "invalid_request");
    let cred =
        serde_json::from_str::<webauthn_rs::prelude::RegisterPublicKeyCredential>(form.get("credential").unwrap_or(""))
            .map_err(|_| refused())?;
    let name = form.get("name").unwrap_or("");
    match passkeys::finish_registration(st.webauthn.as_ref(), &st.cache, &st.db, &a.id, name, &cred, now()).await {
        Ok(row) => {
            tracing::info!(account = %a.id, passkey = %row.id, "passkey registered");
            audit::record(&st.db, Event::new("passkey.registered").actor(&a.id).subject(&a.id), now()).await;
            Ok(see_other("/account?done=passkey_added"))
        }
        Err(passkeys::PasskeyError::Store(e)) => {
            tracing::error!(error = %e, "passkey registration failed");
            Err(p.server_error())
        }
        Err(e) => {
            tracing::info!(error = %e, "passkey registration refused");
            Err(refused())
        }
    }
}

pub async fn passkey_remove_form(Path(id): Path<String>, RecentPerson(p): RecentPerson, jar: CookieJar) -> Response {
    p.confirm_page(jar, &format!("/account/passkeys/{id}/remove"), "confirm_passkey_remove", "confirm_remove_passkey")
}

pub async fn passkey_remove(
    Path(id): Path<String>,
    SignedInForm { who: RecentPerson(p), .. }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    let (st, a) = (&p.st, &p.account);
    match passkeys::remove(&st.db, &a.id, &id).await {
        Ok(true) => {
            tracing::info!(account = %a.id, passkey = %id, "passkey removed");
            audit::record(&st.db, Event::new("passkey.removed").actor(&a.id).subject(&a.id), now()).await;
            Ok(see_other("/account?done=passkey_removed"))
        }
        Ok(false) => Err(PageError::not_found(st, p.locale)),
        Err(_) => Err(p.server_error()),
    }
}

pub async fn password_form(p: Person, jar: CookieJar) -> Response {
    let (jar, bid) = browser_id(&p.st, jar);
    let ctx = minijinja::context! { csrf => p.st.csrf.token(&bid, "account"), action => "/account/password" };
    (jar, page(&p.st, StatusCode::OK, "account_password.html", p.locale, ctx)).into_response()
}

pub async fn password_change(SignedInForm { who: p, form }: SignedInForm<Person>) -> Result<Response, PageError> {
    let (st, a) = (&p.st, &p.account);
    let again = |key: &str| {
        let ctx = minijinja::context! {
            csrf => st.csrf.token(&p.bid, "account"), action => "/account/password", error => p.text(key),
        };
        Ok(page(st, StatusCode::BAD_REQUEST, "account_password.html", p.locale, ctx))
    };
    let current_pw = Secret::new(form.get("current_password").unwrap_or("").to_string());
    let new_pw = Secret::new(form.get("new_password").unwrap_or("").to_string());
    if form.get("new_password") != form.get("repeat_password") {
        return again("pw_mismatch");
    }
    match accounts::change_password(&st.db, &st.hasher, &a.id, &current_pw, &new_pw, now()).await {
        Ok(()) => {
            tracing::info!(account = %a.id, "password changed");
            audit::record(&st.db, Event::new("password.changed").actor(&a.id).subject(&a.id), now()).await;
            Ok(see_other("/account?done=password_changed"))
        }
        Err(accounts::PasswordChangeError::WrongCurrent) => again("pw_wrong_current"),
        Err(accounts::PasswordChangeError::Policy(rule)) => again(rule.message_key()),
        Err(accounts::PasswordChangeError::Internal(e)) => {
            tracing::error!(error = %e, "password change failed");
            Err(p.server_error())
        }
    }
}

pub async fn totp_form(RecentPerson(p): RecentPerson, jar: CookieJar) -> Result<Response, PageError> {
    let (st, a) = (&p.st, &p.account);
    if totp::is_enrolled(&st.db, &a.id).await.map_err(|_| p.server_error())? {
        return Ok(see_other("/account"));
    }
    let label = a.nip.clone().or(a.nik.clone()).unwrap_or_default();
    let e = totp::start_enrolment(&st.db, &st.sealer, &a.id, &label, "Gerbang", now())
        .await
        .map_err(|_| p.server_error())?;
    let (jar, bid) = browser_id(st, jar);
    let ctx = minijinja::context! {
        csrf => st.csrf.token(&bid, "account"), action => "/account/totp",
        qr => e.qr_svg_data_uri, secret => e.secret_base32, uri => e.uri,
    };
    Ok((jar, page(st, StatusCode::OK, "account_totp.html", p.locale, ctx)).into_response())
}

pub async fn totp_confirm(
    SignedInForm { who: RecentPerson(p), form }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    let (st, a) = (&p.st, &p.account);
    let t = now();
    match totp::confirm_enrolment(&st.db, &st.sealer, &a.id, form.get("code").unwrap_or(""), t).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(PageError::new(
                st,
                p.locale,
                StatusCode::BAD_REQUEST,
                "err_invalid_code_enrol",
                "invalid_request",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "TOTP confirmation failed");
            return Err(p.server_error());
        }
    }
    tracing::info!(account = %a.id, "authenticator app enrolled");
    audit::record(&st.db, Event::new("totp.enrolled").actor(&a.id).subject(&a.id), now()).await;
    // The first enrolment comes with recovery codes, shown once.
    match recovery::remaining(&st.db, &a.id).await {
        Ok(0) => p.show_new_codes(t).await,
        Ok(_) => Ok(see_other("/account?done=totp_enrolled")),
        Err(_) => Err(p.server_error()),
    }
}

impl Person {
    async fn show_new_codes(&self, t: i64) -> Result<Response, PageError> {
        let (st, a) = (&self.st, &self.account);
        match recovery::generate(&st.db, &st.recovery, &a.id, t).await {
            Ok(codes) => {
                audit::record(&st.db, Event::new("recovery_codes.generated").actor(&a.id).subject(&a.id), t).await;
                Ok(page(st, StatusCode::OK, "account_codes.html", self.locale, minijinja::context! { codes => codes }))
            }
            Err(e) => {
                tracing::error!(error = %e, "recovery code generation failed");
                Err(self.server_error())
            }
        }
    }

    /// Destructive actions first show what will happen, with a way to cancel.
    fn confirm_page(&self, jar: CookieJar, action: &str, message_key: &str, button_key: &str) -> Response {
        let (jar, bid) = browser_id(&self.st, jar);
        let ctx = minijinja::context! {
            csrf => self.st.csrf.token(&bid, "account"), action => action,
            message => self.text(message_key), confirm_label => self.text(button_key),
            cancel_url => "/account",
        };
        (jar, page(&self.st, StatusCode::OK, "confirm.html", self.locale, ctx)).into_response()
    }
}

pub async fn totp_remove_form(RecentPerson(p): RecentPerson, jar: CookieJar) -> Response {
    p.confirm_page(jar, "/account/totp/remove", "confirm_totp_remove", "confirm_remove")
}

pub async fn recovery_form(RecentPerson(p): RecentPerson, jar: CookieJar) -> Response {
    p.confirm_page(jar, "/account/recovery", "confirm_recovery_new", "confirm_generate")
}

pub async fn totp_remove(
    SignedInForm { who: RecentPerson(p), .. }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    let (st, a) = (&p.st, &p.account);
    let removed = totp::remove(&st.db, &a.id).await;
    let cleared = crate::store::factors::delete_recovery_codes(&st.db, &a.id).await;
    if removed.is_err() || cleared.is_err() {
        return Err(p.server_error());
    }
    tracing::info!(account = %a.id, "authenticator app removed");
    audit::record(&st.db, Event::new("totp.removed").actor(&a.id).subject(&a.id), now()).await;
    Ok(see_other("/account?done=totp_removed"))
}

pub async fn recovery_new(
    SignedInForm { who: RecentPerson(p), .. }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    p.show_new_codes(now()).await
}

pub async fn session_end_form(Path(sid): Path<String>, p: Person, jar: CookieJar) -> Response {
    p.confirm_page(jar, &format!("/account/sessions/{sid}/end"), "confirm_session_end", "confirm_end_session")
}

pub async fn session_end(
    Path(sid): Path<String>,
    jar: CookieJar,
    SignedInForm { who: p, .. }: SignedInForm<Person>,
) -> Result<Response, PageError> {
    let (st, a) = (&p.st, &p.account);
    match session::end_by_sid(&st.cache, &a.id, &sid).await {
        Ok(true) => {
            audit::record(
                &st.db,
                Event::new("session.ended").actor(&a.id).subject(&a.id).detail(serde_json::json!({ "sid": sid })),
                now(),
            )
            .await;
            if sid == p.session.sid {
                return Ok((jar.add(Cookies::removal(st, Cookies::SSO)), see_other("/account")).into_response());
            }
            Ok(see_other("/account?done=session_ended"))
        }
        Ok(false) => Err(PageError::not_found(st, p.locale)),
        Err(_) => Err(p.server_error()),
    }
}
