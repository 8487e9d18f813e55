//! Federation with upstream OpenID providers (SIASN, INApas): the authorization code flow with
//! PKCE, `state` and `nonce` towards them, their discovery and keys (cached, fetched lazily so an
//! unreachable upstream never blocks start-up), client authentication at their token endpoint
//! (`client_secret_basic` or `private_key_jwt`), and verification of the ID tokens they return.
//! Which account a verified login belongs to is decided in `identity` terms by [`link`].

mod client_auth;
mod discovery;
pub mod fresh;
pub mod link;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::{Cache, CacheError};
use crate::config::upstream::Upstream;
use crate::crypto;

pub use verify::Verified;

/// Why an upstream login could not go on. The person sees which kind; details go to the log.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The upstream did not answer (connection refused, timeout, 5xx).
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// Its discovery document or keys are unusable, or our own settings (key file) are wrong.
    #[error("upstream misconfigured: {0}")]
    Misconfigured(String),
    /// The token endpoint refused the code (an OAuth error answer).
    #[error("upstream refused: {0}")]
    Refused(String),
    /// The ID token failed a check (signature, issuer, audience, expiry, nonce, azp, algorithm).
    #[error("invalid ID token: {0}")]
    InvalidToken(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// The configured upstreams with their caches, built once at start-up without network access.
pub struct Registry {
    providers: Vec<Arc<Provider>>,
}

/// One upstream: its settings, our signing key for `private_key_jwt`, and what was learnt from
/// it (discovery document, keys).
pub struct Provider {
    pub config: Upstream,
    signer: Option<client_auth::Signer>,
    discovery: discovery::Cached,
}

impl Registry {
    /// Parses the private keys named in the settings; a key that cannot be read stops start-up
    /// with the upstream named (the upstream itself is not contacted).
    pub fn new(configs: &[Upstream]) -> Result<Registry, FederationError> {
        let mut providers = Vec::with_capacity(configs.len());
        for c in configs {
            let signer = client_auth::Signer::from_config(c)
                .map_err(|e| FederationError::Misconfigured(format!("[[upstream]] {}: {e}", c.id)))?;
            providers.push(Arc::new(Provider { config: c.clone(), signer, discovery: discovery::Cached::default() }));
        }
        Ok(Registry { providers })
    }

    pub fn get(&self, id: &str) -> Option<Arc<Provider>> {
        self.providers.iter().find(|p| p.config.id == id).cloned()
    }

    /// `(id, button label)` of each upstream, in the order of the settings.
    pub fn buttons(&self) -> Vec<(String, String)> {
        self.providers.iter().map(|p| (p.config.id.clone(), p.config.name.clone())).collect()
    }

    pub fn name_of(&self, id: &str) -> Option<String> {
        self.providers.iter().find(|p| p.config.id == id).map(|p| p.config.name.clone())
    }
}

/// What is kept between sending the browser to the upstream and its return, under the hash of
/// `state`: single-use, and bound to the browser and the login flow that started it, so a
/// callback can be neither replayed nor planted in another browser (login CSRF).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub upstream_id: String,
    pub flow_id: String,
    pub browser_id: String,
    pub nonce: String,
    pub verifier: String,
    /// When the round trip began (for `prompt=login`); 0 in a round trip an earlier version
    /// began, which then asks nothing of freshness it could not have forwarded.
    #[serde(default)]
    pub started_at: i64,
}

fn pending_key(state: &str) -> String {
    format!("upstream-state:{}", crypto::sha256_hex(state.as_bytes()))
}

/// Where the upstream sends the browser back: `<issuer>/upstream/<id>/callback`.
pub fn redirect_uri(issuer: &str, id: &str) -> String {
    format!("{issuer}/upstream/{id}/callback")
}

impl Provider {
    /// The upstream's authorization URL for a new login. The `state`, `nonce` and PKCE verifier
    /// are fresh random values; what the callback needs is stored under `state` for `ttl`.
    #[allow(clippy::too_many_arguments)]
    pub async fn begin(
        &self,
        http: &reqwest::Client,
        cache: &Cache,
        issuer: &str,
        flow_id: &str,
        browser_id: &str,
        fresh: fresh::Freshness,
        ttl: i64,
        now: i64,
    ) -> Result<String, FederationError> {
        let meta = self.discovery.metadata(http, &self.config, now).await?;
        let rand = |n| crypto::random_token(n).map_err(|e| FederationError::Misconfigured(e.to_string()));
        let (state, nonce, verifier) = (rand(32)?, rand(32)?, rand(32)?);
        let challenge = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
        let pending = Pending {
            upstream_id: self.config.id.clone(),
            flow_id: flow_id.to_string(),
            browser_id: browser_id.to_string(),
            nonce: nonce.clone(),
            verifier,
            started_at: now,
        };
        cache.put_json(&pending_key(&state), &pending, Duration::from_secs(ttl.max(1) as u64)).await?;
        let mut url = url::Url::parse(&meta.authorization_endpoint)
            .map_err(|_| FederationError::Misconfigured("authorization_endpoint is not a URL".into()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &redirect_uri(issuer, &self.config.id))
            .append_pair("scope", &self.config.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in fresh.params() {
            url.query_pairs_mut().append_pair(k, &v);
        }
        Ok(url.to_string())
    }

    /// Redeems `code` at the upstream's token endpoint and verifies the ID token it returns.
    pub async fn finish(
        &self,
        http: &reqwest::Client,
        issuer: &str,
        code: &str,
        pending: &Pending,
        now: i64,
    ) -> Result<Verified, FederationError> {
        let meta = self.discovery.metadata(http, &self.config, now).await?;
        let redirect = redirect_uri(issuer, &self.config.id);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        let mut req = http.post(&meta.token_endpoint).header(reqwest::header::ACCEPT, "application/json");
        let assertion;
        let mut extra: Vec<(&str, &str)> = Vec::new();
        match &self.signer {
            Some(s) => {
                assertion = s.assertion(&self.config.client_id, &meta.token_endpoint, now)?;
                extra.push(("client_id", self.config.client_id.as_str()));
                extra.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
                extra.push(("client_assertion", assertion.as_str()));
            }
            None => req = client_auth::basic(req, &self.config),
        }
        let body: Vec<(&str, &str)> = form.iter().copied().chain(extra).collect();
        let res = req.form(&body).send().await.map_err(|e| FederationError::Unreachable(e.to_string()))?;
        let status = res.status();
        if status.is_server_error() {
            return Err(FederationError::Unreachable(format!("token endpoint answered {status}")));
        }
        let json: serde_json::Value = res
            .json()
            .await
            .map_err(|e| FederationError::Refused(format!("token endpoint answered {status} without JSON: {e}")))?;
        if !status.is_success() {
            let err = json.get("error").and_then(|v| v.as_str()).unwrap_or("unknown");
            return Err(FederationError::Refused(format!("token endpoint answered {status}: {err}")));
        }
        let id_token = json
            .get("id_token")
            .and_then(|v| v.as_str())
            .ok_or_else(|| FederationError::Refused("the token answer has no id_token".into()))?;
        verify::id_token(self, http, id_token, &pending.nonce, now).await
    }
}

/// Takes the login kept under `state` (once: a second callback with it finds nothing).
pub async fn take_pending(cache: &Cache, state: &str) -> Result<Option<Pending>, FederationError> {
    if state.is_empty() || state.len() > 128 {
        return Ok(None);
    }
    Ok(cache.take_json(&pending_key(state)).await?)
}
