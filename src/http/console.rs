//! The admin console under `/console`: server-rendered pages for the operations in
//! `crate::ops`. The console is an OIDC client of Gerbang (`gerbang-console`, code + PKCE,
//! redeemed in-process). The console session on the server holds the grant that login created;
//! every request checks it together with the browser's single sign-on session and the person's
//! live roles, so logging out, a revoked grant or a removed role ends console access at once.
//! Every change is shown on a confirmation page before it is made.

// Handlers return `Result<_, Response>` so a refusal is a finished page; axum's `Response` is
// large, and boxing it on the rare error path would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use super::{accept_language, error_page, page, see_other, Cookies, FormParams, FormRejection, St};
use crate::audit;
use crate::crypto;
use crate::identity::accounts::{self, Account, STATUSES};
use crate::identity::levels;
use crate::oidc::authorize::redirect_with;
use crate::oidc::clients::ClientEdit;
use crate::oidc::internal_clients::CONSOLE_CLIENT_ID;
use crate::oidc::keys::TokenType;
use crate::oidc::registration::{self, AppRequest};
use crate::oidc::token::TokenRequest;
use crate::ops::{self, accounts::AccountEdit, accounts::AccountInput, roles::Assignment, roles::BulkAssignments};
use crate::ops::{AdminError, Principal};
use crate::state::{now, AppState};
use crate::store::opd::OpdRow;
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
    "certificate_revoked",
    "role_created",
    "opd_created",
];

