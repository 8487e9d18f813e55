//! The token endpoint (RFC 6749 §3.2): one function per grant, each taking `now`. Refresh
//! tokens rotate on every use; presenting a used one revokes its whole family (RFC 9700 §4.14).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use super::access;
use super::auth_request::is_pkce_value;
use super::authorize::{code_key, used_code_key, CodeGrant};
use super::claims::{person_claims, AccessClaims, Person, SIGNER_ROLE};
use super::clients::{require_grant, Client, GrantType};
use super::keys::TokenType;
use super::Provider;
use super::{has_scope, parse_scope, ErrorCode, OAuthError, USER_SCOPES};
use crate::auth::session;
use crate::crypto;
use crate::identity::accounts::{self, Account};
use crate::identity::levels;
use crate::store::access as access_store;
use crate::store::grants::{self as grant_store, GrantRow, RefreshRow};

#[derive(Debug, Default)]
pub struct TokenRequest {
    pub grant_type: String,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// Why a level-4 grant is refused once its holder is no longer a signer.
pub const SIGNER_LAPSED: &str =
    "the signing certificate of this level-4 login is no longer valid (expired, revoked or unbound)";

/// How long a redeemed code is remembered so a replay can revoke what it produced.
const USED_CODE_MEMORY: Duration = Duration::from_secs(3600);

pub async fn exchange(
    st: &Provider<'_>,
    client: Arc<Client>,
    req: TokenRequest,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    match req.grant_type.as_str() {
        "authorization_code" => authorization_code(st, &client, req, now).await,
        "refresh_token" => refresh(st, &client, req, now).await,
        "client_credentials" => client_credentials(st, &client, req, now),
        "" => Err(OAuthError::invalid_request("grant_type is missing")),
        _ => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type")),
    }
}

async fn authorization_code(
    st: &Provider<'_>,
    client: &Client,
    req: TokenRequest,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    require_grant(client, GrantType::AuthorizationCode)?;
    let code = req.code.filter(|c| !c.is_empty()).ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let redirect_uri = req.redirect_uri.ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
    if code.len() > 128 {
        return Err(OAuthError::invalid_grant("invalid authorization code"));
    }
    // Taken once, leaving its grant's id under the used-code key for a second redemption to find.
    let (key, used) = (code_key(&code), used_code_key(&code));
    let taken = st.cache.take_marking(&key, &used, "grant_id", USED_CODE_MEMORY).await;
    let taken: Option<CodeGrant> = match taken.map_err(OAuthError::server)? {
        Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(OAuthError::server)?),
        None => None,
    };
    let Some(grant) = taken else {
        // A second redemption: the code leaked or was replayed. Revoke what the first produced.
        let first: Option<String> = st.cache.get_json(&used).await.map_err(OAuthError::server)?;
        if let Some(grant_id) = first {
            // The first redemption may not have stored its grant yet: the mark, left before
            // the revocation, is read by it once its grant is stored (see below), so one of
            // the two revokes it whichever comes first.
            st.cache.put(&replayed_key(&grant_id), b"1", USED_CODE_MEMORY).await.map_err(OAuthError::server)?;
            grant_store::revoke_grant(st.db, &grant_id, now).await.map_err(OAuthError::server)?;
            tracing::warn!(client_id = %client.id, "authorization code reused; tokens issued from it were revoked");
            return Err(OAuthError::invalid_grant(
                "authorization code was already used; tokens issued from it are revoked",
            ));
        }
        return Err(OAuthError::invalid_grant("invalid or expired authorization code"));
    };
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    if grant.expires_at <= now {
        return Err(OAuthError::invalid_grant("authorization code expired"));
    }
    verify_pkce(grant.code_challenge.as_deref(), req.code_verifier.as_deref())?;
    // The login may have ended since the code was issued (logout), or been replaced by a new
    // login of the same person, whose session the grant then joins.
    let sid = session::current_sid(st.cache, &grant.sid)
        .await
        .map_err(OAuthError::server)?
        .ok_or_else(|| OAuthError::invalid_grant("the login session this code was issued in has ended"))?;
    let account = active_account(st, &grant.account_id).await?;
    let level = levels::from_acr(&grant.acr).unwrap_or(1);
    let person = if wants_signer(level, &grant.scope) {
        Person::load_with_signer(st, account, now).await
    } else {
        Person::load(st.db, account).await
    }
    .map_err(OAuthError::server)?;
    let row = GrantRow {
        id: grant.grant_id.clone(),
        account_id: grant.account_id.clone(),
        client_id: client.id.clone(),
        scope: grant.scope.clone(),
        rp_sid: Some(sid.clone()),
        sid,
        auth_time: grant.auth_time,
        acr: grant.acr.clone(),
        amr: grant.amr.join(" "),
        created_at: now,
        expires_at: now + st.config.refresh_token_ttl,
        revoked_at: None,
        // Stored with the grant, so issuing its first tokens writes nothing more about roles.
        roles: person.role_ids_for(&client.id),
    };
    // The first refresh token is stored with the grant (one statement on PostgreSQL).
    let refresh = if client.allows_grant(GrantType::RefreshToken) {
        let token = crypto::random_token(32).map_err(OAuthError::server)?;
        let hash = crypto::sha256_hex(token.as_bytes());
        grant_store::insert_grant_with_refresh(st.db, &row, &hash).await.map_err(OAuthError::server)?;
        Some(token)
    } else {
        grant_store::insert_grant(st.db, &row).await.map_err(OAuthError::server)?;
        None
    };
    // A code issued just before the person withdrew the application's access must not bring it
    // back: an application that asks for consent redeems codes only while the consent stands.
    // Read once the grant exists (not before): a withdrawal that looked for grants before this
    // one was inserted has deleted the consent by the time this read returns, so either the
    // withdrawal revokes the new grant or this does.
    if !client.first_party
        && !grant_store::consent_stands(st.db, &row.account_id, &client.id).await.map_err(OAuthError::server)?
    {
        grant_store::revoke_grant(st.db, &row.id, now).await.map_err(OAuthError::server)?;
        return Err(OAuthError::invalid_grant("the user withdrew the consent this code was issued under"));
    }
    // A replay of this code that came while the grant was being made found nothing to revoke.
    if st.cache.get(&replayed_key(&row.id)).await.map_err(OAuthError::server)?.is_some() {
        grant_store::revoke_grant(st.db, &row.id, now).await.map_err(OAuthError::server)?;
        return Err(OAuthError::invalid_grant(
            "authorization code was already used; tokens issued from it are revoked",
        ));
    }
    user_tokens(st, client, person, &row, &row.scope, grant.nonce.as_deref(), refresh, now).await
}

