//! Registered applications: direct registration, settings, secrets, enabling and disabling.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{forbidden, AdminError, Principal};
use crate::audit::{self, Event};
use crate::config::Secret;
use crate::ids::ClientId;
use crate::oidc::clients::{self, Client, ClientEdit, GrantType, NewClient};
use crate::oidc::internal_clients::CONSOLE_CLIENT_ID;
use crate::oidc::registration::AppRequest;
use crate::state::AppState;
use crate::store::opd::{self as opd_store};

/// Registered applications (OPD admins: those their subtree owns).
pub async fn applications(st: &AppState, who: &Principal) -> Result<Vec<Client>, AdminError> {
    if !who.sees_accounts() {
        return Err(forbidden("reading applications needs diskominfo-admin or opd-admin"));
    }
    Ok(clients::list(&st.db).await?.into_iter().filter(|c| who.manages_unit(c.owner_opd_id.as_deref())).collect())
}

pub async fn application(st: &AppState, who: &Principal, id: &ClientId) -> Result<Arc<Client>, AdminError> {
    application_at(st, who, id.as_str()).await
}

/// As [`application`], for a client id taken from a request body (a role's application).
pub(super) async fn application_at(st: &AppState, who: &Principal, id: &str) -> Result<Arc<Client>, AdminError> {
    if !who.sees_accounts() {
        return Err(forbidden("reading applications needs diskominfo-admin or opd-admin"));
    }
    let c = st.clients.get(&st.db, id).await?.ok_or(AdminError::NotFound("application"))?;
    if !who.manages_unit(c.owner_opd_id.as_deref()) {
        return Err(forbidden("the application belongs to an OPD you do not manage"));
    }
    Ok(c)
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ApplicationInput {
    /// A readable client id (e.g. `simpeg`); generated when absent.
    pub client_id: Option<String>,
    pub owner_opd_id: Option<String>,
    /// Admit citizens only once an officer verified their identity at a counter.
    #[serde(default)]
    pub require_verified: bool,
    /// Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Every logout token must carry `sid`.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    #[serde(flatten)]
    pub app: AppRequest,
}

/// Direct registration by Diskominfo (OPDs go through the request workflow). The secret is
/// returned once.
pub async fn register_application(
    st: &AppState,
    who: &Principal,
    input: ApplicationInput,
    now: i64,
) -> Result<(Client, Option<Secret<String>>), AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("registering directly needs diskominfo-admin; OPDs submit a request"));
    }
    let owner = input.owner_opd_id.filter(|o| !o.is_empty());
    if let Some(o) = &owner {
        opd_store::get(&st.db, o).await?.ok_or(AdminError::Invalid("owner_opd_id: no such OPD unit".into()))?;
    }
    let r = &input.app;
    let grants = if r.public {
        vec![GrantType::AuthorizationCode]
    } else {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    };
    let mut new = NewClient::web(&r.name, r.redirect_uris.clone(), r.scopes.clone(), grants);
    new.id = input.client_id.filter(|i| !i.is_empty());
    new.public = r.public;
    // As for requested applications: people are asked before their data goes to it.
    new.first_party = false;
    new.category = r.category;
    new.min_level = r.min_level;
    new.owner_opd_id = owner;
    new.require_verified = input.require_verified;
    new.backchannel_logout_uri = input.backchannel_logout_uri.filter(|u| !u.is_empty());
    new.backchannel_logout_session_required = input.backchannel_logout_session_required;
    let (client, secret) = clients::register(&st.db, &st.redirect_policy, new, now).await?;
    let detail = json!({ "client_id": client.id, "name": client.name, "category": client.category, "owner_opd_id": client.owner_opd_id });
    audit::record(&st.db, Event::new("application.registered").actor(&who.actor()).detail(detail), now).await;
    Ok((client, secret))
}

fn settings(c: &Client) -> serde_json::Value {
    json!({
        "name": c.name, "category": c.category, "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris, "scopes": c.scopes, "min_level": c.min_level,
        "required_roles": c.required_roles, "owner_opd_id": c.owner_opd_id, "require_verified": c.require_verified,
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
    })
}

