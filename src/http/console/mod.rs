//! The admin console under `/console`: server-rendered pages for the operations in
//! `crate::ops`. The console is an OIDC client of Gerbang (`gerbang-console`, code + PKCE,
//! redeemed in-process). The console session on the server holds the grant that login created;
//! every request checks it together with the browser's single sign-on session and the person's
//! live roles, so logging out, a revoked grant or a removed role ends console access at once.
//! Every change is shown on a confirmation page before it is made. This module holds the
//! `Console` extractor, the console's session (login, callback, logout) and what the pages
//! share; the pages themselves are in the submodules, one per subject.

// Refusals are `Result<_, Response>`, a finished page; axum's `Response` is large, and boxing it
// on the rare error path would buy nothing.
#![allow(clippy::result_large_err)]

mod accounts;
mod applications;
mod audit;
mod certificates;
mod dashboard;
mod requests;
mod units;
mod verification;

pub use accounts::{
    account, account_edit, account_enrolment_link, account_factor_reset, account_identity_verification, account_new,
    account_new_form, account_reset_link, account_role_add, account_role_remove, account_session_end, account_status,
    accounts, sessions,
};
pub use applications::{application, application_edit, application_enabled, application_secret, applications};
pub use audit::{audit_export, audit_view};
pub use certificates::{certificate_approve, certificate_bind, certificate_revoke, certificates, signers_csv};
pub use dashboard::dashboard;
pub use requests::{request, request_credentials, request_decide, request_submit, requests};
pub use units::{opd, opd_create, role_create, roles, roles_bulk};
pub use verification::{verification, verification_submit};

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use minijinja::{context, Value};
use serde::Deserialize;

use super::{accept_language, page, see_other, Cookies, CsrfBound, FormParams, PageError, SignedInForm, St};
use crate::identity::accounts::Account;
use crate::identity::levels;
use crate::ids::{AccountId, ClientId};
use crate::ops::console::{Entry, OpenError};
use crate::ops::relying_party::{self, RpError, CONSOLE};
use crate::ops::units::OpdRow;
use crate::ops::{self, AdminError, Principal};
use crate::state::AppState;
use crate::theme::negotiate;

const COOKIE: &str = "gerbang_console";
const LOGIN_COOKIE: &str = "gerbang_console_login";

/// Outcome messages shown once after a change; only these keys are accepted from the URL.
const DONE: &[&str] = &[
    "account_created",
    "account_updated",
    "role_assigned",
    "role_removed",
    "session_ended",
    "status_changed",
    "factors_reset",
    "application_updated",
    "application_enabled",
    "application_disabled",
    "request_submitted",
    "request_approved",
    "request_rejected",
    "bulk_done",
    "certificate_bound",
    "identity_verified",
    "certificate_revoked",
    "certificate_approved",
    "role_created",
    "opd_created",
];

/// Strict: the console is only ever reached from its own pages, so no other site's link or
/// form can ride on the session. The login cookie is Lax, because the browser comes back to the
/// callback by a redirect from the login pages.
fn make_cookie(st: &AppState, base: &'static str, value: String, strict: bool) -> Cookie<'static> {
    Cookies::make_with(st, base, value, if strict { SameSite::Strict } else { SameSite::Lax })
}

/// Only paths inside the console: a `next` pointing elsewhere would be an open redirect.
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.contains("://")
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/console".to_string(),
    }
}

fn locale_of(st: &AppState, headers: &HeaderMap, session_lang: Option<&str>) -> &'static str {
    negotiate(session_lang, accept_language(headers), &st.config.default_locale)
}

/// A logged-in administrator on a console page.
pub struct Console {
    st: St,
    admin: Principal,
    key: String,
    locale: &'static str,
    done: Option<String>,
}

