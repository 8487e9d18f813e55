//! Administration of accounts: search, provisioning by hand, edits, status, factor reset and sessions.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, Event};
use crate::auth::session::{self, SsoSession};
use crate::config::Secret;
use crate::identity::accounts::{self, Account, AccountError, AccountKind, AccountStatus, NewAccount};
use crate::identity::admin::{Admin, DISKOMINFO_ADMIN};
use crate::identity::roles::{self};
use crate::ids::AccountId;
use crate::state::AppState;
use crate::store::accounts as account_store;
use crate::store::opd::{self as opd_store};

/// Diskominfo admins search everyone; OPD admins their own subtree's staff.
pub async fn search_accounts(st: &AppState, who: &Principal, q: &str, limit: i64) -> Result<Vec<Account>, AdminError> {
    if !who.sees_accounts() {
        return Err(forbidden("reading accounts needs diskominfo-admin or opd-admin"));
    }
    let limit = limit.clamp(1, 500);
    if who.diskominfo() {
        return Ok(accounts::search(&st.db, q.trim(), limit).await?);
    }
    let Some(unit) = who.account().and_then(|a| a.opd_id.as_deref()) else { return Ok(Vec::new()) };
    Ok(accounts::search_in_subtree(&st.db, q.trim(), unit, limit).await?)
}

pub async fn account(st: &AppState, who: &Principal, id: &AccountId) -> Result<Account, AdminError> {
    lookup(st, who, id.as_str()).await
}

