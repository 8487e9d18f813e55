//! People: search, the sessions page, creating an account, and the account page with its
//! changes (name and unit, roles, sessions, status, second-factor reset).

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};
use serde::Deserialize;

use super::certificates::cert_row;
use super::{all_units, confirmed, done, managed_units, parse_role, role_label, unit_name, unit_options, Console};
use crate::http::{see_other, FormParams, SignedInForm};
use crate::identity::accounts::{Account, AccountKind, AccountStatus};
use crate::identity::contact;
use crate::identity::levels;
use crate::ids::AccountId;
use crate::ops::accounts::{AccountEdit, AccountInput};
use crate::ops::roles::Assignment;
use crate::ops::units::OpdRow;
use crate::ops::verification::IdentityCheck;
use crate::ops::{self, AdminError};

fn account_row(a: &Account, units: &[OpdRow], sessions: Option<usize>) -> Value {
    context! { id => a.id, name => a.name, nip => a.nip, nik => a.nik, status => a.status.as_str(), unit => unit_name(units, a.opd_id.as_deref()), sessions => sessions }
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
    let units = all_units(&c).await;
    let rows: Vec<Value> = found.iter().map(|a| account_row(a, &units, None)).collect();
    c.ok("console_accounts.html", "accounts", context! { accounts => rows, q => q, show_new => true })
}

/// The sessions page: find people, see how many live sessions each has, open one to end them.
pub async fn sessions(c: Console, Query(p): Query<SearchQuery>) -> Response {
    let q = p.q.unwrap_or_default();
    let found = if q.trim().is_empty() {
        Vec::new()
    } else {
        // Counts only (from the cache); opening the account checks the admin's powers over it.
        match ops::accounts::search_with_sessions(&c.st, &c.admin, &q, 50, c.st.now()).await {
            Ok(f) => f,
            Err(e) => return c.fail(e, "/console"),
        }
    };
    let units = all_units(&c).await;
    let rows: Vec<Value> = found.iter().map(|(a, n)| account_row(a, &units, Some(*n))).collect();
    let ctx = context! { accounts => rows, q => q, with_sessions => true, heading => c.text("c_nav_sessions"), search_action => "/console/sessions" };
    c.ok("console_accounts.html", "sessions", ctx)
}

fn account_form_values(form: &FormParams) -> Value {
    context! { nip => form.get("nip"), nik => form.get("nik"), name => form.get("name"), opd_id => form.get("opd_id") }
}

pub async fn account_new_form(c: Console) -> Response {
    let units = managed_units(&c).await;
    let form = context! { opd_id => c.admin.account().and_then(|a| a.opd_id.clone()) };
    c.ok("console_account_new.html", "accounts", context! { units => unit_options(&units), form => form })
}

pub async fn account_new(SignedInForm { who: c, form }: SignedInForm<Console>) -> Response {
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
    match ops::reset::create_account(&c.st, &c.admin, input, c.st.now()).await {
        // Without a password nobody could log in: its activation link is shown once.
        Ok((a, _, Some(link))) => reset_link_page(&c, &a, link, &format!("/console/accounts/{}", a.id)),
        Ok((a, _, None)) => done(&format!("/console/accounts/{}", a.id), "account_created"),
        Err(AdminError::Invalid(d)) | Err(AdminError::Conflict(d)) => again(&c, d),
        Err(e) => c.fail(e, "/console/accounts"),
    }
}

pub async fn account(c: Console, Path(id): Path<String>) -> Response {
    let id = match c.account_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    account_page(&c, &id, StatusCode::OK, None).await
}

