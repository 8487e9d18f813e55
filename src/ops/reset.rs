//! Password reset and account activation: links issued by the help desk (console, admin API,
//! command line), mailed or shown once, and followed to set a new password. Following one shuts
//! out whoever knew the old password: every session ends and every grant is revoked.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::account::PasswordRefusal;
use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, Event};
use crate::auth::links::{self, Issued, Purpose, Refusal};
use crate::auth::{login, session, throttle};
use crate::config::Secret;
use crate::identity::accounts::{self, Account};
use crate::identity::admin::Admin;
use crate::ids::AccountId;
use crate::state::AppState;
use crate::store::accounts as account_store;
use crate::store::logout::Ending;

/// How a help-desk link reaches its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Mailed to the account's verified address.
    Email,
    /// Shown once to the administrator, who hands it over.
    Link,
}

/// A reset or activation link as the help desk sees it: where it was sent, or the link itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResetLink {
    pub delivery: Delivery,
    /// `reset` for an account with a password, `activation` for one without.
    pub purpose: String,
    /// The masked address it was mailed to (`delivery = email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
    /// The link, shown only in this answer (`delivery = link`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub expires_at: i64,
}

/// `s***@dinas.go.id`: enough for the help desk to confirm the address with the caller, not
/// enough to hand someone's address to whoever reads over their shoulder.
pub fn mask_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

fn mail_kind(purpose: Purpose) -> &'static str {
    if purpose == Purpose::Activation {
        "activation"
    } else {
        "reset"
    }
}

/// Reset for an account that has a password; activation for one created without.
async fn purpose_for(st: &AppState, a: &Account) -> Result<Purpose, AdminError> {
    let row = account_store::get(&st.db, &a.id).await?.ok_or(AdminError::NotFound("account"))?;
    Ok(if row.password_hash.is_some() { Purpose::Reset } else { Purpose::Activation })
}

/// Mails a link in the person's language; the relay's answer comes later and is only logged.
pub(super) fn mail_link(
    st: &AppState,
    a: &Account,
    to: &str,
    purpose: Purpose,
    link: &Issued,
) -> Result<(), crate::mail::MailError> {
    let locale = a.locale.clone().unwrap_or_else(|| st.config.default_locale.clone());
    let hours = (links::LIFETIME / 3600).to_string();
    let ctx = minijinja::context! { name => a.name, url => link.url, hours => hours, issuer => st.config.issuer };
    st.mailer.send(&st.themes, to, &locale, mail_kind(purpose), ctx)
}

/// A help-desk link for `id`: by an administrator who manages the account, never for their own
/// (their password is changed on the account page), and for an account holding an
/// administrative role only by a region-wide administrator (an OPD admin must not be able to
/// take over a fellow administrator). `want` chooses the delivery; without it, e-mail when the
/// account has a verified address and mail is configured.
pub async fn issue(
    st: &AppState,
    who: &Principal,
    id: &AccountId,
    want: Option<Delivery>,
    now: i64,
) -> Result<ResetLink, AdminError> {
    let a = super::accounts::account(st, who, id).await?;
    if who.is_account(&a.id) {
        return Err(forbidden("your own password is changed on your account page (/account/password)"));
    }
    if !who.diskominfo() && Admin::load(&st.db, a.clone()).await?.is_some() {
        return Err(forbidden(
            "the password of an account holding an administrative role is reset by diskominfo-admin",
        ));
    }
    if !a.is_active() {
        return Err(AdminError::Conflict(format!(
            "the account is {}; only an active account's password is reset",
            a.status
        )));
    }
    let address = a.verified_email().map(String::from);
    let delivery = match want {
        Some(Delivery::Email) if address.is_none() => {
            return Err(AdminError::Conflict("the account has no verified e-mail address".into()))
        }
        Some(Delivery::Email) if !st.mailer.configured() => {
            return Err(AdminError::Conflict("e-mail is not configured on this server".into()))
        }
        Some(d) => d,
        None if address.is_some() && st.mailer.configured() => Delivery::Email,
        None => Delivery::Link,
    };
    let purpose = purpose_for(st, &a).await?;
    let link =
        links::issue(&st.db, &st.config.issuer, purpose, Some(&a.id), "", &who.actor(), now).await.map_err(internal)?;
    let sent_to = match (delivery, &address) {
        (Delivery::Email, Some(to)) => {
            mail_link(st, &a, to, purpose, &link).map_err(internal)?;
            Some(mask_address(to))
        }
        _ => None,
    };
    let detail =
        json!({ "link": link.id, "purpose": purpose.as_str(), "delivery": delivery, "expires_at": link.expires_at });
    audit::record(
        &st.db,
        Event::new("password.reset_link_issued").actor(&who.actor()).subject(&a.id).detail(detail),
        now,
    )
    .await;
    Ok(ResetLink {
        delivery,
        purpose: purpose.as_str().into(),
        sent_to,
        url: (delivery == Delivery::Link).then_some(link.url),
        expires_at: link.expires_at,
    })
}