/// Marks a grant whose code was presented again before the grant was stored.
fn replayed_key(grant_id: &str) -> String {
    format!("code-replayed:{grant_id}")
}

/// The signer binding is looked up only when something depends on it: a level-4 grant, the
/// `signer` role among `roles`, the `cert` claim.
fn wants_signer(level: u8, scope: &str) -> bool {
    levels::needs_signer(level) || has_scope(scope, "roles") || has_scope(scope, "signer")
}

/// RFC 7636 §4.6. A verifier without a challenge is refused too, so PKCE cannot be downgraded.
fn verify_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant("code_verifier given but the request had no code_challenge")),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is missing")),
        (Some(c), Some(v)) => {
            if !(43..=128).contains(&v.len()) || !is_pkce_value(v) {
                return Err(OAuthError::invalid_grant("code_verifier is malformed"));
            }
            let computed = crypto::b64url(&crypto::sha256(v.as_bytes()));
            if crypto::constant_time_eq(computed.as_bytes(), c.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant("PKCE verification failed"))
            }
        }
    }
}

async fn active_account(st: &Provider<'_>, id: &str) -> Result<Account, OAuthError> {
    match accounts::get(st.db, id).await.map_err(OAuthError::server)? {
        Some(a) if a.is_active() => Ok(a),
        _ => Err(OAuthError::invalid_grant("the account is not active")),
    }
}