/// The console's server-side session: the grant its login created (checked at every request,
/// see `admin::authenticate_grant`) and the ID token for logging out.
#[derive(Debug, Serialize, Deserialize)]
struct ConsoleSession {
    grant_id: String,
    id_token: String,
    lang: Option<String>,
    expires_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct PendingLogin {
    verifier: String,
    nonce: String,
    next: String,
}

fn session_key(cookie: &str) -> String {
    format!("console:{}", crypto::sha256_hex(cookie.as_bytes()))
}

/// Strict: the console is only ever reached from its own pages, so no other site's link or
/// form can ride on the session. The login cookie is Lax, because the browser comes back to the
/// callback by a redirect from the login pages.
fn make_cookie(st: &AppState, base: &'static str, value: String, strict: bool) -> Cookie<'static> {
    Cookies::make_with(st, base, value, if strict { SameSite::Strict } else { SameSite::Lax })
}

fn callback_uri(st: &AppState) -> String {
    format!("{}/console/callback", st.config.issuer)
}

/// Only paths inside the console: a `next` pointing elsewhere would be an open redirect.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("//") && !n.contains('\\') && !n.contains("://") => {
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
        let t = now();
        let cookie = jar.get(&Cookies::name(st, COOKIE)).map(|c| c.value().to_string()).filter(|v| v.len() == 43);
        let key = cookie.as_deref().map(session_key);
        let session = match &key {
            Some(k) => st.cache.get_json::<ConsoleSession>(k).await.ok().flatten().filter(|s| s.expires_at > t),
            None => None,
        };
        let relogin = |lang: Option<&str>| -> Response {
            let locale = locale_of(st, &parts.headers, lang);
            if parts.method == Method::GET {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/console");
                see_other(&local_url("/console/login", &[("next", next)]))
            } else {
                error_page(st, StatusCode::UNAUTHORIZED, locale, "c_err_session_ended", "login_required")
            }
        };
        let (Some(key), Some(mut session)) = (key, session) else { return Err(relogin(wanted_lang.as_deref())) };
        let locale = locale_of(st, &parts.headers, wanted_lang.as_deref().or(session.lang.as_deref()));
        let sso = Cookies::read(st, &jar, Cookies::SSO);
        let live = match sso {
            Some(cookie) => crate::auth::session::load(&st.cache, &cookie, t).await.ok().flatten(),
            None => None,
        };
        let admin = match ops::authenticate_grant(st, &session.grant_id, live.as_ref().map(|s| s.sid.as_str()), t).await
        {
            Ok(a) => a,
            Err(AdminError::Unauthenticated(_)) => {
                let _ = st.cache.delete(&key).await;
                return Err(relogin(session.lang.as_deref()));
            }
            Err(AdminError::NeedsLevel(_)) => {
                return Err(error_page(
                    st,
                    StatusCode::FORBIDDEN,
                    locale,
                    "c_err_level",
                    "insufficient_user_authentication",
                ))
            }
            Err(AdminError::Forbidden(_)) => {
                return Err(error_page(st, StatusCode::FORBIDDEN, locale, "c_err_no_admin_role", "access_denied"))
            }
            Err(_) => {
                return Err(error_page(st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error"))
            }
        };
        if wanted_lang.is_some() && wanted_lang != session.lang {
            session.lang = wanted_lang;
            let ttl = std::time::Duration::from_secs((session.expires_at - t).max(1) as u64);
            if let Err(e) = st.cache.put_json(&key, &session, ttl).await {
                tracing::warn!(error = %e, "could not keep the console language");
            }
        }
        let done = query.get("done").filter(|d| DONE.contains(&d.as_str())).cloned();
        Ok(Console { st: st.clone(), admin, key, locale, done })
    }
}

impl Console {
    fn csrf(&self) -> String {
        self.st.csrf.token(&self.key, "console")
    }

    fn check_csrf(&self, form: &FormParams) -> Result<(), Response> {
        if self.st.csrf.verify(&self.key, "console", form.get("csrf").unwrap_or("")) {
            Ok(())
        } else {
            Err(error_page(&self.st, StatusCode::FORBIDDEN, self.locale, "err_csrf", "invalid_request"))
        }
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
            ] {
                if held {
                    powers.push(name);
                }
            }
        }
        context! {
            name => p.account().map(|a| a.name.clone()),
            powers => powers.join(", "),
            diskominfo => p.diskominfo(),
            sees_accounts => p.sees_accounts(),
            sees_requests => p.reviews_applications() || p.requests_applications(),
            requests_applications => p.requests_applications(),
            reads_audit => p.reads_audit(),
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

fn bad_form(st: &AppState, headers: &HeaderMap, r: FormRejection) -> Response {
    let locale = locale_of(st, headers, None);
    error_page(st, r.status, locale, "error_invalid_request", "invalid_request")
}

// ---------------------------------------------------------------- login and logout

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// Starts the console's own authorization request, at the level administration needs.
pub async fn login(State(st): State<St>, jar: CookieJar, headers: HeaderMap, Query(q): Query<NextParam>) -> Response {
    let locale = locale_of(&st, &headers, None);
    let (Ok(state), Ok(verifier), Ok(nonce)) =
        (crypto::random_token(16), crypto::random_token(32), crypto::random_token(16))
    else {
        return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
    };
    let pending = PendingLogin { verifier: verifier.clone(), nonce: nonce.clone(), next: safe_next(q.next.as_deref()) };
    let ttl = std::time::Duration::from_secs(st.config.login_ttl.max(60) as u64);
    if let Err(e) = st.cache.put_json(&format!("console-login:{state}"), &pending, ttl).await {
        tracing::error!(error = %e, "could not start a console login");
        return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
    }
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let acr = levels::acr(st.config.admin_min_level);
    let auth = redirect_with(
        &format!("{}/authorize", st.config.issuer),
        &[
            ("response_type", "code"),
            ("client_id", CONSOLE_CLIENT_ID),
            ("redirect_uri", &callback_uri(&st)),
            ("scope", "openid profile roles"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("acr_values", acr),
            ("ui_locales", locale),
        ],
    );
    (jar.add(make_cookie(&st, LOGIN_COOKIE, state, false)), see_other(&auth)).into_response()
}

pub async fn callback(
    State(st): State<St>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, None);
    let fail = |key: &str, code: &str| error_page(&st, StatusCode::BAD_REQUEST, locale, key, code);
    if let Some(e) = q.get("error") {
        tracing::info!(error = %e, "console login returned an error");
        let key = if e == "unmet_authentication_requirements" { "c_err_level" } else { "c_err_login_failed" };
        return fail(key, e);
    }
    let saved = jar.get(&Cookies::name(&st, LOGIN_COOKIE)).map(|c| c.value().to_string()).unwrap_or_default();
    let state = q.get("state").map(String::as_str).unwrap_or("");
    if saved.is_empty() || !crypto::constant_time_eq(state.as_bytes(), saved.as_bytes()) {
        return fail("err_session_expired", "invalid_request");
    }
    let pending: PendingLogin = match st.cache.take_json(&format!("console-login:{saved}")).await {
        Ok(Some(p)) => p,
        _ => return fail("err_session_expired", "invalid_request"),
    };
    let client = match st.clients.get(&st.db, CONSOLE_CLIENT_ID).await {
        Ok(Some(c)) => c,
        _ => return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error"),
    };
    let req = TokenRequest {
        grant_type: "authorization_code".into(),
        code: q.get("code").cloned(),
        redirect_uri: Some(callback_uri(&st)),
        code_verifier: Some(pending.verifier),
        ..TokenRequest::default()
    };
    let t = now();
    let tokens = match ops::oauth::exchange(&st, client, req, t).await {
        Ok(tk) => tk,
        Err(e) => {
            tracing::info!(error = %e, "console code exchange failed");
            return fail("c_err_login_failed", e.code.as_str());
        }
    };
    let Some(id_token) = tokens.id_token else { return fail("c_err_login_failed", "server_error") };
    let claims: serde_json::Value = match st.keys.verify(&id_token, TokenType::IdToken, &st.config.issuer, true) {
        Ok(c) => c,
        Err(_) => return fail("c_err_login_failed", "invalid_token"),
    };
    if claims.get("nonce").and_then(|n| n.as_str()) != Some(pending.nonce.as_str()) {
        return fail("err_session_expired", "invalid_request");
    }
    // Refuse here rather than on the next page, so a person without a role sees why at once.
    let grant_id = match crate::oidc::introspect::check_access_token(&st.provider(), &tokens.access_token, t).await {
        Ok((_, Some(g))) => g.id,
        _ => return fail("c_err_login_failed", "invalid_token"),
    };
    match ops::authenticate(&st, &tokens.access_token, t).await {
        Ok(_) => {}
        Err(AdminError::NeedsLevel(_)) => {
            return error_page(&st, StatusCode::FORBIDDEN, locale, "c_err_level", "insufficient_user_authentication")
        }
        Err(AdminError::Forbidden(_)) => {
            return error_page(&st, StatusCode::FORBIDDEN, locale, "c_err_no_admin_role", "access_denied")
        }
        Err(_) => return fail("c_err_login_failed", "invalid_token"),
    }
    let Ok(cookie) = crypto::random_token(32) else { return fail("error_server", "server_error") };
    // Bounded by the single sign-on session it depends on anyway.
    let session = ConsoleSession { grant_id, id_token, lang: None, expires_at: t + st.config.session_ttl };
    let ttl = std::time::Duration::from_secs(st.config.session_ttl.max(1) as u64);
    if let Err(e) = st.cache.put_json(&session_key(&cookie), &session, ttl).await {
        tracing::error!(error = %e, "could not store a console session");
        return error_page(&st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error");
    }
    let mut gone = make_cookie(&st, LOGIN_COOKIE, String::new(), false);
    gone.make_removal();
    (jar.add(gone).add(make_cookie(&st, COOKIE, cookie, true)), see_other(&pending.next)).into_response()
}

/// Ends the console session, then the single sign-on session through the ordinary logout.
pub async fn logout(State(st): State<St>, jar: CookieJar) -> Response {
    let name = Cookies::name(&st, COOKIE);
    let mut hint = String::new();
    if let Some(c) = jar.get(&name) {
        let key = session_key(c.value());
        if let Ok(Some(s)) = st.cache.take_json::<ConsoleSession>(&key).await {
            if let Err(e) = crate::store::grants::revoke_grant(&st.db, &s.grant_id, now()).await {
                tracing::warn!(error = %e, "could not revoke the console's grant at logout");
            }
            hint = s.id_token;
        }
    }
    let mut gone = make_cookie(&st, COOKIE, String::new(), true);
    gone.make_removal();
    let url = if hint.is_empty() { "/logout".to_string() } else { local_url("/logout", &[("id_token_hint", &hint)]) };
    (jar.add(gone), see_other(&url)).into_response()
}

// ---------------------------------------------------------------- dashboard

pub async fn dashboard(c: Console) -> Response {
    const DAYS: u32 = 14;
    let st = &c.st;
    // This replica's own recent tokens, so the page is current rather than up to a minute behind.
    if let Err(e) = crate::stats::push_tally(&st.token_tally, &st.cache).await {
        tracing::warn!(error = %e, "could not add token counts before the dashboard");
    }
    let d = match crate::stats::dashboard(&st.db, &st.cache, now(), DAYS, st.config.utc_offset_minutes).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "dashboard figures failed");
            return c.fail(AdminError::Internal, "/console/account");
        }
    };
    // Bars are drawn on the server as SVG attributes: no script, and nothing the CSP forbids.
    let (width, height, slot) = (700i64, 160i64, 700i64 / i64::from(DAYS));
    let top = d.days.iter().map(|x| x.logins.max(x.failures)).max().unwrap_or(0).max(1) as i64;
    let bars: Vec<Value> = d
        .days
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let (ok_h, fail_h) = (x.logins as i64 * (height - 10) / top, x.failures as i64 * (height - 10) / top);
            let w = slot * 2 / 5;
            context! {
                x => i as i64 * slot + slot / 10, w => w,
                ok_y => height - ok_h, ok_h => ok_h, fail_y => height - fail_h, fail_h => fail_h,
                date => x.date, label => x.date.get(5..).unwrap_or(""), logins => x.logins, failures => x.failures,
            }
        })
        .collect();
    // Region-wide figures for Diskominfo and auditors; an OPD admin sees its own applications.
    let visible = if c.admin.diskominfo() || c.admin.auditor() {
        crate::oidc::clients::list(&st.db).await.unwrap_or_default()
    } else {
        ops::applications::applications(st, &c.admin).await.unwrap_or_default()
    };
    let names: HashMap<String, String> = visible.into_iter().map(|c| (c.id, c.name)).collect();
    let top_app =
        d.applications.iter().filter(|a| names.contains_key(&a.client_id)).map(|a| a.tokens).max().unwrap_or(0).max(1);
    let apps: Vec<Value> = d
        .applications
        .iter()
        .filter(|a| names.contains_key(&a.client_id))
        .map(|a| {
            let name = names.get(&a.client_id).cloned().unwrap_or_else(|| a.client_id.clone());
            // Long names would run into the bars; the full name stays in the bar's tooltip.
            let short = if name.chars().count() > 40 {
                format!("{}…", name.chars().take(39).collect::<String>())
            } else {
                name.clone()
            };
            context! { name => name, short => short, tokens => a.tokens, w => a.tokens * 560 / top_app }
        })
        .collect();
    let ctx = context! { dash => d, totals => d.totals, chart => context! { width => width, height => height, bars => bars }, apps => apps };
    c.ok("console_dashboard.html", "dashboard", ctx)
}

