//! Electronic certificates on the account page (`/account/certificates`): the person's
//! bindings, a one-time challenge with the exact `openssl` commands to sign it, and the form
//! that binds a certificate (or completes one an administrator bound) with that signature.
//! Offered only when trusted certificate authorities are configured.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use minijinja::{context, Value};

use super::account::Person;
use super::{browser_id, page, see_other, PageError, SignedInForm};
use crate::ops::certificates::binding::{self, BindRefusal};
use crate::ops::certificates::{CertRow, CERT_WARN_DAYS};

/// Outcome messages shown once; only these keys are accepted from the URL.
const DONE: &[&str] = &["bound", "approval"];

/// What the page says after a refused attempt: the reason and the text kept for correction.
struct Refused {
    message: String,
    detail: String,
    certificate: String,
    certificate_id: String,
}

fn row(p: &Person, r: &CertRow, now: i64) -> Value {
    let when = |t: i64| crate::clock::local_time(t, p.st.config.utc_offset_minutes);
    context! {
        id => r.id, subject => r.subject, issuer => r.issuer, serial => r.serial,
        not_after => when(r.not_after).get(..10).unwrap_or("").to_string(),
        standing => crate::certs::standing(r, now, CERT_WARN_DAYS).as_str(),
        pending => r.pending, possession => r.possession, name_match => r.name_match,
        check_status => r.check_status, checked_at => r.checked_at.map(when),
        signer => r.is_signer(now),
    }
}

async fn render(
    p: &Person,
    jar: CookieJar,
    status: StatusCode,
    done: Option<String>,
    refused: Option<Refused>,
) -> Response {
    let (st, now) = (&p.st, p.st.now());
    if !binding::offered(st) {
        return PageError::new(st, p.locale, StatusCode::NOT_FOUND, "cb_err_not_offered", "invalid_request")
            .into_response();
    }
    let certs = match binding::own_certificates(st, &p.me).await {
        Ok(c) => c,
        Err(_) => return p.server_error().into_response(),
    };
    let challenge = match binding::issue_challenge(st, &p.me.account.id, now).await {
        Ok(c) => c,
        Err(_) => return p.server_error().into_response(),
    };
    let (jar, bid) = browser_id(st, jar);
    let waiting: Vec<Value> =
        certs.iter().filter(|r| r.pending == "proof" && r.status == "active").map(|r| row(p, r, now)).collect();
    let ctx = context! {
        csrf => st.csrf.token(&bid, "account"),
        certs => certs.iter().map(|r| row(p, r, now)).collect::<Vec<_>>(),
        waiting => waiting,
        challenge => challenge.text,
        nonce => challenge.nonce,
        challenge_until => crate::clock::local_time(challenge.expires_at, st.config.utc_offset_minutes),
        done => done,
        error => refused.as_ref().map(|r| r.message.clone()),
        error_detail => refused.as_ref().map(|r| r.detail.clone()),
        certificate => refused.as_ref().map(|r| r.certificate.clone()).unwrap_or_default(),
        certificate_id => refused.as_ref().map(|r| r.certificate_id.clone()).unwrap_or_default(),
    };
    (jar, page(st, status, "account_certificates.html", p.locale, ctx)).into_response()
}

pub async fn overview(p: Person, jar: CookieJar, Query(q): Query<HashMap<String, String>>) -> Response {
    let done = q.get("done").filter(|d| DONE.contains(&d.as_str())).map(|d| p.text(&format!("cb_done_{d}")));
    render(&p, jar, StatusCode::OK, done, None).await
}

pub async fn submit(jar: CookieJar, SignedInForm { who: p, form }: SignedInForm<Person>) -> Response {
    let field = |k: &str| form.get(k).unwrap_or("").to_string();
    let (pem, nonce, proof) = (field("certificate"), field("nonce"), field("signature"));
    let pending_id = form.get("certificate_id").map(str::trim).filter(|s| !s.is_empty());
    match binding::bind_own(&p.st, &p.me, &pem, pending_id, &nonce, &proof, p.st.now()).await {
        Ok(r) if r.pending.is_empty() => see_other("/account/certificates?done=bound"),
        Ok(_) => see_other("/account/certificates?done=approval"),
        Err(BindRefusal::Internal) => p.server_error().into_response(),
        Err(e) => {
            let refused = Refused {
                message: p.text(e.message_key()),
                detail: e.to_string(),
                certificate: pem,
                certificate_id: pending_id.unwrap_or("").to_string(),
            };
            render(&p, jar, StatusCode::UNPROCESSABLE_ENTITY, None, Some(refused)).await
        }
    }
}