impl FromRequestParts<St> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &St) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let query: HashMap<String, String> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()).into_owned().collect();
        let wanted_lang = query.get("lang").filter(|l| crate::theme::LOCALES.contains(&l.as_str())).cloned();
        let cookie = jar.get(&Cookies::name(st, COOKIE)).map(|c| c.value().to_string());
        let sso = Cookies::read(st, &jar, Cookies::SSO);
        let relogin = |lang: Option<&str>| -> Response {
            let locale = locale_of(st, &parts.headers, lang);
            if parts.method == Method::GET {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/console");
                see_other(&local_url("/console/login", &[("next", next)]))
            } else {
                PageError::new(st, locale, StatusCode::UNAUTHORIZED, "c_err_session_ended", "login_required")
                    .into_response()
            }
        };
        let (admin, key, lang) =
            match ops::console::enter(st, cookie.as_deref(), sso.as_deref(), wanted_lang, st.now()).await {
                Entry::In { admin, session_id, lang } => (admin, session_id, lang),
                Entry::LogIn(lang) => return Err(relogin(lang.as_deref())),
                Entry::Refused(e, lang) => {
                    let locale = locale_of(st, &parts.headers, lang.as_deref());
                    let page = match e {
                        AdminError::NeedsLevel(_) => {
                            let level = "insufficient_user_authentication";
                            PageError::new(st, locale, StatusCode::FORBIDDEN, "c_err_level", level)
                        }
                        AdminError::Forbidden(_) => {
                            PageError::new(st, locale, StatusCode::FORBIDDEN, "c_err_no_admin_role", "access_denied")
                        }
                        _ => PageError::server(st, locale),
                    };
                    return Err(page.into_response());
                }
            };
        let locale = locale_of(st, &parts.headers, lang.as_deref());
        let done = query.get("done").filter(|d| DONE.contains(&d.as_str())).cloned();
        Ok(Console { st: st.clone(), admin, key, locale, done })
    }
}

impl Console {
    fn csrf(&self) -> String {
        self.st.csrf.token(&self.key, "console")
    }

    /// An account id from a path, checked before it is used or echoed into a page; a malformed
    /// one is answered like a missing one.
    fn account_id(&self, id: &str) -> Result<AccountId, Response> {
        self.admin.parse_account_id(id).map_err(|e| self.fail(e, "/console/accounts"))
    }

    /// As [`Console::account_id`], for an application's client id.
    fn client_id(&self, id: &str) -> Result<ClientId, Response> {
        self.admin.parse_client_id(id).map_err(|e| self.fail(e, "/console/applications"))
    }

    /// One account within the admin's powers from a path's id (checked before it is used or
    /// echoed into a URL), and its page to return to after a change.
    async fn managed_account(&self, raw: &str) -> Result<(AccountId, Account, String), Response> {
        let id = self.account_id(raw)?;
        let a =
            ops::accounts::account(&self.st, &self.admin, &id).await.map_err(|e| self.fail(e, "/console/accounts"))?;
        let back = format!("/console/accounts/{id}");
        Ok((id, a, back))
    }

    fn text(&self, key: &str) -> String {
        self.st.themes.text(self.locale, key)
    }

    fn me(&self) -> Value {
        let p = &self.admin;
        let mut powers = Vec::new();
        if let Some(a) = p.person() {
            for (held, name) in [
                (a.diskominfo, "diskominfo-admin"),
                (a.opd_admin, "opd-admin"),
                (a.auditor, "auditor"),
                (a.developer, "opd-developer"),
                (a.identity_officer, "identity-officer"),
            ] {
                if held {
                    powers.push(name);
                }
            }
        }
        context! {
            name => p.account().map(|a| a.name.clone()),
            id => p.account().map(|a| a.id.clone()),
            powers => powers.join(", "),
            diskominfo => p.diskominfo(),
            sees_accounts => p.sees_accounts(),
            sees_requests => p.reviews_applications() || p.requests_applications(),
            requests_applications => p.requests_applications(),
            reads_audit => p.reads_audit(),
            verifies_citizens => p.verifies_citizens(),
        }
    }

    fn render(&self, status: StatusCode, template: &str, nav: &str, ctx: Value) -> Response {
        let notice = self.done.as_ref().map(|d| self.text(&format!("c_done_{d}")));
        let full = context! { me => self.me(), nav => nav, csrf => self.csrf(), notice => notice, ..ctx };
        page(&self.st, status, template, self.locale, full)
    }

    fn ok(&self, template: &str, nav: &str, ctx: Value) -> Response {
        self.render(StatusCode::OK, template, nav, ctx)
    }

