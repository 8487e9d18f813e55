//! Certificate revocation lists as the checks use them: the shared cache (`crl_cache`) filled
//! from distribution points, from administrators' uploads and from the configured
//! `certificate_crls` files; a fetched CRL is kept until its nextUpdate, and a failed fetch keeps
//! the old one and records why.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::super::{forbidden, AdminError, Principal};
use crate::audit::{self, Event};
use crate::certs::crl::{self, CrlInfo};
use crate::certs::signed;
use crate::state::AppState;
use crate::store::cert_checks::{self as store, CrlEntry, UPLOAD_PREFIX};

/// A distribution point that does not answer within this time is tried again later.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured trust bundle's certificates (DER): roots and intermediates. Empty when
/// `certificate_issuers` is not set or unreadable (logged).
pub fn configured_cas(st: &AppState) -> Vec<Vec<u8>> {
    let Some(path) = &st.config.certs.issuers else {
        return Vec::new();
    };
    match std::fs::read(path) {
        Ok(bytes) => signed::pem_certificates(&bytes),
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "cannot read certificate_issuers");
            Vec::new()
        }
    }
}

/// The cache key of an uploaded CRL of the CA named `issuer_der`.
pub fn upload_source(issuer_der: &[u8]) -> String {
    format!("{UPLOAD_PREFIX}{}", crate::crypto::sha256_hex(issuer_der))
}

fn entry(source: String, info: CrlInfo, now: i64) -> CrlEntry {
    CrlEntry {
        source,
        issuer: info.issuer,
        der: info.der,
        this_update: info.this_update,
        next_update: info.next_update,
        fetched_at: now,
        last_attempt_at: now,
        last_error: String::new(),
    }
}

/// Whether a cached CRL still holds at `now`: before its nextUpdate (or, without one, fetched
/// within the re-check period).
pub fn fresh(st: &AppState, e: &CrlEntry, now: i64) -> bool {
    match e.next_update {
        Some(n) => now < n,
        None => now < e.fetched_at + st.config.certs.recheck_hours as i64 * 3600,
    }
}

/// Fetches the CRL at `url`, checks that one of `cas` signed it, and caches it. A failure is
/// recorded on the cached entry (which stays) and returned.
pub async fn fetch(st: &AppState, url: &str, cas: &[Vec<u8>], now: i64) -> Result<CrlEntry, String> {
    let got = async {
        let res = st.http.get(url).timeout(FETCH_TIMEOUT).send().await.map_err(|e| e.without_url().to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status().as_u16()));
        }
        if res.content_length().is_some_and(|n| n as usize > crl::MAX_CRL_BYTES) {
            return Err(crl::CrlError::TooLarge.to_string());
        }
        // Read in chunks, so a distribution point without Content-Length cannot send more.
        let mut res = res;
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.without_url().to_string())? {
            if body.len() + chunk.len() > crl::MAX_CRL_BYTES {
                return Err(crl::CrlError::TooLarge.to_string());
            }
            body.extend_from_slice(&chunk);
        }
        let info = crl::parse(&body).map_err(|e| e.to_string())?;
        crl::signer(&info, cas).map_err(|e| e.to_string())?;
        Ok(info)
    };
    match got.await {
        Ok(info) => {
            let e = entry(url.to_string(), info, now);
            if let Err(err) = store::put_crl(&st.db, &e).await {
                tracing::warn!(error = %err, url, "cannot cache a CRL");
            }
            Ok(e)
        }
        Err(msg) => {
            let msg = format!("{url}: {msg}");
            tracing::warn!(error = %msg, "CRL fetch failed; the cached CRL (if any) stays");
            if let Err(err) = store::crl_failed(&st.db, url, &msg, now).await {
                tracing::warn!(error = %err, "cannot record a CRL fetch failure");
            }
            Err(msg)
        }
    }
}

/// What an uploaded CRL was.
#[derive(Debug, Clone, Serialize)]
pub struct CrlUploaded {
    pub source: String,
    pub issuer: String,
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub revoked_count: usize,
}

/// Stores a CRL (PEM or DER) signed by a configured CA, replacing the earlier upload for that
/// CA. An older CRL than the one stored is accepted but does not replace it.
async fn store_upload(st: &AppState, bytes: &[u8], now: i64) -> Result<CrlUploaded, String> {
    let info = crl::parse(bytes).map_err(|e| e.to_string())?;
    let cas = configured_cas(st);
    if cas.is_empty() {
        return Err("certificate_issuers is not configured: no CA to check the list's signature against".into());
    }
    crl::signer(&info, &cas).map_err(|e| e.to_string())?;
    let source = upload_source(&info.issuer_der);
    let out = CrlUploaded {
        source: source.clone(),
        issuer: info.issuer.clone(),
        this_update: info.this_update,
        next_update: info.next_update,
        revoked_count: info.revoked_count,
    };
    store::put_crl(&st.db, &entry(source, info, now)).await.map_err(|e| e.to_string())?;
    Ok(out)
}

/// An administrator uploads a CA's CRL (for authorities whose distribution points the server
/// cannot reach). Diskominfo only.
pub async fn upload_crl(st: &AppState, who: &Principal, text: &str, now: i64) -> Result<CrlUploaded, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("uploading revocation lists needs diskominfo-admin"));
    }
    let bytes = text.trim().as_bytes();
    if bytes.is_empty() {
        return Err(AdminError::Invalid("crl: give the revocation list as PEM or base64 DER".into()));
    }
    let up = store_upload(st, bytes, now).await.map_err(|e| AdminError::Invalid(format!("crl: {e}")))?;
    let detail = json!({ "issuer": up.issuer, "this_update": up.this_update, "next_update": up.next_update,
        "revoked": up.revoked_count });
    audit::record(&st.db, Event::new("certificate.crl_uploaded").actor(&who.actor()).detail(detail), now).await;
    Ok(up)
}

/// Loads the configured `certificate_crls` files into the cache (at start-up); returns how many
/// were stored. A file that cannot be read or is not signed by a configured CA is logged.
pub async fn load_files(st: &AppState, now: i64) -> usize {
    let mut n = 0;
    for path in &st.config.certs.crl_files {
        let stored = match std::fs::read(path) {
            Ok(bytes) => store_upload(st, &bytes, now).await,
            Err(e) => Err(e.to_string()),
        };
        match stored {
            Ok(_) => n += 1,
            Err(e) => tracing::warn!(error = %e, path = %path.display(), "certificate_crls: file not loaded"),
        }
    }
    n
}

/// Re-fetches the cached distribution-point CRLs past their nextUpdate (failed ones are tried
/// again after five minutes); returns how many were renewed.
pub async fn refresh_due(st: &AppState, now: i64) -> usize {
    let due = match store::crls_due(&st.db, now, now - 300, 50).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the CRLs due");
            return 0;
        }
    };
    if due.is_empty() {
        return 0;
    }
    let mut cas = configured_cas(st);
    match store::issuer_pems(&st.db).await {
        Ok(pems) => cas.extend(pems.iter().flat_map(|p| signed::pem_certificates(p.as_bytes()))),
        Err(e) => tracing::warn!(error = %e, "cannot read the issuers of bound certificates"),
    }
    let mut renewed = 0;
    for url in due {
        if fetch(st, &url, &cas, now).await.is_ok() {
            renewed += 1;
        }
    }
    renewed
}
