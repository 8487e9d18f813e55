//! Application registration requests: submitting one, reviewing and deciding it, fetching
//! the credentials once.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};

use super::{all_units, confirmed, done, lines, unit_name, words, Console};
use crate::http::{FormParams, SignedInForm};
use crate::oidc::clients::Category;
use crate::oidc::registration::{self, AppRequest};
use crate::ops::{self, AdminError};

fn request_from_form(f: &FormParams) -> Result<AppRequest, String> {
    let min_level = f.get("min_level").unwrap_or("1").parse::<u8>().map_err(|_| "min_level".to_string())?;
    let category =
        Category::parse(f.get("category").unwrap_or("")).ok_or_else(|| format!("category: {}", Category::EXPECTED))?;
    Ok(AppRequest {
        name: f.get("name").unwrap_or("").to_string(),
        category,
        redirect_uris: lines(f.get("redirect_uris")),
        scopes: words(f.get("scopes")),
        min_level,
        public: f.get("public") == Some("1"),
    })
}

fn request_form_values(f: &FormParams) -> Value {
    context! {
        name => f.get("name"), category => f.get("category"), redirect_uris => f.get("redirect_uris"),
        scopes => f.get("scopes"), min_level => f.get("min_level"), public => f.get("public") == Some("1"),
    }
}

fn request_summary(c: &Console, r: &AppRequest) -> Vec<String> {
    vec![
        format!("{}: {}", c.text("c_name"), r.name),
        format!("{}: {}", c.text("c_category"), r.category),
        format!("{}: {}", c.text("c_redirect_uris"), r.redirect_uris.join(", ")),
        format!("{}: {}", c.text("c_scopes"), r.scopes.join(" ")),
        format!("{}: {}", c.text("c_min_level"), r.min_level),
        format!(
            "{}: {}",
            c.text("c_client_type"),
            c.text(if r.public { "c_public_client" } else { "c_confidential_client" })
        ),
    ]
}

async fn requests_page(c: &Console, status: StatusCode, form: Value, error: Option<String>) -> Response {
    let rows = match ops::requests::requests(&c.st, &c.admin).await {
        Ok(r) => r,
        Err(e) => return c.fail(e, "/console"),
    };
    let units = all_units(c).await;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| context! { id => r.id, name => r.name, status => r.status, created => c.local_time(r.created_at), unit => unit_name(&units, Some(&r.opd_id)) })
        .collect();
    let ctx = context! { requests => list, form => form, form_action => "/console/requests", submit_label => c.text("c_request_submit"), error => error };
    c.render(status, "console_requests.html", "requests", ctx)
}

pub async fn requests(c: Console) -> Response {
    requests_page(&c, StatusCode::OK, context! { category => "khusus", min_level => "1" }, None).await
}

pub async fn request_submit(SignedInForm { who: c, form }: SignedInForm<Console>) -> Response {
    let req = match request_from_form(&form) {
        Ok(r) => r,
        Err(field) => {
            return requests_page(&c, StatusCode::UNPROCESSABLE_ENTITY, request_form_values(&form), Some(field)).await
        }
    };
    if let Err(e) = ops::requests::check_request(&c.st, &req) {
        return requests_page(&c, StatusCode::UNPROCESSABLE_ENTITY, request_form_values(&form), Some(e.detail())).await;
    }
    if !confirmed(&form) {
        let mut summary = vec![c.text("c_sum_request")];
        summary.extend(request_summary(&c, &req));
        return c.confirm(&form, "/console/requests", "/console/requests", summary);
    }
    match ops::requests::submit_request(&c.st, &c.admin, req, c.st.now()).await {
        Ok(row) => done(&format!("/console/requests/{}", row.id), "request_submitted"),
        Err(AdminError::Invalid(d)) | Err(AdminError::Conflict(d)) => {
            requests_page(&c, StatusCode::UNPROCESSABLE_ENTITY, request_form_values(&form), Some(d)).await
        }
        Err(e) => c.fail(e, "/console/requests"),
    }
}

