//! Security notices mailed to a person about their own account (a sign-in from a new device, a
//! password or factor change, a lockout, a replaced address): short, without secrets, in their
//! language, and only to an address they proved. Sending never decides the outcome of the action.

use crate::identity::accounts::{self, Account};
use crate::state::AppState;
use crate::store::devices::{self, Seen};

/// A second factor, as the notice names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Passkey,
    AuthenticatorApp,
    RecoveryCodes,
    /// Every second factor at once (an administrator's reset).
    All,
}

impl Factor {
    fn as_str(self) -> &'static str {
        match self {
            Factor::Passkey => "passkey",
            Factor::AuthenticatorApp => "totp",
            Factor::RecoveryCodes => "recovery_codes",
            Factor::All => "all",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A sign-in from a browser not seen before on this account; `device` as "Chrome · Windows".
    NewDevice {
        device: String,
    },
    PasswordChanged,
    FactorAdded(Factor),
    FactorRemoved(Factor),
    /// Too many wrong passwords: sign-in is paused for a while.
    Locked,
    /// The password was right but wrong second factors keep coming: someone has the password.
    SecondFactorGuessed,
    /// The address was replaced by another, proven one (sent to the old address).
    EmailChanged,
}

impl Notice {
    /// The template `mail/notify_<kind>.txt` and subject `mail_notify_<kind>_subject`.
    fn kind(&self) -> &'static str {
        match self {
            Notice::NewDevice { .. } => "notify_new_device",
            Notice::PasswordChanged => "notify_password_changed",
            Notice::FactorAdded(_) => "notify_factor_added",
            Notice::FactorRemoved(_) => "notify_factor_removed",
            Notice::Locked => "notify_locked",
            Notice::SecondFactorGuessed => "notify_second_factor_guessed",
            Notice::EmailChanged => "notify_email_changed",
        }
    }
}

/// Mails `notice` to the account's verified address, if it has one and mail is configured.
/// Failures are logged: the change the notice is about has happened either way.
pub async fn notify(st: &AppState, account: &Account, notice: Notice, now: i64) {
    let Some(to) = account.verified_email() else { return };
    if !st.mailer.configured() {
        return;
    }
    let locale = account.locale.as_deref().unwrap_or(&st.config.default_locale);
    let when = crate::clock::local_time(now, st.config.utc_offset_minutes);
    let (device, factor) = match &notice {
        Notice::NewDevice { device } => (Some(device.clone()), None),
        Notice::FactorAdded(f) | Notice::FactorRemoved(f) => (None, Some(f.as_str())),
        _ => (None, None),
    };
    let ctx = minijinja::context! {
        name => account.name, when => when, device => device, factor => factor, issuer => st.config.issuer,
    };
    let kind = notice.kind();
    if let Err(e) = st.mailer.send(&st.themes, to, locale, kind, ctx) {
        tracing::warn!(kind = %kind, error = %e, "security notice not sent");
    }
}

/// "Chrome · Windows" from a User-Agent header: enough for a person to recognise a device.
pub fn device_label(ua: &str) -> String {
    let browser =
        [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
            .iter()
            .find(|(m, _)| ua.contains(m))
            .map(|(_, n)| *n);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(m, _)| ua.contains(m))
    .map(|(_, n)| *n);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} · {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => "?".to_string(),
    }
}

/// After a sign-in: remembers the device and tells the person when it is a new one. The very
/// first device of an account is silent (there is nothing to compare with).
pub async fn signed_in_from(st: &AppState, account_id: &str, device: &str, user_agent: &str, now: i64) {
    if device.is_empty() {
        return;
    }
    let hash = crate::crypto::sha256_hex(device.as_bytes());
    match devices::seen(&st.db, account_id, &hash, now).await {
        Ok(Seen::New) => {}
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not record the sign-in device");
            return;
        }
    }
    match accounts::get(&st.db, account_id).await {
        Ok(Some(a)) => notify(st, &a, Notice::NewDevice { device: device_label(user_agent) }, now).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the account for a new-device notice"),
    }
}

/// When sign-in attempts for `login` (a NIP, NIK or id as typed) are first refused in a
/// throttling window. An identifier that names nobody has nobody to tell.
pub async fn locked(st: &AppState, login: &str, now: i64) {
    match accounts::find(&st.db, login.trim()).await {
        Ok(Some(a)) => notify(st, &a, Notice::Locked, now).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not read the account for a lockout notice"),
    }
}
