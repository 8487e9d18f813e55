//! The provider's own applications (admin console, demo, account page) as relying parties of
//! itself: the authorization request with PKCE, state and nonce, and the return with the code
//! redeemed in-process and the ID token checked. The faces keep only their cookie and page.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::ids::GrantId;
use crate::oidc::authorize::redirect_with;
use crate::oidc::internal_clients::{ACCOUNT_CLIENT_ID, CONSOLE_CLIENT_ID};
use crate::oidc::keys::TokenType;
use crate::oidc::token::TokenRequest;
use crate::oidc::ErrorCode;
use crate::ops::bootstrap::DEMO_CLIENT_ID;
use crate::state::AppState;

/// Where a login in progress is kept between the redirect out and the callback.
#[derive(Debug, Clone, Copy)]
pub enum Keep {
    /// On the server under `{prefix}:{state}`; the browser's cookie holds only the state, so
    /// the verifier never leaves the server.
    Cache(&'static str),
    /// Whole in the browser's cookie, so the application needs no server-side room.
    Cookie,
    /// Not at all: the application runs on the single sign-on session the login leaves behind
    /// and lets the code expire unredeemed.
    Nothing,
}

/// One of the built-in applications, registered as an ordinary client.
#[derive(Debug, Clone, Copy)]
pub struct RelyingParty {
    pub client_id: &'static str,
    /// Below the issuer, e.g. `/console/callback`.
    pub callback_path: &'static str,
    pub scope: &'static str,
    pub keep: Keep,
}

pub const CONSOLE: RelyingParty = RelyingParty {
    client_id: CONSOLE_CLIENT_ID,
    callback_path: "/console/callback",
    scope: "openid profile roles",
    keep: Keep::Cache("console-login"),
};

pub const DEMO: RelyingParty = RelyingParty {
    client_id: DEMO_CLIENT_ID,
    callback_path: "/demo/callback",
    scope: "openid profile nip nik opd roles asn_profile citizen_profile",
    keep: Keep::Cookie,
};

pub const ACCOUNT: RelyingParty =
    RelyingParty { client_id: ACCOUNT_CLIENT_ID, callback_path: "/account", scope: "openid", keep: Keep::Nothing };

impl RelyingParty {
    pub fn redirect_uri(&self, st: &AppState) -> String {
        format!("{}{}", st.config.issuer, self.callback_path)
    }

    /// Registered with its callback: the demo is off until the first run creates it.
    pub async fn is_registered(&self, st: &AppState) -> bool {
        matches!(st.clients.get(&st.db, self.client_id).await, Ok(Some(c)) if c.has_redirect_uri(&self.redirect_uri(st)))
    }
}

/// What the application asks for beyond its fixed client, callback and scope.
#[derive(Debug, Default)]
pub struct Options<'a> {
    pub acr_values: Option<&'a str>,
    pub ui_locales: Option<&'a str>,
    pub prompt: Option<&'a str>,
    /// Where the application goes after the login; handed back by `finish`.
    pub next: String,
}

pub struct Started {
    pub authorize_url: String,
    /// The value of the application's login cookie (empty with `Keep::Nothing`).
    pub cookie: String,
}

/// The part of a login in progress that must not be guessable: never shown in a URL.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    verifier: String,
    nonce: String,
    next: String,
}

