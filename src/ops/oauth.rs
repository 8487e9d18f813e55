//! The protocol endpoints' operations: authorization requests, tokens, userinfo, introspection,
//! revocation and logout. The rules are in `oidc`; this layer authenticates the calling
//! application, counts issued tokens and records what the audit trail needs.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::limits::admit_client;
use crate::audit::{self, Event};
use crate::auth::session::SsoSession;
use crate::limits::{Bucket, Limited};
use crate::oidc::authorize::{self, Outcome};
use crate::oidc::clients::{Client, ClientCredentials};
use crate::oidc::introspect::{self, BearerError};
use crate::oidc::logout::{self, EndError, LogoutOutcome, LogoutRequest};
use crate::oidc::token::{self, TokenRequest, TokenResponse};
use crate::oidc::OAuthError;
use crate::state::AppState;

/// An authorization request from a browser holding the single sign-on cookie `sso_cookie`, at
/// the address `ip` (whose number of stored login flows is bounded).
pub async fn authorize(
    st: &AppState,
    params: &[(String, String)],
    sso_cookie: Option<&str>,
    browser_id: &str,
    ip: &str,
    now: i64,
) -> Result<Outcome, Limited> {
    let session = sso_session(st, sso_cookie, now).await;
    let outcome = authorize::authorize(&st.provider(), params, session.as_ref(), browser_id, now).await;
    super::limits::bound_flows(st, ip, outcome).await
}

/// The token endpoint: the application authenticates, then its grant is exchanged.
pub async fn token(
    st: &AppState,
    creds: &ClientCredentials,
    req: TokenRequest,
    ip: &str,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let client = st.clients.authenticate(&st.db, creds).await?;
    admit_client(st, Bucket::TokenClient, &client, ip).await?;
    exchange(st, client, req, now).await
}

/// A grant exchanged for tokens, also in-process by Gerbang's own applications. Counted here,
/// once for every grant and only for responses that carry tokens; the tally stays in memory so
/// the token path makes no extra round trip.
pub async fn exchange(
    st: &AppState,
    client: Arc<Client>,
    req: TokenRequest,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let grant = crate::oidc::clients::GrantType::parse(&req.grant_type).map_or("other", |g| g.as_str());
    let issued = token::exchange(&st.provider(), client.clone(), req, now).await;
    if issued.is_ok() {
        st.token_tally.count(&client.id, now);
        crate::metrics::token(grant, &client.id);
    }
    issued
}

pub async fn userinfo(st: &AppState, token: Option<&str>, now: i64) -> Result<Map<String, Value>, BearerError> {
    introspect::userinfo(&st.provider(), token, now).await
}

pub async fn introspect(
    st: &AppState,
    creds: &ClientCredentials,
    token: &str,
    ip: &str,
    now: i64,
) -> Result<Value, OAuthError> {
    let client = st.clients.authenticate(&st.db, creds).await?;
    admit_client(st, Bucket::IntrospectClient, &client, ip).await?;
    introspect::introspect(&st.provider(), &client, token, now).await
}

pub async fn revoke(
    st: &AppState,
    creds: &ClientCredentials,
    token: &str,
    hint: Option<&str>,
    ip: &str,
    now: i64,
) -> Result<(), OAuthError> {
    let client = st.clients.authenticate(&st.db, creds).await?;
    admit_client(st, Bucket::IntrospectClient, &client, ip).await?;
    introspect::revoke(&st.provider(), &client, token, hint, now).await
}

/// A logout request from a browser holding the single sign-on cookie `sso_cookie` (`None` when
/// the request is only checked again).
pub async fn logout_request(st: &AppState, req: &LogoutRequest, sso_cookie: Option<&str>, now: i64) -> LogoutOutcome {
    let session = sso_session(st, sso_cookie, now).await;
    logout::request(&st.provider(), req, session.as_ref()).await
}

/// Ends the browser's single sign-on session with every grant made under it, and records it.
pub async fn end_session(st: &AppState, cookie: &str, ip: &str, now: i64) -> Result<u64, EndError> {
    let Some((s, revoked, queued)) = logout::end_session(&st.provider(), cookie, now).await? else { return Ok(0) };
    if queued > 0 {
        super::backchannel::wake();
    }
    let detail = json!({ "sid": s.sid, "revoked_grants": revoked, "logout_tokens": queued });
    let event = Event::new("logout").actor(&s.account_id).subject(&s.account_id).ip(ip).detail(detail);
    audit::record(&st.db, event, now).await;
    Ok(revoked)
}

/// The live single sign-on session behind the browser's cookie. A cache failure counts as no
/// session (logged): the person is asked to log in rather than shown an error.
async fn sso_session(st: &AppState, cookie: Option<&str>, now: i64) -> Option<SsoSession> {
    match crate::auth::session::load(&st.cache, cookie?, now).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            None
        }
    }
}