/// As [`account`], for ids the operations hold already (a stored row's, a request body's).
pub(super) async fn lookup(st: &AppState, who: &Principal, id: &str) -> Result<Account, AdminError> {
    // Refused before the lookup: without account powers, not even whether an id exists.
    if !who.sees_accounts() {
        return Err(forbidden("reading accounts needs diskominfo-admin or opd-admin"));
    }
    let a = accounts::get(&st.db, id).await?.ok_or_else(|| who.no_such_account())?;
    if !who.manages_account(&a) {
        return Err(forbidden(super::principal::OUTSIDE_UNITS));
    }
    // An OPD admin's subtree can contain a Diskominfo administrator; those are Diskominfo's to
    // manage, or an OPD admin could end their sessions or rename them.
    if !who.diskominfo()
        && roles::effective(&st.db, &a.id).await?.iter().any(|r| r.is_global() && r.name == DISKOMINFO_ADMIN)
    {
        return Err(forbidden("accounts of Diskominfo administrators are managed by Diskominfo"));
    }
    Ok(a)
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AccountInput {
    /// For a civil servant (ASN): 18 digits.
    pub nip: Option<String>,
    /// For a citizen: 16 digits (optional for ASN).
    pub nik: Option<String>,
    pub name: String,
    /// The OPD unit's id.
    pub opd_id: Option<String>,
    /// An initial password; without one the person cannot log in until one is set.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
}

const ADMIN_MOVED_BY_DISKOMINFO: &str =
    "an account holding an administrative role is moved to another unit by diskominfo-admin";

/// Provisioning by hand: Diskominfo admins anywhere, OPD admins into their own units.
/// Returns the account and warnings about the NIK (unknown region codes), which do not block.
pub async fn create_account(
    st: &AppState,
    who: &Principal,
    input: AccountInput,
    now: i64,
) -> Result<(Account, Vec<String>), AdminError> {
    let unit = input.opd_id.clone().filter(|u| !u.is_empty());
    match &unit {
        Some(u) => {
            opd_store::get(&st.db, u).await?.ok_or(AdminError::Invalid("opd_id: no such OPD unit".into()))?;
            if !who.manages_unit(Some(u)) {
                return Err(forbidden("the unit is outside the OPD units you manage"));
            }
            super::roles::may_place(st, who, None, u).await?;
        }
        None if !who.diskominfo() => return Err(forbidden("an OPD admin creates accounts in their own units")),
        None => {}
    }
    let blank = |s: Option<String>| s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let new = NewAccount {
        nip: blank(input.nip),
        nik: blank(input.nik),
        name: input.name,
        password: blank(input.password).map(Secret::new),
        is_admin: false,
    };
    // The unit goes in with the account: no moment where it exists outside it.
    let (account, warnings) = accounts::create_in_unit(&st.db, &st.hasher, new, unit.as_deref(), now).await?;
    let detail = json!({ "source": "admin", "kind": account.kind.as_str(), "opd_id": account.opd_id });
    audit::record(&st.db, Event::new("account.created").actor(&who.actor()).subject(&account.id).detail(detail), now)
        .await;
    Ok((account, warnings.iter().map(|w| w.to_string()).collect()))
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AccountEdit {
    pub name: Option<String>,
    /// The OPD unit's id; an empty string removes the account from its unit (Diskominfo only).
    pub opd_id: Option<String>,
    /// Contact address, stored unverified (the person proves it from their account page); an
    /// empty string removes it.
    pub email: Option<String>,
    /// Contact phone number (0812… or +62…); an empty string removes it.
    pub phone_number: Option<String>,
}

/// Name and unit. Moving someone needs power over both the old and the new unit. Everything is
/// checked before anything is written, so a refused edit changes nothing (not even the name
/// sent along with a refused unit).
pub async fn edit_account(
    st: &AppState,
    who: &Principal,
    id: &AccountId,
    edit: AccountEdit,
    now: i64,
) -> Result<Account, AdminError> {
    let a = account(st, who, id).await?;
    edit_found(st, who, a, edit, now).await
}

async fn edit_found(
    st: &AppState,
    who: &Principal,
    mut a: Account,
    edit: AccountEdit,
    now: i64,
) -> Result<Account, AdminError> {
    let mut before = json!({ "name": a.name, "opd_id": a.opd_id });
    let contact = super::contact::AdminContact::check(&a, edit.email.as_deref(), edit.phone_number.as_deref())?;
    let name = match edit.name {
        Some(name) => {
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err(AdminError::Invalid(AccountError::Name.to_string()));
            }
            Some(name).filter(|n| *n != a.name)
        }
        None => None,
    };
    let unit = match edit.opd_id {
        Some(unit) => {
            let unit = Some(unit).filter(|u| !u.is_empty());
            if unit != a.opd_id {
                if unit.is_some() && a.kind != AccountKind::Asn {
                    return Err(AdminError::Invalid(AccountError::CitizenInUnit.to_string()));
                }
                // The unit carries roles; an administrator's own are changed by another one.
                if who.is_account(&a.id) {
                    return Err(forbidden("you cannot change your own OPD unit; another administrator must"));
                }
                if let Some(u) = &unit {
                    opd_store::get(&st.db, u).await?.ok_or(AdminError::Invalid("opd_id: no such OPD unit".into()))?;
                }
                if !who.manages_unit(unit.as_deref()) {
                    return Err(forbidden("the new unit is outside the OPD units you manage"));
                }
                // An administrator's powers follow their unit (an OPD admin's reach is its
                // subtree): moving one widens or narrows them, a decision for Diskominfo, as
                // resetting their password is.
                if !who.diskominfo() && Admin::load(&st.db, a.clone()).await?.is_some() {
                    return Err(forbidden(ADMIN_MOVED_BY_DISKOMINFO));
                }
                if let Some(u) = &unit {
                    super::roles::may_place(st, who, Some(&a.id), u).await?;
                }
                Some(unit)
            } else {
                None
            }
        }
        None => None,
    };
    if let Some(name) = name {
        account_store::set_name(&st.db, &a.id, &name, now).await?;
        a.name = name;
    }
    let mut revoked = 0;
    if let Some(unit) = unit {
        a.opd_id = unit;
        accounts::save_edited_profile(&st.db, &a, now).await?;
        // Tokens carry the unit and the roles inherited through it; both just changed.
        revoked = crate::store::grants::revoke_grants_of_account(&st.db, &a.id, now).await?;
    }
    let mut after = json!({ "name": a.name, "opd_id": a.opd_id });
    if let Some((b, f)) = contact.apply(st, &mut a, now).await? {
        // Contact keys appear only when they changed: most edits do not touch them.
        for (k, v) in b.as_object().into_iter().flatten() {
            before[k] = v.clone();
        }
        for (k, v) in f.as_object().into_iter().flatten() {
            after[k] = v.clone();
        }
    }
    if before != after {
        let detail = json!({ "before": before, "after": after, "revoked_grants": revoked });
        audit::record(&st.db, Event::new("account.updated").actor(&who.actor()).subject(&a.id).detail(detail), now)
            .await;
    }
    Ok(a)
}

/// Diskominfo admins only: anything but `active` ends the account's sessions at once and revokes
/// its tokens (see [`super::sessions::end_all`]), telling applications through back-channel logout.
pub async fn set_status(
    st: &AppState,
    who: &Principal,
    id: &AccountId,
    status: AccountStatus,
    now: i64,
) -> Result<Account, AdminError> {
    if !who.changes_status() {
        return Err(forbidden("changing a status needs diskominfo-admin"));
    }
    let mut a = accounts::get(&st.db, id.as_str()).await?.ok_or(AdminError::NotFound("account"))?;
    if who.is_account(&a.id) {
        return Err(AdminError::Conflict("you cannot change the status of your own account".into()));
    }
    // A provisioning client may end anyone's access (a leaver), but bringing back an
    // administrator Diskominfo suspended is Diskominfo's decision.
    if status == AccountStatus::Active
        && a.status != AccountStatus::Active
        && !who.diskominfo()
        && Admin::load(&st.db, a.clone()).await?.is_some()
    {
        return Err(forbidden("an account holding an administrative role is reactivated by diskominfo-admin"));
    }
    let before = a.status;
    accounts::set_status(&st.db, &a.id, status, now).await?;
    // Leaving ends every session at once: the browser's SSO cookie, the grants and refresh
    // tokens, and (through logout tokens) the applications' own sessions. The status change
    // stands even if the cache fails: an inactive account's session is refused at every use.
    let mut detail = json!({ "before": before, "after": status });
    if status != AccountStatus::Active {
        let reason = format!("account_{}", status.as_str());
        match super::sessions::end_all(st, &a.id, &reason, now).await {
            Ok(e) if e.sessions > 0 => detail["sessions_ended"] = e.sessions.into(),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not end the sessions of a disabled account"),
        }
        super::backchannel::wake();
    }
    audit::record(&st.db, Event::new("account.status_changed").actor(&who.actor()).subject(&a.id).detail(detail), now)
        .await;
    a.status = status;
    Ok(a)
}

/// Removes every second factor (lost phone, lost key) and ends the person's sessions, since a
/// session opened with the lost factor may be in someone else's hands. Diskominfo admins only.
pub async fn reset_factors(st: &AppState, who: &Principal, id: &AccountId, now: i64) -> Result<usize, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("resetting second factors needs diskominfo-admin"));
    }
    let a = accounts::get(&st.db, id.as_str()).await?.ok_or(AdminError::NotFound("account"))?;
    let sessions = session::list_for_account(&st.cache, &a.id, now).await.map_err(internal)?;
    let sids: Vec<String> = sessions.iter().map(|s| s.sid.clone()).collect();
    // Factors and the sessions' grants go in one transaction; the sessions live in the cache,
    // outside it, so they end after the commit (a failure there is fixed by trying again).
    crate::auth::reset_factors_revoking(&st.db, &a.id, &sids, now).await?;
    super::backchannel::wake();
    let memory = crate::oidc::logout::session_memory(&st.config);
    for s in &sessions {
        session::end_by_sid(&st.cache, &a.id, &s.sid, memory).await.map_err(internal)?;
    }
    let detail = json!({ "sessions_ended": sessions.len() });
    audit::record(&st.db, Event::new("account.factors_reset").actor(&who.actor()).subject(&a.id).detail(detail), now)
        .await;
    super::notify::notify(st, &a, super::notify::Notice::FactorRemoved(super::notify::Factor::All), now).await;
    Ok(sessions.len())
}

