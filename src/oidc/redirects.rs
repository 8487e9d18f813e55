//! Where applications may send people back (redirect URIs) and receive logout notices
//! (back-channel logout URIs): the region's domains, and loopback for developers only.

use super::clients::{invalid, ClientError};

/// Where applications may send people back: under the region's domains (or the provider's own
/// host), and to the loopback interface only for development clients.
#[derive(Debug, Clone)]
pub struct RedirectPolicy {
    pub domains: Vec<String>,
    pub issuer_host: String,
}

impl RedirectPolicy {
    pub fn from_config(c: &crate::config::Config) -> RedirectPolicy {
        let issuer_host =
            url::Url::parse(&c.issuer).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase)).unwrap_or_default();
        RedirectPolicy { domains: c.redirect_domains.clone(), issuer_host }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if self.domains.is_empty() || host == self.issuer_host {
            return true;
        }
        self.domains.iter().any(|d| match d.strip_prefix("*.") {
            Some(suffix) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix)
                    && host[..host.len() - suffix.len()].ends_with('.')
            }
            None => host == *d,
        })
    }
}

/// Redirect URIs must be absolute, without fragment, HTTPS under the region's domains, or
/// loopback (RFC 8252 §7.3) for development clients only.
pub fn check_redirect_uri(
    field: &'static str,
    uri: &str,
    development: bool,
    policy: &RedirectPolicy,
) -> Result<(), ClientError> {
    let u = url::Url::parse(uri).map_err(|e| invalid(field, format!("`{uri}` is not an absolute URL ({e})")))?;
    if u.fragment().is_some() {
        return Err(invalid(field, format!("`{uri}` must not contain a fragment")));
    }
    if u.username() != "" || u.password().is_some() {
        return Err(invalid(field, format!("`{uri}` must not contain credentials")));
    }
    let host = u.host_str().unwrap_or("");
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    if loopback {
        if !development {
            return Err(invalid(field, format!("`{uri}` is a loopback address, allowed only for development clients")));
        }
        return match u.scheme() {
            "http" | "https" => Ok(()),
            _ => Err(invalid(field, format!("`{uri}` must use http:// or https://"))),
        };
    }
    if u.scheme() != "https" {
        return Err(invalid(field, format!("`{uri}` must use https:// (http:// only for localhost)")));
    }
    if !policy.host_allowed(host) {
        return Err(invalid(field, format!("`{uri}` is outside the region's domains ({})", policy.domains.join(", "))));
    }
    Ok(())
}