    /// A refused or failed operation as a page with a way back.
    fn fail(&self, e: AdminError, back: &str) -> Response {
        let (status, key, detail) = match e {
            AdminError::Forbidden(d) => (StatusCode::FORBIDDEN, "c_err_forbidden", d),
            AdminError::NotFound(what) => (StatusCode::NOT_FOUND, "c_err_not_found", what.to_string()),
            AdminError::Conflict(d) => (StatusCode::CONFLICT, "c_err_conflict", d),
            AdminError::Invalid(d) => (StatusCode::UNPROCESSABLE_ENTITY, "c_err_invalid", d),
            AdminError::Gone(d) => (StatusCode::GONE, "c_err_gone", d),
            AdminError::NeedsLevel(_) => (StatusCode::FORBIDDEN, "c_err_level", String::new()),
            AdminError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "c_err_session_ended", String::new()),
            AdminError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "error_server", String::new()),
        };
        let ctx = context! { title => self.text("error_title"), message => self.text(key), detail => detail, back_url => back };
        self.render(status, "console_message.html", "", ctx)
    }

    /// The confirmation step: what will happen, the same fields again, and a way back.
    fn confirm(&self, form: &FormParams, action: &str, cancel: &str, summary: Vec<String>) -> Response {
        let fields: Vec<(String, String)> =
            form.0.iter().filter(|(k, _)| k != "csrf" && k != "confirmed").cloned().collect();
        let ctx = context! { summary => summary, fields => fields, action => action, cancel_url => cancel };
        self.ok("console_confirm.html", "", ctx)
    }

    fn fmt(&self, key: &str, args: &[&str]) -> String {
        let mut s = self.text(key);
        for (i, a) in args.iter().enumerate() {
            s = s.replace(&format!("{{{i}}}"), a);
        }
        s
    }

    fn local_time(&self, at: i64) -> String {
        let offset = i64::from(self.st.config.utc_offset_minutes) * 60;
        chrono::DateTime::from_timestamp(at + offset, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    }
}

impl CsrfBound for Console {
    fn csrf_binding(&self) -> (&str, &'static str) {
        (&self.key, "console")
    }

    fn locale(&self) -> &'static str {
        self.locale
    }
}

/// A same-site path with a query (relative, so it works behind any proxy prefix-free host).
fn local_url(path: &str, params: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    format!("{path}?{}", q.finish())
}

fn confirmed(form: &FormParams) -> bool {
    form.get("confirmed") == Some("1")
}

fn done(url: &str, what: &str) -> Response {
    let sep = if url.contains('?') { '&' } else { '?' };
    see_other(&format!("{url}{sep}done={what}"))
}

// ---------------------------------------------------------------- login and logout

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// Starts the console's own authorization request, at the level administration needs.
pub async fn login(
    State(st): State<St>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<NextParam>,
) -> Result<Response, PageError> {
    let locale = locale_of(&st, &headers, None);
    let opts = relying_party::Options {
        acr_values: Some(levels::acr(st.config.admin_min_level)),
        ui_locales: Some(locale),
        prompt: None,
        next: safe_next(q.next.as_deref()),
    };
    let started = relying_party::start(&st, &CONSOLE, opts).await.map_err(|_| PageError::server(&st, locale))?;
    Ok((jar.add(make_cookie(&st, LOGIN_COOKIE, started.cookie, false)), see_other(&started.authorize_url))
        .into_response())
}

