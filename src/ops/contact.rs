//! Contact details: administrators setting a person's e-mail address and phone number, and the
//! person proving an address through a link mailed to it before it counts as verified.

use serde_json::{json, Map, Value};

use super::account::{Recent, SignedIn};
use super::notify::Notice;
use super::AdminError;
use crate::audit::{self, Event};
use crate::auth::links::{self, Purpose, Refusal};
use crate::identity::accounts::{self, Account};
use crate::identity::contact;
use crate::mail::MailError;
use crate::state::AppState;
use crate::store::accounts as account_store;

/// An administrator's change of contact details, checked before anything is written. `None`
/// inside means "remove"; an unchanged value is no change at all.
#[derive(Debug, Default)]
pub(super) struct AdminContact {
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
}

impl AdminContact {
    pub(super) fn check(a: &Account, email: Option<&str>, phone: Option<&str>) -> Result<AdminContact, AdminError> {
        let invalid = |e: contact::ContactError| AdminError::Invalid(e.to_string());
        let email = email.map(contact::email).transpose().map_err(invalid)?.filter(|e| *e != a.email);
        let phone = phone.map(contact::phone).transpose().map_err(invalid)?.filter(|p| *p != a.phone_number);
        Ok(AdminContact { email, phone })
    }

    /// Writes the change; returns what it was and became, for the audit record. An address an
    /// administrator types is unverified: only the person can prove it is theirs.
    pub(super) async fn apply(
        self,
        st: &AppState,
        a: &mut Account,
        now: i64,
    ) -> Result<Option<(Value, Value)>, AdminError> {
        let (mut before, mut after) = (Map::new(), Map::new());
        if let Some(email) = self.email {
            // The administrator's address replaces a change the person had waiting for its proof,
            // and password links mailed to the old address end with it: all or nothing, so a
            // failure never leaves the new address with links that still reach the old one.
            let mut tx = st.db.begin().await?;
            account_store::set_email(&mut tx, &a.id, email.as_deref(), false, now).await?;
            links::close_all(&mut tx, &a.id, Purpose::Email, now).await?;
            if email != a.email {
                links::close_password_links(&mut tx, &a.id, now).await?;
            }
            tx.commit().await?;
            before.insert("email".into(), json!(a.email));
            before.insert("email_verified".into(), json!(a.email_verified));
            a.email = email;
            a.email_verified = false;
            after.insert("email".into(), json!(a.email));
            after.insert("email_verified".into(), json!(false));
        }
        if let Some(phone) = self.phone {
            account_store::set_phone_number(&st.db, &a.id, phone.as_deref(), now).await?;
            before.insert("phone_number".into(), json!(a.phone_number));
            a.phone_number = phone;
            after.insert("phone_number".into(), json!(a.phone_number));
        }
        Ok((!before.is_empty()).then_some((Value::Object(before), Value::Object(after))))
    }
}

/// The person's own contact details, as the contact page shows them.
#[derive(Debug, Clone)]
pub struct ContactView {
    pub email: Option<String>,
    pub email_verified: bool,
    /// A new address waiting for its link to be followed; the current one stays until then.
    pub pending: Option<String>,
    pub phone_number: Option<String>,
    /// Whether an address can be verified now (mail is configured).
    pub mail_available: bool,
}

/// Why a change of one's own contact details was not made; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactRefusal {
    Email,
    Phone,
    /// No mail relay: an address cannot be proven now, so none is taken.
    MailUnavailable,
    /// A verification message went out less than a minute ago.
    TooSoon,
    Internal,
}

/// What a change did, for the message shown after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactDone {
    Unchanged,
    Saved,
    /// A link went to the new (or unproven) address.
    VerificationSent,
    EmailRemoved,
}

/// Resending waits this long, so the button cannot be used to flood a mailbox.
const RESEND_AFTER: i64 = 60;

fn failed(what: &'static str, e: impl std::fmt::Display) -> ContactRefusal {
    tracing::error!(error = %e, "{what}");
    ContactRefusal::Internal
}

async fn record(st: &AppState, a: &Account, event: Event, now: i64) {
    audit::record(&st.db, event.actor(&a.id).subject(&a.id), now).await;
}

