//! Checking tokens we issued: userinfo (OIDC Core §5.3), introspection (RFC 7662) and
//! revocation (RFC 7009). An access token is good only while its signature, expiry, its own
//! revocation entry and its grant (for tokens issued to people) all say so.

use serde_json::{json, Map, Value};

use super::access;
use super::claims::{person_claims, AccessClaims, Person, SIGNER_ROLE};
use super::clients::Client;
use super::keys::TokenType;
use super::Provider;
use super::{has_scope, ErrorCode, OAuthError};
use crate::auth::session;
use crate::crypto;
use crate::identity::accounts::{self, Account};
use crate::identity::levels;
use crate::store::grants::{self as grant_store, GrantRow};

/// Why a bearer token was refused (RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    Missing,
    /// RFC 6750 §3.1 `invalid_request`: the token was sent more than one way.
    InvalidRequest(&'static str),
    InvalidToken(&'static str),
    InsufficientScope(&'static str),
    Server,
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Verifies an access token and that nothing revoked it since. Returns its claims and grant.
pub async fn check_access_token(
    st: &Provider<'_>,
    token: &str,
    now: i64,
) -> Result<(AccessClaims, Option<GrantRow>), BearerError> {
    let (claims, live) = check_live(st, token, now, false).await?;
    Ok((claims, live.map(|l| l.grant)))
}

/// A person's token that still counts, with what was read in the same statement.
struct Live {
    grant: GrantRow,
    /// `None` when the account is gone.
    account: Option<Account>,
    direct_roles: Vec<String>,
    signer_candidate: bool,
}

/// [`check_access_token`] with the grant's account, read in the same statement as the grant and
/// the token's revocation; with `full` (userinfo) also the account's own roles and whether it
/// may be a signer.
async fn check_live(
    st: &Provider<'_>,
    token: &str,
    now: i64,
    full: bool,
) -> Result<(AccessClaims, Option<Live>), BearerError> {
    if token.len() > 8192 || !looks_like_jwt(token) {
        return Err(BearerError::InvalidToken("malformed access token"));
    }
    let claims: AccessClaims = st
        .keys
        .verify_fresh(st.db, token, TokenType::AccessToken, &st.config.issuer, true)
        .await
        .map_err(|_| BearerError::InvalidToken("the access token is invalid or expired"))?;
    if claims.exp <= now {
        return Err(BearerError::InvalidToken("the access token expired"));
    }
    let revoked = || BearerError::InvalidToken("the access token was revoked");
    let Some(gid) = &claims.gid else {
        // An application's own token (client credentials): only its revocation entry counts.
        let revoked_jti = grant_store::is_jti_revoked(st.db, &claims.jti).await.map_err(|e| {
            tracing::error!(error = %e, "revocation lookup failed");
            BearerError::Server
        })?;
        return if revoked_jti { Err(revoked()) } else { Ok((claims, None)) };
    };
    let live = st.hot.live_grant(st.db, gid, &claims.jti, now, full).await.map_err(|e| {
        tracing::error!(error = %e, "grant lookup failed");
        BearerError::Server
    })?;
    let grant = match live {
        Some(l) if !l.jti_revoked && l.grant.revoked_at.is_none() => l,
        _ => return Err(revoked()),
    };
    let lapsed = signer_lapsed(st, &grant.grant, now).await.map_err(|e| {
        tracing::error!(error = %e, "signer lookup failed");
        BearerError::Server
    })?;
    if lapsed {
        return Err(BearerError::InvalidToken("the signing certificate of this level-4 login is no longer valid"));
    }
    let account = grant.account.map(accounts::from_stored).transpose().map_err(|e| {
        tracing::error!(error = %e, "account lookup failed");
        BearerError::Server
    })?;
    let live = Live {
        grant: grant.grant,
        account,
        direct_roles: grant.direct_roles,
        signer_candidate: grant.signer_candidate,
    };
    Ok((claims, Some(live)))
}

/// A level-4 grant whose holder is no longer a signer (certificate expired, revoked, unbound):
/// its tokens stop counting at once.
async fn signer_lapsed(st: &Provider<'_>, grant: &GrantRow, now: i64) -> Result<bool, crate::store::StoreError> {
    if !levels::needs_signer(levels::from_acr(&grant.acr).unwrap_or(1)) {
        return Ok(false);
    }
    Ok(st.signers.signer(&grant.account_id, now).await?.is_none())
}

pub async fn userinfo(st: &Provider<'_>, token: Option<&str>, now: i64) -> Result<Map<String, Value>, BearerError> {
    let token = token.ok_or(BearerError::Missing)?;
    let (claims, live) = check_live(st, token, now, true).await?;
    let Some(live) = live.filter(|_| has_scope(&claims.scope, "openid")) else {
        return Err(BearerError::InsufficientScope("the access token was not issued with the openid scope"));
    };
    let Live { grant, account, direct_roles, signer_candidate } = live;
    let account =
        account.filter(|a| a.is_active()).ok_or(BearerError::InvalidToken("the account is no longer active"))?;
    // The `signer` role and the `cert` claim say what holds now, not at the login.
    let with_signer = has_scope(&claims.scope, "roles") || has_scope(&claims.scope, "signer");
    let direct: Vec<&str> = direct_roles.iter().map(String::as_str).collect();
    let person = Person::load_live(st, account, &direct, with_signer && signer_candidate, now).await.map_err(|e| {
        tracing::error!(error = %e, "person lookup failed");
        BearerError::Server
    })?;
    let level = levels::from_acr(&grant.acr).unwrap_or(1);
    let mut m = person_claims(&person, &grant.client_id, &claims.scope, level);
    // The subject the application knows, which may be pairwise.
    m.insert("sub".into(), claims.sub.clone().into());
    Ok(m)
}

/// RFC 7662. Callers must be confidential clients and learn only about their own tokens; any
/// other token is simply `active: false`, which reveals nothing.
pub async fn introspect(st: &Provider<'_>, caller: &Client, token: &str, now: i64) -> Result<Value, OAuthError> {
    if caller.public {
        return Err(OAuthError::invalid_client("introspection requires a confidential client"));
    }
    let inactive = json!({ "active": false });
    if token.is_empty() || token.len() > 8192 {
        return Ok(inactive);
    }
    if looks_like_jwt(token) {
        return match check_live(st, token, now, false).await {
            Ok((c, live)) if c.client_id == caller.id => {
                if let Some(l) = &live {
                    if !l.account.as_ref().is_some_and(Account::is_active) {
                        return Ok(inactive);
                    }
                }
                let mut v = json!({
                    "active": true, "token_type": "Bearer", "scope": c.scope, "client_id": c.client_id,
                    "sub": c.sub, "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat, "jti": c.jti,
                });
                if let Some(acr) = c.acr {
                    v["acr"] = acr.into();
                }
                if let Some(at) = c.auth_time {
                    v["auth_time"] = at.into();
                }
                Ok(v)
            }
            Ok(_)
            | Err(BearerError::InvalidToken(_))
            | Err(BearerError::Missing)
            | Err(BearerError::InvalidRequest(_))
            | Err(BearerError::InsufficientScope(_)) => Ok(inactive),
            Err(BearerError::Server) => Err(OAuthError::server("access token check")),
        };
    }
    let hash = crypto::sha256_hex(token.as_bytes());
    let Some(row) = grant_store::get_refresh(st.db, &hash).await.map_err(OAuthError::server)? else {
        return Ok(inactive);
    };
    let Some(grant) = grant_store::get_grant(st.db, &row.grant_id).await.map_err(OAuthError::server)? else {
        return Ok(inactive);
    };
    let live = grant.client_id == caller.id
        && grant.revoked_at.is_none()
        && row.used_at.is_none()
        && row.expires_at > now
        && grant.expires_at > now;
    if !live || signer_lapsed(st, &grant, now).await.map_err(OAuthError::server)? {
        return Ok(inactive);
    }
    // As for access tokens: a suspended or retired person's refresh token no longer counts,
    // even where ending their sessions failed and the grant itself still stands.
    let account = accounts::get(st.db, &grant.account_id).await.map_err(OAuthError::server)?;
    let Some(account) = account.filter(Account::is_active) else {
        return Ok(inactive);
    };
    // The application's rules as a refresh applies them (see `token::rotated`): a level it now
    // needs, a role it now requires, an account type it no longer takes.
    if levels::from_acr(&grant.acr).unwrap_or(1) < caller.min_level {
        return Ok(inactive);
    }
    let person = if caller.required_roles.iter().any(|r| r == SIGNER_ROLE) {
        Person::load_with_signer(st, account, now).await
    } else {
        Person::load(st.db, account).await
    }
    .map_err(OAuthError::server)?;
    if access::check_person(caller, &person).is_err() {
        return Ok(inactive);
    }
    // A refresh needs its login session (see `token::rotated`): once the session has ended,
    // the token would be refused, so it is not active.
    if session::current_sid(st.cache, &grant.sid).await.map_err(OAuthError::server)?.is_none() {
        return Ok(inactive);
    }
    Ok(json!({
        "active": true, "token_type": "refresh_token", "scope": grant.scope, "client_id": grant.client_id,
        "sub": st.subjects.for_client(caller, &grant.account_id), "iss": &st.config.issuer, "exp": row.expires_at, "iat": row.created_at,
    }))
}

/// RFC 7009. Unknown tokens and other clients' tokens are answered with success too (§2.2), so
/// the endpoint cannot be used to probe for valid tokens.
pub async fn revoke(
    st: &Provider<'_>,
    caller: &Client,
    token: &str,
    hint: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    if let Some(h) = hint {
        if !matches!(h, "access_token" | "refresh_token") {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedTokenType,
                "token_type_hint must be access_token or refresh_token",
            ));
        }
    }
    if token.is_empty() || token.len() > 8192 {
        return Ok(());
    }
    if looks_like_jwt(token) {
        if let Ok(c) =
            st.keys.verify_fresh::<AccessClaims>(st.db, token, TokenType::AccessToken, &st.config.issuer, false).await
        {
            if c.client_id == caller.id && c.exp > now {
                grant_store::revoke_jti(st.db, &c.jti, c.exp).await.map_err(OAuthError::server)?;
            }
        }
        return Ok(());
    }
    let hash = crypto::sha256_hex(token.as_bytes());
    if let Some(row) = grant_store::get_refresh(st.db, &hash).await.map_err(OAuthError::server)? {
        if let Some(grant) = grant_store::get_grant(st.db, &row.grant_id).await.map_err(OAuthError::server)? {
            if grant.client_id == caller.id {
                grant_store::revoke_grant(st.db, &grant.id, now).await.map_err(OAuthError::server)?;
            }
        }
    }
    Ok(())
}
