//! The metrics settings (`metrics_*`): where Prometheus scrapes `/metrics`, the token guarding
//! it, and how often the audit chain is verified for its gauge.

use std::net::SocketAddr;

use super::{ConfigError, Layered, Secret};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// A second listener serving only `/metrics` (e.g. `0.0.0.0:9100` in a pod), kept off the
    /// public port so the ingress never exposes it.
    pub listen: Option<SocketAddr>,
    /// A bearer token Prometheus must send. With it `/metrics` is also served on the main port;
    /// on the separate listener it is required too when set.
    pub token: Option<Secret<String>>,
    /// How often the whole audit chain is verified for `gerbang_audit_chain_intact` (hours; 0:
    /// never). Each verification reads the whole trail, so not on every scrape.
    pub audit_verify_hours: u64,
}

impl MetricsConfig {
    /// Whether `/metrics` is served anywhere (and the recorder installed at all).
    pub fn enabled(&self) -> bool {
        self.listen.is_some() || self.token.is_some()
    }
}

pub(super) fn metrics_settings(l: &Layered) -> Result<MetricsConfig, ConfigError> {
    let listen = match l.string("metrics_listen") {
        Some(s) => Some(
            s.trim()
                .parse::<SocketAddr>()
                .map_err(|_| l.err("metrics_listen", format!("expected an address like 0.0.0.0:9100, got `{s}`")))?,
        ),
        None => None,
    };
    let token = match l.string("metrics_token") {
        // Short tokens can be guessed by whoever reaches the port.
        Some(t) if t.trim().len() < 16 => return Err(l.err("metrics_token", "must be at least 16 characters")),
        Some(t) => Some(Secret::new(t.trim().to_string())),
        None => None,
    };
    let audit_verify_hours: u64 = l.parse("metrics_audit_verify_hours", "a number of hours")?;
    if audit_verify_hours > 24 * 7 {
        return Err(l.err("metrics_audit_verify_hours", "must be 0 to 168"));
    }
    Ok(MetricsConfig { listen, token, audit_verify_hours })
}