pub async fn callback(
    State(st): State<St>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(mut q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let locale = locale_of(&st, &headers, None);
    let fail = |key, code: &str| PageError::new(&st, locale, StatusCode::BAD_REQUEST, key, code);
    let cb = relying_party::Callback { code: q.remove("code"), state: q.remove("state"), error: q.remove("error") };
    let kept = jar.get(&Cookies::name(&st, LOGIN_COOKIE)).map(|c| c.value().to_string()).unwrap_or_default();
    let opened = ops::console::open(&st, &kept, &cb, st.now()).await.map_err(|e| match e {
        OpenError::Login(RpError::Refused(e)) if e == "unmet_authentication_requirements" => fail("c_err_level", &e),
        OpenError::Login(RpError::Refused(e)) => fail("c_err_login_failed", &e),
        OpenError::Login(RpError::Expired) => fail("err_session_expired", "invalid_request"),
        OpenError::Login(RpError::UnknownClient | RpError::Internal) | OpenError::Internal => {
            PageError::server(&st, locale)
        }
        OpenError::Login(RpError::Exchange(code)) => fail("c_err_login_failed", code.as_str()),
        OpenError::Login(RpError::NoIdToken) => fail("c_err_login_failed", "server_error"),
        OpenError::Login(RpError::InvalidToken) => fail("c_err_login_failed", "invalid_token"),
        OpenError::Refused(AdminError::NeedsLevel(_)) => {
            PageError::new(&st, locale, StatusCode::FORBIDDEN, "c_err_level", "insufficient_user_authentication")
        }
        OpenError::Refused(AdminError::Forbidden(_)) => {
            PageError::new(&st, locale, StatusCode::FORBIDDEN, "c_err_no_admin_role", "access_denied")
        }
        OpenError::Refused(_) => fail("c_err_login_failed", "invalid_token"),
    })?;
    let mut gone = make_cookie(&st, LOGIN_COOKIE, String::new(), false);
    gone.make_removal();
    Ok((jar.add(gone).add(make_cookie(&st, COOKIE, opened.cookie, true)), see_other(&opened.next)).into_response())
}

/// Ends the console session, then the single sign-on session through the ordinary logout.
/// A POST with the console's CSRF token: the regional applications under the same registrable
/// domain are same-site with Gerbang, so a link or image on any of them must not log an
/// administrator out.
pub async fn logout(jar: CookieJar, SignedInForm { who: c, .. }: SignedInForm<Console>) -> Response {
    let st = c.st.clone();
    let hint = match jar.get(&Cookies::name(&st, COOKIE)) {
        Some(c) => ops::console::close(&st, c.value(), st.now()).await.unwrap_or_default(),
        None => String::new(),
    };
    let mut gone = make_cookie(&st, COOKIE, String::new(), true);
    gone.make_removal();
    let url = if hint.is_empty() { "/logout".to_string() } else { local_url("/logout", &[("id_token_hint", &hint)]) };
    (jar.add(gone), see_other(&url)).into_response()
}

// ---------------------------------------------------------------- shared by the pages

/// Units as an indented list for selects, depth-first from the roots.
fn unit_options(units: &[OpdRow]) -> Vec<Value> {
    fn walk(units: &[OpdRow], parent: Option<&str>, depth: usize, out: &mut Vec<Value>) {
        for u in units.iter().filter(|u| u.parent_id.as_deref() == parent) {
            out.push(context! { id => u.id, code => u.code, name => u.name, kind => u.kind, depth => depth.min(4), indent => "\u{2003}".repeat(depth) });
            if depth < 32 {
                walk(units, Some(&u.id), depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    // Roots are units whose parent is not in the list (for an OPD admin, the top of their subtree).
    let ids: std::collections::HashSet<&str> = units.iter().map(|u| u.id.as_str()).collect();
    for root in units.iter().filter(|u| u.parent_id.as_deref().is_none_or(|p| !ids.contains(p))) {
        out.push(context! { id => root.id, code => root.code, name => root.name, kind => root.kind, depth => 0, indent => "" });
        walk(units, Some(&root.id), 1, &mut out);
    }
    out
}

fn unit_name(units: &[OpdRow], id: Option<&str>) -> Option<String> {
    id.and_then(|i| units.iter().find(|u| u.id == i)).map(|u| format!("{} · {}", u.code, u.name))
}

/// Every unit, to name units on pages (the names are not secret within the administration).
async fn all_units(c: &Console) -> Vec<OpdRow> {
    ops::units::unit_names(&c.st, &c.admin).await.unwrap_or_default()
}

async fn managed_units(c: &Console) -> Vec<OpdRow> {
    ops::units::opd_units(&c.st, &c.admin).await.unwrap_or_default()
}

/// `client_id|name` from the role selects.
fn parse_role(v: Option<&str>) -> Option<(String, String)> {
    let (client, name) = v?.split_once('|')?;
    Some((client.to_string(), name.to_string()))
}

fn role_label(c: &Console, client: &str, name: &str) -> String {
    if client.is_empty() {
        format!("{name} ({})", c.text("c_global"))
    } else {
        format!("{name} ({client})")
    }
}

fn lines(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

fn words(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("").split_whitespace().map(String::from).collect()
}