pub async fn view(st: &AppState, me: &SignedIn, now: i64) -> Result<ContactView, ContactRefusal> {
    let a = &me.account;
    let pending = links::pending(&st.db, &a.id, Purpose::Email, now)
        .await
        .map_err(|e| failed("pending e-mail change could not be read", e))?
        .map(|l| l.target)
        .filter(|t| a.email.as_ref() != Some(t) || !a.email_verified);
    Ok(ContactView {
        email: a.email.clone(),
        email_verified: a.email_verified,
        pending,
        phone_number: a.phone_number.clone(),
        mail_available: st.mailer.configured(),
    })
}

/// The person's own phone number and e-mail address. The number is taken at once (there is no
/// SMS to prove it); a new address only once the link mailed to it is followed, so a typo never
/// becomes the address resets and notices go to. Everything is checked before anything is written.
pub async fn save(
    st: &AppState,
    me: &Recent,
    email: &str,
    phone: &str,
    now: i64,
) -> Result<ContactDone, ContactRefusal> {
    let a = &me.account;
    let email = contact::email(email).map_err(|_| ContactRefusal::Email)?;
    let phone = contact::phone(phone).map_err(|_| ContactRefusal::Phone)?;
    let pending = view(st, me, now).await?.pending;
    enum Step {
        Keep,
        Remove,
        Prove(String),
        /// Back to the current, proven address: the pending change is withdrawn.
        Withdraw,
    }
    let step = match email {
        None if a.email.is_none() && pending.is_none() => Step::Keep,
        None => Step::Remove,
        Some(e) if a.email.as_ref() == Some(&e) && a.email_verified => {
            if pending.is_some() {
                Step::Withdraw
            } else {
                Step::Keep
            }
        }
        Some(e) if pending.as_ref() == Some(&e) => Step::Keep,
        Some(e) => Step::Prove(e),
    };
    if matches!(step, Step::Prove(_)) && !st.mailer.configured() {
        return Err(ContactRefusal::MailUnavailable);
    }
    let mut done = ContactDone::Unchanged;
    if phone != a.phone_number {
        account_store::set_phone_number(&st.db, &a.id, phone.as_deref(), now)
            .await
            .map_err(|e| failed("phone number could not be saved", e))?;
        let detail = json!({ "before": a.phone_number, "after": phone });
        record(st, a, Event::new("phone.changed").detail(detail), now).await;
        done = ContactDone::Saved;
    }
    match step {
        Step::Keep => {}
        Step::Withdraw => {
            links::close_all(&st.db, &a.id, Purpose::Email, now)
                .await
                .map_err(|e| failed("pending e-mail change could not be withdrawn", e))?;
            record(st, a, Event::new("email.change_withdrawn").detail(json!({ "address": pending })), now).await;
            done = ContactDone::Saved;
        }
        Step::Remove => {
            // One transaction: the address never goes while links mailed to it stay open.
            let removed = async {
                let mut tx = st.db.begin().await?;
                links::close_all(&mut tx, &a.id, Purpose::Email, now).await?;
                if a.email.is_some() {
                    account_store::set_email(&mut tx, &a.id, None, false, now).await?;
                    links::close_password_links(&mut tx, &a.id, now).await?;
                }
                tx.commit().await
            };
            removed.await.map_err(|e| failed("e-mail address could not be removed", e))?;
            if a.email.is_some() {
                record(st, a, Event::new("email.removed").detail(json!({ "before": a.email })), now).await;
            } else if pending.is_some() {
                record(st, a, Event::new("email.change_withdrawn").detail(json!({ "address": pending })), now).await;
            }
            done = ContactDone::EmailRemoved;
        }
        Step::Prove(address) => {
            send_verification(st, a, &address, now).await?;
            done = ContactDone::VerificationSent;
        }
    }
    Ok(done)
}

/// Sends the link again: to the pending new address, else to the current unproven one (an
/// address an administrator typed in).
pub async fn send_again(st: &AppState, me: &Recent, now: i64) -> Result<ContactDone, ContactRefusal> {
    let a = &me.account;
    let open = links::pending(&st.db, &a.id, Purpose::Email, now)
        .await
        .map_err(|e| failed("pending e-mail change could not be read", e))?;
    if open.as_ref().is_some_and(|l| now - l.created_at < RESEND_AFTER) {
        return Err(ContactRefusal::TooSoon);
    }
    let target = match open {
        Some(l) => l.target,
        None => match (&a.email, a.email_verified) {
            (Some(e), false) => e.clone(),
            _ => return Ok(ContactDone::Unchanged),
        },
    };
    if !st.mailer.configured() {
        return Err(ContactRefusal::MailUnavailable);
    }
    send_verification(st, a, &target, now).await?;
    Ok(ContactDone::VerificationSent)
}