async fn request_page(
    c: &Console,
    id: &str,
    status: StatusCode,
    form: Option<Value>,
    reject_reason: Option<&str>,
    error: Option<String>,
) -> Response {
    let (r, requester) = match ops::requests::request_with_requester(&c.st, &c.admin, id).await {
        Ok(x) => x,
        Err(e) => return c.fail(e, "/console/requests"),
    };
    let units = all_units(c).await;
    let asked = match registration::request_of(&r) {
        Ok(a) => a,
        Err(e) => return c.fail(AdminError::from(e), "/console/requests"),
    };
    let view = context! {
        id => r.id, name => r.name, status => r.status, unit => unit_name(&units, Some(&r.opd_id)), requester => requester,
        category => asked.category.as_str(), redirect_uris => asked.redirect_uris, scopes => asked.scopes.join(" "), min_level => asked.min_level,
        reason => r.reason, client_id => r.client_id,
        can_fetch => r.status == "approved" && r.fetched_at.is_none() && c.admin.is_account(&r.requester_id),
    };
    let form = form.unwrap_or_else(|| {
        context! {
            name => asked.name, category => asked.category.as_str(), redirect_uris => asked.redirect_uris.join("\n"),
            scopes => asked.scopes.join(" "), min_level => asked.min_level.to_string(), public => asked.public,
        }
    });
    let ctx = context! {
        req => view, form => form, form_action => format!("/console/requests/{}/decide", r.id), decision => true,
        submit_label => c.text("c_approve"), reject_reason => reject_reason, error => error,
    };
    c.render(status, "console_request.html", "requests", ctx)
}

pub async fn request(c: Console, Path(id): Path<String>) -> Response {
    request_page(&c, &id, StatusCode::OK, None, None, None).await
}

/// The request a path names, looked up before anything is shown: the id echoed into a form's
/// action or a link is then the stored one, never the path's (which may hide a `%2F`).
async fn requested(c: &Console, raw: &str) -> Result<(String, String), Response> {
    let r = ops::requests::request(&c.st, &c.admin, raw).await.map_err(|e| c.fail(e, "/console/requests"))?;
    let back = format!("/console/requests/{}", r.id);
    Ok((r.id, back))
}

pub async fn request_decide(Path(id): Path<String>, SignedInForm { who: c, form }: SignedInForm<Console>) -> Response {
    let approve = form.get("decision") == Some("approve");
    let (id, back) = match requested(&c, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let reason = form.get("reason").unwrap_or("").trim().to_string();
    let corrected = if approve {
        match request_from_form(&form) {
            Ok(r) => Some(r),
            Err(field) => {
                return request_page(
                    &c,
                    &id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(request_form_values(&form)),
                    None,
                    Some(field),
                )
                .await
            }
        }
    } else {
        None
    };
    if !approve && reason.is_empty() {
        return request_page(
            &c,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            Some(c.text("c_err_reason_required")),
        )
        .await;
    }
    if let Some(r) = &corrected {
        if let Err(e) = ops::requests::check_request(&c.st, r) {
            return request_page(
                &c,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(request_form_values(&form)),
                None,
                Some(e.detail()),
            )
            .await;
        }
    }
    if !confirmed(&form) {
        let summary = match &corrected {
            Some(r) => {
                let mut s = vec![c.text("c_sum_approve")];
                s.extend(request_summary(&c, r));
                s
            }
            None => vec![c.fmt("c_sum_reject", &[&reason])],
        };
        return c.confirm(&form, &format!("/console/requests/{id}/decide"), &back, summary);
    }
    match ops::requests::decide(&c.st, &c.admin, &id, approve, &reason, corrected, c.st.now()).await {
        Ok(_) => done(&back, if approve { "request_approved" } else { "request_rejected" }),
        Err(AdminError::Invalid(d)) if approve => {
            request_page(&c, &id, StatusCode::UNPROCESSABLE_ENTITY, Some(request_form_values(&form)), None, Some(d))
                .await
        }
        Err(AdminError::Invalid(d)) => {
            request_page(&c, &id, StatusCode::UNPROCESSABLE_ENTITY, None, Some(&reason), Some(d)).await
        }
        Err(e) => c.fail(e, &back),
    }
}

pub async fn request_credentials(
    Path(id): Path<String>,
    SignedInForm { who: c, form }: SignedInForm<Console>,
) -> Response {
    let (id, back) = match requested(&c, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !confirmed(&form) {
        return c.confirm(
            &form,
            &format!("/console/requests/{id}/credentials"),
            &back,
            vec![c.text("c_sum_fetch_credentials")],
        );
    }
    match ops::requests::fetch_credentials(&c.st, &c.admin, &id, c.st.now()).await {
        Ok((client_id, secret)) => {
            let secret = secret.map(|s| s.expose().clone());
            c.ok(
                "console_secret.html",
                "requests",
                context! { client_id => client_id, client_secret => secret, back_url => back },
            )
        }
        Err(e) => c.fail(e, &back),
    }
}
