//! The organisation: OPD units, and roles with their bulk assignment.

use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};

use super::{confirmed, done, lines, parse_role, role_label, unit_options, Console};
use crate::http::SignedInForm;
use crate::ops::roles::{Assignment, BulkAction, BulkAssignments};
use crate::ops::{self, AdminError};

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

pub async fn opd_create(SignedInForm { who: c, form }: SignedInForm<Console>) -> Response {
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
    match ops::units::create_unit(&c.st, &c.admin, new, c.st.now()).await {
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

pub async fn role_create(SignedInForm { who: c, form }: SignedInForm<Console>) -> Response {
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
    match ops::roles::create_role(&c.st, &c.admin, new, c.st.now()).await {
        Ok(_) => done("/console/roles", "role_created"),
        Err(AdminError::Invalid(d)) | Err(AdminError::Conflict(d)) => {
            roles_page(&c, StatusCode::UNPROCESSABLE_ENTITY, values, Some(d)).await
        }
        Err(e) => c.fail(e, "/console/roles"),
    }
}

/// Bulk assignment from a list of NIPs/NIKs, one per line: all are looked up and shown on the
/// confirmation page by name before anything changes.
pub async fn roles_bulk(SignedInForm { who: c, form }: SignedInForm<Console>) -> Response {
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
    let action = form.get("action").and_then(BulkAction::parse).unwrap_or(BulkAction::Assign);
    let keys: Vec<String> = lines(form.get("people"));
    let (people, unknown) = match ops::accounts::find_people(&c.st, &c.admin, &keys).await {
        Ok(x) => x,
        Err(e) => return c.fail(e, "/console/roles"),
    };
    if !unknown.is_empty() {
        return again(&c, c.fmt("c_err_unknown_people", &[&unknown.join(", ")]));
    }
    if people.is_empty() || people.len() > ops::roles::MAX_BULK {
        return again(&c, c.fmt("c_err_bulk_count", &[&ops::roles::MAX_BULK.to_string()]));
    }
    if !confirmed(&form) {
        let key = if action == BulkAction::Assign { "c_sum_bulk_assign" } else { "c_sum_bulk_unassign" };
        let mut summary = vec![c.fmt(key, &[&role_label(&c, &client, &name), &people.len().to_string()])];
        summary.extend(
            people.iter().map(|p| format!("{} ({})", p.name, p.nip.as_deref().or(p.nik.as_deref()).unwrap_or(""))),
        );
        return c.confirm(&form, "/console/roles/bulk", "/console/roles", summary);
    }
    let bulk = BulkAssignments {
        action,
        assignments: people
            .iter()
            .map(|p| Assignment {
                role: name.clone(),
                client_id: Some(client.clone()).filter(|c| !c.is_empty()),
                account_id: p.id.clone(),
            })
            .collect(),
    };
    match ops::roles::bulk(&c.st, &c.admin, &bulk, c.st.now()).await {
        Ok(_) => done("/console/roles", "bulk_done"),
        Err(AdminError::Invalid(d)) => again(&c, d),
        Err(e) => c.fail(e, "/console/roles"),
    }
}
