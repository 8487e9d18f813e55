//! Registered applications: the list, the edit page, secret rotation, switching on and off.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};

use super::{all_units, confirmed, done, lines, unit_name, unit_options, words, Console};
use crate::http::{see_other, FormParams, SignedInForm};
use crate::ids::ClientId;
use crate::oidc::clients::{Category, ClientEdit};
use crate::ops::{self, AdminError};

pub async fn applications(c: Console) -> Response {
    let apps = match ops::applications::applications(&c.st, &c.admin).await {
        Ok(a) => a,
        Err(e) => return c.fail(e, "/console"),
    };
    let units = all_units(&c).await;
    let rows: Vec<Value> = apps
        .iter()
        .map(|a| context! { id => a.id, name => a.name, category => a.category.as_str(), owner => unit_name(&units, a.owner_opd_id.as_deref()), min_level => a.min_level, disabled => a.disabled })
        .collect();
    c.ok("console_applications.html", "applications", context! { apps => rows })
}

fn app_form_from_client(a: &crate::oidc::clients::Client) -> Value {
    context! {
        name => a.name, redirect_uris => a.redirect_uris.join("\n"), post_logout_redirect_uris => a.post_logout_redirect_uris.join("\n"),
        scopes => a.scopes.join(" "), min_level => a.min_level.to_string(), category => a.category.as_str(), owner_opd_id => a.owner_opd_id,
        require_verified => a.require_verified, bcl_uri => a.backchannel_logout_uri,
        bcl_session_required => a.backchannel_logout_session_required,
    }
}

fn app_form_from_params(f: &FormParams) -> Value {
    context! {
        name => f.get("name"), redirect_uris => f.get("redirect_uris"), post_logout_redirect_uris => f.get("post_logout_redirect_uris"),
        scopes => f.get("scopes"), min_level => f.get("min_level"), category => f.get("category"), owner_opd_id => f.get("owner_opd_id"),
        require_verified => f.get("require_verified") == Some("1"), bcl_uri => f.get("backchannel_logout_uri"),
        bcl_session_required => f.get("backchannel_logout_session_required") == Some("1"),
    }
}

async fn app_page(
    c: &Console,
    id: &ClientId,
    status: StatusCode,
    form: Option<Value>,
    error: Option<String>,
) -> Response {
    let app = match ops::applications::application(&c.st, &c.admin, id).await {
        Ok(a) => a,
        Err(e) => return c.fail(e, "/console/applications"),
    };
    let units = if c.admin.diskominfo() { unit_options(&all_units(c).await) } else { Vec::new() };
    let view = context! { id => app.id, name => app.name, public => app.public, disabled => app.disabled, require_verified => app.require_verified };
    let form = form.unwrap_or_else(|| app_form_from_client(&app));
    // Shown empty when unreadable: the application's settings matter more than the list.
    let deliveries: Vec<Value> = ops::backchannel::deliveries(&c.st, &c.admin, id, 20)
        .await
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let state = match (d.delivered_at, d.failed_at) {
                (Some(_), _) => "delivered",
                (None, Some(_)) => "failed",
                (None, None) => "pending",
            };
            let at = crate::clock::local_time(d.created_at, c.st.config.utc_offset_minutes);
            context! { id => d.id, at => at, reason => d.reason, attempts => d.attempts, state => state, error => d.last_error }
        })
        .collect();
    c.render(
        status,
        "console_application.html",
        "applications",
        context! { app => view, form => form, units => units, error => error, deliveries => deliveries },
    )
}

pub async fn application(c: Console, Path(id): Path<String>) -> Response {
    let id = match c.client_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    app_page(&c, &id, StatusCode::OK, None, None).await
}