/// The parameters of the redirect back to the callback.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// Who signed in, from the redeemed code.
#[derive(Debug)]
pub struct SignedIn {
    pub account_id: String,
    pub grant_id: GrantId,
    pub sid: String,
    pub acr: String,
    pub id_token: String,
    pub claims: serde_json::Value,
    /// As given to `start`.
    pub next: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RpError {
    /// The provider answered the authorization request with this error code.
    #[error("the provider refused the login: {0}")]
    Refused(String),
    /// No login in progress matches this browser, state and nonce: expired, replayed or forged.
    #[error("no matching login in progress")]
    Expired,
    /// The application is not registered (the demo before the first run).
    #[error("the application is not registered")]
    UnknownClient,
    #[error("the code could not be redeemed: {}", .0.as_str())]
    Exchange(ErrorCode),
    #[error("no ID token was issued")]
    NoIdToken,
    #[error("the tokens issued do not verify")]
    InvalidToken,
    /// Logged where it happened.
    #[error("internal error")]
    Internal,
}

fn internal(e: impl std::fmt::Display) -> RpError {
    tracing::error!(error = %e, "in-process login failed");
    RpError::Internal
}

/// The authorization request (code flow, PKCE S256) and the login to keep for the callback.
pub async fn start(st: &AppState, rp: &RelyingParty, opts: Options<'_>) -> Result<Started, RpError> {
    let state = crypto::random_token(16).map_err(internal)?;
    let verifier = crypto::random_token(32).map_err(internal)?;
    let nonce = crypto::random_token(16).map_err(internal)?;
    let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    let redirect_uri = rp.redirect_uri(st);
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", rp.client_id),
        ("redirect_uri", &redirect_uri),
        ("scope", rp.scope),
        ("state", &state),
        ("nonce", &nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in [("acr_values", opts.acr_values), ("ui_locales", opts.ui_locales), ("prompt", opts.prompt)] {
        if let Some(v) = value {
            params.push((name, v));
        }
    }
    let authorize_url = redirect_with(&format!("{}/authorize", st.config.issuer), &params);
    let pending = Pending { verifier, nonce, next: opts.next };
    let cookie = match rp.keep {
        Keep::Cache(prefix) => {
            let ttl = Duration::from_secs(st.config.login_ttl.max(60) as u64);
            st.cache.put_json(&format!("{prefix}:{state}"), &pending, ttl).await.map_err(internal)?;
            state
        }
        Keep::Cookie => to_cookie(&state, &pending),
        Keep::Nothing => String::new(),
    };
    Ok(Started { authorize_url, cookie })
}

/// `state~verifier~nonce`, then the encoded `next` when there is one. None of the tokens contain
/// `~` (they are base64url).
fn to_cookie(state: &str, p: &Pending) -> String {
    if p.next.is_empty() {
        format!("{state}~{}~{}", p.verifier, p.nonce)
    } else {
        format!("{state}~{}~{}~{}", p.verifier, p.nonce, crypto::b64url(p.next.as_bytes()))
    }
}

fn from_cookie(cookie: &str) -> Option<(String, Pending)> {
    let parts: Vec<&str> = cookie.split('~').collect();
    let (state, verifier, nonce, next) = match parts.as_slice() {
        [s, v, n] => (*s, *v, *n, String::new()),
        [s, v, n, next] => (*s, *v, *n, String::from_utf8(crypto::b64url_decode(next)?).ok()?),
        _ => return None,
    };
    Some((state.to_string(), Pending { verifier: verifier.to_string(), nonce: nonce.to_string(), next }))
}

/// The login kept for `state`, if the browser's cookie matches it.
async fn pending(st: &AppState, rp: &RelyingParty, cookie: &str, state: &str) -> Result<Pending, RpError> {
    let matches = |kept: &str| !kept.is_empty() && crypto::constant_time_eq(state.as_bytes(), kept.as_bytes());
    match rp.keep {
        Keep::Cache(prefix) => {
            if !matches(cookie) {
                return Err(RpError::Expired);
            }
            // A cache failure reads as an expired login: the person starts again.
            match st.cache.take_json::<Pending>(&format!("{prefix}:{cookie}")).await {
                Ok(Some(p)) => Ok(p),
                _ => Err(RpError::Expired),
            }
        }
        Keep::Cookie => match from_cookie(cookie) {
            Some((kept, p)) if matches(&kept) => Ok(p),
            _ => Err(RpError::Expired),
        },
        Keep::Nothing => Err(RpError::Expired),
    }
}

/// The return to the callback: the login kept in `cookie` must match the state, the code is
/// redeemed through the token endpoint's own logic, and the ID token must carry the nonce.
pub async fn finish(
    st: &AppState,
    rp: &RelyingParty,
    cookie: &str,
    cb: &Callback,
    now: i64,
) -> Result<SignedIn, RpError> {
    if let Some(e) = &cb.error {
        // The parameter came through the browser: only a known code is kept, and the raw value
        // is logged escaped, so nobody forges log lines or page text through it.
        let code = ErrorCode::parse(e).unwrap_or(ErrorCode::InvalidRequest);
        tracing::info!(client = rp.client_id, error = ?e, "in-process login returned an error");
        return Err(RpError::Refused(code.as_str().to_string()));
    }
    let pending = pending(st, rp, cookie, cb.state.as_deref().unwrap_or("")).await?;
    let client = match st.clients.get(&st.db, rp.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(RpError::UnknownClient),
        Err(e) => return Err(internal(e)),
    };
    let req = TokenRequest {
        grant_type: "authorization_code".into(),
        code: cb.code.clone(),
        redirect_uri: Some(rp.redirect_uri(st)),
        code_verifier: Some(pending.verifier),
        ..TokenRequest::default()
    };
    let tokens = super::oauth::exchange(st, client, req, now).await.map_err(|e| {
        tracing::info!(client = rp.client_id, error = %e, "in-process code exchange failed");
        RpError::Exchange(e.code)
    })?;
    let id_token = tokens.id_token.ok_or(RpError::NoIdToken)?;
    let claims: serde_json::Value =
        st.keys.verify(&id_token, TokenType::IdToken, &st.config.issuer, true).map_err(|_| RpError::InvalidToken)?;
    if claims.get("nonce").and_then(|n| n.as_str()) != Some(pending.nonce.as_str()) {
        return Err(RpError::Expired);
    }
    let grant = match crate::oidc::introspect::check_access_token(&st.provider(), &tokens.access_token, now).await {
        Ok((_, Some(g))) => g,
        _ => return Err(RpError::InvalidToken),
    };
    Ok(SignedIn {
        account_id: grant.account_id,
        grant_id: GrantId::parse(&grant.id).map_err(|_| RpError::InvalidToken)?,
        sid: grant.sid,
        acr: grant.acr,
        id_token,
        claims,
        next: pending.next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_kept_in_a_cookie_reads_back_whole() {
        let p = Pending { verifier: "v-1_x".into(), nonce: "n0".into(), next: "/demo?a=b~c".into() };
        let (state, back) = from_cookie(&to_cookie("s1", &p)).expect("reads back");
        assert_eq!((state.as_str(), back.verifier.as_str(), back.nonce.as_str()), ("s1", "v-1_x", "n0"));
        assert_eq!(back.next, "/demo?a=b~c");
        let bare = Pending { verifier: "v".into(), nonce: "n".into(), next: String::new() };
        assert_eq!(to_cookie("s", &bare), "s~v~n", "the demo's cookie as before");
        assert_eq!(from_cookie("s~v~n").map(|(s, p)| (s, p.next)), Some(("s".into(), String::new())));
    }

    #[test]
    fn a_malformed_cookie_is_no_login() {
        for bad in ["", "s~v", "s~v~n~!!!", "s~v~n~x~y"] {
            assert!(from_cookie(bad).is_none(), "{bad}");
        }
    }
}
