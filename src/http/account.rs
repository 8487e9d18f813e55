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
use super::{SignedInForm, St, BUSY_RETRY_SECONDS};
use crate::config::Secret;
use crate::identity::accounts::AccountKind;
use crate::identity::levels;
use crate::ids::{PasskeyId, SessionId};
use crate::ops::account::{self as ops, Recent, SelfServiceError, SessionEnded, SignedIn};
use crate::ops::enrolment as ops_enrolment;
use crate::ops::relying_party;
use crate::state::AppState;
use crate::theme::negotiate;

/// Outcome messages shown once on the account page; only these keys are accepted from the URL.
const DONE: &[&str] = &[
    "password_changed",
    "totp_enrolled",
    "totp_removed",
    "passkey_added",
    "passkey_removed",
    "session_ended",
    "enrolment_ready",
    "upstream_removed",
];

/// "Chrome · Windows" from a User-Agent header (also named in new-device notices).
pub use crate::ops::notify::device_label as device;

pub(super) fn locale_of(st: &AppState, headers: &HeaderMap, ui_locales: Option<&str>) -> &'static str {
    negotiate(ui_locales, accept_language(headers), &st.config.default_locale)
}

async fn current(st: &AppState, jar: &CookieJar) -> Option<SignedIn> {
    let cookie = Cookies::read(st, jar, Cookies::SSO)?;
    ops::signed_in(st, &cookie, st.now()).await
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
pub struct Person<M = SignedIn> {
    pub(super) st: St,
    pub(super) me: M,
    pub(super) locale: &'static str,
    /// The browser-binding id this person's forms are bound to (empty before any page).
    pub(super) bid: String,
}

/// A person who logged in recently enough to change factors (`ops::account::Recent`);
/// otherwise the login again.
pub struct RecentPerson(pub(super) Person<Recent>);

impl FromRequestParts<St> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let ui_locales = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "ui_locales")
            .map(|(_, v)| v.into_owned());
        let locale = locale_of(st, &parts.headers, ui_locales.as_deref());
        let Some(me) = current(st, &jar).await else {
            return Err(login_redirect(st, locale, false).await);
        };
        let bid = Cookies::read(st, &jar, Cookies::BROWSER).unwrap_or_default();
        Ok(Person { st: st.clone(), me, locale, bid })
    }
}

impl FromRequestParts<St> for RecentPerson {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        let Person { st: state, me, locale, bid } = Person::from_request_parts(parts, st).await?;
        match me.recent(st.now()) {
            Some(me) => Ok(RecentPerson(Person { st: state, me, locale, bid })),
            None => Err(login_redirect(st, locale, true).await),
        }
    }
}

impl<M> CsrfBound for Person<M> {
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

impl<M> Person<M> {
    pub(super) fn server_error(&self) -> PageError {
        PageError::server(&self.st, self.locale)
    }

    /// The page for an operation's error.
    pub(super) fn error(&self, e: SelfServiceError) -> PageError {
        self.refusal(e, "error_invalid_request")
    }

    /// As [`Person::error`], with its own message for a refused answer or code.
    fn refusal(&self, e: SelfServiceError, refused: &'static str) -> PageError {
        match e {
            SelfServiceError::NotFound => PageError::not_found(&self.st, self.locale),
            SelfServiceError::Refused => {
                PageError::new(&self.st, self.locale, StatusCode::BAD_REQUEST, refused, "invalid_request")
            }
            SelfServiceError::EnrolmentLinkRequired => PageError::new(
                &self.st,
                self.locale,
                StatusCode::FORBIDDEN,
                "err_enrolment_link_required",
                "access_denied",
            ),
            SelfServiceError::LinkInvalid => PageError::new(
                &self.st,
                self.locale,
                StatusCode::BAD_REQUEST,
                "err_enrolment_link_invalid",
                "invalid_request",
            ),
            SelfServiceError::Password(_) | SelfServiceError::Internal => self.server_error(),
        }
    }