/// The activation link handed out with an account created without a password.
pub(super) async fn activation_for(
    st: &AppState,
    who: &Principal,
    a: &Account,
    now: i64,
) -> Result<ResetLink, AdminError> {
    let link = links::issue(&st.db, &st.config.issuer, Purpose::Activation, Some(&a.id), "", &who.actor(), now)
        .await
        .map_err(internal)?;
    let detail =
        json!({ "link": link.id, "purpose": "activation", "delivery": Delivery::Link, "expires_at": link.expires_at });
    audit::record(
        &st.db,
        Event::new("password.reset_link_issued").actor(&who.actor()).subject(&a.id).detail(detail),
        now,
    )
    .await;
    Ok(ResetLink {
        delivery: Delivery::Link,
        purpose: "activation".into(),
        sent_to: None,
        url: Some(link.url),
        expires_at: link.expires_at,
    })
}

/// Creates an account as `accounts::create_account` does; one created without a password gets
/// its activation link in the same answer, since nobody could log in to it otherwise.
pub async fn create_account(
    st: &AppState,
    who: &Principal,
    input: super::accounts::AccountInput,
    now: i64,
) -> Result<(Account, Vec<String>, Option<ResetLink>), AdminError> {
    let passwordless = input.password.as_deref().is_none_or(|p| p.trim().is_empty());
    let (a, warnings) = super::accounts::create_account(st, who, input, now).await?;
    let activation = if passwordless { Some(activation_for(st, who, &a, now).await?) } else { None };
    Ok((a, warnings, activation))
}

/// The operator's region-wide provisioning (`accounts::provision_account`), with the activation
/// link of an account created without a password.
pub async fn provision_account(
    st: &AppState,
    who: &Principal,
    new: crate::identity::accounts::NewAccount,
    now: i64,
) -> Result<(Account, Vec<crate::identity::nik::NikWarning>, Option<ResetLink>), super::accounts::ProvisionError> {
    let passwordless = new.password.is_none();
    let (a, warnings) = super::accounts::provision_account(st, who, new, now).await?;
    let activation = if passwordless { Some(activation_for(st, who, &a, now).await?) } else { None };
    Ok((a, warnings, activation))
}

/// Why a followed link set no password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowError {
    Link(Refusal),
    /// The account was suspended, retired or dismissed since the link was issued.
    Inactive,
    /// The new password was not taken; the link stays usable.
    Password(PasswordRefusal),
    Internal,
}

fn failed(what: &'static str, e: impl std::fmt::Display) -> FollowError {
    tracing::error!(error = %e, "{what}");
    FollowError::Internal
}

/// The open link's account, without taking the link (a GET shows the form; link previews and
/// mail scanners must not spend it).
pub async fn check(st: &AppState, purpose: Purpose, token: &str, now: i64) -> Result<Account, FollowError> {
    let row = links::inspect(&st.db, purpose, token, now)
        .await
        .map_err(|e| failed("the link could not be read", e))?
        .map_err(FollowError::Link)?;
    let id = row.account_id.as_deref().unwrap_or_default();
    let a = accounts::get(&st.db, id).await.map_err(|e| failed("the link's account could not be read", e))?;
    match a {
        Some(a) if a.is_active() => Ok(a),
        Some(_) => Err(FollowError::Inactive),
        None => Err(FollowError::Link(Refusal::Unknown)),
    }
}

