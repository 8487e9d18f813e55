//! Electronic certificates: monitoring, binding one to an account, revoking one.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};
use serde::Deserialize;

use super::accounts::account_page;
use super::{confirmed, done, Console};
use crate::http::SignedInForm;
use crate::ops::certificates::CertRow;
use crate::ops::{self, AdminError};

pub(super) fn cert_row(c: &Console, r: &CertRow, holder: Option<&str>, t: i64) -> Value {
    context! {
        id => r.id, subject => r.subject, issuer => r.issuer, serial => r.serial, fingerprint => r.fingerprint,
        not_after => c.local_time(r.not_after).get(..10).unwrap_or("").to_string(),
        standing => crate::certs::standing(r, t, c.st.config.certs.warn_days).as_str(), reason => r.revocation_reason,
        account_id => r.account_id, account_name => holder,
        pending => r.pending, possession => r.possession, name_match => r.name_match,
        check_status => r.check_status, check_source => r.check_source, check_detail => r.check_detail,
        checked_at => r.checked_at.map(|at| c.local_time(at)),
    }
}

#[derive(Deserialize)]
pub struct CertQuery {
    /// `all=1`: the older link for `state=all`.
    all: Option<String>,
    state: Option<String>,
    opd: Option<String>,
    offset: Option<i64>,
}

/// Rows per page of the console's list.
const PAGE: i64 = 50;

/// Monitoring: by state (revoked, expired, expiring and failing first) and OPD unit, a page at a
/// time, with the signers' CSV of the chosen unit.
pub async fn certificates(c: Console, Query(q): Query<CertQuery>) -> Response {
    use ops::certificates::CertState;
    let legacy_all = q.all.as_deref() == Some("1");
    let t = c.st.now();
    let offset = q.offset.unwrap_or(0).max(0);
    let filter = match crate::http::admin::cert_filter(
        q.state.as_deref(),
        false,
        if legacy_all { CertState::All } else { CertState::Attention },
        q.opd.clone(),
        Some(PAGE + 1),
        Some(offset),
    ) {
        Ok(f) => f,
        Err(e) => return c.fail(e, "/console/certificates"),
    };
    let mut rows = match ops::certificates::certificates(&c.st, &c.admin, &filter, t).await {
        Ok(r) => r,
        Err(e) => return c.fail(e, "/console/certificates"),
    };
    // One row beyond the page says whether there is a next one.
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let units = ops::certificates::monitor::monitoring_units(&c.st, &c.admin).await.unwrap_or_default();
    let units: Vec<Value> =
        units.iter().map(|u| context! { id => u.id, name => format!("{} {}", u.code, u.name) }).collect();
    let list: Vec<Value> = rows.iter().map(|r| cert_row(&c, &r.cert, Some(&r.holder_name), t)).collect();
    let states: Vec<&str> = CertState::ALL.iter().map(|s| s.as_str()).collect();
    let opd = filter.opd.clone().unwrap_or_default();
    let here = |off: i64| {
        let mut u = url::form_urlencoded::Serializer::new(String::new());
        u.append_pair("state", filter.state.as_str());
        if !opd.is_empty() {
            u.append_pair("opd", &opd);
        }
        u.append_pair("offset", &off.to_string());
        format!("/console/certificates?{}", u.finish())
    };
    let csv = if opd.is_empty() {
        "/console/certificates/signers.csv".to_string()
    } else {
        format!(
            "/console/certificates/signers.csv?opd={}",
            url::form_urlencoded::byte_serialize(opd.as_bytes()).collect::<String>()
        )
    };
    c.ok(
        "console_certificates.html",
        "certificates",
        context! {
            certs => list, all => filter.state == CertState::All, state => filter.state.as_str(), states => states,
            opd => opd, units => units, warn_days => c.st.config.certs.warn_days, csv => csv,
            prev => (offset > 0).then(|| here((offset - PAGE).max(0))), next => more.then(|| here(offset + PAGE)),
        },
    )
}

/// The signers of the chosen OPD unit (or every unit the administrator monitors) as CSV.
pub async fn signers_csv(c: Console, Query(q): Query<CertQuery>) -> Response {
    let opd = q.opd.as_deref().filter(|o| !o.trim().is_empty());
    match ops::certificates::monitor::signers_csv(&c.st, &c.admin, opd, c.st.now()).await {
        Ok(csv) => crate::http::admin::signers_response(csv),
        Err(e) => c.fail(e, "/console/certificates"),
    }
}

pub async fn certificate_bind(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let (id, a, back) = match c.managed_account(&id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // Refused before the confirmation shows anything.
    if let Err(e) = ops::certificates::binding::not_to_oneself(&c.st, &c.admin, &id, c.st.now()).await {
        return c.fail(e, &back);
    }
    let pem = form.get("certificate").unwrap_or("").to_string();
    let t = c.st.now();
    // Checked first, so the confirmation shows what the certificate says about itself.
    let checked = match ops::certificates::check_certificate(&c.st, &pem, t) {
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
        if !crate::certs::names::names_match(&checked.common_name, &a.name) {
            summary.push(c.fmt("c_sum_cert_name_differs", &[&checked.common_name, &a.name]));
        }
        summary.push(c.text("cb_sum_waits_for_proof"));
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
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let back = back_to(form.get("back"));
    let reason = form.get("reason").unwrap_or("").trim().to_string();
    if reason.is_empty() {
        return c.fail(AdminError::Invalid(c.text("c_err_reason_required")), &back);
    }
    if !confirmed(&form) {
        let cert = match ops::certificates::certificate(&c.st, &c.admin, &id).await {
            Ok(x) => x,
            Err(e) => return c.fail(e, &back),
        };
        let summary = vec![c.fmt("c_sum_cert_revoke", &[&cert.subject]), c.fmt("c_sum_reject", &[&reason])];
        // The stored id, not the path's, goes into the form's action.
        return c.confirm(&form, &format!("/console/certificates/{}/revoke", cert.id), &back, summary);
    }
    match ops::certificates::revoke_certificate(&c.st, &c.admin, &id, &reason, c.st.now()).await {
        Ok(_) => done(&back, "certificate_revoked"),
        Err(e) => c.fail(e, &back),
    }
}

/// A second administrator approves a pending binding, after a confirmation of what it is.
pub async fn certificate_approve(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let back = back_to(form.get("back"));
    if !confirmed(&form) {
        let cert = match ops::certificates::certificate(&c.st, &c.admin, &id).await {
            Ok(x) => x,
            Err(e) => return c.fail(e, &back),
        };
        let why = if cert.pending == "approval" { "cb_sum_approve_name" } else { "cb_sum_approve_proof" };
        let summary = vec![c.fmt("cb_sum_approve", &[&cert.subject]), c.text(why)];
        return c.confirm(&form, &format!("/console/certificates/{}/approve", cert.id), &back, summary);
    }
    match ops::certificates::approve(&c.st, &c.admin, &id, c.st.now()).await {
        Ok(_) => done(&back, "certificate_approved"),
        Err(e) => c.fail(e, &back),
    }
}

/// Where a certificate form returns: a console page it came from, else the certificate list.
fn back_to(back: Option<&str>) -> String {
    match back.filter(|b| b.starts_with("/console/")) {
        Some(b) => super::safe_next(Some(b)),
        None => "/console/certificates".into(),
    }
}