async fn send_verification(st: &AppState, a: &Account, address: &str, now: i64) -> Result<(), ContactRefusal> {
    let issued = links::issue(&st.db, &st.config.issuer, Purpose::Email, Some(&a.id), address, &a.id, now)
        .await
        .map_err(|e| failed("verification link could not be issued", e))?;
    let ctx = minijinja::context! {
        name => a.name, address => address, link => issued.url, hours => links::LIFETIME / 3600,
        issuer => st.config.issuer,
    };
    let locale = a.locale.as_deref().unwrap_or(&st.config.default_locale);
    if let Err(e) = st.mailer.send(&st.themes, address, locale, "verify_email", ctx) {
        // A link nobody received must not stay open.
        if let Err(e) = links::close_all(&st.db, &a.id, Purpose::Email, now).await {
            tracing::error!(error = %e, "an unsent verification link could not be closed");
        }
        return Err(match e {
            MailError::NotConfigured => ContactRefusal::MailUnavailable,
            MailError::Address => ContactRefusal::Email,
            e => failed("verification message could not be prepared", e),
        });
    }
    record(st, a, Event::new("email.verification_sent").detail(json!({ "address": address })), now).await;
    Ok(())
}

/// Why a verification link does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyRefusal {
    Link(Refusal),
    /// The account is suspended or closed (the link stays open for when it is active again).
    Inactive,
    Internal,
}

/// The address a link would prove, for the page whose button proves it (a GET takes nothing:
/// mail scanners and link previews open links).
pub async fn verification_target(st: &AppState, token: &str, now: i64) -> Result<String, VerifyRefusal> {
    match links::inspect(&st.db, Purpose::Email, token, now).await {
        Ok(Ok(row)) => Ok(row.target),
        Ok(Err(r)) => Err(VerifyRefusal::Link(r)),
        Err(e) => {
            tracing::error!(error = %e, "verification link could not be read");
            Err(VerifyRefusal::Internal)
        }
    }
}

/// Follows a verification link: its address becomes the account's, proven. The address proven
/// before (if another) is told, so a takeover through this page does not go unnoticed.
pub async fn verify(st: &AppState, token: &str, now: i64) -> Result<String, VerifyRefusal> {
    let internal = |what: &'static str, e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "{what}");
        VerifyRefusal::Internal
    };
    let link = match links::take(&st.db, Purpose::Email, token, now).await {
        Ok(Ok(row)) => row,
        Ok(Err(r)) => return Err(VerifyRefusal::Link(r)),
        Err(e) => return Err(internal("verification link could not be taken", &e)),
    };
    let account = match accounts::get(&st.db, link.account_id.as_deref().unwrap_or("")).await {
        Ok(Some(a)) if a.is_active() => a,
        Ok(_) => {
            links::give_back(&st.db, &link).await;
            return Err(VerifyRefusal::Inactive);
        }
        Err(e) => {
            links::give_back(&st.db, &link).await;
            return Err(internal("account of a verification link could not be read", &e));
        }
    };
    // Password links went to the address this one replaces: they close with the change, in one
    // transaction, or nothing changes and the link is given back.
    let replaces = account.email.as_deref() != Some(link.target.as_str());
    let saved = async {
        let mut tx = st.db.begin().await?;
        account_store::set_email(&mut tx, &account.id, Some(&link.target), true, now).await?;
        if replaces {
            links::close_password_links(&mut tx, &account.id, now).await?;
        }
        tx.commit().await
    };
    if let Err(e) = saved.await {
        links::give_back(&st.db, &link).await;
        return Err(internal("verified address could not be saved", &e));
    }
    let detail = json!({ "address": link.target, "before": account.email });
    record(st, &account, Event::new("email.verified").detail(detail), now).await;
    if account.verified_email().is_some_and(|old| old != link.target) {
        super::notify::notify(st, &account, Notice::EmailChanged, now).await;
    }
    Ok(link.target)
}
