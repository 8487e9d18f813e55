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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A tiny upstream serving its discovery document and one key, counting key-set fetches.
    async fn upstream() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (base.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else { return };
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if req.starts_with("GET /jwks") {
                    h.fetch_add(1, Ordering::SeqCst);
                    let c = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
                    serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": c, "y": c, "kid": "a", "use": "sig"}]})
                } else {
                    serde_json::json!({"issuer": b, "authorization_endpoint": format!("{b}/authorize"),
                        "token_endpoint": format!("{b}/token"), "jwks_uri": format!("{b}/jwks")})
                }
                .to_string();
                let res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(res.as_bytes()).await;
            }
        });
        (base, hits)
    }

    #[tokio::test]
    async fn an_unknown_kid_refetches_the_keys_at_most_every_interval() {
        let (base, hits) = upstream().await;
        let mut config = crate::config::upstream::tests_support::sample();
        config.issuer = base;
        let http = reqwest::Client::new();
        let cached = Cached::default();
        let t = 1_000;
        assert!(cached.key(&http, &config, Some("a"), t).await.is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert!(cached.key(&http, &config, Some("a"), t + 5).await.is_ok(), "from the cache");
        assert!(cached.key(&http, &config, Some("b"), t + 10).await.is_err());
        assert!(cached.key(&http, &config, Some("b"), t + 20).await.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 1, "no re-fetch within the interval");
        assert!(cached.key(&http, &config, Some("b"), t + REFETCH_SECONDS).await.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 2, "one re-fetch after it");
        assert!(cached.key(&http, &config, None, t + REFETCH_SECONDS + 1).await.is_ok(), "the only key");
        assert!(cached.key(&http, &config, Some("a"), t + REFETCH_SECONDS + TTL_SECONDS).await.is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 3, "read again once old");
    }

    #[tokio::test]
    async fn a_document_naming_another_issuer_is_refused() {
        let (base, _) = upstream().await;
        let mut config = crate::config::upstream::tests_support::sample();
        config.issuer = base.replace("127.0.0.1", "localhost");
        let r = Cached::default().metadata(&reqwest::Client::new(), &config, 0).await;
        assert!(matches!(r, Err(FederationError::Misconfigured(_))), "{:?}", r.err());
    }
}