pub async fn sessions(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
    now: i64,
) -> Result<Vec<SsoSession>, AdminError> {
    let a = account(st, who, account_id).await?;
    session::list_for_account(&st.cache, &a.id, now).await.map_err(internal)
}

/// Ends one session and revokes the tokens issued under it.
pub async fn end_session(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
    sid: &str,
    now: i64,
) -> Result<u64, AdminError> {
    let a = account(st, who, account_id).await?;
    let memory = crate::oidc::logout::session_memory(&st.config);
    if !session::end_by_sid(&st.cache, &a.id, sid, memory).await.map_err(internal)? {
        return Err(AdminError::NotFound("session"));
    }
    let revoked = super::sessions::ended_one(st, &a.id, sid, "session_ended_by_admin", now).await?;
    let detail = json!({ "sid": sid, "revoked_grants": revoked });
    audit::record(&st.db, Event::new("session.ended").actor(&who.actor()).subject(&a.id).detail(detail), now).await;
    Ok(revoked)
}

/// An account by NIP, NIK or id, as the command line names people; the same powers as `account`.
pub async fn find_account(st: &AppState, who: &Principal, key: &str) -> Result<Account, AdminError> {
    if !who.sees_accounts() {
        return Err(forbidden("reading accounts needs diskominfo-admin or opd-admin"));
    }
    let found = accounts::find(&st.db, key).await?.ok_or_else(|| who.no_such_account())?;
    lookup(st, who, &found.id).await
}

