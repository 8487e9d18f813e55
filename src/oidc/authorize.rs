//! The authorization endpoint (RFC 6749 §4.1, OpenID Connect Core §3.1.2): request checks,
//! PKCE, the login/consent flow kept between pages, and single-use authorization codes.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::access;
use super::auth_request::check_request;
use super::clients::Client;
use super::discovery::ACR_LEVEL_1;
pub use super::signer_gate::NO_SIGNER_KEY;
use super::signer_gate::{is_signer_if_needed, no_signer};
use super::Provider;
use super::{ErrorCode, OAuthError};
use crate::auth::session::SsoSession;
use crate::auth::Factors;
use crate::crypto;
use crate::identity::{accounts, levels};
use crate::store::grants as grant_store;

/// A checked authorization request, kept while the person logs in and consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// Requested scopes the client is registered for; the others are dropped (RFC 6749 §3.3).
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// Who the client expects to be logged in (OIDC Core §3.1.2.1): another person's session
    /// does not answer for them.
    #[serde(default)]
    pub id_token_hint: Option<String>,
    /// Lowest security level the request asked for with `acr_values` or an `acr` claim request.
    #[serde(default)]
    pub acr_level: u8,
}

/// The login/consent flow between pages, bound to the browser that started it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    pub id: String,
    pub browser_id: String,
    pub request: AuthRequest,
    pub client_name: String,
    /// Set once the person has logged in and consent is still to be given, or when an existing
    /// session is being stepped up.
    pub sid: Option<String>,
    /// The account whose password (or session) is verified and whose second factor is due.
    #[serde(default)]
    pub pending_account: Option<String>,
    /// The `password_stamp` of the password the first step checked, so the session the second
    /// step opens is refused when the password changed in between.
    #[serde(default)]
    pub pending_stamp: Option<String>,
    /// The security level this request needs (application minimum or `acr` request).
    #[serde(default)]
    pub required_level: u8,
    /// The `amr` of the first step when it was not the password (a login at an upstream
    /// provider), so the session a second factor completes names it truly.
    #[serde(default)]
    pub first_factor: Option<String>,
}

/// What the endpoint answers. Only `Redirect` ever sends the browser back to the client.
#[derive(Debug)]
pub enum Outcome {
    /// Shown to the person, never redirected: the client or redirect URI cannot be trusted.
    ErrorPage {
        message_key: &'static str,
        code: &'static str,
        detail: String,
    },
    Redirect(String),
    Login(Flow),
    /// Ask for the second factor: a passkey, a code from the authenticator app, or a recovery code.
    SecondFactor(Flow, Factors),
    Consent(Flow),
    /// Explained to the person; the way back tells the application `error`.
    Denied {
        message_key: &'static str,
        level: Option<u8>,
        back_url: String,
    },
}

/// Authorization codes: what the token endpoint needs to redeem one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub account_id: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub sid: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    pub grant_id: String,
    pub expires_at: i64,
}

pub fn code_key(code: &str) -> String {
    format!("code:{}", crypto::sha256_hex(code.as_bytes()))
}

pub fn used_code_key(code: &str) -> String {
    format!("code-used:{}", crypto::sha256_hex(code.as_bytes()))
}

fn flow_key(id: &str) -> String {
    format!("flow:{}", crypto::sha256_hex(id.as_bytes()))
}

const MAX_PARAM: usize = 2048;

fn error_page(message_key: &'static str, code: &'static str, detail: impl Into<String>) -> Outcome {
    Outcome::ErrorPage { message_key, code, detail: detail.into() }
}

/// Adds parameters to a registered redirect URI, keeping any query it already has, and always
/// `iss` (RFC 9207) so the client can tell which provider answered.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

pub(super) fn error_redirect(st: &Provider<'_>, req_redirect: &str, state: Option<&str>, err: &OAuthError) -> Outcome {
    let mut p: Vec<(&str, &str)> = vec![("error", err.code.as_str()), ("error_description", &err.description)];
    if let Some(s) = state {
        p.push(("state", s));
    }
    p.push(("iss", &st.config.issuer));
    Outcome::Redirect(redirect_with(req_redirect, &p))
}