// ---------------------------------------------------------------- accounts

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

async fn all_units(st: &AppState) -> Vec<OpdRow> {
    crate::store::opd::list(&st.db).await.unwrap_or_default()
}

fn account_row(a: &Account, units: &[OpdRow], sessions: Option<usize>) -> Value {
    context! { id => a.id, name => a.name, nip => a.nip, nik => a.nik, status => a.status, unit => unit_name(units, a.opd_id.as_deref()), sessions => sessions }
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

pub async fn accounts(c: Console, Query(p): Query<SearchQuery>) -> Response {
    let q = p.q.unwrap_or_default();
    let found = match ops::accounts::search_accounts(&c.st, &c.admin, &q, 100).await {
        Ok(f) => f,
        Err(e) => return c.fail(e, "/console"),
    };
    let units = all_units(&c.st).await;
    let rows: Vec<Value> = found.iter().map(|a| account_row(a, &units, None)).collect();
    c.ok("console_accounts.html", "accounts", context! { accounts => rows, q => q, show_new => true })
}

/// The sessions page: find people, see how many live sessions each has, open one to end them.
pub async fn sessions(c: Console, Query(p): Query<SearchQuery>) -> Response {
    let q = p.q.unwrap_or_default();
    let found = if q.trim().is_empty() {
        Vec::new()
    } else {
        match ops::accounts::search_accounts(&c.st, &c.admin, &q, 50).await {
            Ok(f) => f,
            Err(e) => return c.fail(e, "/console"),
        }
    };
    let units = all_units(&c.st).await;
    let t = now();
    let mut rows = Vec::new();
    for a in &found {
        // Counts only (from the cache); opening the account checks the admin's powers over it.
        let n = crate::auth::session::list_for_account(&c.st.cache, &a.id, t).await.map(|s| s.len()).unwrap_or(0);
        rows.push(account_row(a, &units, Some(n)));
    }
    let ctx = context! { accounts => rows, q => q, with_sessions => true, heading => c.text("c_nav_sessions"), search_action => "/console/sessions" };
    c.ok("console_accounts.html", "sessions", ctx)
}

fn account_form_values(form: &FormParams) -> Value {
    context! { nip => form.get("nip"), nik => form.get("nik"), name => form.get("name"), opd_id => form.get("opd_id") }
}

async fn managed_units(c: &Console) -> Vec<OpdRow> {
    ops::units::opd_units(&c.st, &c.admin).await.unwrap_or_default()
}

pub async fn account_new_form(c: Console) -> Response {
    let units = managed_units(&c).await;
    let form = context! { opd_id => c.admin.account().and_then(|a| a.opd_id.clone()) };
    c.ok("console_account_new.html", "accounts", context! { units => unit_options(&units), form => form })
}

pub async fn account_new(c: Console, headers: HeaderMap, form: Result<FormParams, FormRejection>) -> Response {
    let form = match form {
        Ok(f) => f,
        Err(r) => return bad_form(&c.st, &headers, r),
    };
    if let Err(r) = c.check_csrf(&form) {
        return r;
    }
    let input = AccountInput {
        nip: form.get("nip").map(String::from),
        nik: form.get("nik").map(String::from),
        name: form.get("name").unwrap_or("").to_string(),
        opd_id: form.get("opd_id").map(String::from),
        password: form.get("password").map(String::from),
    };
    let units = managed_units(&c).await;
    // The form comes back with what was typed (never the password) and the reason.
    let again = |c: &Console, e: String| {
        let ctx = context! { units => unit_options(&units), form => account_form_values(&form), error => e };
        c.render(StatusCode::UNPROCESSABLE_ENTITY, "console_account_new.html", "accounts", ctx)
    };
    if input.name.trim().is_empty() {
        return again(&c, c.text("c_err_name_required"));
    }
    if !confirmed(&form) {
        let id = input.nip.clone().filter(|s| !s.is_empty()).or(input.nik.clone()).unwrap_or_default();
        let unit = unit_name(&units, input.opd_id.as_deref()).unwrap_or_else(|| "—".into());
        let summary = vec![c.fmt("c_sum_account_create", &[&input.name, &id, &unit])];
        return c.confirm(&form, "/console/accounts/new", "/console/accounts", summary);
    }
    match ops::accounts::create_account(&c.st, &c.admin, input, now()).await {
        Ok((a, _)) => done(&format!("/console/accounts/{}", a.id), "account_created"),
        Err(AdminError::Invalid(d)) | Err(AdminError::Conflict(d)) => again(&c, d),
        Err(e) => c.fail(e, "/console/accounts"),
    }
}

pub async fn account(c: Console, Path(id): Path<String>) -> Response {
    account_page(&c, &id, StatusCode::OK, None).await
}

/// The account page; `cert_error` is a refused certificate (message, detail, the text given).
async fn account_page(
    c: &Console,
    id: &str,
    status: StatusCode,
    cert_error: Option<(String, String, String)>,
) -> Response {
    let st = &c.st;
    let id = id.to_string();
    let a = match ops::accounts::account(st, &c.admin, &id).await {
        Ok(a) => a,
        Err(e) => return c.fail(e, "/console/accounts"),
    };
    let t = now();
    let (direct, effective) = ops::roles::roles_of(st, &c.admin, &id).await.unwrap_or_default();
    let inherited: Vec<_> = effective.iter().filter(|r| !direct.iter().any(|d| d.id == r.id)).cloned().collect();
    let assignable: Vec<_> = ops::roles::assignable_roles(st, &c.admin)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !direct.iter().any(|d| d.id == r.id))
        .collect();
    let sessions: Vec<Value> = ops::accounts::sessions(st, &c.admin, &id, t)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| context! { sid => s.sid, since => c.local_time(s.auth_time), level => levels::from_acr(&s.acr).unwrap_or(1), ip => s.ip, device => super::account::device(&s.user_agent) })
        .collect();
    let units = all_units(st).await;
    let options = unit_options(&managed_units(c).await);
    let certs: Vec<Value> = ops::certificates::certificates_of(st, &c.admin, &id)
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| cert_row(c, r, None, t))
        .collect();
    let (cert_error, cert_detail, cert_text) =
        cert_error.map(|(m, d, p)| (Some(m), Some(d), Some(p))).unwrap_or_default();
    let ctx = context! {
        account => context! { id => a.id, name => a.name, kind => a.kind.as_str(), nip => a.nip, nik => a.nik, status => a.status, opd_id => a.opd_id },
        unit => unit_name(&units, a.opd_id.as_deref()), units => options, direct => direct, inherited => inherited,
        assignable => assignable, sessions => sessions, statuses => STATUSES, certs => certs,
        cert_error => cert_error, cert_detail => cert_detail, cert_text => cert_text,
    };
    c.render(status, "console_account.html", "accounts", ctx)
}

