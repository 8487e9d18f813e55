//! Outgoing e-mail: messages rendered from the theme's templates (`mail/<kind>.txt`, subject from
//! the translation `mail_<kind>_subject`) in the person's language, and handed to the SMTP relay
//! off the request path, so no answer waits on the relay and none is slower for an existing
//! account than for a missing one.

use std::str::FromStr;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Config, SmtpSecurity};
use crate::theme::Themes;

/// How long one delivery attempt may take before it counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Waits before the second and third attempt: a relay restarting or greylisting.
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(60)];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MailError {
    /// `smtp_host` is not set: the caller shows a link to the administrator instead, or says
    /// the flow is unavailable.
    #[error("e-mail is not configured on this server (smtp_host)")]
    NotConfigured,
    #[error("not a deliverable e-mail address")]
    Address,
    #[error("the message could not be prepared: {0}")]
    Prepare(String),
    #[error("the SMTP relay refused or could not be reached: {0}")]
    Relay(String),
}

/// The relay, or its absence.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    pub fn from_config(c: &Config) -> anyhow::Result<Mailer> {
        let from = Mailbox::from_str(&c.mail_from).map_err(|e| anyhow::anyhow!("mail_from: {e}"))?;
        let Some(s) = &c.smtp else { return Ok(Mailer { transport: None, from }) };
        let tls = match s.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(TlsParameters::new(s.host.clone())?),
            SmtpSecurity::Tls => Tls::Wrapper(TlsParameters::new(s.host.clone())?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
            .port(s.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            b = b.credentials(Credentials::new(u.clone(), p.expose().clone()));
        }
        Ok(Mailer { transport: Some(b.build()), from })
    }

    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Renders the message now (so a broken template is the caller's error) and delivers it in
    /// the background with retries. `ctx` gets `name`-like values from the caller; the template
    /// also sees `t` (translations) and `lang`.
    pub fn send(
        &self,
        themes: &Themes,
        to: &str,
        locale: &str,
        kind: &str,
        ctx: minijinja::Value,
    ) -> Result<(), MailError> {
        let Some(transport) = self.transport.clone() else { return Err(MailError::NotConfigured) };
        let message = self.compose(themes, to, locale, kind, ctx)?;
        let kind = kind.to_string();
        tokio::spawn(async move {
            for attempt in 0..=RETRY_AFTER.len() {
                match transport.send(message.clone()).await {
                    Ok(_) => {
                        tracing::info!(kind = %kind, "e-mail handed to the relay");
                        return;
                    }
                    // The recipient is personal data and stays out of the log; the kind and
                    // the relay's answer are what an operator needs.
                    Err(e) => match RETRY_AFTER.get(attempt) {
                        Some(wait) if !e.is_permanent() => {
                            tracing::warn!(kind = %kind, error = %e, "e-mail not delivered yet; trying again");
                            tokio::time::sleep(*wait).await;
                        }
                        _ => {
                            tracing::error!(kind = %kind, error = %e, "e-mail could not be delivered");
                            return;
                        }
                    },
                }
            }
        });
        Ok(())
    }

    /// Renders and delivers now, waiting for the relay's answer: for the operator's test message,
    /// where the point is to see the relay's error.
    pub async fn deliver(
        &self,
        themes: &Themes,
        to: &str,
        locale: &str,
        kind: &str,
        ctx: minijinja::Value,
    ) -> Result<(), MailError> {
        let Some(transport) = &self.transport else { return Err(MailError::NotConfigured) };
        let message = self.compose(themes, to, locale, kind, ctx)?;
        transport.send(message).await.map(|_| ()).map_err(|e| MailError::Relay(e.to_string()))
    }

    fn compose(
        &self,
        themes: &Themes,
        to: &str,
        locale: &str,
        kind: &str,
        ctx: minijinja::Value,
    ) -> Result<Message, MailError> {
        let to = Mailbox::from_str(to.trim()).map_err(|_| MailError::Address)?;
        let body = themes
            .render(&format!("mail/{kind}.txt"), locale, ctx)
            .map_err(|e| MailError::Prepare(format!("template mail/{kind}.txt: {e}")))?;
        let subject = themes.text(locale, &format!("mail_{kind}_subject"));
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Prepare(e.to_string()))
    }
}

/// A plausible address to send to: one `@`, a dotted domain, no spaces or control characters,
/// at most 254 bytes (RFC 5321 §4.5.3.1.3). Deliverability is proven by the verification link.
pub fn plausible_address(s: &str) -> bool {
    let s = s.trim();
    let Some((local, domain)) = s.split_once('@') else { return false };
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',')
        && !domain.contains('@')
        && Mailbox::from_str(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in ["siti@jemberkab.go.id", "a.b+c@mail.example.id"] {
            assert!(plausible_address(ok), "{ok}");
        }
        for bad in ["", "siti", "siti@", "@x.id", "siti@localhost", "a b@x.id", "a@b@x.id", "x@.id", "<a@x.id>"] {
            assert!(!plausible_address(bad), "{bad}");
        }
    }
}