    pub(super) fn text(&self, key: &str) -> String {
        self.st.themes.text(self.locale, key)
    }

    /// Recovery codes, shown once.
    fn codes_page(&self, codes: Vec<String>) -> Response {
        page(&self.st, StatusCode::OK, "account_codes.html", self.locale, minijinja::context! { codes => codes })
    }

    /// Destructive actions first show what will happen, with a way to cancel.
    pub(super) fn confirm_page(&self, jar: CookieJar, action: &str, message_key: &str, button_key: &str) -> Response {
        let (jar, bid) = browser_id(&self.st, jar);
        let ctx = minijinja::context! {
            csrf => self.st.csrf.token(&bid, "account"), action => action,
            message => self.text(message_key), confirm_label => self.text(button_key),
            cancel_url => "/account",
        };
        (jar, page(&self.st, StatusCode::OK, "confirm.html", self.locale, ctx)).into_response()
    }
}

pub async fn overview(
    p: Person,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (st, locale, a) = (&p.st, p.locale, &p.me.account);
    let o = ops::overview(st, &p.me, st.now()).await.map_err(|e| p.error(e))?;
    let level = levels::get(o.level).map(|l| if locale == "en" { l.name_en } else { l.name_id });
    let day =
        |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let keys: Vec<minijinja::Value> = o
        .passkeys
        .iter()
        .map(|k| minijinja::context! { id => k.id, name => k.name, created => day(k.created_at), last_used => k.last_used_at.map(day), origin => origin(&p, k.enrolled_via.as_deref(), k.enrolled_level) })
        .collect();
    // In the region's zone (WIB, WITA or WIT), like the e-mail notices.
    let when = |t: i64| crate::clock::local_time(t, st.config.utc_offset_minutes);
    let sessions: Vec<minijinja::Value> = o
        .sessions
        .iter()
        .map(|x| minijinja::context! { sid => x.sid, since => when(x.auth_time), ip => x.ip, device => device(&x.user_agent), current => x.sid == p.me.session.sid })
        .collect();
    let (jar, bid) = browser_id(st, jar);
    let done = q.get("done").filter(|d| DONE.contains(&d.as_str())).map(|d| p.text(&format!("done_{d}")));
    let ctx = minijinja::context! {
        sessions => sessions,
        name => a.name,
        account_type => p.text(if a.kind == AccountKind::Asn { "account_type_asn" } else { "account_type_citizen" }),
        nip => a.nip,
        nik => a.nik,
        opd => o.unit_name,
        level => level,
        totp_enrolled => o.totp_enrolled,
        recovery_remaining => o.recovery_remaining,
        low_on_codes => o.totp_enrolled && o.recovery_remaining <= 3,
        done => done,
        passkeys => keys,
        passkeys_enabled => o.passkeys_enabled,
        totp_origin => o.totp_origin.as_ref().and_then(|(via, level)| origin(&p, via.as_deref(), *level)),
        enrolment => o.enrolment.as_str(),
        link_pending => Cookies::read(st, &jar, Cookies::ENROL).is_some(),
        email => a.email, email_verified => a.email_verified, email_pending => o.pending_email,
        phone_number => a.phone_number,
        // A citizen sees whether their identity was checked at a counter, and where to go if not.
        identity => (a.kind == AccountKind::Citizen).then(|| minijinja::context! {
            verified => a.identity_verified(), counter => super::register::counter_info(st, locale),
        }),
        csrf => st.csrf.token(&bid, "account"),
        certificates_offered => crate::ops::certificates::binding::offered(st),
        upstream_links => o.upstream_links.iter().map(|l| minijinja::context! { upstream_id => l.upstream_id, name => l.name, created => when(l.created_at), last_login => l.last_login_at.map(when) }).collect::<Vec<_>>(),
    };
    Ok((jar, page(st, StatusCode::OK, "account.html", locale, ctx)).into_response())
}

/// "added through an enrolment link" / "added after a password-only login": how a factor got
/// its standing, so a factor a phisher added stands out. Older factors say nothing.
fn origin<M>(p: &Person<M>, via: Option<&str>, level: Option<i64>) -> Option<String> {
    match (via?, level?) {
        ("link", _) => Some(p.text("account_factor_via_link")),
        (_, level) => Some(p.text("account_factor_via_session").replace("{level}", &level.to_string())),
    }
}

/// Opening an enrolment link. Its secret waits in a cookie while the person signs in; the
/// account page then offers to use it. A GET redeems nothing (link previews open links too).
pub async fn enrol_link(
    State(st): State<St>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    if !ops_enrolment::plausible_token(&token) {
        let locale = locale_of(&st, &headers, None);
        let e = PageError::new(&st, locale, StatusCode::NOT_FOUND, "err_enrolment_link_invalid", "invalid_request");
        return e.into_response();
    }
    (jar.add(Cookies::make(&st, Cookies::ENROL, token)), see_other("/account")).into_response()
}

/// Uses the link kept by [`enrol_link`] for the signed-in person; the cookie goes either way.
pub async fn enrol_redeem(
    jar: CookieJar,
    SignedInForm { who: RecentPerson(p), .. }: SignedInForm<RecentPerson>,
) -> Response {
    let token = Cookies::read(&p.st, &jar, Cookies::ENROL).unwrap_or_default();
    let jar = jar.add(Cookies::removal(&p.st, Cookies::ENROL));
    match ops_enrolment::redeem_link(&p.st, &p.me, &token, p.st.now()).await {
        Ok(()) => (jar, see_other("/account?done=enrolment_ready")).into_response(),
        Err(e) => (jar, p.error(e)).into_response(),
    }
}

/// Creation options for a new passkey (fetched by the page's script, so refusals are JSON).
pub async fn passkey_options(
    State(st): State<St>,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let Some(me) = current(&st, &jar).await else {
        return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({ "error": "login_required" })))
            .into_response();
    };
    let bid = Cookies::read(&st, &jar, Cookies::BROWSER).unwrap_or_default();
    let checked = form.is_ok_and(|f| st.csrf.verify(&bid, "account", f.get("csrf").unwrap_or("")));
    let (Some(me), true) = (me.recent(st.now()), checked) else {
        return (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({ "error": "reauthenticate" }))).into_response();
    };
    match ops::passkey_options(&st, &me, st.now()).await {
        Ok(v) => super::no_store_json(v),
        Err(SelfServiceError::EnrolmentLinkRequired) => {
            (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({ "error": "enrolment_link_required" })))
                .into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(serde_json::json!({ "error": "server_error" })))
            .into_response(),
    }
}