pub(super) fn denied(
    st: &Provider<'_>,
    req: &AuthRequest,
    message_key: &'static str,
    level: Option<u8>,
    err: &OAuthError,
) -> Outcome {
    match error_redirect(st, &req.redirect_uri, req.state.as_deref(), err) {
        Outcome::Redirect(back_url) => Outcome::Denied { message_key, level, back_url },
        other => other,
    }
}

/// Handles one authorization request. `params` are the query (GET) or form (POST) pairs,
/// `session` the browser's SSO session if any.
pub async fn authorize(
    st: &Provider<'_>,
    params: &[(String, String)],
    session: Option<&SsoSession>,
    browser_id: &str,
    now: i64,
) -> Outcome {
    if params.len() > super::MAX_PARAMS {
        return error_page("error_invalid_request", "invalid_request", "too many parameters");
    }
    let mut map: HashMap<&str, &str> = HashMap::new();
    let mut duplicated: Vec<&str> = Vec::new();
    for (k, v) in params {
        if map.insert(k.as_str(), v.as_str()).is_some() {
            duplicated.push(k.as_str());
        }
    }
    if duplicated.iter().any(|k| *k == "client_id" || *k == "redirect_uri") {
        return error_page(
            "error_invalid_request",
            "invalid_request",
            "client_id or redirect_uri was given more than once",
        );
    }
    let Some(client_id) = map.get("client_id").filter(|s| !s.is_empty()) else {
        return error_page("error_unknown_client", "invalid_request", "client_id is missing");
    };
    let client = match st.clients.get(st.db, client_id).await {
        Ok(Some(c)) if c.disabled => {
            return error_page("error_client_disabled", "invalid_client", "the application is disabled")
        }
        Ok(Some(c)) => c,
        Ok(None) => return error_page("error_unknown_client", "invalid_client", "unknown client_id"),
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            return error_page("error_server", "server_error", "");
        }
    };
    let Some(redirect_uri) = map.get("redirect_uri").filter(|s| !s.is_empty()) else {
        return error_page("error_bad_redirect_uri", "invalid_request", "redirect_uri is missing");
    };
    if !client.has_redirect_uri(redirect_uri) {
        return error_page(
            "error_bad_redirect_uri",
            "invalid_request",
            "redirect_uri is not registered for this client",
        );
    }
    let state = map.get("state").copied().filter(|s| !s.is_empty());
    if state.is_some_and(|s| s.len() > MAX_PARAM) {
        let err = OAuthError::invalid_request("state is too long");
        return error_redirect(st, redirect_uri, None, &err);
    }
    let fail = |err: OAuthError| error_redirect(st, redirect_uri, state, &err);

    if let Some(k) = duplicated.first() {
        return fail(OAuthError::invalid_request(format!("parameter `{k}` was given more than once")));
    }
    let request = match check_request(&client, &map, redirect_uri, state) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    continue_request(st, &client, request, session, browser_id, now).await
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    aud: serde_json::Value,
}

/// The subject of an ID token this provider issued to `client` (expired ones count: a hint
/// names a person, it grants nothing).
async fn hint_subject(st: &Provider<'_>, client: &Client, hint: &str) -> Option<String> {
    let claims: HintClaims =
        st.keys.verify_fresh(st.db, hint, super::keys::TokenType::IdToken, &st.config.issuer, false).await.ok()?;
    let for_client = match &claims.aud {
        serde_json::Value::String(a) => *a == client.id,
        serde_json::Value::Array(a) => a.iter().any(|v| v.as_str() == Some(&client.id)),
        _ => false,
    };
    for_client.then_some(claims.sub)
}