async fn form_and_csrf(
    c: &Console,
    headers: &HeaderMap,
    form: Result<FormParams, FormRejection>,
) -> Result<FormParams, Response> {
    let form = form.map_err(|r| bad_form(&c.st, headers, r))?;
    c.check_csrf(&form)?;
    Ok(form)
}

/// The common start of a change to one account: the form, its CSRF token, the account (within
/// the admin's powers) and the page to return to.
async fn account_change(
    c: &Console,
    headers: &HeaderMap,
    id: &str,
    form: Result<FormParams, FormRejection>,
) -> Result<(FormParams, Account, String), Response> {
    let form = form_and_csrf(c, headers, form).await?;
    let a = ops::accounts::account(&c.st, &c.admin, id).await.map_err(|e| c.fail(e, "/console/accounts"))?;
    Ok((form, a, format!("/console/accounts/{id}")))
}

pub async fn account_edit(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (form, a, back) = match account_change(&c, &headers, &id, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let edit = AccountEdit { name: form.get("name").map(String::from), opd_id: form.get("opd_id").map(String::from) };
    if !confirmed(&form) {
        let units = all_units(&c.st).await;
        let mut summary = Vec::new();
        if let Some(n) = edit.name.as_deref().filter(|n| n.trim() != a.name) {
            summary.push(c.fmt("c_sum_rename", &[&a.name, n.trim()]));
        }
        if let Some(u) =
            edit.opd_id.as_deref().filter(|u| Some(*u) != a.opd_id.as_deref() && !(u.is_empty() && a.opd_id.is_none()))
        {
            let from = unit_name(&units, a.opd_id.as_deref()).unwrap_or_else(|| "—".into());
            let to = unit_name(&units, Some(u)).unwrap_or_else(|| "—".into());
            summary.push(c.fmt("c_sum_move", &[&a.name, &from, &to]));
        }
        if summary.is_empty() {
            return see_other(&back);
        }
        return c.confirm(&form, &format!("/console/accounts/{id}/edit"), &back, summary);
    }
    match ops::accounts::edit_account(&c.st, &c.admin, &id, edit, now()).await {
        Ok(_) => done(&back, "account_updated"),
        Err(e) => c.fail(e, &back),
    }
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

async fn role_change(
    c: Console,
    headers: HeaderMap,
    id: String,
    form: Result<FormParams, FormRejection>,
    adding: bool,
) -> Response {
    let (form, a, back) = match account_change(&c, &headers, &id, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some((client, name)) = parse_role(form.get("role")) else {
        return c.fail(AdminError::Invalid("role".into()), &back);
    };
    let assignment = Assignment {
        role: name.clone(),
        client_id: Some(client.clone()).filter(|c| !c.is_empty()),
        account_id: a.id.clone(),
    };
    if !confirmed(&form) {
        let (action, key) = if adding { ("add", "c_sum_assign") } else { ("remove", "c_sum_unassign") };
        let mut summary = vec![c.fmt(key, &[&role_label(&c, &client, &name), &a.name])];
        if !adding {
            summary.push(c.text("c_sum_unassign_tokens"));
        }
        return c.confirm(&form, &format!("/console/accounts/{id}/roles/{action}"), &back, summary);
    }
    let t = now();
    let result = if adding {
        ops::roles::assign(&c.st, &c.admin, &assignment, t).await
    } else {
        ops::roles::unassign(&c.st, &c.admin, &assignment, t).await.map(|_| ())
    };
    match result {
        Ok(()) => done(&back, if adding { "role_assigned" } else { "role_removed" }),
        Err(e) => c.fail(e, &back),
    }
}

pub async fn account_role_add(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    role_change(c, headers, id, form, true).await
}

pub async fn account_role_remove(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    role_change(c, headers, id, form, false).await
}

pub async fn account_session_end(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (form, a, back) = match account_change(&c, &headers, &id, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let sid = form.get("sid").unwrap_or("").to_string();
    if !confirmed(&form) {
        return c.confirm(
            &form,
            &format!("/console/accounts/{id}/sessions/end"),
            &back,
            vec![c.fmt("c_sum_end_session", &[&a.name])],
        );
    }
    match ops::accounts::end_session(&c.st, &c.admin, &id, &sid, now()).await {
        Ok(_) => done(&back, "session_ended"),
        Err(e) => c.fail(e, &back),
    }
}

pub async fn account_status(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (form, a, back) = match account_change(&c, &headers, &id, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let status = form.get("status").unwrap_or("").to_string();
    if !STATUSES.contains(&status.as_str()) {
        return c.fail(AdminError::Invalid("status".into()), &back);
    }
    if !confirmed(&form) {
        if status == a.status {
            return see_other(&back);
        }
        let (from, to) = (c.text(&format!("c_status_{}", a.status)), c.text(&format!("c_status_{status}")));
        let mut summary = vec![c.fmt("c_sum_status", &[&a.name, &from, &to])];
        if status != "active" {
            summary.push(c.text("c_sum_status_revokes"));
        }
        return c.confirm(&form, &format!("/console/accounts/{id}/status"), &back, summary);
    }
    match ops::accounts::set_status(&c.st, &c.admin, &id, &status, now()).await {
        Ok(_) => done(&back, "status_changed"),
        Err(e) => c.fail(e, &back),
    }
}

pub async fn account_factor_reset(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (form, a, back) = match account_change(&c, &headers, &id, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !confirmed(&form) {
        let summary = vec![c.fmt("c_sum_factor_reset", &[&a.name]), c.text("c_sum_factor_reset_sessions")];
        return c.confirm(&form, &format!("/console/accounts/{id}/factor-reset"), &back, summary);
    }
    match ops::accounts::reset_factors(&c.st, &c.admin, &id, now()).await {
        Ok(_) => done(&back, "factors_reset"),
        Err(e) => c.fail(e, &back),
    }
}

// ---------------------------------------------------------------- electronic certificates

fn cert_row(c: &Console, r: &crate::store::certs::CertRow, holder: Option<&str>, t: i64) -> Value {
    context! {
        id => r.id, subject => r.subject, issuer => r.issuer, serial => r.serial, fingerprint => r.fingerprint,
        not_after => c.local_time(r.not_after).get(..10).unwrap_or("").to_string(),
        standing => crate::certs::standing(r, t, ops::certificates::CERT_WARN_DAYS).as_str(), reason => r.revocation_reason,
        account_id => r.account_id, account_name => holder,
    }
}

#[derive(Deserialize)]
pub struct CertQuery {
    all: Option<String>,
}

/// Monitoring: revoked, expired and soon-expiring certificates first (or all of them).
pub async fn certificates(c: Console, Query(q): Query<CertQuery>) -> Response {
    let all = q.all.as_deref() == Some("1");
    let t = now();
    let rows = match ops::certificates::certificates(&c.st, &c.admin, !all, t).await {
        Ok(r) => r,
        Err(e) => return c.fail(e, "/console"),
    };
    let list: Vec<Value> = rows.iter().map(|r| cert_row(&c, &r.cert, Some(&r.holder_name), t)).collect();
    c.ok(
        "console_certificates.html",
        "certificates",
        context! { certs => list, all => all, warn_days => ops::certificates::CERT_WARN_DAYS },
    )
}

pub async fn certificate_bind(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (form, a, back) = match account_change(&c, &headers, &id, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let pem = form.get("certificate").unwrap_or("").to_string();
    let t = now();
    // Checked first, so the confirmation shows what the certificate says about itself.
    let checked = match crate::certs::check(&pem, &c.st.cert_issuers, t) {
        Ok(x) => x,
        Err(e) => {
            return account_page(
                &c,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((c.text(e.message_key()), e.to_string(), pem)),
            )
            .await
        }
    };
    if !confirmed(&form) {
        let mut summary = vec![
            c.fmt("c_sum_cert_bind", &[&a.name]),
            format!("{}: {}", c.text("c_cert_subject"), checked.subject),
            format!("{}: {}", c.text("c_cert_issuer"), checked.issuer),
            format!(
                "{}: {} – {}",
                c.text("c_cert_validity"),
                c.local_time(checked.not_before),
                c.local_time(checked.not_after)
            ),
        ];
        if !checked.common_name.eq_ignore_ascii_case(a.name.trim()) {
            summary.push(c.fmt("c_sum_cert_name_differs", &[&checked.common_name, &a.name]));
        }
        return c.confirm(&form, &format!("/console/accounts/{id}/certificates"), &back, summary);
    }
    match ops::certificates::bind_certificate(&c.st, &c.admin, &id, &pem, t).await {
        Ok(_) => done(&back, "certificate_bound"),
        Err(AdminError::Invalid(d)) | Err(AdminError::Conflict(d)) => {
            account_page(&c, &id, StatusCode::UNPROCESSABLE_ENTITY, Some((c.text("c_err_invalid"), d, pem))).await
        }
        Err(e) => c.fail(e, &back),
    }
}

pub async fn certificate_revoke(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let back = form.get("back").filter(|b| b.starts_with("/console/")).unwrap_or("/console/certificates").to_string();
    let reason = form.get("reason").unwrap_or("").trim().to_string();
    if reason.is_empty() {
        return c.fail(AdminError::Invalid(c.text("c_err_reason_required")), &back);
    }
    if !confirmed(&form) {
        let cert = match crate::store::certs::get(&c.st.db, &id).await {
            Ok(Some(x)) => x,
            Ok(None) => return c.fail(AdminError::NotFound("certificate"), &back),
            Err(e) => return c.fail(AdminError::from(e), &back),
        };
        let summary = vec![c.fmt("c_sum_cert_revoke", &[&cert.subject]), c.fmt("c_sum_reject", &[&reason])];
        return c.confirm(&form, &format!("/console/certificates/{id}/revoke"), &back, summary);
    }
    match ops::certificates::revoke_certificate(&c.st, &c.admin, &id, &reason, now()).await {
        Ok(_) => done(&back, "certificate_revoked"),
        Err(e) => c.fail(e, &back),
    }
}

// ---------------------------------------------------------------- OPD units and roles

async fn opd_page(c: &Console, status: StatusCode, form: Value, error: Option<String>) -> Response {
    match ops::units::opd_units(&c.st, &c.admin).await {
        Ok(units) => c.render(
            status,
            "console_opd.html",
            "opd",
            context! { units => unit_options(&units), form => form, error => error },
        ),
        Err(e) => c.fail(e, "/console"),
    }
}

pub async fn opd(c: Console) -> Response {
    opd_page(&c, StatusCode::OK, context! { kind => "dinas" }, None).await
}

pub async fn opd_create(c: Console, headers: HeaderMap, form: Result<FormParams, FormRejection>) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let values = context! { code => form.get("code"), name => form.get("name"), kind => form.get("kind"), parent => form.get("parent") };
    let new = ops::units::NewUnit {
        code: form.get("code").unwrap_or("").trim().to_string(),
        name: form.get("name").unwrap_or("").trim().to_string(),
        kind: form.get("kind").unwrap_or("").trim().to_string(),
        parent: form.get("parent").map(String::from).filter(|p| !p.is_empty()),
    };
    if new.code.is_empty() || new.name.is_empty() {
        return opd_page(&c, StatusCode::UNPROCESSABLE_ENTITY, values, Some(c.text("c_err_code_name_required"))).await;
    }
    if !confirmed(&form) {
        let parent = new.parent.clone().unwrap_or_else(|| "—".into());
        return c.confirm(
            &form,
            "/console/opd",
            "/console/opd",
            vec![c.fmt("c_sum_opd_create", &[&new.code, &new.name, &parent])],
        );
    }
    match ops::units::create_unit(&c.st, &c.admin, new, now()).await {
        Ok(_) => done("/console/opd", "opd_created"),
        Err(AdminError::Invalid(d)) | Err(AdminError::Conflict(d)) => {
            opd_page(&c, StatusCode::UNPROCESSABLE_ENTITY, values, Some(d)).await
        }
        Err(e) => c.fail(e, "/console/opd"),
    }
}

async fn roles_page(c: &Console, status: StatusCode, role_form: Value, error: Option<String>) -> Response {
    let roles = match ops::roles::assignable_roles(&c.st, &c.admin).await {
        Ok(r) => r,
        Err(e) => return c.fail(e, "/console"),
    };
    let apps: Vec<Value> = ops::applications::applications(&c.st, &c.admin)
        .await
        .unwrap_or_default()
        .iter()
        .map(|a| context! { id => a.id, name => a.name })
        .collect();
    let ctx = context! { roles => roles, apps => apps, form => context! { action => "assign" }, role_form => role_form, role_error => error };
    c.render(status, "console_roles.html", "roles", ctx)
}

pub async fn roles(c: Console) -> Response {
    roles_page(&c, StatusCode::OK, context! {}, None).await
}

pub async fn role_create(c: Console, headers: HeaderMap, form: Result<FormParams, FormRejection>) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let values = context! { name => form.get("name"), client_id => form.get("client_id"), description => form.get("description") };
    let new = ops::roles::NewRole {
        name: form.get("name").unwrap_or("").trim().to_string(),
        client_id: form.get("client_id").map(String::from).filter(|x| !x.is_empty()),
        description: form.get("description").unwrap_or("").trim().to_string(),
    };
    if !confirmed(&form) {
        let label = role_label(&c, new.client_id.as_deref().unwrap_or(""), &new.name);
        return c.confirm(&form, "/console/roles/new", "/console/roles", vec![c.fmt("c_sum_role_create", &[&label])]);
    }
    match ops::roles::create_role(&c.st, &c.admin, new, now()).await {
        Ok(_) => done("/console/roles", "role_created"),
        Err(AdminError::Invalid(d)) | Err(AdminError::Conflict(d)) => {
            roles_page(&c, StatusCode::UNPROCESSABLE_ENTITY, values, Some(d)).await
        }
        Err(e) => c.fail(e, "/console/roles"),
    }
}

/// Bulk assignment from a list of NIPs/NIKs, one per line: all are looked up and shown on the
/// confirmation page by name before anything changes.
pub async fn roles_bulk(c: Console, headers: HeaderMap, form: Result<FormParams, FormRejection>) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let roles = ops::roles::assignable_roles(&c.st, &c.admin).await.unwrap_or_default();
    let again = |c: &Console, e: String| {
        let values = context! { action => form.get("action"), role => form.get("role"), people => form.get("people") };
        c.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            "console_roles.html",
            "roles",
            context! { roles => roles, form => values, error => e, role_form => context! {} },
        )
    };
    let Some((client, name)) = parse_role(form.get("role")) else { return again(&c, c.text("c_err_choose_role")) };
    let action = if form.get("action") == Some("unassign") { "unassign" } else { "assign" };
    let mut people = Vec::new();
    let mut unknown = Vec::new();
    for line in form.get("people").unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()) {
        match accounts::find(&c.st.db, line).await {
            Ok(Some(a)) if c.admin.manages_account(&a) => people.push(a),
            Ok(_) => unknown.push(line.to_string()),
            Err(e) => {
                tracing::error!(error = %e, "bulk lookup failed");
                return c.fail(AdminError::Internal, "/console/roles");
            }
        }
    }
    if !unknown.is_empty() {
        return again(&c, c.fmt("c_err_unknown_people", &[&unknown.join(", ")]));
    }
    if people.is_empty() || people.len() > ops::roles::MAX_BULK {
        return again(&c, c.fmt("c_err_bulk_count", &[&ops::roles::MAX_BULK.to_string()]));
    }
    if !confirmed(&form) {
        let key = if action == "assign" { "c_sum_bulk_assign" } else { "c_sum_bulk_unassign" };
        let mut summary = vec![c.fmt(key, &[&role_label(&c, &client, &name), &people.len().to_string()])];
        summary.extend(
            people.iter().map(|p| format!("{} ({})", p.name, p.nip.as_deref().or(p.nik.as_deref()).unwrap_or(""))),
        );
        return c.confirm(&form, "/console/roles/bulk", "/console/roles", summary);
    }
    let bulk = BulkAssignments {
        action: action.into(),
        assignments: people
            .iter()
            .map(|p| Assignment {
                role: name.clone(),
                client_id: Some(client.clone()).filter(|c| !c.is_empty()),
                account_id: p.id.clone(),
            })
            .collect(),
    };
    match ops::roles::bulk(&c.st, &c.admin, &bulk, now()).await {
        Ok(_) => done("/console/roles", "bulk_done"),
        Err(AdminError::Invalid(d)) => again(&c, d),
        Err(e) => c.fail(e, "/console/roles"),
    }
}

// ---------------------------------------------------------------- applications

pub async fn applications(c: Console) -> Response {
    let apps = match ops::applications::applications(&c.st, &c.admin).await {
        Ok(a) => a,
        Err(e) => return c.fail(e, "/console"),
    };
    let units = all_units(&c.st).await;
    let rows: Vec<Value> = apps
        .iter()
        .map(|a| context! { id => a.id, name => a.name, category => a.category, owner => unit_name(&units, a.owner_opd_id.as_deref()), min_level => a.min_level, disabled => a.disabled })
        .collect();
    c.ok("console_applications.html", "applications", context! { apps => rows })
}

fn app_form_from_client(a: &crate::oidc::clients::Client) -> Value {
    context! {
        name => a.name, redirect_uris => a.redirect_uris.join("\n"), post_logout_redirect_uris => a.post_logout_redirect_uris.join("\n"),
        scopes => a.scopes.join(" "), min_level => a.min_level.to_string(), category => a.category, owner_opd_id => a.owner_opd_id,
    }
}

fn app_form_from_params(f: &FormParams) -> Value {
    context! {
        name => f.get("name"), redirect_uris => f.get("redirect_uris"), post_logout_redirect_uris => f.get("post_logout_redirect_uris"),
        scopes => f.get("scopes"), min_level => f.get("min_level"), category => f.get("category"), owner_opd_id => f.get("owner_opd_id"),
    }
}

fn lines(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

fn words(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("").split_whitespace().map(String::from).collect()
}

async fn app_page(c: &Console, id: &str, status: StatusCode, form: Option<Value>, error: Option<String>) -> Response {
    let app = match ops::applications::application(&c.st, &c.admin, id).await {
        Ok(a) => a,
        Err(e) => return c.fail(e, "/console/applications"),
    };
    let units = if c.admin.diskominfo() { unit_options(&all_units(&c.st).await) } else { Vec::new() };
    let view = context! { id => app.id, name => app.name, public => app.public, disabled => app.disabled };
    let form = form.unwrap_or_else(|| app_form_from_client(&app));
    c.render(
        status,
        "console_application.html",
        "applications",
        context! { app => view, form => form, units => units, error => error },
    )
}

pub async fn application(c: Console, Path(id): Path<String>) -> Response {
    app_page(&c, &id, StatusCode::OK, None, None).await
}

pub async fn application_edit(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let current = match ops::applications::application(&c.st, &c.admin, &id).await {
        Ok(a) => a,
        Err(e) => return c.fail(e, "/console/applications"),
    };
    let back = format!("/console/applications/{id}");
    let diskominfo = c.admin.diskominfo();
    // Scopes and level are Diskominfo's to change; an OPD admin's form shows them read-only.
    let min_level = match form.get("min_level").filter(|_| diskominfo).map(str::parse::<u8>) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(_)) => {
            return app_page(
                &c,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(app_form_from_params(&form)),
                Some("min_level".into()),
            )
            .await
        }
    };
    let edit = ClientEdit {
        name: form.get("name").map(String::from),
        category: form.get("category").filter(|_| diskominfo).map(String::from),
        redirect_uris: Some(lines(form.get("redirect_uris"))),
        post_logout_redirect_uris: Some(lines(form.get("post_logout_redirect_uris"))),
        scopes: form.get("scopes").filter(|_| diskominfo).map(|s| words(Some(s))),
        min_level,
        required_roles: None,
        owner_opd_id: form.get("owner_opd_id").filter(|_| diskominfo).map(String::from),
    };
    if !confirmed(&form) {
        let mut summary = Vec::new();
        let before: [(&str, &str, String); 7] = [
            ("name", "c_name", current.name.clone()),
            ("redirect_uris", "c_redirect_uris", current.redirect_uris.join("\n")),
            ("post_logout_redirect_uris", "c_post_logout_uris", current.post_logout_redirect_uris.join("\n")),
            ("scopes", "c_scopes", current.scopes.join(" ")),
            ("min_level", "c_min_level", current.min_level.to_string()),
            ("category", "c_category", current.category.clone()),
            ("owner_opd_id", "c_owner", current.owner_opd_id.clone().unwrap_or_default()),
        ];
        for (field, label, before) in before {
            let Some(after) = form.get(field) else { continue };
            let normalized = match field {
                "redirect_uris" | "post_logout_redirect_uris" => lines(Some(after)).join("\n"),
                "scopes" => words(Some(after)).join(" "),
                _ => after.trim().to_string(),
            };
            if normalized != before
                && (diskominfo || !matches!(field, "category" | "owner_opd_id" | "scopes" | "min_level"))
            {
                summary.push(c.fmt(
                    "c_sum_app_field",
                    &[&c.text(label), &before.replace('\n', ", "), &normalized.replace('\n', ", ")],
                ));
            }
        }
        if summary.is_empty() {
            return see_other(&back);
        }
        return c.confirm(&form, &format!("/console/applications/{id}/edit"), &back, summary);
    }
    match ops::applications::edit_application(&c.st, &c.admin, &id, edit, now()).await {
        Ok(_) => done(&back, "application_updated"),
        Err(AdminError::Invalid(d)) => {
            app_page(&c, &id, StatusCode::UNPROCESSABLE_ENTITY, Some(app_form_from_params(&form)), Some(d)).await
        }
        Err(e) => c.fail(e, &back),
    }
}

pub async fn application_secret(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let back = format!("/console/applications/{id}");
    if !confirmed(&form) {
        return c.confirm(
            &form,
            &format!("/console/applications/{id}/secret"),
            &back,
            vec![c.fmt("c_sum_rotate", &[&id])],
        );
    }
    match ops::applications::rotate_secret(&c.st, &c.admin, &id, now()).await {
        Ok(secret) => c.ok(
            "console_secret.html",
            "applications",
            context! { client_id => id, client_secret => secret.expose(), back_url => back },
        ),
        Err(e) => c.fail(e, &back),
    }
}

pub async fn application_enabled(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let back = format!("/console/applications/{id}");
    let enable = form.get("enabled") == Some("1");
    if !confirmed(&form) {
        let summary = if enable {
            vec![c.fmt("c_sum_enable", &[&id])]
        } else {
            vec![c.fmt("c_sum_disable", &[&id]), c.text("c_sum_disable_tokens")]
        };
        return c.confirm(&form, &format!("/console/applications/{id}/enabled"), &back, summary);
    }
    match ops::applications::set_enabled(&c.st, &c.admin, &id, enable, now()).await {
        Ok(_) => done(&back, if enable { "application_enabled" } else { "application_disabled" }),
        Err(e) => c.fail(e, &back),
    }
}

// ---------------------------------------------------------------- registration requests

fn request_from_form(f: &FormParams) -> Result<AppRequest, String> {
    let min_level = f.get("min_level").unwrap_or("1").parse::<u8>().map_err(|_| "min_level".to_string())?;
    Ok(AppRequest {
        name: f.get("name").unwrap_or("").to_string(),
        category: f.get("category").unwrap_or("").to_string(),
        redirect_uris: lines(f.get("redirect_uris")),
        scopes: words(f.get("scopes")),
        min_level,
        public: f.get("public") == Some("1"),
    })
}

fn request_form_values(f: &FormParams) -> Value {
    context! {
        name => f.get("name"), category => f.get("category"), redirect_uris => f.get("redirect_uris"),
        scopes => f.get("scopes"), min_level => f.get("min_level"), public => f.get("public") == Some("1"),
    }
}

fn request_summary(c: &Console, r: &AppRequest) -> Vec<String> {
    vec![
        format!("{}: {}", c.text("c_name"), r.name),
        format!("{}: {}", c.text("c_category"), r.category),
        format!("{}: {}", c.text("c_redirect_uris"), r.redirect_uris.join(", ")),
        format!("{}: {}", c.text("c_scopes"), r.scopes.join(" ")),
        format!("{}: {}", c.text("c_min_level"), r.min_level),
        format!(
            "{}: {}",
            c.text("c_client_type"),
            c.text(if r.public { "c_public_client" } else { "c_confidential_client" })
        ),
    ]
}

async fn requests_page(c: &Console, status: StatusCode, form: Value, error: Option<String>) -> Response {
    let rows = match ops::requests::requests(&c.st, &c.admin).await {
        Ok(r) => r,
        Err(e) => return c.fail(e, "/console"),
    };
    let units = all_units(&c.st).await;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| context! { id => r.id, name => r.name, status => r.status, created => c.local_time(r.created_at), unit => unit_name(&units, Some(&r.opd_id)) })
        .collect();
    let ctx = context! { requests => list, form => form, form_action => "/console/requests", submit_label => c.text("c_request_submit"), error => error };
    c.render(status, "console_requests.html", "requests", ctx)
}