/// Sets the new password through the link. The password is judged before the link is taken,
/// so a refused one leaves it usable; once taken, a failure gives it back.
pub async fn follow(
    st: &AppState,
    purpose: Purpose,
    token: &str,
    new: &Secret<String>,
    repeat: &Secret<String>,
    now: i64,
) -> Result<(), FollowError> {
    let a = check(st, purpose, token, now).await?;
    if new.expose() != repeat.expose() {
        return Err(FollowError::Password(PasswordRefusal::Mismatch));
    }
    let ids: Vec<&str> = [a.nip.as_deref(), a.nik.as_deref()].into_iter().flatten().collect();
    accounts::check_password(new.expose(), &ids, &a.name)
        .map_err(|rule| FollowError::Password(PasswordRefusal::Policy(rule)))?;
    let _slot = st.hasher.admit().map_err(|_| FollowError::Password(PasswordRefusal::Busy))?;
    let hash = st.hasher.hash(new).await.map_err(|e| failed("the new password could not be hashed", e))?;
    let link = links::take(&st.db, purpose, token, now)
        .await
        .map_err(|e| failed("the link could not be taken", e))?
        .map_err(FollowError::Link)?;
    // Sessions live in the cache, outside the transaction, so they end first: should the write
    // then fail, the person is merely signed out and the link is theirs again.
    let memory = crate::oidc::logout::session_memory(&st.config);
    let written = async {
        let ended = session::end_all_but(&st.cache, &a.id, "", now, memory).await.map_err(|e| e.to_string())?;
        let mut tx = st.db.begin().await.map_err(|e| e.to_string())?;
        account_store::set_password_hash(&mut tx, &a.id, &hash, now).await.map_err(|e| e.to_string())?;
        let (revoked, _) = crate::store::logout::revoke_and_enqueue(&mut tx, &a.id, Ending::All, "password_reset", now)
            .await
            .map_err(|e| e.to_string())?;
        // The account's other password links (a help-desk one beside a self-service one) close
        // with the change, never left open by a failure after it.
        links::close_password_links(&mut tx, &a.id, now).await.map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((ended.len(), revoked))
    };
    let (ended, revoked) = match written.await {
        Ok(x) => x,
        Err(e) => {
            links::give_back(&st.db, &link).await;
            return Err(failed("the password could not be set through the link", e));
        }
    };
    // A login with the old password between the first sweep and the commit would have left a
    // session (and its grants) behind: one more sweep, now that the old password is gone.
    let swept = async {
        session::end_all_but(&st.cache, &a.id, "", now, memory).await.map_err(|e| e.to_string())?;
        crate::store::logout::revoke_and_enqueue_now(&st.db, &a.id, Ending::All, "password_reset", now)
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(e) = swept.await {
        tracing::warn!(error = %e, "the second sweep of sessions after a reset failed");
    }
    super::backchannel::wake();
    // Whoever was guessing second factors had the old password: a new day's count.
    if let Err(e) = st.cache.delete(&super::login::second_factor_daily_key(&a.id)).await {
        tracing::warn!(error = %e, "the day's count of wrong second factors could not be cleared");
    }
    // A person locked out by failed logins who proved themselves through the link may log in.
    // (The keys of the identifiers too: a version before counted failures under them.)
    let identifiers = [a.nip.as_deref(), a.nik.as_deref()].into_iter().flatten();
    let keys = std::iter::once(login::account_key(&st.login_ids, &a.id))
        .chain(identifiers.map(|i| login::login_key(&st.login_ids, i)));
    for key in keys {
        if let Err(e) = throttle::clear(&st.cache, "acct", &key).await {
            tracing::warn!(error = %e, "the login throttle could not be cleared after a reset");
        }
    }
    let kind = if purpose == Purpose::Activation { "account.activated" } else { "password.reset" };
    let detail =
        json!({ "link": link.id, "issued_by": link.issued_by, "sessions_ended": ended, "revoked_grants": revoked });
    audit::record(&st.db, Event::new(kind).actor(&a.id).subject(&a.id).detail(detail), now).await;
    // A reset the person did not ask for is how a takeover shows: tell them. An activation is
    // the person's own first password, nothing to warn about.
    if purpose == Purpose::Reset {
        super::notify::notify(st, &a, super::notify::Notice::PasswordChanged, now).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask_address("siti@dinas.go.id"), "s***@dinas.go.id");
        assert_eq!(mask_address("x"), "***");
    }
}