pub async fn application_edit(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let id = match c.client_id(&id) {
        Ok(id) => id,
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
    let category = match form.get("category").filter(|_| diskominfo).map(Category::parse) {
        None => None,
        Some(Some(category)) => Some(category),
        Some(None) => {
            let error = format!("category: {}", Category::EXPECTED);
            return app_page(&c, &id, StatusCode::UNPROCESSABLE_ENTITY, Some(app_form_from_params(&form)), Some(error))
                .await;
        }
    };
    // An unticked box sends nothing: the hidden marker says the box was on the form.
    let require_verified =
        form.get("require_verified_shown").filter(|_| diskominfo).map(|_| form.get("require_verified") == Some("1"));
    let bcl_session_required = form
        .get("backchannel_logout_session_required_shown")
        .map(|_| form.get("backchannel_logout_session_required") == Some("1"));
    let edit = ClientEdit {
        name: form.get("name").map(String::from),
        category,
        redirect_uris: Some(lines(form.get("redirect_uris"))),
        post_logout_redirect_uris: Some(lines(form.get("post_logout_redirect_uris"))),
        scopes: form.get("scopes").filter(|_| diskominfo).map(|s| words(Some(s))),
        min_level,
        required_roles: None,
        owner_opd_id: form.get("owner_opd_id").filter(|_| diskominfo).map(String::from),
        require_verified,
        backchannel_logout_uri: form.get("backchannel_logout_uri").map(|s| s.trim().to_string()),
        backchannel_logout_session_required: bcl_session_required,
    };
    if !confirmed(&form) {
        let mut summary = Vec::new();
        let before: [(&str, &str, String); 8] = [
            ("name", "c_name", current.name.clone()),
            ("redirect_uris", "c_redirect_uris", current.redirect_uris.join("\n")),
            ("post_logout_redirect_uris", "c_post_logout_uris", current.post_logout_redirect_uris.join("\n")),
            ("scopes", "c_scopes", current.scopes.join(" ")),
            ("min_level", "c_min_level", current.min_level.to_string()),
            ("category", "c_category", current.category.as_str().to_string()),
            ("owner_opd_id", "c_owner", current.owner_opd_id.clone().unwrap_or_default()),
            ("backchannel_logout_uri", "bcl_uri", current.backchannel_logout_uri.clone().unwrap_or_default()),
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
        if let Some(v) = require_verified.filter(|v| *v != current.require_verified) {
            let word = |b: bool| c.text(if b { "c_yes" } else { "c_no" });
            summary.push(c.fmt("c_sum_app_field", &[&c.text("c_require_verified"), &word(!v), &word(v)]));
        }
        if let Some(v) = bcl_session_required.filter(|v| *v != current.backchannel_logout_session_required) {
            let word = |b: bool| c.text(if b { "c_yes" } else { "c_no" });
            summary.push(c.fmt("c_sum_app_field", &[&c.text("bcl_session_required"), &word(!v), &word(v)]));
        }
        if summary.is_empty() {
            return see_other(&back);
        }
        return c.confirm(&form, &format!("/console/applications/{id}/edit"), &back, summary);
    }
    match ops::applications::edit_application(&c.st, &c.admin, &id, edit, c.st.now()).await {
        Ok(_) => done(&back, "application_updated"),
        Err(AdminError::Invalid(d)) => {
            app_page(&c, &id, StatusCode::UNPROCESSABLE_ENTITY, Some(app_form_from_params(&form)), Some(d)).await
        }
        Err(e) => c.fail(e, &back),
    }
}

pub async fn application_secret(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let id = match c.client_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let back = format!("/console/applications/{id}");
    if !confirmed(&form) {
        return c.confirm(
            &form,
            &format!("/console/applications/{id}/secret"),
            &back,
            vec![c.fmt("c_sum_rotate", &[id.as_str()])],
        );
    }
    match ops::applications::rotate_secret(&c.st, &c.admin, &id, c.st.now()).await {
        Ok(secret) => c.ok(
            "console_secret.html",
            "applications",
            context! { client_id => id, client_secret => secret.expose(), back_url => back },
        ),
        Err(e) => c.fail(e, &back),
    }
}

pub async fn application_enabled(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let id = match c.client_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let back = format!("/console/applications/{id}");
    let enable = form.get("enabled") == Some("1");
    if !confirmed(&form) {
        let summary = if enable {
            vec![c.fmt("c_sum_enable", &[id.as_str()])]
        } else {
            vec![c.fmt("c_sum_disable", &[id.as_str()]), c.text("c_sum_disable_tokens")]
        };
        return c.confirm(&form, &format!("/console/applications/{id}/enabled"), &back, summary);
    }
    match ops::applications::set_enabled(&c.st, &c.admin, &id, enable, c.st.now()).await {
        Ok(_) => done(&back, if enable { "application_enabled" } else { "application_disabled" }),
        Err(e) => c.fail(e, &back),
    }
}
