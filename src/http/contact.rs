//! The person's contact details (`/account/contact`) and the e-mail verification link
//! (`/verify-email/{token}`): the link's GET only shows a button, its POST proves the address.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::account::{locale_of, Person, RecentPerson};
use super::{browser_form, browser_id, page, see_other, FormParams, FormRejection, PageError, SignedInForm, St};
use crate::auth::links::Refusal;
use crate::ops::account::Recent;
use crate::ops::contact::{self as ops, ContactDone, ContactRefusal, VerifyRefusal};

/// Outcome messages of the contact page; only these keys are accepted from the URL.
const DONE: &[&str] = &["contact_saved", "email_sent", "email_removed"];

/// CSRF family of the verification page, bound to the browser (the link may be opened where
/// nobody is signed in).
const VERIFY_FORMS: &str = "verify-email";

pub async fn contact_form(
    RecentPerson(p): RecentPerson,
    jar: CookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let done = q.get("done").filter(|d| DONE.contains(&d.as_str())).map(|d| p.text(&format!("done_{d}")));
    contact_page(&p, jar, StatusCode::OK, done, None, None).await
}

async fn contact_page(
    p: &Person<Recent>,
    jar: CookieJar,
    status: StatusCode,
    done: Option<String>,
    error: Option<&str>,
    typed: Option<(&str, &str)>,
) -> Result<Response, PageError> {
    let v = ops::view(&p.st, &p.me, p.st.now()).await.map_err(|_| p.server_error())?;
    // Unless a refused form comes back as typed, the fields hold the pending address (so saving
    // only a new phone number keeps that change waiting) and the stored number.
    let stored =
        (v.pending.clone().or(v.email.clone()).unwrap_or_default(), v.phone_number.clone().unwrap_or_default());
    let (form_email, form_phone) = typed.unwrap_or((&stored.0, &stored.1));
    let (jar, bid) = browser_id(&p.st, jar);
    let ctx = minijinja::context! {
        email => v.email, email_verified => v.email_verified, pending => v.pending, mail_available => v.mail_available,
        form_email => form_email, form_phone => form_phone, done => done, error => error.map(|k| p.text(k)),
        csrf => p.st.csrf.token(&bid, "account"),
    };
    Ok((jar, page(&p.st, status, "account_contact.html", p.locale, ctx)).into_response())
}

pub async fn contact_save(
    jar: CookieJar,
    SignedInForm { who: RecentPerson(p), form }: SignedInForm<RecentPerson>,
) -> Result<Response, PageError> {
    let now = p.st.now();
    let (email, phone) = (form.get("email").unwrap_or(""), form.get("phone_number").unwrap_or(""));
    let result = match form.get("action") {
        Some("resend") => ops::send_again(&p.st, &p.me, now).await,
        _ => ops::save(&p.st, &p.me, email, phone, now).await,
    };
    let key = match result {
        Ok(ContactDone::Unchanged) => return Ok(see_other("/account/contact")),
        Ok(ContactDone::Saved) => return Ok(see_other("/account/contact?done=contact_saved")),
        Ok(ContactDone::VerificationSent) => return Ok(see_other("/account/contact?done=email_sent")),
        Ok(ContactDone::EmailRemoved) => return Ok(see_other("/account/contact?done=email_removed")),
        Err(ContactRefusal::Internal) => return Err(p.server_error()),
        Err(ContactRefusal::Email) => "err_contact_email",
        Err(ContactRefusal::Phone) => "err_contact_phone",
        Err(ContactRefusal::MailUnavailable) => "account_email_unavailable",
        Err(ContactRefusal::TooSoon) => {
            // After "send again" the form shows what is stored, not that button's empty fields.
            let status = StatusCode::TOO_MANY_REQUESTS;
            return contact_page(&p, jar, status, None, Some("err_contact_too_soon"), None).await;
        }
    };
    contact_page(&p, jar, StatusCode::UNPROCESSABLE_ENTITY, None, Some(key), Some((email, phone))).await
}

fn refusal_page(st: &St, locale: &'static str, r: VerifyRefusal) -> Response {
    let (status, key, code) = match r {
        VerifyRefusal::Link(Refusal::Unknown) => (StatusCode::BAD_REQUEST, "err_email_link_unknown", "invalid_link"),
        VerifyRefusal::Link(Refusal::Used) => (StatusCode::GONE, "err_email_link_used", "link_used"),
        VerifyRefusal::Link(Refusal::Expired) => (StatusCode::GONE, "err_email_link_expired", "link_expired"),
        VerifyRefusal::Inactive => (StatusCode::FORBIDDEN, "err_email_link_inactive", "access_denied"),
        VerifyRefusal::Internal => return PageError::server(st, locale).into_response(),
    };
    PageError::new(st, locale, status, key, code).into_response()
}

/// The verification link opened: the address and a button. Nothing is taken here.
pub async fn verify_form(
    State(st): State<St>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let locale = locale_of(&st, &headers, None);
    let address = match ops::verification_target(&st, &token, st.now()).await {
        Ok(a) => a,
        Err(r) => return refusal_page(&st, locale, r),
    };
    let (jar, bid) = browser_id(&st, jar);
    let ctx = minijinja::context! {
        address => address, verified => false, action => format!("/verify-email/{token}"),
        csrf => st.csrf.token(&bid, VERIFY_FORMS),
    };
    (jar, page(&st, StatusCode::OK, "verify_email.html", locale, ctx)).into_response()
}

/// The button pressed: the link is taken and the address proven.
pub async fn verify_submit(
    State(st): State<St>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    form: Result<FormParams, FormRejection>,
) -> Response {
    let locale = locale_of(&st, &headers, None);
    if let Err(refused) = browser_form(&st, &jar, form, VERIFY_FORMS, locale) {
        return refused.into_response();
    }
    match ops::verify(&st, &token, st.now()).await {
        Ok(address) => {
            let ctx = minijinja::context! { address => address, verified => true };
            page(&st, StatusCode::OK, "verify_email.html", locale, ctx)
        }
        Err(r) => refusal_page(&st, locale, r),
    }
}