pub async fn passkey_add(
    SignedInForm { who: RecentPerson(p), form }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    let (name, credential) = (form.get("name").unwrap_or(""), form.get("credential").unwrap_or(""));
    ops::add_passkey(&p.st, &p.me, name, credential, p.st.now()).await.map_err(|e| p.refusal(e, "err_passkey"))?;
    Ok(see_other("/account?done=passkey_added"))
}

pub async fn passkey_remove_form(
    Path(id): Path<String>,
    RecentPerson(p): RecentPerson,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let id = PasskeyId::parse(&id).map_err(|_| p.error(SelfServiceError::NotFound))?;
    let action = format!("/account/passkeys/{id}/remove");
    Ok(p.confirm_page(jar, &action, "confirm_passkey_remove", "confirm_remove_passkey"))
}

pub async fn passkey_remove(
    Path(id): Path<String>,
    SignedInForm { who: RecentPerson(p), .. }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    let id = PasskeyId::parse(&id).map_err(|_| p.error(SelfServiceError::NotFound))?;
    ops::remove_passkey(&p.st, &p.me, &id, p.st.now()).await.map_err(|e| p.error(e))?;
    Ok(see_other("/account?done=passkey_removed"))
}

pub async fn password_form(p: Person, jar: CookieJar) -> Response {
    let (jar, bid) = browser_id(&p.st, jar);
    let ctx = minijinja::context! { csrf => p.st.csrf.token(&bid, "account"), action => "/account/password" };
    (jar, page(&p.st, StatusCode::OK, "account_password.html", p.locale, ctx)).into_response()
}