pub async fn requests(c: Console) -> Response {
    requests_page(&c, StatusCode::OK, context! { category => "khusus", min_level => "1" }, None).await
}

pub async fn request_submit(c: Console, headers: HeaderMap, form: Result<FormParams, FormRejection>) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let req = match request_from_form(&form) {
        Ok(r) => r,
        Err(field) => {
            return requests_page(&c, StatusCode::UNPROCESSABLE_ENTITY, request_form_values(&form), Some(field)).await
        }
    };
    if let Err(e) = registration::check(&c.st.provider(), &req) {
        return requests_page(
            &c,
            StatusCode::UNPROCESSABLE_ENTITY,
            request_form_values(&form),
            Some(AdminError::from(e).detail()),
        )
        .await;
    }
    if !confirmed(&form) {
        let mut summary = vec![c.text("c_sum_request")];
        summary.extend(request_summary(&c, &req));
        return c.confirm(&form, "/console/requests", "/console/requests", summary);
    }
    match ops::requests::submit_request(&c.st, &c.admin, req, now()).await {
        Ok(row) => done(&format!("/console/requests/{}", row.id), "request_submitted"),
        Err(AdminError::Invalid(d)) | Err(AdminError::Conflict(d)) => {
            requests_page(&c, StatusCode::UNPROCESSABLE_ENTITY, request_form_values(&form), Some(d)).await
        }
        Err(e) => c.fail(e, "/console/requests"),
    }
}

