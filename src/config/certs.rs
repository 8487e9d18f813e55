//! The electronic-certificate settings (`certificate_*`): trust anchors, revocation checking,
//! the monitoring window, notices, and the optional BSrE status connector.

use std::path::PathBuf;

use super::{ConfigError, Layered, Secret};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertConfig {
    /// PEM file of the roots and intermediates that electronic certificates must chain to
    /// (production: `Root CA Indonesia DS G1` and `BSRE CA DS G1`). Binding is not offered
    /// without it.
    pub issuers: Option<PathBuf>,
    /// CRL files (DER or PEM) loaded at start-up besides the distribution points', for
    /// authorities whose CRLs are not reachable from the server.
    pub crl_files: Vec<PathBuf>,
    /// Certificates ending within this many days are listed, and their holders told, as expiring.
    pub warn_days: i64,
    /// How long a login waits for an OCSP responder before the cached or CRL answer is used.
    pub ocsp_timeout_ms: u64,
    /// How often every bound certificate is checked again (hours; 24: daily).
    pub recheck_hours: u64,
    /// Notices (expiring, expired, revoked, failing checks) are also POSTed here as JSON.
    pub webhook_url: Option<String>,
    pub bsre: Option<BsreConfig>,
}

/// BSrE's user-status service, asked by NIK whether the person holds an active certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BsreConfig {
    /// Base URL, e.g. `https://esign.bssn.go.id`; the check is `POST {url}/api/v2/user/check/status`.
    pub url: String,
    pub username: String,
    pub password: Secret<String>,
}

pub(super) fn cert_settings(l: &Layered) -> Result<CertConfig, ConfigError> {
    let warn_days: i64 = l.parse("certificate_warn_days", "a number of days")?;
    if !(1..=365).contains(&warn_days) {
        return Err(l.err("certificate_warn_days", "must be 1 to 365"));
    }
    let ocsp_timeout_ms: u64 = l.parse("certificate_ocsp_timeout_ms", "milliseconds")?;
    if !(100..=30_000).contains(&ocsp_timeout_ms) {
        return Err(l.err("certificate_ocsp_timeout_ms", "must be 100 to 30000"));
    }
    let recheck_hours: u64 = l.parse("certificate_recheck_hours", "a number of hours")?;
    if !(1..=24 * 7).contains(&recheck_hours) {
        return Err(l.err("certificate_recheck_hours", "must be 1 to 168"));
    }
    let webhook_url = match l.string("certificate_webhook_url") {
        Some(u) => {
            let parsed =
                url::Url::parse(u.trim()).map_err(|_| l.err("certificate_webhook_url", format!("not a URL: `{u}`")))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(l.err("certificate_webhook_url", "must be an http(s) URL"));
            }
            Some(parsed.to_string())
        }
        None => None,
    };
    let bsre = match l.string("certificate_bsre_url") {
        Some(u) => {
            let parsed =
                url::Url::parse(u.trim()).map_err(|_| l.err("certificate_bsre_url", format!("not a URL: `{u}`")))?;
            let username = l.string("certificate_bsre_username").ok_or_else(|| {
                l.err("certificate_bsre_username", "certificate_bsre_url needs a username and password")
            })?;
            let password = l.string("certificate_bsre_password").ok_or_else(|| {
                l.err("certificate_bsre_password", "certificate_bsre_url needs a username and password")
            })?;
            Some(BsreConfig {
                url: parsed.as_str().trim_end_matches('/').to_string(),
                username,
                password: Secret::new(password),
            })
        }
        None => None,
    };
    let crl_files = l
        .string("certificate_crls")
        .map(|s| s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(PathBuf::from).collect())
        .unwrap_or_default();
    Ok(CertConfig {
        issuers: l.string("certificate_issuers").filter(|s| !s.is_empty()).map(PathBuf::from),
        crl_files,
        warn_days,
        ocsp_timeout_ms,
        recheck_hours,
        webhook_url,
        bsre,
    })
}