async fn continue_request(
    st: &Provider<'_>,
    client: &Client,
    request: AuthRequest,
    session: Option<&SsoSession>,
    browser_id: &str,
    now: i64,
) -> Outcome {
    let none = request.prompt.iter().any(|p| p == "none");
    let (redirect_uri, state) = (request.redirect_uri.clone(), request.state.clone());
    let fail = |err: OAuthError| error_redirect(st, &redirect_uri, state.as_deref(), &err);
    // Step-up: a session below the level asked for must authenticate more strongly. Levels no
    // method of this version can reach are refused now, never answered with a lower level.
    // Level 4 is a level-3 login by a signer: the login steps up to 3, the binding is checked.
    let required = client.min_level.max(request.acr_level).max(1);
    let login_needed = levels::login_level(required);
    let session_level = session.map(|s| levels::from_acr(&s.acr).unwrap_or(1)).unwrap_or(0);
    if required > levels::MAX_REACHABLE && session_level < required {
        let err = OAuthError::new(
            ErrorCode::UnmetAuthenticationRequirements,
            format!("security level {required} cannot be reached: no stronger authentication method is available yet"),
        );
        return if none { fail(err) } else { denied(st, &request, "denied_level", Some(required), &err) };
    }
    let hinted_sub = match request.id_token_hint.as_deref() {
        Some(h) => match hint_subject(st, client, h).await {
            Some(sub) => Some(sub),
            None => {
                return fail(OAuthError::invalid_request(
                    "id_token_hint is not an ID token this provider issued to this client",
                ))
            }
        },
        None => None,
    };
    let mut account = None;
    let mut usable = session.filter(|s| {
        !request.prompt.iter().any(|p| p == "login" || p == "select_account")
            // Elapsed time is counted in whole seconds, so `max_age=0` always means a fresh login.
            && request.max_age.is_none_or(|m| now - s.auth_time < m)
            // The session of someone else than the hinted person does not answer for them.
            && hinted_sub.as_deref().is_none_or(|sub| st.subjects.for_client(client, &s.account_id) == sub)
    });
    if let Some(s) = usable {
        match accounts::get(st.db, &s.account_id).await {
            Ok(Some(a)) if a.is_active() => account = Some(a),
            Ok(_) => usable = None,
            Err(e) => return fail(OAuthError::server(e)),
        }
    }
    let Some(session) = usable else {
        if none {
            return fail(OAuthError::new(ErrorCode::LoginRequired, "the user must log in"));
        }
        return match new_flow(st, client, request, browser_id, None, None, required, None).await {
            Ok(flow) => Outcome::Login(flow),
            Err(e) => fail(e),
        };
    };
    if let Some(a) = &account {
        match access::check(st, client, a, now).await {
            Err(e) => return fail(OAuthError::server(e)),
            Ok(Err(d)) => {
                let err = OAuthError::new(ErrorCode::AccessDenied, d.description());
                return if none { fail(err) } else { denied(st, &request, d.message_key(), None, &err) };
            }
            Ok(Ok(())) => {}
        }
    }
    // Refused before any step-up: a stronger login would not make a non-signer a signer.
    match is_signer_if_needed(st, required, &session.account_id, now).await {
        Err(e) => return fail(e),
        Ok(false) => return no_signer(st, &request, none),
        Ok(true) => {}
    }
    // Step-up within reach: the session is weaker than required and a second factor can fix it.
    if session_level < login_needed {
        let factors = match Factors::of(st.db, &session.account_id).await {
            Ok(f) => f,
            Err(e) => return fail(OAuthError::server(e)),
        };
        if factors.reachable() < login_needed {
            // Out of reach even with interaction: the person has not enrolled a strong enough factor.
            let err = OAuthError::new(
                ErrorCode::UnmetAuthenticationRequirements,
                "the user has no factor reaching the required level",
            );
            return if none { fail(err) } else { denied(st, &request, "denied_level_enrol", Some(required), &err) };
        }
        if none {
            return fail(OAuthError::new(ErrorCode::InteractionRequired, "a stronger authentication is required"));
        }
        let pending = Some(session.account_id.clone());
        // The step-up adds to the factor the session was opened with, which the tokens' `amr`
        // names first: not a password when none was typed (an upstream login, say).
        let first = session.amr.first().cloned();
        let sid = Some(session.sid.clone());
        return match new_flow(st, client, request, browser_id, sid, pending, required, first).await {
            Ok(flow) => Outcome::SecondFactor(flow, factors),
            Err(e) => fail(e),
        };
    }
    match needs_consent(st, client, &request, &session.account_id).await {
        Err(e) => fail(e),
        Ok(true) if none => fail(OAuthError::new(ErrorCode::ConsentRequired, "the user must consent")),
        Ok(true) => {
            match new_flow(st, client, request, browser_id, Some(session.sid.clone()), None, required, None).await {
                Ok(flow) => Outcome::Consent(flow),
                Err(e) => fail(e),
            }
        }
        Ok(false) => match issue_code(st, &request, session, required, now).await {
            Ok(url) => Outcome::Redirect(url),
            Err(e) => fail(e),
        },
    }
}

