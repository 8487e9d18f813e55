//! The pages behind password reset and activation links: a GET shows the new-password form (it
//! never spends the link: mail scanners and link previews open links too), the form's POST sets
//! the password. Refused links get a friendly page saying what happened and what to do.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::{accept_language, browser_form, browser_id, error_page, page, FormParams, FormRejection, St};
use super::{retry_after, BUSY_RETRY_SECONDS};
use crate::auth::links::{Purpose, Refusal};
use crate::config::Secret;
use crate::ops::account::PasswordRefusal;
use crate::ops::reset::{self as ops, FollowError};
use crate::theme::negotiate;

const CSRF_PURPOSE: &str = "password-link";

fn locale(st: &St, headers: &HeaderMap) -> &'static str {
    negotiate(None, accept_language(headers), &st.config.default_locale)
}

/// 400 for a link we never issued, 410 Gone for one used, replaced or expired.
fn refused(st: &St, locale: &str, e: FollowError) -> Response {
    let (status, key) = match e {
        FollowError::Link(Refusal::Unknown) => (StatusCode::BAD_REQUEST, "link_unknown"),
        FollowError::Link(Refusal::Used) => (StatusCode::GONE, "link_used"),
        FollowError::Link(Refusal::Expired) => (StatusCode::GONE, "link_expired"),
        FollowError::Inactive => (StatusCode::FORBIDDEN, "link_account_inactive"),
        FollowError::Password(_) | FollowError::Internal => {
            return error_page(st, StatusCode::INTERNAL_SERVER_ERROR, locale, "error_server", "server_error")
        }
    };
    let code = match e {
        FollowError::Link(r) => format!("link_{}", r.as_str()),
        _ => "account_inactive".into(),
    };
    error_page(st, status, locale, key, &code)
}

fn heading(purpose: Purpose) -> &'static str {
    if purpose == Purpose::Activation {
        "link_activate_heading"
    } else {
        "link_reset_heading"
    }
}

/// The new-password form; `error` is the translation key of a refused password.
fn form_page(st: &St, locale: &'static str, purpose: Purpose, token: &str, bid: &str, error: Option<&str>) -> Response {
    let status = match error {
        None => StatusCode::OK,
        Some(_) => StatusCode::BAD_REQUEST,
    };
    let ctx = minijinja::context! {
        heading => st.themes.text(locale, heading(purpose)),
        action => format!("{}{token}", purpose.path()),
        csrf => st.csrf.token(bid, CSRF_PURPOSE),
        error => error.map(|k| st.themes.text(locale, k)),
    };
    page(st, status, "password_link.html", locale, ctx)
}

async fn show(st: St, purpose: Purpose, token: String, jar: CookieJar, headers: HeaderMap) -> Response {
    let locale = locale(&st, &headers);
    if let Err(e) = ops::check(&st, purpose, &token, st.now()).await {
        return refused(&st, locale, e);
    }
    let (jar, bid) = browser_id(&st, jar);
    (jar, form_page(&st, locale, purpose, &token, &bid, None)).into_response()
}

async fn submit(
    st: St,
    purpose: Purpose,
    token: String,
    jar: CookieJar,
    headers: HeaderMap,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = locale(&st, &headers);
    let (form, bid) = match browser_form(&st, &jar, form, CSRF_PURPOSE, locale) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let field = |name: &str| Secret::new(form.get(name).unwrap_or("").to_string());
    match ops::follow(&st, purpose, &token, &field("password"), &field("repeat"), st.now()).await {
        Ok(()) => {
            let ctx = minijinja::context! {};
            let done = if purpose == Purpose::Activation { "link_activated.html" } else { "link_reset_done.html" };
            page(&st, StatusCode::OK, done, locale, ctx)
        }
        Err(FollowError::Password(PasswordRefusal::Busy)) => {
            let res = form_page(&st, locale, purpose, &token, &bid, Some("err_busy"));
            let (mut parts, body) = res.into_parts();
            parts.status = StatusCode::SERVICE_UNAVAILABLE;
            retry_after(Response::from_parts(parts, body), BUSY_RETRY_SECONDS)
        }
        Err(FollowError::Password(r)) => form_page(&st, locale, purpose, &token, &bid, Some(r.message_key())),
        Err(e) => refused(&st, locale, e),
    }
}

pub async fn reset_form(State(st): State<St>, Path(token): Path<String>, jar: CookieJar, h: HeaderMap) -> Response {
    show(st, Purpose::Reset, token, jar, h).await
}

pub async fn activate_form(State(st): State<St>, Path(token): Path<String>, jar: CookieJar, h: HeaderMap) -> Response {
    show(st, Purpose::Activation, token, jar, h).await
}

pub async fn reset_submit(
    State(st): State<St>,
    Path(token): Path<String>,
    jar: CookieJar,
    h: HeaderMap,
    form: Result<FormParams, FormRejection>,
) -> Response {
    submit(st, Purpose::Reset, token, jar, h, form).await
}

pub async fn activate_submit(
    State(st): State<St>,
    Path(token): Path<String>,
    jar: CookieJar,
    h: HeaderMap,
    form: Result<FormParams, FormRejection>,
) -> Response {
    submit(st, Purpose::Activation, token, jar, h, form).await
}

fn forgot_page(st: &St, status: StatusCode, locale: &'static str, ctx: minijinja::Value) -> Response {
    page(st, status, "forgot.html", locale, ctx)
}

/// The "forgot password" form, or, without e-mail on this server, where to go instead.
pub async fn forgot_form(State(st): State<St>, jar: CookieJar, headers: HeaderMap) -> Response {
    let locale = locale(&st, &headers);
    if !st.mailer.configured() {
        return forgot_page(&st, StatusCode::OK, locale, minijinja::context! { unavailable => true });
    }
    let (jar, bid) = browser_id(&st, jar);
    let ctx = minijinja::context! { csrf => st.csrf.token(&bid, CSRF_PURPOSE) };
    (jar, forgot_page(&st, StatusCode::OK, locale, ctx)).into_response()
}

/// Always the same answer, whether or not the account exists or has a verified address.
pub async fn forgot(
    State(st): State<St>,
    jar: CookieJar,
    headers: HeaderMap,
    super::oidc::ClientIp(ip): super::oidc::ClientIp,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = locale(&st, &headers);
    let (form, bid) = match browser_form(&st, &jar, form, CSRF_PURPOSE, locale) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let identifier = form.get("identifier").unwrap_or("");
    match crate::ops::forgot::request(&st, identifier, &ip, st.now()).await {
        crate::ops::forgot::Requested::Accepted => {
            forgot_page(&st, StatusCode::OK, locale, minijinja::context! { sent => true })
        }
        crate::ops::forgot::Requested::Unavailable => {
            forgot_page(&st, StatusCode::OK, locale, minijinja::context! { unavailable => true })
        }
        crate::ops::forgot::Requested::TooMany { retry_after: wait } => {
            let ctx = minijinja::context! { too_many => true, csrf => st.csrf.token(&bid, CSRF_PURPOSE) };
            retry_after(forgot_page(&st, StatusCode::TOO_MANY_REQUESTS, locale, ctx), wait)
        }
    }
}
