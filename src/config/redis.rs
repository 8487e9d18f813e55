//! The Redis connection settings (`redis_*` besides `redis_url` and `redis_prefix`): how long a
//! request may wait for Redis, the CA bundle and client certificate for `rediss://`, and
//! Sentinel.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{ConfigError, Layered, Secret};
// Defined by the cache, which reads it; built here from the layered settings.
pub use crate::cache::{RedisClientCert, RedisConfig};

pub(super) fn redis_settings(l: &Layered, url: Option<&str>) -> Result<RedisConfig, ConfigError> {
    if let Some(r) = url {
        if !(r.starts_with("redis://") || r.starts_with("rediss://")) {
            return Err(l.err("redis_url", "must start with redis:// or rediss:// (TLS)"));
        }
    }
    let connect_timeout_ms: u64 = l.parse("redis_connect_timeout_ms", "milliseconds")?;
    if !(50..=30_000).contains(&connect_timeout_ms) {
        return Err(l.err("redis_connect_timeout_ms", "must be 50 to 30000"));
    }
    let command_timeout_ms: u64 = l.parse("redis_command_timeout_ms", "milliseconds")?;
    if !(10..=30_000).contains(&command_timeout_ms) {
        return Err(l.err("redis_command_timeout_ms", "must be 10 to 30000"));
    }
    let ca_file = l.string("redis_ca_file").map(PathBuf::from);
    if let Some(p) = &ca_file {
        if !p.is_file() {
            return Err(l.err("redis_ca_file", format!("no such file: {}", p.display())));
        }
        if url.is_some_and(|u| !u.starts_with("rediss://")) {
            return Err(l.err("redis_ca_file", "only used with a rediss:// redis_url"));
        }
    }
    let client_cert = client_cert(l, url)?;
    let sentinels: Vec<String> = l
        .string("redis_sentinels")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for s in &sentinels {
        let port_ok = s.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(l.err("redis_sentinels", format!("expected host:port, got `{s}`")));
        }
    }
    let sentinel_master = l.string("redis_sentinel_master");
    if !sentinels.is_empty() {
        if sentinel_master.is_none() {
            return Err(l.err("redis_sentinel_master", "required with redis_sentinels: the monitored service name"));
        }
        if url.is_none() {
            return Err(l.err(
                "redis_url",
                "required with redis_sentinels (its host is ignored), e.g. redis://:password@sentinel/0",
            ));
        }
    } else if sentinel_master.is_some() {
        return Err(l.err("redis_sentinels", "required with redis_sentinel_master"));
    }
    Ok(RedisConfig {
        connect_timeout_ms,
        command_timeout_ms,
        ca_file,
        client_cert,
        sentinels,
        sentinel_master,
        sentinel_password: l.string("redis_sentinel_password").map(Secret::new),
    })
}

/// `redis_client_cert_file` and `redis_client_key_file`, for a Redis that asks for client
/// certificates (`tls-auth-clients yes`). Both files are parsed and matched here, so that a wrong
/// file stops start-up naming the setting instead of failing every TLS handshake later.
fn client_cert(l: &Layered, url: Option<&str>) -> Result<Option<RedisClientCert>, ConfigError> {
    const CERT: &str = "redis_client_cert_file";
    const KEY: &str = "redis_client_key_file";
    let (cert_file, key_file) = match (l.string(CERT), l.string(KEY)) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (PathBuf::from(c), PathBuf::from(k)),
        (Some(_), None) => return Err(l.err(KEY, format!("required with {CERT}: the certificate's private key"))),
        (None, Some(_)) => return Err(l.err(CERT, format!("required with {KEY}: the certificate of that key"))),
    };
    for (setting, path) in [(CERT, &cert_file), (KEY, &key_file)] {
        if !path.is_file() {
            return Err(l.err(setting, format!("no such file: {}", path.display())));
        }
    }
    if !url.is_some_and(|u| u.starts_with("rediss://")) {
        return Err(l.err(CERT, "only used with a rediss:// redis_url (a client certificate needs TLS)"));
    }
    let read = |setting: &str, path: &Path| {
        std::fs::read(path).map_err(|e| l.err(setting, format!("cannot read {}: {e}", path.display())))
    };
    let (cert_pem, key_pem) = (read(CERT, &cert_file)?, read(KEY, &key_file)?);
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| l.err(CERT, format!("{} is not valid PEM: {}", cert_file.display(), pem_error(&e))))?;
    if chain.is_empty() {
        return Err(l.err(CERT, format!("no certificate (BEGIN CERTIFICATE) in {}", cert_file.display())));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        // PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`) and OpenSSL's older `Proc-Type: 4,ENCRYPTED`.
        let why = if key_pem.windows(9).any(|w| w == b"ENCRYPTED") {
            "the key is encrypted; give it unencrypted (openssl pkey -in key.pem -out plain.pem)".to_string()
        } else if let pem::Error::NoItemsFound = e {
            "no private key (BEGIN PRIVATE KEY, RSA or EC PRIVATE KEY)".to_string()
        } else {
            format!("not valid PEM: {}", pem_error(&e))
        };
        l.err(KEY, format!("{}: {why}", key_file.display()))
    })?;
    // The provider rustls will use for the connection: it must accept the key, and the key must
    // be the certificate's.
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Err(e) = rustls::sign::CertifiedKey::from_der(chain, key, &provider) {
        let why = match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                format!("the key in {} does not belong to the certificate in {CERT}", key_file.display())
            }
            e => format!("{} cannot be used with the certificate in {CERT}: {e}", key_file.display()),
        };
        return Err(l.err(KEY, why));
    }
    Ok(Some(RedisClientCert { cert_file, key_file }))
}

/// A PEM error without the raw bytes of the offending line.
fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed".into(),
        pem::Error::Base64Decode(_) => "the base64 between BEGIN and END is damaged".into(),
        e => e.to_string(),
    }
}