async fn needs_consent(
    st: &Provider<'_>,
    client: &Client,
    request: &AuthRequest,
    account_id: &str,
) -> Result<bool, OAuthError> {
    if client.first_party {
        return Ok(false);
    }
    if request.prompt.iter().any(|p| p == "consent") {
        return Ok(true);
    }
    let given = grant_store::get_consent(st.db, account_id, &client.id).await.map_err(OAuthError::server)?;
    let given = given.unwrap_or_default();
    Ok(!request.scope.split(' ').filter(|s| !s.is_empty()).all(|s| super::has_scope(&given, s)))
}

#[allow(clippy::too_many_arguments)]
async fn new_flow(
    st: &Provider<'_>,
    client: &Client,
    request: AuthRequest,
    browser_id: &str,
    sid: Option<String>,
    pending_account: Option<String>,
    required_level: u8,
    first_factor: Option<String>,
) -> Result<Flow, OAuthError> {
    let flow = Flow {
        id: crypto::random_token(24).map_err(OAuthError::server)?,
        browser_id: browser_id.to_string(),
        request,
        client_name: client.name.clone(),
        sid,
        pending_account,
        pending_stamp: None,
        required_level,
        first_factor,
    };
    save_flow(st, &flow).await?;
    Ok(flow)
}

pub async fn save_flow(st: &Provider<'_>, flow: &Flow) -> Result<(), OAuthError> {
    let ttl = Duration::from_secs(st.config.login_ttl as u64);
    st.cache.put_json(&flow_key(&flow.id), flow, ttl).await.map_err(OAuthError::server)
}

#[derive(Debug, PartialEq, Eq)]
pub enum FlowError {
    /// Unknown, expired, or started in another browser.
    Expired,
    Internal,
}

/// Finds a flow by the id posted with a form; it must have been started by this browser.
pub async fn load_flow(st: &Provider<'_>, flow_id: &str, browser_id: &str) -> Result<Flow, FlowError> {
    if flow_id.is_empty() || flow_id.len() > 64 {
        return Err(FlowError::Expired);
    }
    let flow: Option<Flow> = st.cache.get_json(&flow_key(flow_id)).await.map_err(|e| {
        tracing::error!(error = %e, "flow lookup failed");
        FlowError::Internal
    })?;
    match flow {
        Some(f) if crypto::constant_time_eq(f.browser_id.as_bytes(), browser_id.as_bytes()) => Ok(f),
        _ => Err(FlowError::Expired),
    }
}

pub async fn end_flow(st: &Provider<'_>, flow_id: &str) {
    if let Err(e) = st.cache.delete(&flow_key(flow_id)).await {
        tracing::warn!(error = %e, "could not delete a finished login flow");
    }
}

/// After a successful login: ask for consent if needed, else send the code. `known` is the
/// session's account as the login just read it, if it did.
pub async fn after_login(
    st: &Provider<'_>,
    mut flow: Flow,
    session: &SsoSession,
    known: Option<accounts::Account>,
    now: i64,
) -> Outcome {
    let fail = |err: OAuthError| error_redirect(st, &flow.request.redirect_uri, flow.request.state.as_deref(), &err);
    let client = match st.clients.get(st.db, &flow.request.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return error_page("error_unknown_client", "invalid_client", "the client was removed"),
        Err(e) => return fail(OAuthError::server(e)),
    };
    let account = match known.filter(|a| a.id == session.account_id) {
        Some(a) => a,
        None => match accounts::get(st.db, &session.account_id).await {
            Ok(Some(a)) => a,
            Ok(None) => return error_page("err_session_expired", "invalid_request", "the account was removed"),
            Err(e) => return fail(OAuthError::server(e)),
        },
    };
    match access::check(st, &client, &account, now).await {
        Err(e) => return fail(OAuthError::server(e)),
        Ok(Err(d)) => {
            end_flow(st, &flow.id).await;
            let err = OAuthError::new(ErrorCode::AccessDenied, d.description());
            return denied(st, &flow.request, d.message_key(), None, &err);
        }
        Ok(Ok(())) => {}
    }
    let required = client.min_level.max(flow.request.acr_level).max(1);
    if levels::from_acr(&session.acr).unwrap_or(1) < levels::login_level(required) {
        end_flow(st, &flow.id).await;
        let err = OAuthError::new(
            ErrorCode::UnmetAuthenticationRequirements,
            "the login did not reach the required security level",
        );
        return denied(st, &flow.request, "denied_level_enrol", Some(required), &err);
    }
    match is_signer_if_needed(st, required, &session.account_id, now).await {
        Err(e) => return fail(e),
        Ok(false) => {
            end_flow(st, &flow.id).await;
            return no_signer(st, &flow.request, false);
        }
        Ok(true) => {}
    }
    flow.required_level = required;
    flow.pending_account = None;
    flow.pending_stamp = None;
    match needs_consent(st, &client, &flow.request, &session.account_id).await {
        Err(e) => fail(e),
        Ok(true) => {
            flow.sid = Some(session.sid.clone());
            if let Err(e) = save_flow(st, &flow).await {
                return fail(e);
            }
            Outcome::Consent(flow)
        }
        Ok(false) => {
            end_flow(st, &flow.id).await;
            match issue_code(st, &flow.request, session, required, now).await {
                Ok(url) => Outcome::Redirect(url),
                Err(e) => fail(e),
            }
        }
    }
}