/// Why provisioning failed: refused like any operation, or the account's own data is wrong,
/// kept whole so the caller can name the exact rule (`nip_length`, `password_policy`, ...).
#[derive(Debug)]
pub enum ProvisionError {
    Refused(AdminError),
    Account(AccountError),
}

impl From<AdminError> for ProvisionError {
    fn from(e: AdminError) -> Self {
        ProvisionError::Refused(e)
    }
}

/// Region-wide provisioning without a unit, possibly of an administrator (the operator's
/// `account create`). Diskominfo powers only; the NIK warnings are returned as they are.
pub async fn provision_account(
    st: &AppState,
    who: &Principal,
    new: NewAccount,
    now: i64,
) -> Result<(Account, Vec<crate::identity::nik::NikWarning>), ProvisionError> {
    if !who.diskominfo() {
        return Err(forbidden("provisioning outside an OPD unit needs diskominfo-admin").into());
    }
    let is_admin = new.is_admin;
    let (account, warnings) = match accounts::create(&st.db, &st.hasher, new, now).await {
        Ok(created) => created,
        Err(AccountError::Store(e)) => return Err(internal(e).into()),
        Err(AccountError::Hash(e)) => return Err(internal(e).into()),
        Err(e) => return Err(ProvisionError::Account(e)),
    };
    let source = if matches!(who, Principal::Operator(_)) { "cli" } else { "admin" };
    let detail = json!({ "source": source, "kind": account.kind.as_str(), "is_admin": is_admin });
    audit::record(&st.db, Event::new("account.created").actor(&who.actor()).subject(&account.id).detail(detail), now)
        .await;
    Ok((account, warnings))
}

/// A change of unit and of profile attributes (`name`, `value`; an empty value removes one).
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    /// The new OPD unit's id.
    pub opd_id: Option<String>,
    pub profile: Vec<(String, String)>,
}

/// Moves a person (through `edit_account`, so their tokens are revoked as the console does) and
/// sets profile attributes, recorded as `account.updated` with the changed attributes before and
/// after. Everything is checked before anything is written.
pub async fn update_account(
    st: &AppState,
    who: &Principal,
    id: &AccountId,
    change: AccountChange,
    now: i64,
) -> Result<Account, AdminError> {
    let a = account(st, who, id).await?;
    let mut profile = a.profile.clone();
    let mut edit = AccountEdit::default();
    for (name, value) in &change.profile {
        // Only a citizen's `verified` has its own action; on other accounts the schema refuses it.
        if name.trim() == super::verification::ATTRIBUTE && a.kind == crate::identity::accounts::AccountKind::Citizen {
            return Err(AdminError::Invalid(super::verification::USE_VERIFICATION.into()));
        }
        // Contact details are the account's own columns, for every kind of account.
        match name.trim() {
            "email" => edit.email = Some(value.clone()),
            "phone_number" => edit.phone_number = Some(value.clone()),
            name => crate::identity::profile::set(&mut profile, a.kind, name, value)
                .map_err(|e| AdminError::Invalid(e.to_string()))?,
        }
    }
    if change.opd_id.is_some() && a.kind != AccountKind::Asn {
        return Err(AdminError::Invalid(AccountError::CitizenInUnit.to_string()));
    }
    super::contact::AdminContact::check(&a, edit.email.as_deref(), edit.phone_number.as_deref())?;
    edit.opd_id = change.opd_id;
    let mut a = if edit.opd_id.is_some() || edit.email.is_some() || edit.phone_number.is_some() {
        edit_found(st, who, a, edit, now).await?
    } else {
        a
    };
    let changed: std::collections::BTreeSet<&String> =
        a.profile.keys().chain(profile.keys()).filter(|k| a.profile.get(*k) != profile.get(*k)).collect();
    if changed.is_empty() {
        return Ok(a);
    }
    let pick = |p: &serde_json::Map<String, serde_json::Value>| -> serde_json::Map<String, serde_json::Value> {
        changed.iter().map(|k| (k.to_string(), p.get(*k).cloned().unwrap_or(serde_json::Value::Null))).collect()
    };
    let detail = json!({ "before": pick(&a.profile), "after": pick(&profile) });
    a.profile = profile;
    accounts::save_edited_profile(&st.db, &a, now).await?;
    audit::record(&st.db, Event::new("account.updated").actor(&who.actor()).subject(&a.id).detail(detail), now).await;
    Ok(a)
}