async fn refresh(st: &Provider<'_>, client: &Client, req: TokenRequest, now: i64) -> Result<TokenResponse, OAuthError> {
    require_grant(client, GrantType::RefreshToken)?;
    let token = req
        .refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    if token.len() > 128 {
        return Err(invalid_refresh());
    }
    let hash = crypto::sha256_hex(token.as_bytes());
    // A narrower scope is checked before the token is spent: a refused request must not burn it
    // (and revoke its family on the retry).
    let asked = match req.scope.as_deref() {
        Some(s) => {
            let grant = live_grant(st, client, &hash, now).await?;
            let asked = parse_scope(s)?;
            if let Some(extra) = asked.iter().find(|a| !has_scope(&grant.scope, a)) {
                return Err(OAuthError::new(ErrorCode::InvalidScope, format!("scope `{extra}` was not granted")));
            }
            Some(asked.join(" "))
        }
        None => None,
    };
    // Spent, replaced and the grant read at once: of two requests racing with one token, one
    // wins and the other is reuse. Only when it was not spent is the reason looked up (the
    // common case reads nothing more). The successor is stored before the checks below; when
    // one fails the grant is revoked, or the successor is simply never handed out.
    let next = crypto::random_token(32).map_err(OAuthError::server)?;
    let next_hash = crypto::sha256_hex(next.as_bytes());
    let rotation = access_store::Rotation {
        spent: &hash,
        client_id: &client.id,
        next: &next_hash,
        next_expires_at: now + st.config.refresh_token_ttl,
    };
    let spent = access_store::rotate_refresh(st.db, rotation, now).await.map_err(OAuthError::server)?;
    // The grant, its account and the account's own roles come with it (no access token here,
    // so no `jti` to look up); the unit's claim and inherited roles come from the directory
    // snapshot.
    let Some(live) = spent else {
        return Err(live_grant(st, client, &hash, now).await.err().unwrap_or_else(invalid_refresh));
    };
    let result = rotated(st, client, live, asked, next, now).await;
    // A cache or database failure after the spend answers 503/500, and the client is told to
    // retry: with the token left spent, its retry would be taken for reuse and the whole family
    // revoked. Nothing was handed out, so the rotation is taken back.
    if let Err(e) = &result {
        if matches!(e.code, ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable) {
            if let Err(undo) = access_store::undo_rotation(st.db, rotation, now).await {
                tracing::warn!(error = %undo, "a failed refresh could not be taken back; its token stays spent");
            }
        }
    }
    result
}

/// The checks and tokens of a refresh whose token was just spent for `live`'s grant.
async fn rotated(
    st: &Provider<'_>,
    client: &Client,
    live: access_store::LiveGrant,
    asked: Option<String>,
    next: String,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    // A revocation that lands between the spend and the grant's read (SQLite reads it after
    // the spend) is not re-checked here: the tokens issued are dead at every use, and the
    // request that spent the token is answered alike on both databases (the other requests
    // racing it are the reuse).
    let mut grant = live.grant;
    // Logout revokes the session's grants; one made while it was ending is caught here.
    let Some(sid) = session::current_sid(st.cache, &grant.sid).await.map_err(OAuthError::server)? else {
        grant_store::revoke_grant(st.db, &grant.id, now).await.map_err(OAuthError::server)?;
        return Err(OAuthError::invalid_grant("the login session of this refresh token has ended"));
    };
    if sid != grant.sid {
        // Made under a session that was since replaced by a new login of the same person.
        grant_store::set_grant_sid(st.db, &grant.id, &sid).await.map_err(OAuthError::server)?;
        grant.sid = sid;
    }
    // The registration may have changed since the login: a level it now needs, scopes it lost.
    if levels::from_acr(&grant.acr).unwrap_or(1) < client.min_level {
        grant_store::revoke_grant(st.db, &grant.id, now).await.map_err(OAuthError::server)?;
        return Err(OAuthError::invalid_grant("the application now requires a stronger login"));
    }
    let scope = asked.unwrap_or_else(|| grant.scope.clone());
    let scope = scope.split(' ').filter(|s| client.allows_scope(s)).collect::<Vec<_>>().join(" ");
    let account = live.account.map(accounts::from_stored).transpose().map_err(OAuthError::server)?;
    let account =
        account.filter(|a| a.is_active()).ok_or_else(|| OAuthError::invalid_grant("the account is not active"))?;
    let level = levels::from_acr(&grant.acr).unwrap_or(1);
    let with_signer = live.signer_candidate
        && (wants_signer(level, &scope) || client.required_roles.iter().any(|r| r == SIGNER_ROLE));
    let direct: Vec<&str> = live.direct_roles.iter().map(String::as_str).collect();
    let person = Person::load_live(st, account, &direct, with_signer, now).await.map_err(OAuthError::server)?;
    // Access rules may have changed since the login (a required role removed, say).
    if let Err(d) = access::check_person(client, &person) {
        grant_store::revoke_grant(st.db, &grant.id, now).await.map_err(OAuthError::server)?;
        return Err(OAuthError::invalid_grant(d.description()));
    }
    user_tokens(st, client, person, &grant, &scope, None, Some(next), now).await
}