/// The person's factors cannot reach the level the request needs: refuse without a session.
pub async fn deny_level(st: &Provider<'_>, flow: &Flow) -> Outcome {
    end_flow(st, &flow.id).await;
    let err = OAuthError::new(
        ErrorCode::UnmetAuthenticationRequirements,
        "the user has no factor reaching the required level",
    );
    denied(st, &flow.request, "denied_level_enrol", Some(flow.required_level), &err)
}

/// The person's answer on the consent page. The flow must belong to the session that logged in.
pub async fn consent(st: &Provider<'_>, flow: Flow, session: Option<&SsoSession>, allow: bool, now: i64) -> Outcome {
    let fail = |err: OAuthError| error_redirect(st, &flow.request.redirect_uri, flow.request.state.as_deref(), &err);
    let Some(session) = session.filter(|s| flow.sid.as_deref() == Some(s.sid.as_str())) else {
        return error_page("err_session_expired", "invalid_request", "the login session ended before consent");
    };
    end_flow(st, &flow.id).await;
    if !allow {
        return fail(OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"));
    }
    // Time passed on the consent page: the binding is looked at again.
    match is_signer_if_needed(st, flow.required_level, &session.account_id, now).await {
        Err(e) => return fail(e),
        Ok(false) => return no_signer(st, &flow.request, false),
        Ok(true) => {}
    }
    if let Err(e) =
        grant_store::put_consent(st.db, &session.account_id, &flow.request.client_id, &flow.request.scope, now).await
    {
        return fail(OAuthError::server(e));
    }
    match issue_code(st, &flow.request, session, flow.required_level, now).await {
        Ok(url) => Outcome::Redirect(url),
        Err(e) => fail(e),
    }
}

/// Creates a single-use code (256 bits, kept only as a hash) and the redirect that carries it.
/// `required` is the level the request needed: at level 4 (checked by the caller) the code says
/// `urn:gerbang:loa:4`, otherwise the session's own level.
pub async fn issue_code(
    st: &Provider<'_>,
    request: &AuthRequest,
    session: &SsoSession,
    required: u8,
    now: i64,
) -> Result<String, OAuthError> {
    let acr = if levels::needs_signer(required) {
        levels::acr(levels::SIGNER).to_string()
    } else if session.acr.is_empty() {
        ACR_LEVEL_1.to_string()
    } else {
        session.acr.clone()
    };
    let code = crypto::random_token(32).map_err(OAuthError::server)?;
    let grant = CodeGrant {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        account_id: session.account_id.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        sid: session.sid.clone(),
        auth_time: session.auth_time,
        acr,
        amr: session.amr.clone(),
        grant_id: uuid::Uuid::new_v4().to_string(),
        expires_at: now + st.config.code_ttl,
    };
    st.cache
        .put_json(&code_key(&code), &grant, Duration::from_secs(st.config.code_ttl as u64))
        .await
        .map_err(OAuthError::server)?;
    let mut p: Vec<(&str, &str)> = vec![("code", &code)];
    if let Some(s) = &request.state {
        p.push(("state", s));
    }
    p.push(("iss", &st.config.issuer));
    Ok(redirect_with(&request.redirect_uri, &p))
}
