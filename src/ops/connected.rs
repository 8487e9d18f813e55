//! Connected applications on the account page: which applications hold the person's consent or
//! live tokens, and withdrawing an application's access (consent and every grant at once).

use std::collections::BTreeMap;

use super::account::{internal, SelfServiceError, SignedIn};
use crate::audit::{self, Event};
use crate::ids::ClientId;
use crate::oidc::internal_clients;
use crate::oidc::USER_SCOPES;
use crate::state::AppState;
use crate::store::connected::{self as store, ConsentRow, GrantUse};
use crate::store::opd as opd_store;

/// An application the person is connected to, as the account page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: String,
    pub name: String,
    /// The name of the OPD unit that owns the application, when it has one.
    pub owner_opd: Option<String>,
    /// First-party applications never ask for consent: withdrawing only ends their tokens.
    pub first_party: bool,
    /// The scopes released (consented to or carried by live grants), in the provider's order.
    pub scopes: Vec<String>,
    pub consented_at: Option<i64>,
    /// The newest grant or refresh, revoked ones included: that is when it was last used.
    pub last_used: Option<i64>,
    /// Holds a refresh token it can still redeem: it can reach the data while the person is away.
    pub offline: bool,
}

/// What is known of one application before its registration is read.
#[derive(Default)]
struct Gathered {
    consent: Option<ConsentRow>,
    live_scopes: Vec<String>,
    live: bool,
    last_used: Option<i64>,
    offline: bool,
}

fn gather(consents: Vec<ConsentRow>, grants: Vec<GrantUse>, now: i64) -> BTreeMap<String, Gathered> {
    let mut by_client: BTreeMap<String, Gathered> = BTreeMap::new();
    for c in consents {
        let entry = by_client.entry(c.client_id.clone()).or_default();
        entry.consent = Some(c);
    }
    for g in grants {
        let e = by_client.entry(g.client_id.clone()).or_default();
        let used = g.last_refresh.map_or(g.created_at, |r| r.max(g.created_at));
        e.last_used = Some(e.last_used.map_or(used, |u| u.max(used)));
        if g.revoked_at.is_none() && g.expires_at > now {
            e.live = true;
            e.offline |= g.live_refresh > 0;
            e.live_scopes.extend(g.scope.split(' ').filter(|s| !s.is_empty()).map(String::from));
        }
    }
    // Old revoked or expired grants alone connect nothing.
    by_client.retain(|id, g| (g.consent.is_some() || g.live) && !internal_clients::is_internal(id));
    by_client
}

/// Known scopes first in the provider's order, then any others as given, each once.
fn ordered_scopes(consented: Option<&str>, live: &[String]) -> Vec<String> {
    let mut all: Vec<&str> = consented.unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
    all.extend(live.iter().map(String::as_str));
    let mut out: Vec<String> = USER_SCOPES.iter().filter(|k| all.contains(k)).map(|s| s.to_string()).collect();
    for s in all {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// The person's connected applications, most recently used first.
pub async fn list(st: &AppState, me: &SignedIn, now: i64) -> Result<Vec<ConnectedApp>, SelfServiceError> {
    let id = &me.account.id;
    let unread = |e| internal("connected applications could not be read", e);
    let consents = store::consents_of_account(&st.db, id).await.map_err(unread)?;
    let grants = store::grants_of_account(&st.db, id, now).await.map_err(unread)?;
    let mut apps = Vec::new();
    for (client_id, g) in gather(consents, grants, now) {
        // Consents and grants go with their application, so a missing one was just removed.
        let Some(client) = st.clients.get(&st.db, &client_id).await.map_err(unread)? else { continue };
        let owner_opd = match &client.owner_opd_id {
            Some(o) => opd_store::get(&st.db, o).await.map_err(unread)?.map(|u| u.name),
            None => None,
        };
        apps.push(ConnectedApp {
            scopes: ordered_scopes(g.consent.as_ref().map(|c| c.scope.as_str()), &g.live_scopes),
            consented_at: g.consent.map(|c| c.created_at),
            name: client.name.clone(),
            first_party: client.first_party,
            client_id,
            owner_opd,
            last_used: g.last_used,
            offline: g.offline,
        });
    }
    apps.sort_by(|a, b| b.last_used.cmp(&a.last_used).then_with(|| a.name.cmp(&b.name)));
    Ok(apps)
}

/// One of the person's connected applications; `NotFound` for any other client id, known or not.
pub async fn find(
    st: &AppState,
    me: &SignedIn,
    client_id: &ClientId,
    now: i64,
) -> Result<ConnectedApp, SelfServiceError> {
    let apps = list(st, me, now).await?;
    apps.into_iter().find(|a| a.client_id == client_id.as_str()).ok_or(SelfServiceError::NotFound)
}

/// Deletes the consent and revokes every grant of the application, so its refresh tokens and
/// access tokens stop working at once and its next login asks for consent again. Recorded once:
/// a withdrawal that finds nothing left (a second click racing the first) changes and records
/// nothing, and still answers as done.
pub async fn withdraw(
    st: &AppState,
    me: &SignedIn,
    client_id: &ClientId,
    now: i64,
) -> Result<ConnectedApp, SelfServiceError> {
    let app = find(st, me, client_id, now).await?;
    let id = &me.account.id;
    let done = store::withdraw(&st.db, id, client_id.as_str(), now)
        .await
        .map_err(|e| internal("the application's access could not be withdrawn", e))?;
    if done != store::Withdrawal::default() {
        let scope = done.consent.clone().unwrap_or_else(|| app.scopes.join(" "));
        let detail = serde_json::json!({
            "client_id": client_id.as_str(),
            "scope": scope,
            "revoked_grants": done.revoked_grants,
        });
        audit::record(&st.db, Event::new("consent.withdrawn").actor(id).subject(id).detail(detail), now).await;
    }
    Ok(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(client: &str, scope: &str, created: i64, revoked: Option<i64>, live_refresh: i64) -> GrantUse {
        GrantUse {
            client_id: client.into(),
            scope: scope.into(),
            created_at: created,
            expires_at: 10_000,
            revoked_at: revoked,
            last_refresh: None,
            live_refresh,
        }
    }

    #[test]
    fn only_consents_and_live_grants_connect_and_internal_clients_never_show() {
        let consent = ConsentRow { client_id: "a".into(), scope: "openid nik".into(), created_at: 5 };
        let grants = vec![
            grant("a", "openid nik", 7, Some(8), 0),
            grant("b", "openid roles offline_access", 6, None, 1),
            grant("c", "openid", 9, Some(9), 0),
            grant("gerbang-account", "openid", 9, None, 0),
        ];
        let got = gather(vec![consent], grants, 100);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(got["a"].last_used, Some(7));
        assert!(!got["a"].offline && got["b"].offline);
    }

    #[test]
    fn scopes_follow_the_provider_order_without_repeats() {
        let live = vec!["offline_access".to_string(), "openid".to_string(), "custom".to_string()];
        assert_eq!(ordered_scopes(Some("nik openid"), &live), ["openid", "nik", "offline_access", "custom"]);
    }
}