async fn request_page(
    c: &Console,
    id: &str,
    status: StatusCode,
    form: Option<Value>,
    reject_reason: Option<&str>,
    error: Option<String>,
) -> Response {
    let r = match ops::requests::request(&c.st, &c.admin, id).await {
        Ok(r) => r,
        Err(e) => return c.fail(e, "/console/requests"),
    };
    let units = all_units(&c.st).await;
    let asked = registration::request_of(&r);
    let requester = accounts::get(&c.st.db, &r.requester_id)
        .await
        .ok()
        .flatten()
        .map(|a| a.name)
        .unwrap_or_else(|| r.requester_id.clone());
    let view = context! {
        id => r.id, name => r.name, status => r.status, unit => unit_name(&units, Some(&r.opd_id)), requester => requester,
        category => asked.category, redirect_uris => asked.redirect_uris, scopes => asked.scopes.join(" "), min_level => asked.min_level,
        reason => r.reason, client_id => r.client_id,
        can_fetch => r.status == "approved" && r.fetched_at.is_none() && c.admin.is_account(&r.requester_id),
    };
    let form = form.unwrap_or_else(|| {
        context! {
            name => asked.name, category => asked.category, redirect_uris => asked.redirect_uris.join("\n"),
            scopes => asked.scopes.join(" "), min_level => asked.min_level.to_string(), public => asked.public,
        }
    });
    let ctx = context! {
        req => view, form => form, form_action => format!("/console/requests/{id}/decide"), decision => true,
        submit_label => c.text("c_approve"), reject_reason => reject_reason, error => error,
    };
    c.render(status, "console_request.html", "requests", ctx)
}

