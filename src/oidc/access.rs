//! Access decisions made at the provider, before any code is issued: the account's type, its
//! status, counter verification of citizens, and the roles the application requires. A refusal is explained to the person and
//! the application receives `access_denied`, never a token.

use super::claims::{Person, SIGNER_ROLE};
use super::clients::Client;
use super::Provider;
use crate::identity::accounts::{Account, AccountKind, AccountStatus};
use crate::identity::roles;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The application does not accept this kind of account.
    AccountType(AccountKind),
    /// Suspended, retired or dismissed.
    Inactive(AccountStatus),
    MissingRole,
    /// The application admits only citizens whose identity an officer verified.
    Unverified,
}

impl Denial {
    /// Translation key of the explanation shown to the person.
    pub fn message_key(&self) -> &'static str {
        match self {
            Denial::AccountType(AccountKind::Asn) => "denied_account_type_asn",
            Denial::AccountType(AccountKind::Citizen) => "denied_account_type_citizen",
            Denial::Inactive(_) => "denied_inactive",
            Denial::MissingRole => "denied_missing_role",
            Denial::Unverified => "denied_unverified",
        }
    }

    /// For the application and the log; no personal data.
    pub fn description(&self) -> &'static str {
        match self {
            Denial::AccountType(_) => "this application does not accept this type of account",
            Denial::Inactive(_) => "the account is not active",
            Denial::MissingRole => "the user lacks a role this application requires",
            Denial::Unverified => "this application admits only identity-verified citizens",
        }
    }
}

/// `now` decides the computed role `signer`, held only while the account has a signer binding.
pub async fn check(
    st: &Provider<'_>,
    client: &Client,
    account: &Account,
    now: i64,
) -> Result<Result<(), Denial>, StoreError> {
    if let Err(d) = account_rules(client, account) {
        return Ok(Err(d));
    }
    if !client.required_roles.is_empty() {
        let held = roles::effective(st.db, &account.id).await?;
        let mut ok = held
            .iter()
            .any(|r| r.applies_to(&client.id) && r.name != SIGNER_ROLE && client.required_roles.contains(&r.name));
        if !ok && client.required_roles.iter().any(|r| r == SIGNER_ROLE) {
            ok = st.signers.signer(&account.id, now).await?.is_some();
        }
        if !ok {
            return Ok(Err(Denial::MissingRole));
        }
    }
    Ok(Ok(()))
}

/// [`check`] for a person already loaded: their roles, and their signer binding when the
/// application requires the `signer` role (without it loaded, that role counts as not held).
pub fn check_person(client: &Client, person: &Person) -> Result<(), Denial> {
    account_rules(client, &person.account)?;
    if !person.holds_any(&client.id, &client.required_roles) {
        return Err(Denial::MissingRole);
    }
    Ok(())
}

/// What the account itself must be: active, of a type the application accepts, verified when
/// it admits only verified citizens.
fn account_rules(client: &Client, account: &Account) -> Result<(), Denial> {
    if !account.is_active() {
        return Err(Denial::Inactive(account.status));
    }
    if !client.account_types.contains(&account.kind) {
        return Err(Denial::AccountType(account.kind));
    }
    if client.require_verified && account.kind == AccountKind::Citizen && !account.identity_verified() {
        return Err(Denial::Unverified);
    }
    Ok(())
}
