//! Citizen self-registration: the form's checks, the neutral answer (the same whether the NIK
//! is new or taken), the mailed confirmation link, and the account created when it is followed.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Event};
use crate::auth::links::{self, Purpose, Refusal};
use crate::config::Secret;
use crate::crypto;
use crate::identity::accounts::{self, AccountError, PasswordRule};
use crate::identity::nik::{parse_nik, NikError, NikWarning};
use crate::limits::address_key;
use crate::state::AppState;
use crate::store::links::ActionLinkRow;

/// Registrations one client address may ask for per hour.
pub const PER_ADDRESS: u64 = 5;
/// Registrations one e-mail address may receive per day; beyond it the answer stays neutral
/// and nothing is sent, so nobody can flood someone's mailbox through us.
pub const PER_EMAIL: u64 = 3;
/// Notices one account's holder may receive per day that someone tried to register their NIK.
/// Counted per account, not per registrant address or client address: a stranger can vary
/// both at will, and the holder is told as often as is useful (a first warning and a reminder
/// or two), not once per attempt.
pub const NOTICES_PER_HOLDER: u64 = 3;
const DAY: Duration = Duration::from_secs(24 * 3600);

/// What a person typed into the registration form.
pub struct Application {
    pub nik: String,
    pub name: String,
    pub email: String,
    pub password: Secret<String>,
    pub repeat: Secret<String>,
    /// The language of the form, used for the mail and kept on the account.
    pub locale: String,
}

/// Each refused field (`nik`, `name`, `email`, `password`, `repeat`) with why.
pub type Problems = Vec<(&'static str, Problem)>;

/// Why a field was refused; the page words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Nik(NikError),
    /// Registration admits only NIKs whose region exists: an unknown one is a typo far more
    /// often than a region the list lacks, and an officer can still create such an account.
    NikRegion(NikWarning),
    Name,
    Email,
    Password(PasswordRule),
    Mismatch,
}

#[derive(Debug)]
pub enum RegisterError {
    /// `citizen_registration` is off.
    Disabled,
    /// No SMTP relay: the address could not be proven.
    NoMail,
    Invalid(Problems),
    /// Too many registrations from this address; seconds to wait.
    Throttled(u64),
}

/// What the confirmation link carries until the account exists.
#[derive(Serialize, Deserialize)]
struct Pending {
    nik: String,
    name: String,
    email: String,
    password_hash: String,
    locale: String,
}

/// Whether the registration pages exist at all.
pub fn available(st: &AppState) -> Result<(), RegisterError> {
    if !st.config.citizen_registration {
        return Err(RegisterError::Disabled);
    }
    if !st.mailer.configured() {
        return Err(RegisterError::NoMail);
    }
    Ok(())
}

/// The NIK, name and address as stored, or every refused field.
fn check(a: &Application, now: i64) -> Result<(String, String, String), Problems> {
    let mut problems = Vec::new();
    let nik = match parse_nik(&a.nik, crate::identity::today(now)) {
        Ok(info) => match info.warnings.into_iter().next() {
            Some(w) => {
                problems.push(("nik", Problem::NikRegion(w)));
                None
            }
            None => Some(info.nik.as_str().to_string()),
        },
        Err(e) => {
            problems.push(("nik", Problem::Nik(e)));
            None
        }
    };
    let name = accounts::valid_name(&a.name);
    if name.is_none() {
        problems.push(("name", Problem::Name));
    }
    // The same normal form as an address typed on the account page, so both compare equal.
    let email = crate::identity::contact::email(&a.email).ok().flatten();
    if email.is_none() {
        problems.push(("email", Problem::Email));
    }
    let ids: Vec<&str> = nik.as_deref().into_iter().collect();
    if let Err(rule) = accounts::check_password(a.password.expose(), &ids, name.as_deref().unwrap_or("")) {
        problems.push(("password", Problem::Password(rule)));
    } else if a.password.expose() != a.repeat.expose() {
        problems.push(("repeat", Problem::Mismatch));
    }
    match (nik, name, email) {
        (Some(nik), Some(name), Some(email)) if problems.is_empty() => Ok((nik, name, email)),
        _ => Err(problems),
    }
}

/// Counts one event against `key`'s window; true while within `max`. A failing cache lets the
/// request through: registration must not depend on the cache being up.
async fn within(st: &AppState, key: &str, window: Duration, max: u64) -> Result<(), u64> {
    match st.cache.incr_window(key, window).await {
        Ok((n, _)) if n <= max => Ok(()),
        Ok((_, left)) => Err(crate::limits::Limited::after(left).retry_after),
        Err(e) => {
            tracing::warn!(error = %e, "registration not counted: the cache failed");
            Ok(())
        }
    }
}

/// Checks the form and answers at once; whether the NIK is taken is decided (and the mail
/// sent) in the background, so neither the answer nor its timing tells the requester.
pub async fn request(st: &Arc<AppState>, a: Application, ip: &str, now: i64) -> Result<(), RegisterError> {
    available(st)?;
    let (nik, name, email) = check(&a, now).map_err(RegisterError::Invalid)?;
    within(st, &format!("register-by-address:{}", address_key(ip)), Duration::from_secs(3600), PER_ADDRESS)
        .await
        .map_err(RegisterError::Throttled)?;
    let email_key = format!("register-by-email:{}", crypto::sha256_hex(email.as_bytes()));
    let flooded = within(st, &email_key, DAY, PER_EMAIL).await.is_err();
    let (st, ip, password, locale) = (st.clone(), ip.to_string(), a.password, a.locale);
    tokio::spawn(async move {
        let outcome = if flooded {
            "throttled"
        } else {
            match deliver(
                &st,
                Pending { nik: nik.clone(), name, email, password_hash: String::new(), locale },
                &password,
                now,
            )
            .await
            {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "a registration could not be processed");
                    "failed"
                }
            }
        };
        let detail = json!({ "outcome": outcome });
        audit::record(
            &st.db,
            Event::new("registration.requested").actor("self-registration").ip(&ip).detail(detail),
            now,
        )
        .await;
    });
    Ok(())
}

