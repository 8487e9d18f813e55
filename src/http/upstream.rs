//! Logins through upstream identity providers: the login page's buttons post here, the browser
//! goes to the upstream and comes back to `/upstream/<id>/callback`; and the person's removal
//! of a link on the account page.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::account::Person;
use super::login::{browser, device, flow_form, render};
use super::oidc::{outcome_response, ClientIp};
use super::{accept_language, page, see_other, Cookies, FormParams, FormRejection, PageError, SignedInForm, St};
use crate::oidc::authorize::Outcome;
use crate::ops::upstream::{self as ops, Callback, Refusal};
use crate::state::AppState;
use crate::theme::negotiate;

/// The login page's buttons, one per configured upstream.
pub fn buttons(st: &AppState) -> Vec<minijinja::Value> {
    st.upstreams.buttons().into_iter().map(|(id, name)| minijinja::context! { id => id, name => name }).collect()
}

fn message(r: Refusal) -> (&'static str, StatusCode) {
    match r {
        Refusal::UnknownUpstream => ("upstream_err_unknown", StatusCode::NOT_FOUND),
        Refusal::Expired => ("upstream_err_expired", StatusCode::BAD_REQUEST),
        Refusal::Unreachable => ("upstream_err_unreachable", StatusCode::SERVICE_UNAVAILABLE),
        Refusal::Misconfigured => ("upstream_err_misconfigured", StatusCode::BAD_GATEWAY),
        Refusal::UpstreamRefused => ("upstream_err_refused", StatusCode::FORBIDDEN),
        Refusal::InvalidToken => ("upstream_err_invalid_token", StatusCode::BAD_GATEWAY),
        Refusal::MissingIdentifier => ("upstream_err_missing_identifier", StatusCode::FORBIDDEN),
        Refusal::InvalidIdentifier => ("upstream_err_invalid_identifier", StatusCode::FORBIDDEN),
        Refusal::AccountDisabled => ("upstream_err_account_disabled", StatusCode::FORBIDDEN),
        Refusal::NoAccount => ("upstream_err_no_account", StatusCode::FORBIDDEN),
        Refusal::MissingName => ("upstream_err_missing_name", StatusCode::FORBIDDEN),
        Refusal::LinkConflict => ("upstream_err_link_conflict", StatusCode::CONFLICT),
        Refusal::UnverifiedAccount => ("upstream_err_unverified_account", StatusCode::CONFLICT),
        Refusal::IssuerChanged => ("upstream_err_issuer_changed", StatusCode::CONFLICT),
        Refusal::NotFresh => ("upstream_err_not_fresh", StatusCode::FORBIDDEN),
        Refusal::Internal => ("error_server", StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// A themed page naming why the upstream login was refused and the upstream it was.
fn refusal_page(st: &AppState, locale: &str, upstream_id: &str, r: Refusal) -> Response {
    let (key, status) = message(r);
    let name = st.upstreams.name_of(upstream_id).unwrap_or_default();
    let ctx = minijinja::context! {
        title => st.themes.text(locale, "upstream_refused_title"),
        message => st.themes.text(locale, key).replace("{upstream}", &name),
        code => r.code(),
    };
    page(st, status, "error.html", locale, ctx)
}

/// A button on the login page: to the upstream, or the login page again saying why not (the
/// local login still works when the upstream is down).
pub async fn start(
    State(st): State<St>,
    Path(id): Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let (_, bid, flow, locale) = match flow_form(&st, &headers, &jar, form, "login").await {
        Ok(x) => x,
        Err(page) => return page,
    };
    match ops::start(&st, &flow, &id, st.now()).await {
        Ok(url) => see_other(&url),
        Err(Refusal::UnknownUpstream) => refusal_page(&st, locale, &id, Refusal::UnknownUpstream),
        // The login page again, saying why: the local login is right there.
        Err(r) => {
            let (key, status) = message(r);
            outcome_response(&st, Outcome::Login(flow), locale, &bid, None, Some((key, status, None)))
        }
    }
}

/// The browser back from the upstream.
pub async fn callback(
    State(st): State<St>,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let locale = negotiate(None, accept_language(&headers), &st.config.default_locale);
    let bid = Cookies::read(&st, &jar, Cookies::BROWSER).unwrap_or_default();
    let sso = Cookies::read(&st, &jar, Cookies::SSO);
    let device = device(&st, &jar);
    let cb = Callback {
        state: q.get("state").map(String::as_str).unwrap_or(""),
        code: q.get("code").map(String::as_str),
        error: q.get("error").map(String::as_str),
        iss: q.get("iss").map(String::as_str),
    };
    let b = browser(&ip, &headers, sso.as_deref(), locale, &device);
    match ops::callback(&st, &id, &cb, &b, &bid, st.now()).await {
        Ok(step) => render(&st, step, jar, locale, &bid, device),
        Err(r) => refusal_page(&st, locale, &id, r),
    }
}

pub async fn remove_form(Path(id): Path<String>, p: Person, jar: CookieJar) -> Response {
    let action =
        format!("/account/upstream/{}/remove", url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>());
    p.confirm_page(jar, &action, "upstream_confirm_remove", "upstream_remove")
}

pub async fn remove(
    Path(id): Path<String>,
    SignedInForm { who: p, .. }: SignedInForm<Person>,
) -> Result<Response, PageError> {
    ops::unlink(&p.st, &p.me, &id, p.st.now()).await.map_err(|e| p.error(e))?;
    Ok(see_other("/account?done=upstream_removed").into_response())
}
