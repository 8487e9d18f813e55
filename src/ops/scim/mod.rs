//! SCIM provisioning (RFC 7644) as operations: the provisioning client's tokens, who a bearer
//! token names, and the `User` and `Group` operations of `users` and `groups`. Every change
//! goes through the same operations as the console's (`ops::accounts`, `ops::units`), so it is
//! checked and audited the same way, with the client named `scim:<name>`.

mod groups;
mod users;

pub use groups::*;
pub use users::*;

use std::future::Future;
use std::time::Duration;

use serde_json::{json, Value};

use super::principal::Provisioner;
use super::{forbidden, AdminError, Principal};
use crate::audit::{self, Event};
use crate::config::Secret;
use crate::scim::{self, ScimError};
use crate::state::AppState;
use crate::store::scim::{self as store, TokenRow};

impl From<AdminError> for ScimError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Unauthenticated(d) => ScimError::unauthorized(d),
            AdminError::NeedsLevel(_) => ScimError::forbidden("a stronger login is required"),
            AdminError::Forbidden(d) => ScimError::forbidden(d),
            AdminError::NotFound(what) => ScimError::not_found(format!("no such {what}")),
            AdminError::Conflict(d) if d.contains("already exists") => ScimError::uniqueness(d),
            AdminError::Conflict(d) => ScimError::conflict(d),
            AdminError::Invalid(d) => ScimError::invalid_value(d),
            AdminError::Gone(d) => ScimError::not_found(d),
            AdminError::Internal => ScimError::internal(),
        }
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ScimError {
    tracing::error!(error = %e, "SCIM operation failed");
    ScimError::internal()
}

/// The prefix of every token, so a leaked one is recognised for what it is.
const TOKEN_PREFIX: &str = "gsc_";

/// Who a bearer token names: the provisioning client, with the subtree its token is limited to.
pub async fn authenticate(st: &AppState, token: Option<&str>, now: i64) -> Result<Principal, ScimError> {
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ScimError::unauthorized("a bearer token made by `gerbang scim token create` is required"))?;
    let hash = crate::crypto::sha256_hex(token.as_bytes());
    let row = store::use_token(&st.db, &hash, now)
        .await
        .map_err(internal)?
        .ok_or_else(|| ScimError::unauthorized("the token is unknown or revoked"))?;
    let scope = match &row.opd_id {
        Some(unit) => crate::store::opd::subtree_ids(&st.db, unit).await.map_err(internal)?,
        None => Vec::new(),
    };
    Ok(Principal::Provisioner(Provisioner { name: row.name, root: row.opd_id, scope }))
}

/// The subtree a principal's listings are limited to (`None`: everything), or its refusal.
fn listing_root(who: &Principal) -> Result<Option<String>, ScimError> {
    match who {
        Principal::Provisioner(p) => Ok(p.root.clone()),
        _ if who.diskominfo() => Ok(None),
        _ => Err(ScimError::forbidden("SCIM is for provisioning clients")),
    }
}

/// `startIndex` (1-based, at least 1) and `count` (0 to the maximum page), as RFC 7644 §3.4.2.4
/// says to interpret out-of-range values.
pub fn page(start_index: Option<i64>, count: Option<i64>) -> (i64, i64) {
    (start_index.unwrap_or(1).max(1), count.unwrap_or(scim::MAX_RESULTS).clamp(0, scim::MAX_RESULTS))
}