/// Whether the holder of a taken NIK may be told once more today. The count is the cache's, so
/// every replica shares it (Redis); it never goes beyond the limit, so attempts past it do not
/// push the day on. A count the cache cannot take sends nothing: an attempt that cannot be
/// counted could be one of thousands, and the registrant's answer is the same either way.
async fn may_tell_holder(st: &AppState, holder: &accounts::Account) -> bool {
    let key = format!("register-notice:{}", holder.id);
    match st.cache.count_below(&key, NOTICES_PER_HOLDER, DAY).await {
        Ok(Some(_)) => true,
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "registration notice not sent: the cache failed");
            false
        }
    }
}

/// Issues and mails the link for a new NIK, or warns the holder of a taken one (at most
/// [`NOTICES_PER_HOLDER`] times a day).
async fn deliver(st: &AppState, mut p: Pending, password: &Secret<String>, now: i64) -> anyhow::Result<&'static str> {
    // Hashed in both cases, so the server's load does not tell either.
    p.password_hash = st.hasher.hash(password).await?;
    if let Some((holder, _)) = accounts::find_for_login(&st.db, &p.nik).await? {
        let Some(to) = holder.verified_email() else { return Ok("exists") };
        if !may_tell_holder(st, &holder).await {
            return Ok("exists_throttled");
        }
        let locale = holder.locale.as_deref().unwrap_or(&st.config.default_locale);
        let ctx = minijinja::context! { name => holder.name, issuer => st.config.issuer };
        st.mailer.send(&st.themes, to, locale, "registration_exists", ctx)?;
        return Ok("exists");
    }
    let target = serde_json::to_string(&p)?;
    let link =
        links::issue(&st.db, &st.config.issuer, Purpose::Registration, None, &target, "self-registration", now).await?;
    let ctx = minijinja::context! { name => p.name, link => link.url, issuer => st.config.issuer };
    st.mailer.send(&st.themes, &p.email, &p.locale, "registration", ctx)?;
    Ok("link")
}

/// The outcome of following a confirmation link.
#[derive(Debug)]
pub enum Confirmed {
    /// The account exists now; its id.
    Created(String),
    /// The NIK got an account meanwhile: none was created. Said without naming whose.
    AlreadyRegistered,
}

#[derive(Debug)]
pub enum ConfirmError {
    Disabled,
    Refused(Refusal),
    Internal,
}

fn internal(what: &str, e: impl std::fmt::Display) -> ConfirmError {
    tracing::error!(error = %e, "{what}");
    ConfirmError::Internal
}

/// Links already mailed stay usable while registration is on, even if the relay went away.
fn open(st: &AppState) -> Result<(), ConfirmError> {
    if st.config.citizen_registration {
        Ok(())
    } else {
        Err(ConfirmError::Disabled)
    }
}

/// Whether the link may still be confirmed (for the page with the button; takes nothing).
pub async fn inspect(st: &AppState, token: &str, now: i64) -> Result<(), ConfirmError> {
    open(st)?;
    match links::inspect(&st.db, Purpose::Registration, token, now).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(r)) => Err(ConfirmError::Refused(r)),
        Err(e) => Err(internal("a registration link could not be read", e)),
    }
}

/// Takes the link once and creates the account it describes.
pub async fn confirm(st: &AppState, token: &str, ip: &str, now: i64) -> Result<Confirmed, ConfirmError> {
    open(st)?;
    let link = match links::take(&st.db, Purpose::Registration, token, now).await {
        Ok(Ok(link)) => link,
        Ok(Err(r)) => return Err(ConfirmError::Refused(r)),
        Err(e) => return Err(internal("a registration link could not be taken", e)),
    };
    match create(st, &link, now).await {
        Ok(Some(id)) => {
            let event =
                Event::new("account.registered").actor(&id).subject(&id).ip(ip).detail(json!({ "link": link.id }));
            audit::record(&st.db, event, now).await;
            Ok(Confirmed::Created(id))
        }
        Ok(None) => Ok(Confirmed::AlreadyRegistered),
        Err(e) => {
            links::give_back(&st.db, &link).await;
            Err(internal("a registered account could not be created", e))
        }
    }
}

async fn create(st: &AppState, link: &ActionLinkRow, now: i64) -> anyhow::Result<Option<String>> {
    let p: Pending = serde_json::from_str(&link.target)?;
    if accounts::find_for_login(&st.db, &p.nik).await?.is_some() {
        return Ok(None);
    }
    let locale = Some(p.locale.as_str()).filter(|l| !l.is_empty());
    match accounts::create_registered(&st.db, &p.nik, &p.name, &p.password_hash, &p.email, locale, now).await {
        Ok(a) => Ok(Some(a.id)),
        // Created by another way between the lookup and the insert.
        Err(AccountError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