pub async fn request(c: Console, Path(id): Path<String>) -> Response {
    request_page(&c, &id, StatusCode::OK, None, None, None).await
}

pub async fn request_decide(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let approve = form.get("decision") == Some("approve");
    let back = format!("/console/requests/{id}");
    let reason = form.get("reason").unwrap_or("").trim().to_string();
    let corrected = if approve {
        match request_from_form(&form) {
            Ok(r) => Some(r),
            Err(field) => {
                return request_page(
                    &c,
                    &id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(request_form_values(&form)),
                    None,
                    Some(field),
                )
                .await
            }
        }
    } else {
        None
    };
    if !approve && reason.is_empty() {
        return request_page(
            &c,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            Some(c.text("c_err_reason_required")),
        )
        .await;
    }
    if let Some(r) = &corrected {
        if let Err(e) = registration::check(&c.st.provider(), r) {
            return request_page(
                &c,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(request_form_values(&form)),
                None,
                Some(AdminError::from(e).detail()),
            )
            .await;
        }
    }
    if !confirmed(&form) {
        let summary = match &corrected {
            Some(r) => {
                let mut s = vec![c.text("c_sum_approve")];
                s.extend(request_summary(&c, r));
                s
            }
            None => vec![c.fmt("c_sum_reject", &[&reason])],
        };
        return c.confirm(&form, &format!("/console/requests/{id}/decide"), &back, summary);
    }
    match ops::requests::decide(&c.st, &c.admin, &id, approve, &reason, corrected, now()).await {
        Ok(_) => done(&back, if approve { "request_approved" } else { "request_rejected" }),
        Err(AdminError::Invalid(d)) if approve => {
            request_page(&c, &id, StatusCode::UNPROCESSABLE_ENTITY, Some(request_form_values(&form)), None, Some(d))
                .await
        }
        Err(AdminError::Invalid(d)) => {
            request_page(&c, &id, StatusCode::UNPROCESSABLE_ENTITY, None, Some(&reason), Some(d)).await
        }
        Err(e) => c.fail(e, &back),
    }
}