fn invalid_refresh() -> OAuthError {
    OAuthError::invalid_grant("invalid refresh token")
}

/// The grant behind a live refresh token of `client`, or the reason there is none. A used token
/// is a reuse: the whole family is revoked (RFC 9700 §4.14.2).
async fn live_grant(st: &Provider<'_>, client: &Client, hash: &str, now: i64) -> Result<GrantRow, OAuthError> {
    let row = grant_store::get_refresh(st.db, hash).await.map_err(OAuthError::server)?.ok_or_else(invalid_refresh)?;
    let grant =
        grant_store::get_grant(st.db, &row.grant_id).await.map_err(OAuthError::server)?.ok_or_else(invalid_refresh)?;
    if grant.client_id != client.id {
        return Err(invalid_refresh());
    }
    if grant.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("refresh token was revoked"));
    }
    if row.used_at.is_some() {
        grant_store::revoke_grant(st.db, &grant.id, now).await.map_err(OAuthError::server)?;
        tracing::warn!(client_id = %client.id, grant = %grant.id, "refresh token reused; token family revoked");
        return Err(OAuthError::invalid_grant(
            "refresh token was already used; all tokens of this session are revoked",
        ));
    }
    if row.expires_at <= now || grant.expires_at <= now {
        return Err(OAuthError::invalid_grant("refresh token expired"));
    }
    Ok(grant)
}

/// Access token, ID token (with `openid`) and a new refresh token (when the client may refresh)
/// for a person's grant. `stored_refresh` is a refresh token already stored for the grant (a
/// rotation stores it with the spending of its predecessor); otherwise one is made here.
#[allow(clippy::too_many_arguments)]
async fn user_tokens(
    st: &Provider<'_>,
    client: &Client,
    person: Person,
    grant: &GrantRow,
    scope: &str,
    nonce: Option<&str>,
    stored_refresh: Option<String>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let cfg = st.config;
    let level = levels::from_acr(&grant.acr).unwrap_or(1);
    let account = &person.account;
    // Level 4 holds only while the certificate does: once it expired or was revoked, the grant
    // ends (refused, not re-issued at a lower level the application did not ask for).
    if levels::needs_signer(level) && person.signer.is_none() {
        grant_store::revoke_grant(st.db, &grant.id, now).await.map_err(OAuthError::server)?;
        return Err(OAuthError::invalid_grant(SIGNER_LAPSED));
    }
    let with_roles = has_scope(scope, "roles");
    let sub = st.subjects.for_client(client, &account.id);
    // The session the application was first told of, even after the grant followed the person
    // to a newer login: its logout token names the same one.
    let sid = st.subjects.sid_for_client(client, grant.rp_sid());
    let auth_time = st.subjects.auth_time_for_client(client, grant.auth_time);
    let at = AccessClaims {
        security_level: Some(level),
        roles: with_roles.then(|| person.global_roles()),
        app_roles: with_roles.then(|| person.app_roles(&client.id)),
        iss: cfg.issuer.clone(),
        sub: sub.clone(),
        aud: client.id.clone(),
        client_id: client.id.clone(),
        exp: now + cfg.access_token_ttl,
        iat: now,
        jti: crypto::random_token(16).map_err(OAuthError::server)?,
        scope: scope.to_string(),
        sid: Some(sid.clone()),
        gid: Some(grant.id.clone()),
        auth_time: Some(auth_time),
        acr: Some(grant.acr.clone()),
    };
    let access_token = st.keys.sign(client.token_alg, TokenType::AccessToken, &at).map_err(OAuthError::server)?;
    let id_token = if has_scope(scope, "openid") {
        let mut c: Map<String, Value> = person_claims(&person, &client.id, scope, level);
        c.insert("sub".into(), sub.clone().into());
        c.insert("iss".into(), cfg.issuer.clone().into());
        c.insert("aud".into(), client.id.clone().into());
        c.insert("azp".into(), client.id.clone().into());
        c.insert("exp".into(), (now + cfg.id_token_ttl).into());
        c.insert("iat".into(), now.into());
        c.insert("auth_time".into(), auth_time.into());
        c.insert("acr".into(), grant.acr.clone().into());
        let amr: Vec<&str> = grant.amr.split(' ').filter(|s| !s.is_empty()).collect();
        c.insert("amr".into(), amr.into());
        c.insert("sid".into(), sid.into());
        if let Some(n) = nonce {
            c.insert("nonce".into(), n.into());
        }
        Some(st.keys.sign(client.token_alg, TokenType::IdToken, &c).map_err(OAuthError::server)?)
    } else {
        None
    };
    let carried = person.role_ids_for(&client.id);
    if carried != grant.roles {
        grant_store::set_grant_roles(st.db, &grant.id, &carried).await.map_err(OAuthError::server)?;
    }
    let refresh_token = if stored_refresh.is_some() {
        stored_refresh
    } else if client.allows_grant(GrantType::RefreshToken) {
        let token = crypto::random_token(32).map_err(OAuthError::server)?;
        let row = RefreshRow {
            token_hash: crypto::sha256_hex(token.as_bytes()),
            grant_id: grant.id.clone(),
            created_at: now,
            expires_at: (now + cfg.refresh_token_ttl).min(grant.expires_at),
            used_at: None,
        };
        grant_store::insert_refresh(st.db, &row).await.map_err(OAuthError::server)?;
        Some(token)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: cfg.access_token_ttl,
        refresh_token,
        id_token,
        scope: scope.to_string(),
    })
}