/// The account page; `cert_error` is a refused certificate (message, detail, the text given).
pub(super) async fn account_page(
    c: &Console,
    id: &AccountId,
    status: StatusCode,
    cert_error: Option<(String, String, String)>,
) -> Response {
    let t = c.st.now();
    let o = match ops::accounts::account_overview(&c.st, &c.admin, id, t).await {
        Ok(o) => o,
        Err(e) => return c.fail(e, "/console/accounts"),
    };
    let sessions: Vec<Value> = o
        .sessions
        .iter()
        .map(|s| context! { sid => s.sid, since => c.local_time(s.auth_time), level => levels::from_acr(&s.acr).unwrap_or(1), ip => s.ip, device => crate::http::account::device(&s.user_agent) })
        .collect();
    let certs: Vec<Value> = o.certificates.iter().map(|r| cert_row(c, r, None, t)).collect();
    let a = &o.account;
    let (cert_error, cert_detail, cert_text) =
        cert_error.map(|(m, d, p)| (Some(m), Some(d), Some(p))).unwrap_or_default();
    let ctx = context! {
        account => context! { id => a.id, name => a.name, kind => a.kind.as_str(), nip => a.nip, nik => a.nik, status => a.status.as_str(), opd_id => a.opd_id, citizen => a.kind == AccountKind::Citizen, verified => ops::verification::is_verified(a), email => a.email, email_verified => a.email_verified, phone_number => a.phone_number },
        unit => unit_name(&o.units, a.opd_id.as_deref()), units => unit_options(&o.managed_units), direct => o.direct,
        inherited => o.inherited, assignable => o.assignable, sessions => sessions, statuses => AccountStatus::ALL.map(AccountStatus::as_str), certs => certs,
        cert_error => cert_error, cert_detail => cert_detail, cert_text => cert_text,
        upstream_links => o.upstream_links.iter().map(|l| context! { upstream_id => l.upstream_id, name => l.name, created => c.local_time(l.created_at), last_login => l.last_login_at.map(|t| c.local_time(t)) }).collect::<Vec<_>>(),
    };
    c.render(status, "console_account.html", "accounts", ctx)
}