pub async fn password_change(SignedInForm { who: p, form }: SignedInForm<Person>) -> Result<Response, PageError> {
    let field = |name: &str| Secret::new(form.get(name).unwrap_or("").to_string());
    let (current, new, repeat) = (field("current_password"), field("new_password"), field("repeat_password"));
    match ops::change_password(&p.st, &p.me, &current, &new, &repeat, p.st.now()).await {
        Ok(()) => Ok(see_other("/account?done=password_changed")),
        Err(SelfServiceError::Password(refusal)) => {
            let ctx = minijinja::context! {
                csrf => p.st.csrf.token(&p.bid, "account"), action => "/account/password",
                error => p.text(refusal.message_key()),
            };
            let status = match refusal {
                ops::PasswordRefusal::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
                ops::PasswordRefusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            let res = page(&p.st, status, "account_password.html", p.locale, ctx);
            Ok(if refusal == ops::PasswordRefusal::Busy { super::retry_after(res, BUSY_RETRY_SECONDS) } else { res })
        }
        Err(e) => Err(p.error(e)),
    }
}

pub async fn totp_form(RecentPerson(p): RecentPerson, jar: CookieJar) -> Result<Response, PageError> {
    let Some(e) = ops::start_totp(&p.st, &p.me, p.st.now()).await.map_err(|e| p.error(e))? else {
        return Ok(see_other("/account"));
    };
    let (jar, bid) = browser_id(&p.st, jar);
    let ctx = minijinja::context! {
        csrf => p.st.csrf.token(&bid, "account"), action => "/account/totp",
        qr => e.qr_svg_data_uri, secret => e.secret_base32, uri => e.uri,
    };
    Ok((jar, page(&p.st, StatusCode::OK, "account_totp.html", p.locale, ctx)).into_response())
}

pub async fn totp_confirm(
    SignedInForm { who: RecentPerson(p), form }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    let code = form.get("code").unwrap_or("");
    match ops::confirm_totp(&p.st, &p.me, code, p.st.now()).await.map_err(|e| p.refusal(e, "err_invalid_code_enrol"))? {
        Some(codes) => Ok(p.codes_page(codes)),
        None => Ok(see_other("/account?done=totp_enrolled")),
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
    ops::remove_totp(&p.st, &p.me, p.st.now()).await.map_err(|e| p.error(e))?;
    Ok(see_other("/account?done=totp_removed"))
}

pub async fn recovery_new(
    SignedInForm { who: RecentPerson(p), .. }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    let codes = ops::new_recovery_codes(&p.st, &p.me, p.st.now()).await.map_err(|e| p.error(e))?;
    Ok(p.codes_page(codes))
}

/// Ids from the path are checked against their format before they are used or echoed into a
/// form's action: a malformed one names no session or passkey, like an unknown one.
pub async fn session_end_form(Path(sid): Path<String>, p: Person, jar: CookieJar) -> Result<Response, PageError> {
    let sid = SessionId::parse(&sid).map_err(|_| p.error(SelfServiceError::NotFound))?;
    Ok(p.confirm_page(jar, &format!("/account/sessions/{sid}/end"), "confirm_session_end", "confirm_end_session"))
}

pub async fn session_end(
    Path(sid): Path<String>,
    jar: CookieJar,
    SignedInForm { who: p, .. }: SignedInForm<Person>,
) -> Result<Response, PageError> {
    let sid = SessionId::parse(&sid).map_err(|_| p.error(SelfServiceError::NotFound))?;
    match ops::end_session(&p.st, &p.me, &sid, p.st.now()).await.map_err(|e| p.error(e))? {
        SessionEnded::This => {
            Ok((jar.add(Cookies::removal(&p.st, Cookies::SSO)), see_other("/account")).into_response())
        }
        SessionEnded::Other => Ok(see_other("/account?done=session_ended")),
    }
}