/// Machine-to-machine tokens: no person, no database round trip, the client is the subject.
fn client_credentials(
    st: &Provider<'_>,
    client: &Client,
    req: TokenRequest,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    require_grant(client, GrantType::ClientCredentials)?;
    let allowed: Vec<&str> = client.scopes.iter().map(String::as_str).filter(|s| !USER_SCOPES.contains(s)).collect();
    let scope = match req.scope.as_deref() {
        Some(s) => {
            let asked = parse_scope(s)?;
            if let Some(bad) = asked.iter().find(|a| !allowed.contains(&a.as_str())) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope `{bad}` is not allowed for this client"),
                ));
            }
            asked.join(" ")
        }
        None => allowed.join(" "),
    };
    let cfg = st.config;
    let at = AccessClaims {
        iss: cfg.issuer.clone(),
        sub: client.id.clone(),
        aud: client.id.clone(),
        client_id: client.id.clone(),
        exp: now + cfg.access_token_ttl,
        iat: now,
        jti: crypto::random_token(16).map_err(OAuthError::server)?,
        scope: scope.clone(),
        sid: None,
        gid: None,
        auth_time: None,
        acr: None,
        security_level: None,
        roles: None,
        app_roles: None,
    };
    let access_token = st.keys.sign(client.token_alg, TokenType::AccessToken, &at).map_err(OAuthError::server)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: cfg.access_token_ttl,
        refresh_token: None,
        id_token: None,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rules() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify_pkce(Some(challenge), Some(verifier)).is_ok());
        assert_eq!(
            verify_pkce(Some(challenge), Some(&verifier.replace('d', "e"))).unwrap_err().code,
            ErrorCode::InvalidGrant
        );
        assert_eq!(verify_pkce(Some(challenge), None).unwrap_err().code, ErrorCode::InvalidGrant);
        assert_eq!(verify_pkce(None, Some(verifier)).unwrap_err().code, ErrorCode::InvalidGrant);
        assert_eq!(verify_pkce(Some(challenge), Some("short")).unwrap_err().code, ErrorCode::InvalidGrant);
        assert!(verify_pkce(None, None).is_ok());
    }
}