/// A ListResponse.
pub fn list_response(total: i64, start: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [scim::LIST],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `If-Match`: `*` or a list of tags, one of which must be the resource's current version.
fn check_if_match(if_match: Option<&str>, current: &Value) -> Result<(), ScimError> {
    let Some(wanted) = if_match else { return Ok(()) };
    let version = current["meta"]["version"].as_str().unwrap_or_default();
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if wanted.trim() == "*" || wanted.split(',').any(|t| bare(t) == bare(version)) {
        Ok(())
    } else {
        Err(ScimError::precondition("the resource changed since that version (If-Match)"))
    }
}

/// Runs `work` while holding the resource's write lock, taken atomically in the cache (shared
/// by all replicas): a conditional change (`If-Match`) and the change it was checked for cannot
/// interleave with another one. A holder that died releases it when its window ends.
async fn locked<R>(
    st: &AppState,
    resource: &str,
    work: impl Future<Output = Result<R, ScimError>>,
) -> Result<R, ScimError> {
    let key = format!("scim-lock:{resource}");
    let mut waited = 0;
    loop {
        match st.cache.incr(&key, Duration::from_secs(30)).await {
            Ok(1) => break,
            Ok(_) if waited < 100 => {
                waited += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(_) => return Err(ScimError::conflict("another change of this resource is in progress; try again")),
            Err(e) => return Err(internal(e)),
        }
    }
    let out = work.await;
    if let Err(e) = st.cache.delete(&key).await {
        tracing::error!(error = %e, "could not release a SCIM lock; it expires by itself");
    }
    out
}

/// The SCIM root URL, for `location` and `$ref`.
pub fn base_url(st: &AppState) -> String {
    format!("{}/scim/v2", st.config.issuer.trim_end_matches('/'))
}

pub fn service_provider_config(st: &AppState) -> Value {
    scim::discovery::service_provider_config(&base_url(st))
}

/// All resource types, or the one named `id`.
pub fn resource_types(st: &AppState, id: Option<&str>) -> Result<Value, ScimError> {
    let all = scim::discovery::resource_types(&base_url(st));
    one_or_all(all, id, "resource type")
}

/// All schemas, or the one named `id` (its URN).
pub fn schemas(st: &AppState, id: Option<&str>) -> Result<Value, ScimError> {
    let all = scim::discovery::schemas(&base_url(st));
    one_or_all(all, id, "schema")
}

fn one_or_all(all: Vec<Value>, id: Option<&str>, what: &str) -> Result<Value, ScimError> {
    match id {
        None => {
            let n = all.len() as i64;
            Ok(list_response(n, 1, all))
        }
        Some(id) => {
            all.into_iter().find(|r| r["id"] == id).ok_or_else(|| ScimError::not_found(format!("no such {what}")))
        }
    }
}

/// A new provisioning token: Diskominfo (or the operator) only. The token is returned once;
/// only its hash is kept.
pub async fn create_token(
    st: &AppState,
    who: &Principal,
    name: &str,
    opd_code: Option<&str>,
    now: i64,
) -> Result<(TokenRow, Secret<String>), AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("SCIM tokens are made by diskominfo-admin"));
    }
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(AdminError::Invalid("name: 1 to 64 letters, digits, '-', '_' or '.'".into()));
    }
    let opd_id = match opd_code {
        Some(code) => Some(super::units::unit_by_code(st, who, code).await?.id),
        None => None,
    };
    let token = format!("{TOKEN_PREFIX}{}", crate::crypto::random_token(32).map_err(super::internal)?);
    let row = TokenRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_string(),
        opd_id,
        created_by: who.actor(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    match store::insert_token(&st.db, &row, &crate::crypto::sha256_hex(token.as_bytes())).await {
        Ok(()) => {}
        Err(crate::store::StoreError::Conflict(_)) => {
            return Err(AdminError::Conflict("a SCIM token with this name already exists".into()))
        }
        Err(e) => return Err(e.into()),
    }
    let detail = json!({ "name": row.name, "opd_id": row.opd_id });
    audit::record(&st.db, Event::new("scim.token_created").actor(&who.actor()).detail(detail), now).await;
    Ok((row, Secret::new(token)))
}

pub async fn list_tokens(st: &AppState, who: &Principal) -> Result<Vec<TokenRow>, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("SCIM tokens are managed by diskominfo-admin"));
    }
    Ok(store::list_tokens(&st.db).await?)
}

/// Revokes a token at once: its next request is refused.
pub async fn revoke_token(st: &AppState, who: &Principal, name: &str, now: i64) -> Result<(), AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("SCIM tokens are managed by diskominfo-admin"));
    }
    if !store::revoke_token(&st.db, name.trim(), now).await? {
        return Err(AdminError::NotFound("SCIM token"));
    }
    let detail = json!({ "name": name.trim() });
    audit::record(&st.db, Event::new("scim.token_revoked").actor(&who.actor()).detail(detail), now).await;
    Ok(())
}
