//! The counter officer's page: find a citizen by the NIK on the card in front of them and record
//! that their identity document was checked. Open to `identity-officer` and Diskominfo.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::{confirmed, done, local_url, Console};
use crate::http::SignedInForm;
use crate::ops::verification::IdentityCheck;
use crate::ops::{self, AdminError};

const PAGE: &str = "console_verification.html";
const NAV: &str = "verification";

#[derive(Deserialize)]
pub struct NikQuery {
    nik: Option<String>,
}

/// Only digits and separators go back into the page and its URLs.
fn clean_nik(raw: &str) -> String {
    raw.chars().filter(|c| c.is_ascii_digit()).take(16).collect()
}

/// The search form, and the citizen found by a whole NIK.
pub async fn verification(c: Console, Query(q): Query<NikQuery>) -> Response {
    if !c.admin.verifies_citizens() {
        return c.fail(
            AdminError::Forbidden("finding citizens needs diskominfo-admin or identity-officer".into()),
            "/console",
        );
    }
    let raw = q.nik.unwrap_or_default();
    if raw.trim().is_empty() {
        return c.ok(PAGE, NAV, context! { nik => "" });
    }
    let nik = clean_nik(&raw);
    match ops::verification::citizen(&c.st, &c.admin, &raw).await {
        Ok(a) => {
            let citizen = context! {
                name => a.name, nik => a.nik, verified => a.identity_verified(), active => a.is_active(),
            };
            c.ok(PAGE, NAV, context! { nik => nik, citizen => citizen })
        }
        Err(AdminError::NotFound(_)) => {
            c.render(StatusCode::NOT_FOUND, PAGE, NAV, context! { nik => nik, not_found => true })
        }
        Err(AdminError::Invalid(_)) => {
            c.render(StatusCode::UNPROCESSABLE_ENTITY, PAGE, NAV, context! { nik => nik, malformed => true })
        }
        Err(e) => c.fail(e, "/console"),
    }
}

/// Verifies the citizen of the NIK in the form, after the confirmation step.
pub async fn verification_submit(SignedInForm { who: c, form }: SignedInForm<Console>) -> Response {
    let nik = clean_nik(form.get("nik").unwrap_or(""));
    let back = local_url("/console/verification", &[("nik", &nik)]);
    let a = match ops::verification::citizen(&c.st, &c.admin, &nik).await {
        Ok(a) => a,
        Err(e) => return c.fail(e, "/console/verification"),
    };
    let check = IdentityCheck {
        document: form.get("document").unwrap_or("").to_string(),
        note: form.get("note").unwrap_or("").to_string(),
    };
    if !confirmed(&form) {
        let summary = vec![c.fmt("c_sum_identity_verification", &[&a.name, check.document.trim()])];
        return c.confirm(&form, "/console/verification", &back, summary);
    }
    let Ok(id) = crate::ids::AccountId::parse(&a.id) else {
        return c.fail(AdminError::Internal, &back);
    };
    match ops::verification::verify_identity(&c.st, &c.admin, &id, check, c.st.now()).await {
        Ok(_) => done(&back, "identity_verified"),
        Err(e) => c.fail(e, &back),
    }
}