pub async fn request_credentials(
    c: Console,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let form = match form_and_csrf(&c, &headers, form).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let back = format!("/console/requests/{id}");
    if !confirmed(&form) {
        return c.confirm(
            &form,
            &format!("/console/requests/{id}/credentials"),
            &back,
            vec![c.text("c_sum_fetch_credentials")],
        );
    }
    match ops::requests::fetch_credentials(&c.st, &c.admin, &id, now()).await {
        Ok((client_id, secret)) => {
            let secret = secret.map(|s| s.expose().clone());
            c.ok(
                "console_secret.html",
                "requests",
                context! { client_id => client_id, client_secret => secret, back_url => back },
            )
        }
        Err(e) => c.fail(e, &back),
    }
}

// ---------------------------------------------------------------- audit trail

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    kind: Option<String>,
    who: Option<String>,
    /// `YYYY-MM-DD`, the region's local date.
    since: Option<String>,
    until: Option<String>,
}

/// Start of a local date in Unix seconds; `end` gives the start of the following day.
fn local_day(c: &Console, date: Option<&str>, end: bool) -> Option<i64> {
    let d = date.filter(|d| !d.is_empty())?;
    let day = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?;
    let start = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp() - i64::from(c.st.config.utc_offset_minutes) * 60;
    Some(if end { start + 86_400 } else { start })
}

const AUDIT_KINDS: &[&str] = &[
    "login.",
    "login.succeeded",
    "login.failed",
    "login.locked",
    "login.step_up",
    "second_factor.failed",
    "token.issued",
    "account.",
    "role.",
    "application.",
    "app_request.",
    "session.",
    "passkey.",
    "totp.",
    "audit.exported",
];

pub async fn audit_view(c: Console, Query(q): Query<AuditQuery>) -> Response {
    let since = local_day(&c, q.since.as_deref(), false);
    let until = local_day(&c, q.until.as_deref(), true);
    let filter = audit::Filter {
        kind: q.kind.clone().unwrap_or_default().trim().to_string(),
        who: q.who.clone().unwrap_or_default().trim().to_string(),
        since: since.unwrap_or(0),
        until: until.unwrap_or(0),
        limit: 200,
    };
    let rows = match ops::audit::audit_events(&c.st, &c.admin, &filter).await {
        Ok(r) => r,
        Err(e) => return c.fail(e, "/console"),
    };
    let events: Vec<Value> = rows
        .iter()
        .map(|r| context! { seq => r.seq, time => c.local_time(r.at), kind => r.kind, actor => r.actor, subject => r.subject, ip => r.ip, detail => r.detail })
        .collect();
    // The export covers the chosen dates, or the last 30 days when none are given.
    let t = now();
    let export_since = since.unwrap_or(t - 30 * 86_400).to_string();
    let export_until = until.unwrap_or(t + 1).to_string();
    let export_url = local_url("/console/audit/export", &[("since", &export_since), ("until", &export_until)]);
    let f = context! { kind => q.kind, who => q.who, since => q.since, until => q.until };
    c.ok(
        "console_audit.html",
        "audit",
        context! { events => events, f => f, kinds => AUDIT_KINDS, export_url => export_url },
    )
}

#[derive(Deserialize)]
pub struct ExportQuery {
    since: i64,
    until: i64,
}

pub async fn audit_export(c: Console, Query(q): Query<ExportQuery>) -> Response {
    match ops::audit::export_audit(&c.st, &c.admin, q.since, q.until, now()).await {
        Ok(csv) => super::admin::csv_response(csv),
        Err(e) => c.fail(e, "/console/audit"),
    }
}
