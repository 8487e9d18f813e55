//! The citizen registration pages: the form, the neutral "check your e-mail" answer, and the
//! confirmation link's page, whose button (never the GET) creates the account.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::oidc::ClientIp;
use super::{accept_language, browser_form, browser_id, page, retry_after, FormParams, FormRejection, PageError, St};
use crate::auth::links::Refusal;
use crate::config::Secret;
use crate::ops::registration::{self as ops, Application, ConfirmError, Confirmed, Problem, RegisterError};
use crate::state::AppState;
use crate::theme::negotiate;

const CSRF_PURPOSE: &str = "register";

fn locale_of(st: &AppState, headers: &HeaderMap, q: &HashMap<String, String>) -> &'static str {
    negotiate(q.get("ui_locales").map(String::as_str), accept_language(headers), &st.config.default_locale)
}

fn text(st: &AppState, locale: &str, key: &str) -> String {
    st.themes.text(locale, key)
}

/// A plain page with a title, a message and optionally one button or one link.
fn message(
    st: &St,
    status: StatusCode,
    locale: &'static str,
    title: &str,
    body: &str,
    extra: minijinja::Value,
) -> Response {
    let ctx = minijinja::context! { title => text(st, locale, title), message => text(st, locale, body), ..extra };
    page(st, status, "register_message.html", locale, ctx)
}

/// Off: the pages do not exist. Without mail: a plain page saying why registration is closed.
fn unavailable(st: &St, locale: &'static str, e: &RegisterError) -> Option<Response> {
    match e {
        RegisterError::Disabled => Some(PageError::not_found(st, locale).into_response()),
        RegisterError::NoMail => {
            Some(message(st, StatusCode::OK, locale, "register_title", "register_no_mail", minijinja::context! {}))
        }
        _ => None,
    }
}

fn form_page(
    st: &St,
    jar: CookieJar,
    status: StatusCode,
    locale: &'static str,
    values: minijinja::Value,
    errors: HashMap<&'static str, String>,
) -> Response {
    let (jar, bid) = browser_id(st, jar);
    let ctx = minijinja::context! {
        csrf => st.csrf.token(&bid, CSRF_PURPOSE), action => "/register", v => values, errors => errors,
        counter_info => counter_info(st, locale),
    };
    (jar, page(st, status, "register.html", locale, ctx)).into_response()
}

/// Where citizens get their identity verified, as configured or the default wording.
pub fn counter_info(st: &AppState, locale: &str) -> String {
    let configured = st.config.verification_counter_info.trim();
    if configured.is_empty() {
        text(st, locale, "verification_counter_default")
    } else {
        configured.to_string()
    }
}

pub async fn form(
    State(st): State<St>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    if let Err(e) = ops::available(&st) {
        return unavailable(&st, locale, &e).unwrap_or_else(|| PageError::server(&st, locale).into_response());
    }
    form_page(&st, jar, StatusCode::OK, locale, minijinja::context! {}, HashMap::new())
}

fn problem_text(st: &AppState, locale: &str, p: &Problem) -> String {
    match p {
        Problem::Nik(e) if locale == "id" => e.message_id(),
        Problem::Nik(e) => e.to_string(),
        Problem::NikRegion(w) if locale == "id" => w.message_id(),
        Problem::NikRegion(w) => w.to_string(),
        Problem::Name => text(st, locale, "register_err_name"),
        Problem::Email => text(st, locale, "register_err_email"),
        Problem::Password(rule) => text(st, locale, rule.message_key()),
        Problem::Mismatch => text(st, locale, "register_err_mismatch"),
    }
}

pub async fn submit(
    State(st): State<St>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    if let Err(e) = ops::available(&st) {
        return unavailable(&st, locale, &e).unwrap_or_else(|| PageError::server(&st, locale).into_response());
    }
    let (form, _) = match browser_form(&st, &jar, form, CSRF_PURPOSE, locale) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let field = |n: &str| form.get(n).unwrap_or("").to_string();
    let application = Application {
        nik: field("nik"),
        name: field("name"),
        email: field("email"),
        password: Secret::new(field("password")),
        repeat: Secret::new(field("repeat")),
        locale: locale.to_string(),
    };
    let values = minijinja::context! { nik => field("nik"), name => field("name"), email => field("email") };
    match ops::request(&st, application, &ip, st.now()).await {
        Ok(()) => message(&st, StatusCode::OK, locale, "register_sent_title", "register_sent", minijinja::context! {}),
        Err(RegisterError::Invalid(problems)) => {
            let errors = problems.iter().map(|(f, p)| (*f, problem_text(&st, locale, p))).collect();
            form_page(&st, jar, StatusCode::UNPROCESSABLE_ENTITY, locale, values, errors)
        }
        Err(RegisterError::Throttled(secs)) => {
            let res = message(
                &st,
                StatusCode::TOO_MANY_REQUESTS,
                locale,
                "register_title",
                "register_throttled",
                minijinja::context! {},
            );
            retry_after(res, secs)
        }
        Err(e) => unavailable(&st, locale, &e).unwrap_or_else(|| PageError::server(&st, locale).into_response()),
    }
}

fn refused(st: &St, locale: &'static str, e: ConfirmError) -> Response {
    let (status, key) = match e {
        ConfirmError::Disabled => return PageError::not_found(st, locale).into_response(),
        ConfirmError::Internal => return PageError::server(st, locale).into_response(),
        ConfirmError::Refused(Refusal::Unknown) => (StatusCode::BAD_REQUEST, "register_link_unknown"),
        ConfirmError::Refused(Refusal::Used) => (StatusCode::GONE, "register_link_used"),
        ConfirmError::Refused(Refusal::Expired) => (StatusCode::GONE, "register_link_expired"),
    };
    let extra = minijinja::context! { link_url => "/register", link_label => text(st, locale, "register_again") };
    message(st, status, locale, "register_link_title", key, extra)
}

/// Shows the button; a GET takes nothing (mail scanners and link previews open links).
pub async fn confirm_form(
    State(st): State<St>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    if let Err(e) = ops::inspect(&st, &token, st.now()).await {
        return refused(&st, locale, e);
    }
    let (jar, bid) = browser_id(&st, jar);
    let extra = minijinja::context! {
        csrf => st.csrf.token(&bid, CSRF_PURPOSE),
        action => format!("/register/confirm/{token}"),
        button => text(&st, locale, "register_confirm_button"),
    };
    let res = message(&st, StatusCode::OK, locale, "register_confirm_title", "register_confirm_lead", extra);
    (jar, res).into_response()
}

pub async fn confirm(
    State(st): State<St>,
    Path(token): Path<String>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = locale_of(&st, &headers, &q);
    if !st.config.citizen_registration {
        return PageError::not_found(&st, locale).into_response();
    }
    if let Err(refused) = browser_form(&st, &jar, form, CSRF_PURPOSE, locale) {
        return refused.into_response();
    }
    match ops::confirm(&st, &token, &ip, st.now()).await {
        Ok(Confirmed::Created(_)) => {
            let extra =
                minijinja::context! { link_url => "/account", link_label => text(&st, locale, "register_sign_in") };
            message(&st, StatusCode::OK, locale, "register_done_title", "register_done", extra)
        }
        Ok(Confirmed::AlreadyRegistered) => {
            let extra =
                minijinja::context! { link_url => "/login/forgot", link_label => text(&st, locale, "register_forgot") };
            message(&st, StatusCode::OK, locale, "register_title", "register_exists", extra)
        }
        Err(e) => refused(&st, locale, e),
    }
}