/// The owning OPD's admin may change the technical settings; the category and the owner are
/// Diskominfo's decision.
pub async fn edit_application(
    st: &AppState,
    who: &Principal,
    id: &ClientId,
    edit: ClientEdit,
    now: i64,
) -> Result<Client, AdminError> {
    let current = application(st, who, id).await?;
    if !who.diskominfo() {
        // What Diskominfo reviewed (the data the application may read, how strongly people must
        // log in, who may use it) stays Diskominfo's decision; the owner runs the technical side.
        let differs = |a: &[String], b: &[String]| {
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            a.sort();
            b.sort();
            a != b
        };
        if edit.category.is_some() || edit.owner_opd_id.is_some() {
            return Err(forbidden("only diskominfo-admin changes an application's category or owner"));
        }
        if edit.scopes.as_deref().is_some_and(|s| differs(s, &current.scopes))
            || edit.min_level.is_some_and(|l| l != current.min_level)
            || edit.required_roles.as_deref().is_some_and(|r| differs(r, &current.required_roles))
            || edit.require_verified.is_some_and(|v| v != current.require_verified)
        {
            return Err(forbidden(
                "only diskominfo-admin changes an application's scopes, minimum level, required roles or \
                 verified-citizens requirement",
            ));
        }
    }
    if let Some(o) = edit.owner_opd_id.as_deref().filter(|o| !o.is_empty()) {
        opd_store::get(&st.db, o).await?.ok_or(AdminError::Invalid("owner_opd_id: no such OPD unit".into()))?;
    }
    let updated = clients::update(&st.db, &st.clients, &st.redirect_policy, &current, edit, now).await?;
    // Grants made under the old registration carry data the application may no longer read, or
    // a login weaker than it now needs: they end, and people log in again under the new terms.
    let narrowed = current.scopes.iter().any(|s| !updated.allows_scope(s))
        || updated.min_level > current.min_level
        || (updated.require_verified && !current.require_verified);
    let revoked =
        if narrowed { crate::store::grants::revoke_grants_of_client(&st.db, &updated.id, now).await? } else { 0 };
    let (before, after) = (settings(&current), settings(&updated));
    if before != after {
        let detail = json!({ "client_id": updated.id, "before": before, "after": after, "revoked_grants": revoked });
        audit::record(&st.db, Event::new("application.updated").actor(&who.actor()).detail(detail), now).await;
    }
    Ok(updated)
}

/// A new secret (Diskominfo, or the owning OPD's admin); the old one stops working.
pub async fn rotate_secret(
    st: &AppState,
    who: &Principal,
    id: &ClientId,
    now: i64,
) -> Result<Secret<String>, AdminError> {
    let c = application(st, who, id).await?;
    if c.public {
        return Err(AdminError::Conflict("a public client has no secret".into()));
    }
    let secret =
        clients::rotate_secret(&st.db, &st.clients, &c.id, now).await?.ok_or(AdminError::NotFound("application"))?;
    audit::record(
        &st.db,
        Event::new("application.secret_rotated").actor(&who.actor()).detail(json!({ "client_id": c.id })),
        now,
    )
    .await;
    Ok(secret)
}

/// Disables (revoking every grant) or enables an application. Diskominfo admins only.
pub async fn set_enabled(
    st: &AppState,
    who: &Principal,
    id: &ClientId,
    enabled: bool,
    now: i64,
) -> Result<Arc<Client>, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("disabling an application needs diskominfo-admin"));
    }
    let id = id.as_str();
    if id == CONSOLE_CLIENT_ID && !enabled {
        return Err(AdminError::Conflict("the admin console cannot be disabled from itself".into()));
    }
    if !clients::set_disabled(&st.db, &st.clients, id, !enabled, now).await? {
        return Err(AdminError::NotFound("application"));
    }
    let kind = if enabled { "application.enabled" } else { "application.disabled" };
    audit::record(&st.db, Event::new(kind).actor(&who.actor()).detail(json!({ "client_id": id })), now).await;
    st.clients.get(&st.db, id).await?.ok_or(AdminError::NotFound("application"))
}

/// Registration with every setting of a client (the operator's `client create`): Diskominfo's
/// power, recorded as `application.registered` like a registration from the console.
pub async fn register_client(
    st: &AppState,
    who: &Principal,
    new: NewClient,
    now: i64,
) -> Result<(Client, Option<Secret<String>>), AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("registering directly needs diskominfo-admin; OPDs submit a request"));
    }
    if let Some(o) = &new.owner_opd_id {
        opd_store::get(&st.db, o).await?.ok_or(AdminError::Invalid("owner_opd_id: no such OPD unit".into()))?;
    }
    let (client, secret) = clients::register(&st.db, &st.redirect_policy, new, now).await?;
    let detail = json!({
        "client_id": client.id, "name": client.name, "category": client.category, "owner_opd_id": client.owner_opd_id,
        "public": client.public, "first_party": client.first_party, "scopes": client.scopes,
        "min_level": client.min_level, "token_alg": client.token_alg.as_str(),
    });
    audit::record(&st.db, Event::new("application.registered").actor(&who.actor()).detail(detail), now).await;
    Ok((client, secret))
}
