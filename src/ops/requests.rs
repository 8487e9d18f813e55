//! The application registration workflow: OPDs request, Diskominfo reviews, the requester fetches credentials once.

use serde_json::json;

use super::{forbidden, AdminError, Principal};
use crate::audit::{self, Event};
use crate::config::Secret;
use crate::oidc::registration::{self, AppRequest};
use crate::state::AppState;
pub use crate::store::app_requests::RequestRow;
use crate::store::app_requests::{self as request_store};

pub async fn submit_request(
    st: &AppState,
    who: &Principal,
    req: AppRequest,
    now: i64,
) -> Result<RequestRow, AdminError> {
    if !who.requests_applications() {
        return Err(forbidden("requesting an application needs opd-admin or opd-developer and an OPD unit"));
    }
    let row = registration::submit(&st.provider(), person(who)?, req, now).await?;
    audit::record(
        &st.db,
        Event::new("app_request.submitted").actor(&who.actor()).detail(json!({ "request": row.id, "name": row.name })),
        now,
    )
    .await;
    Ok(row)
}

/// Requests visible to the caller, newest first.
pub async fn requests(st: &AppState, who: &Principal) -> Result<Vec<RequestRow>, AdminError> {
    if !(who.reviews_applications() || who.requests_applications()) {
        return Err(forbidden("application requests are for Diskominfo, OPD admins and OPD developers"));
    }
    let rows = request_store::list(&st.db).await?;
    Ok(rows.into_iter().filter(|r| who.sees_request(&r.opd_id, &r.requester_id)).collect())
}

pub async fn request(st: &AppState, who: &Principal, id: &str) -> Result<RequestRow, AdminError> {
    let r = request_store::get(&st.db, id).await?.ok_or(AdminError::NotFound("request"))?;
    if !who.sees_request(&r.opd_id, &r.requester_id) {
        return Err(AdminError::NotFound("request"));
    }
    Ok(r)
}

/// Approve (optionally corrected) or reject with a reason. Diskominfo admins only.
pub async fn decide(
    st: &AppState,
    who: &Principal,
    id: &str,
    approve: bool,
    reason: &str,
    corrected: Option<AppRequest>,
    now: i64,
) -> Result<RequestRow, AdminError> {
    if !who.reviews_applications() {
        return Err(forbidden("reviewing requests needs diskominfo-admin"));
    }
    let row = if approve {
        // Four eyes: whoever asked for an application does not approve it too.
        let asked = request(st, who, id).await?;
        if who.is_account(&asked.requester_id) {
            return Err(forbidden("a request is approved by another administrator than its requester"));
        }
        registration::approve(&st.provider(), id, person(who)?, corrected, now).await?
    } else {
        registration::reject(&st.provider(), id, person(who)?, reason, now).await?
    };
    let kind = if row.status == "approved" { "app_request.approved" } else { "app_request.rejected" };
    let detail = json!({ "request": row.id, "client_id": row.client_id, "reason": row.reason });
    audit::record(&st.db, Event::new(kind).actor(&who.actor()).subject(&row.requester_id).detail(detail), now).await;
    Ok(row)
}

/// The approved application's credentials, for the requester, once.
pub async fn fetch_credentials(
    st: &AppState,
    who: &Principal,
    id: &str,
    now: i64,
) -> Result<(String, Option<Secret<String>>), AdminError> {
    let out = registration::fetch_credentials(&st.provider(), id, person(who)?, now).await?;
    audit::record(
        &st.db,
        Event::new("app_request.credentials_fetched").actor(&who.actor()).detail(json!({ "request": id })),
        now,
    )
    .await;
    Ok(out)
}

/// Requests are made, reviewed and collected by people, under their own accounts.
fn person(who: &Principal) -> Result<&crate::identity::accounts::Account, AdminError> {
    who.account().ok_or_else(|| forbidden("application requests are handled by people, not from the command line"))
}

/// A request with its requester's name, as the request's page shows it (the requester's id
/// when the account is gone).
pub async fn request_with_requester(
    st: &AppState,
    who: &Principal,
    id: &str,
) -> Result<(RequestRow, String), AdminError> {
    let r = request(st, who, id).await?;
    let requester = crate::identity::accounts::get(&st.db, &r.requester_id).await.ok().flatten().map(|a| a.name);
    let requester = requester.unwrap_or_else(|| r.requester_id.clone());
    Ok((r, requester))
}

/// A request checked as submitting or approving it checks it, for the confirmation step.
pub fn check_request(st: &AppState, req: &AppRequest) -> Result<(), AdminError> {
    Ok(registration::check(&st.provider(), req)?)
}