pub async fn account_edit(Path(id): Path<String>, SignedInForm { who: c, form }: SignedInForm<Console>) -> Response {
    let (id, a, back) = match c.managed_account(&id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let edit = AccountEdit {
        name: form.get("name").map(String::from),
        opd_id: form.get("opd_id").map(String::from),
        email: form.get("email").map(String::from),
        phone_number: form.get("phone_number").map(String::from),
    };
    if !confirmed(&form) {
        let units = all_units(&c).await;
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
        // Typed forms of the same value ("0812…" for "+62812…") are no change; the check says
        // so after confirmation anyway, so an invalid value is shown as typed here.
        let same = |typed: Option<&str>,
                    norm: fn(&str) -> Result<Option<String>, contact::ContactError>,
                    cur: &Option<String>| { typed.is_none_or(|v| norm(v).is_ok_and(|v| v == *cur)) };
        if !same(edit.email.as_deref(), contact::email, &a.email) {
            summary.push(c.fmt("c_sum_email", &[&a.name, edit.email.as_deref().unwrap_or("").trim()]));
        }
        if !same(edit.phone_number.as_deref(), contact::phone, &a.phone_number) {
            summary.push(c.fmt("c_sum_phone", &[&a.name, edit.phone_number.as_deref().unwrap_or("").trim()]));
        }
        if summary.is_empty() {
            return see_other(&back);
        }
        return c.confirm(&form, &format!("/console/accounts/{id}/edit"), &back, summary);
    }
    match ops::accounts::edit_account(&c.st, &c.admin, &id, edit, c.st.now()).await {
        Ok(_) => done(&back, "account_updated"),
        Err(e) => c.fail(e, &back),
    }
}

async fn role_change(c: Console, id: String, form: FormParams, adding: bool) -> Response {
    let (id, a, back) = match c.managed_account(&id).await {
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
    let t = c.st.now();
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
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    role_change(c, id, form, true).await
}

pub async fn account_role_remove(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    role_change(c, id, form, false).await
}

pub async fn account_session_end(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let (id, a, back) = match c.managed_account(&id).await {
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
    match ops::accounts::end_session(&c.st, &c.admin, &id, &sid, c.st.now()).await {
        Ok(_) => done(&back, "session_ended"),
        Err(e) => c.fail(e, &back),
    }
}

pub async fn account_status(Path(id): Path<String>, SignedInForm { who: c, form }: SignedInForm<Console>) -> Response {
    let (id, a, back) = match c.managed_account(&id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(status) = form.get("status").and_then(AccountStatus::parse) else {
        return c.fail(AdminError::Invalid("status".into()), &back);
    };
    if !confirmed(&form) {
        if status == a.status {
            return see_other(&back);
        }
        let (from, to) = (c.text(&format!("c_status_{}", a.status)), c.text(&format!("c_status_{status}")));
        let mut summary = vec![c.fmt("c_sum_status", &[&a.name, &from, &to])];
        if status != AccountStatus::Active {
            summary.push(c.text("c_sum_status_revokes"));
        }
        return c.confirm(&form, &format!("/console/accounts/{id}/status"), &back, summary);
    }
    match ops::accounts::set_status(&c.st, &c.admin, &id, status, c.st.now()).await {
        Ok(_) => done(&back, "status_changed"),
        Err(e) => c.fail(e, &back),
    }
}

pub async fn account_factor_reset(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let (id, a, back) = match c.managed_account(&id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !confirmed(&form) {
        let summary = vec![c.fmt("c_sum_factor_reset", &[&a.name]), c.text("c_sum_factor_reset_sessions")];
        return c.confirm(&form, &format!("/console/accounts/{id}/factor-reset"), &back, summary);
    }
    match ops::accounts::reset_factors(&c.st, &c.admin, &id, c.st.now()).await {
        Ok(_) => done(&back, "factors_reset"),
        Err(e) => c.fail(e, &back),
    }
}

/// A one-time enrolment link for the person's first factor, shown once after confirmation.
pub async fn account_enrolment_link(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let (id, a, back) = match c.managed_account(&id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !confirmed(&form) {
        let summary = vec![c.fmt("c_sum_enrolment_link", &[&a.name])];
        return c.confirm(&form, &format!("/console/accounts/{id}/enrolment-link"), &back, summary);
    }
    match ops::enrolment::issue_link(&c.st, &c.admin, &id, c.st.now()).await {
        Ok(link) => c.ok(
            "console_enrolment_link.html",
            "accounts",
            context! { name => a.name, url => link.url, back_url => back },
        ),
        Err(e) => c.fail(e, &back),
    }
}

/// A help-desk password link (an activation link for an account without a password), mailed to
/// the verified address or shown once, after confirmation.
pub async fn account_reset_link(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let (id, a, back) = match c.managed_account(&id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !confirmed(&form) {
        let summary = vec![c.fmt("c_sum_reset_link", &[&a.name])];
        return c.confirm(&form, &format!("/console/accounts/{id}/reset-link"), &back, summary);
    }
    match ops::reset::issue(&c.st, &c.admin, &id, None, c.st.now()).await {
        Ok(link) => reset_link_page(&c, &a, link, &back),
        Err(e) => c.fail(e, &back),
    }
}

fn reset_link_page(c: &Console, a: &Account, link: ops::reset::ResetLink, back: &str) -> Response {
    let sent = link.sent_to.as_deref().map(|to| c.fmt("c_reset_link_sent", &[to]));
    let heading = c.text(if link.purpose == "activation" { "c_activation_link" } else { "c_reset_link" });
    let ctx = context! { name => a.name, url => link.url, sent => sent, heading => heading, back_url => back };
    c.ok("console_reset_link.html", "accounts", ctx)
}

/// The officer's record of a citizen's identity document checked at the counter.
pub async fn account_identity_verification(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let (id, a, back) = match c.managed_account(&id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let check = IdentityCheck {
        document: form.get("document").unwrap_or("").to_string(),
        note: form.get("note").unwrap_or("").to_string(),
    };
    if !confirmed(&form) {
        let summary = vec![c.fmt("c_sum_identity_verification", &[&a.name, check.document.trim()])];
        return c.confirm(&form, &format!("/console/accounts/{id}/identity-verification"), &back, summary);
    }
    match ops::verification::verify_identity(&c.st, &c.admin, &id, check, c.st.now()).await {
        Ok(_) => done(&back, "identity_verified"),
        Err(e) => c.fail(e, &back),
    }
}