/// Accounts found as by `search_accounts`, each with its number of live sessions (0 when the
/// cache cannot tell: opening the account shows them, or the failure).
pub async fn search_with_sessions(
    st: &AppState,
    who: &Principal,
    q: &str,
    limit: i64,
    now: i64,
) -> Result<Vec<(Account, usize)>, AdminError> {
    let found = search_accounts(st, who, q, limit).await?;
    let mut out = Vec::with_capacity(found.len());
    for a in found {
        let n = session::list_for_account(&st.cache, &a.id, now).await.map(|s| s.len()).unwrap_or(0);
        out.push((a, n));
    }
    Ok(out)
}

/// People named by NIP, NIK or id (one per key), for a bulk change: those within the
/// principal's units, and the keys that name nobody there (unknown and out of reach look alike).
pub async fn find_people(
    st: &AppState,
    who: &Principal,
    keys: &[String],
) -> Result<(Vec<Account>, Vec<String>), AdminError> {
    let (mut found, mut unknown) = (Vec::new(), Vec::new());
    for key in keys {
        match accounts::find(&st.db, key).await? {
            Some(a) if who.manages_account(&a) => found.push(a),
            _ => unknown.push(key.clone()),
        }
    }
    Ok((found, unknown))
}

/// Everything the account page shows, read within the principal's powers.
#[derive(Debug)]
pub struct AccountOverview {
    pub account: Account,
    /// Assigned to the person; these can be removed from them.
    pub direct: Vec<crate::store::roles::RoleRow>,
    /// Held through the person's unit and the units above it.
    pub inherited: Vec<crate::store::roles::RoleRow>,
    /// Roles the principal may still assign to the person.
    pub assignable: Vec<crate::store::roles::RoleRow>,
    pub sessions: Vec<SsoSession>,
    pub certificates: Vec<crate::store::certs::CertRow>,
    /// Every unit, to name the person's.
    pub units: Vec<crate::store::opd::OpdRow>,
    /// The units the principal manages: where the person may be moved.
    pub managed_units: Vec<crate::store::opd::OpdRow>,
    pub upstream_links: Vec<super::upstream::LinkView>,
}

/// The account page of `id`: refused as `account` refuses; the parts that fail to load are
/// shown empty, so a slow cache does not hide the account.
pub async fn account_overview(
    st: &AppState,
    who: &Principal,
    id: &AccountId,
    now: i64,
) -> Result<AccountOverview, AdminError> {
    let account = account(st, who, id).await?;
    let (direct, effective) = super::roles::roles_of(st, who, id).await.unwrap_or_default();
    let inherited = effective.into_iter().filter(|r| !direct.iter().any(|d| d.id == r.id)).collect();
    let assignable = super::roles::assignable_roles(st, who)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !direct.iter().any(|d| d.id == r.id))
        .collect();
    Ok(AccountOverview {
        sessions: sessions(st, who, id, now).await.unwrap_or_default(),
        certificates: super::certificates::certificates_of(st, who, id).await.unwrap_or_default(),
        units: super::units::unit_names(st, who).await.unwrap_or_default(),
        managed_units: super::units::opd_units(st, who).await.unwrap_or_default(),
        upstream_links: super::upstream::links_of(st, &account.id).await.unwrap_or_default(),
        account,
        direct,
        inherited,
        assignable,
    })
}
