//! An upstream's discovery document and keys, fetched at first need and kept in memory. A
//! failed fetch is not remembered, so the next login tries again; an ID token signed with a key
//! not yet known makes the keys be fetched again, at most once per [`REFETCH_SECONDS`] so a
//! stream of forged tokens cannot turn Gerbang into a load on the upstream.

use std::sync::Mutex;

use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;

use super::FederationError;
use crate::config::upstream::Upstream;

/// How long a discovery document or key set is used before it is read again.
const TTL_SECONDS: i64 = 3600;
/// The shortest time between two fetches of the keys caused by an unknown `kid`.
pub const REFETCH_SECONDS: i64 = 30;
/// Discovery documents and key sets are small; anything larger is refused.
const MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

#[derive(Default)]
pub struct Cached {
    metadata: Mutex<Option<(Metadata, i64)>>,
    keys: Mutex<Option<KeySet>>,
}

#[derive(Clone)]
struct KeySet {
    keys: Vec<Jwk>,
    fetched_at: i64,
}

async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T, FederationError> {
    let res = http.get(url).send().await.map_err(|e| FederationError::Unreachable(format!("{url}: {e}")))?;
    let status = res.status();
    if status.is_server_error() {
        return Err(FederationError::Unreachable(format!("{url} answered {status}")));
    }
    if !status.is_success() {
        return Err(FederationError::Misconfigured(format!("{url} answered {status}")));
    }
    let bytes = res.bytes().await.map_err(|e| FederationError::Unreachable(format!("{url}: {e}")))?;
    if bytes.len() > MAX_BYTES {
        return Err(FederationError::Misconfigured(format!("{url} answered more than {MAX_BYTES} bytes")));
    }
    serde_json::from_slice(&bytes).map_err(|e| FederationError::Misconfigured(format!("{url}: {e}")))
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl Cached {
    pub async fn metadata(
        &self,
        http: &reqwest::Client,
        config: &Upstream,
        now: i64,
    ) -> Result<Metadata, FederationError> {
        if let Ok(guard) = self.metadata.lock() {
            if let Some((m, at)) = guard.as_ref() {
                if now - at < TTL_SECONDS {
                    return Ok(m.clone());
                }
            }
        }
        let url = format!("{}/.well-known/openid-configuration", config.issuer);
        let meta: Metadata = get_json(http, &url).await?;
        // OpenID Connect Discovery §4.3: the document must be the issuer's own.
        if !same_issuer(&meta.issuer, &config.issuer) {
            return Err(FederationError::Misconfigured(format!(
                "the discovery document names the issuer `{}`, not `{}`",
                meta.issuer, config.issuer
            )));
        }
        for (name, u) in
            [("authorization_endpoint", &meta.authorization_endpoint), ("token_endpoint", &meta.token_endpoint)]
        {
            if url::Url::parse(u).is_err() {
                return Err(FederationError::Misconfigured(format!("{name} is not a URL")));
            }
        }
        if let Ok(mut guard) = self.metadata.lock() {
            *guard = Some((meta.clone(), now));
        }
        Ok(meta)
    }

    /// The key the upstream signs with under `kid` (or its only key when the token names none),
    /// fetching the key set when it is unknown, old, or was never read.
    pub async fn key(
        &self,
        http: &reqwest::Client,
        config: &Upstream,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Jwk, FederationError> {
        let cached = self.keys.lock().ok().and_then(|g| g.clone());
        let fresh = cached.as_ref().filter(|k| now - k.fetched_at < TTL_SECONDS);
        if let Some(set) = fresh {
            if let Some(k) = pick(&set.keys, kid) {
                return Ok(k);
            }
            if now - set.fetched_at < REFETCH_SECONDS {
                return Err(FederationError::InvalidToken("signed with an unknown key".into()));
            }
        }
        let meta = self.metadata(http, config, now).await?;
        let value: serde_json::Value = get_json(http, &meta.jwks_uri).await?;
        // Keys of kinds this library cannot use are skipped, not a reason to refuse the rest.
        let keys: Vec<Jwk> = value
            .get("keys")
            .and_then(|k| k.as_array())
            .map(|a| a.iter().filter_map(|k| serde_json::from_value(k.clone()).ok()).collect())
            .unwrap_or_default();
        let found = pick(&keys, kid);
        if let Ok(mut guard) = self.keys.lock() {
            *guard = Some(KeySet { keys, fetched_at: now });
        }
        found.ok_or_else(|| FederationError::InvalidToken("signed with an unknown key".into()))
    }
}

fn pick(keys: &[Jwk], kid: Option<&str>) -> Option<Jwk> {
    let signing = |k: &&Jwk| !matches!(k.common.public_key_use, Some(jsonwebtoken::jwk::PublicKeyUse::Encryption));
    match kid {
        Some(kid) => keys.iter().filter(signing).find(|k| k.common.key_id.as_deref() == Some(kid)).cloned(),
        None => {
            let mut usable = keys.iter().filter(signing);
            match (usable.next(), usable.next()) {
                (Some(k), None) => Some(k.clone()),
                _ => None,
            }
        }
    }
}
