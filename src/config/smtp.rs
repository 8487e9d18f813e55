//! The SMTP relay settings (`smtp_*`): how mail leaves, and the refusal of cleartext across a network.

use super::{ConfigError, Layered, Secret};

/// How to reach the SMTP relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); the upgrade is required.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only to a relay on this machine (a local postfix), never across a network.
    None,
}

pub(super) fn smtp_settings(l: &Layered) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some(host) = l.string("smtp_host") else { return Ok(None) };
    let host = host.trim().to_string();
    let security = match l.string("smtp_security").as_deref().map(str::trim) {
        Some("starttls") | None => SmtpSecurity::StartTls,
        Some("tls") => SmtpSecurity::Tls,
        Some("none") => SmtpSecurity::None,
        Some(other) => {
            return Err(l.err("smtp_security", format!("must be `starttls`, `tls` or `none`, got `{other}`")))
        }
    };
    let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1" | "[::1]");
    if security == SmtpSecurity::None && !loopback {
        // Reset links and credentials would cross the network in the clear.
        return Err(l.err("smtp_security", "`none` is allowed only for a relay on localhost; use starttls or tls"));
    }
    let port = match l.string("smtp_port") {
        Some(_) => l.parse::<u16>("smtp_port", "a port number")?,
        None => match security {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        },
    };
    let username = l.string("smtp_username");
    let password = l.string("smtp_password").map(Secret::new);
    if username.is_some() != password.is_some() {
        return Err(l.err("smtp_username", "smtp_username and smtp_password are given together or not at all"));
    }
    Ok(Some(SmtpConfig { host, port, security, username, password }))
}
