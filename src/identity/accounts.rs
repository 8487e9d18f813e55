//! Accounts: creation with NIP/NIK validation on every way in, lookup by login identifier, and
//! the password policy applied when a password is set.

use serde::Serialize;

use super::nik::{parse_nik, NikError, NikWarning};
use super::nip::{parse_nip, NipError};
use crate::config::Secret;
use crate::password::{HashError, HashSlot, Hasher};
use crate::store::accounts::{self as store, AccountRow};
use crate::store::{Db, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    Asn,
    Citizen,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Asn => "asn",
            AccountKind::Citizen => "citizen",
        }
    }

    pub fn parse(s: &str) -> Option<AccountKind> {
        match s {
            "asn" => Some(AccountKind::Asn),
            "citizen" => Some(AccountKind::Citizen),
            _ => None,
        }
    }
}

/// Employment or account status. Only `active` accounts can log in or hold live tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    Suspended,
    Retired,
    Dismissed,
}

impl AccountStatus {
    pub const ALL: [AccountStatus; 4] =
        [AccountStatus::Active, AccountStatus::Suspended, AccountStatus::Retired, AccountStatus::Dismissed];

    /// What a face says when it is given anything else.
    pub const EXPECTED: &'static str = "status must be one of: active, suspended, retired, dismissed";

    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Retired => "retired",
            AccountStatus::Dismissed => "dismissed",
        }
    }

    pub fn parse(s: &str) -> Option<AccountStatus> {
        AccountStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: String,
    pub kind: AccountKind,
    pub nip: Option<String>,
    pub nik: Option<String>,
    pub name: String,
    pub is_admin: bool,
    pub status: AccountStatus,
    pub opd_id: Option<String>,
    pub profile: serde_json::Map<String, serde_json::Value>,
    /// Contact address; `email_verified` only once a link sent to it was followed.
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone_number: Option<String>,
    /// The language the person last used, for e-mail (`None`: the region's default).
    pub locale: Option<String>,
}

impl Account {
    /// The address mail may be sent to: only a proven one, so a typo or someone else's address
    /// never receives a reset link.
    pub fn verified_email(&self) -> Option<&str> {
        self.email.as_deref().filter(|_| self.email_verified)
    }

    /// Whether an officer verified the person's identity at a counter (profile `verified`).
    pub fn identity_verified(&self) -> bool {
        self.profile.get("verified").and_then(serde_json::Value::as_bool).unwrap_or(false)
    }

    pub fn is_active(&self) -> bool {
        self.status == AccountStatus::Active
    }

    /// A status the code does not know is damage, not a reason to guess whether the person may log in.
    fn from_row(r: AccountRow) -> Result<(Account, Option<String>), StoreError> {
        let kind = if r.kind == "asn" { AccountKind::Asn } else { AccountKind::Citizen };
        let status = AccountStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Corrupt(format!("account {} has the unknown status `{}`", r.id, r.status)))?;
        // A damaged profile must not lock the person out; it shows as empty and is logged.
        let profile = serde_json::from_str(&r.profile).unwrap_or_else(|e| {
            tracing::error!(account = %r.id, error = %e, "stored profile is not a JSON object");
            serde_json::Map::new()
        });
        Ok((
            Account {
                id: r.id,
                kind,
                nip: r.nip,
                nik: r.nik,
                name: r.name,
                is_admin: r.is_admin,
                status,
                opd_id: r.opd_id,
                profile,
                email: r.email,
                email_verified: r.email_verified,
                phone_number: r.phone_number,
                locale: r.locale,
            },
            r.password_hash,
        ))
    }
}

pub struct NewAccount {
    /// Given for civil servants (ASN); the account kind follows from it.
    pub nip: Option<String>,
    /// Required for citizens; optional for civil servants.
    pub nik: Option<String>,
    pub name: String,
    pub password: Option<Secret<String>>,
    pub is_admin: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Nip(#[from] NipError),
    #[error("{0}")]
    Nik(#[from] NikError),
    #[error("either a NIP (civil servant) or a NIK (citizen) is required")]
    MissingIdentifier,
    /// An OPD unit's admins manage the people in it: a citizen in a unit would be theirs to
    /// verify at a counter or to reset, powers only Diskominfo and identity officers hold.
    #[error("only civil servants (ASN) belong to an OPD unit")]
    CitizenInUnit,
    #[error("name must be 1 to 200 characters without control characters")]
    Name,
    #[error("{0}")]
    Password(PasswordRule),
    #[error("an account with this {0} already exists")]
    Conflict(String),
    /// The change would leave the region without an active `diskominfo-admin`.
    #[error(
        "the region would be left without an active diskominfo-admin: give the role to another administrator first"
    )]
    LastAdmin,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(field) => AccountError::Conflict(field.to_uppercase()),
            other => AccountError::Store(other),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRule {
    #[error("password must be at least 10 characters")]
    TooShort,
    #[error("password must be at most 256 characters")]
    TooLong,
    #[error("password must not contain the NIP or NIK")]
    ContainsIdentifier,
    #[error("password must not contain the account holder's name")]
    ContainsName,
    #[error("password is one of the most common passwords")]
    Common,
}

impl PasswordRule {
    /// Translation key of the rule for the account pages.
    pub fn message_key(self) -> &'static str {
        match self {
            PasswordRule::TooShort => "pw_too_short",
            PasswordRule::TooLong => "pw_too_long",
            PasswordRule::ContainsIdentifier => "pw_contains_identifier",
            PasswordRule::ContainsName => "pw_contains_name",
            PasswordRule::Common => "pw_common",
        }
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;

/// The 10,000 most common passwords (see the file's header for its source).
const COMMON: &str = include_str!("common_passwords.txt");

/// Common choices in Indonesia that the international list misses; ours.
const COMMON_ID: &[&str] = &[
    "bismillah",
    "bismillah123",
    "indonesia",
    "indonesia123",
    "indonesia45",
    "merdeka45",
    "sayangku",
    "rahasia",
    "rahasia123",
    "katasandi",
    "katasandi123",
    "password123",
    "qwerty123",
    "jember123",
    "asdfghjkl",
    "1234567890",
    "pemerintah",
    "pemkab123",
    "diskominfo",
    "kominfo123",
    "admin12345",
    "nasional",
    "garuda123",
    "pancasila",
];

fn is_common(password: &str) -> bool {
    use std::collections::HashSet;
    use std::sync::OnceLock;
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let set = SET.get_or_init(|| {
        COMMON.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).chain(COMMON_ID.iter().copied()).collect()
    });
    set.contains(password.to_lowercase().as_str())
}

/// The password policy: length, not a common password, not containing the NIP/NIK or any part
/// of the name of four letters or more.
pub fn check_password(password: &str, identifiers: &[&str], name: &str) -> Result<(), PasswordRule> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(PasswordRule::TooShort);
    }
    if n > 256 {
        return Err(PasswordRule::TooLong);
    }
    if identifiers.iter().any(|id| !id.is_empty() && password.contains(id)) {
        return Err(PasswordRule::ContainsIdentifier);
    }
    let lower = password.to_lowercase();
    let name_parts = name.split(|c: char| !c.is_alphabetic()).map(str::to_lowercase).filter(|p| p.chars().count() >= 4);
    for part in name_parts {
        if lower.contains(&part) {
            return Err(PasswordRule::ContainsName);
        }
    }
    if is_common(password) {
        return Err(PasswordRule::Common);
    }
    Ok(())
}

/// Creates an account after validating its identifiers; returns NIK warnings (unknown region
/// codes) for the caller to show, since they do not block creation.
pub async fn create(
    db: &Db,
    hasher: &Hasher,
    new: NewAccount,
    now: i64,
) -> Result<(Account, Vec<NikWarning>), AccountError> {
    create_in_unit(db, hasher, new, None, now).await
}

/// As [`create`], with the account placed in an OPD unit by the same insert, so it never exists
/// outside the unit it was created for.
pub async fn create_in_unit(
    db: &Db,
    hasher: &Hasher,
    new: NewAccount,
    opd_id: Option<&str>,
    now: i64,
) -> Result<(Account, Vec<NikWarning>), AccountError> {
    let today = super::today(now);
    let nip = new.nip.as_deref().map(|n| parse_nip(n, today)).transpose()?;
    let nik = new.nik.as_deref().map(|n| parse_nik(n, today)).transpose()?;
    let kind = match (&nip, &nik) {
        (Some(_), _) => AccountKind::Asn,
        (None, Some(_)) => AccountKind::Citizen,
        (None, None) => return Err(AccountError::MissingIdentifier),
    };
    if kind != AccountKind::Asn && opd_id.is_some() {
        return Err(AccountError::CitizenInUnit);
    }
    let name = valid_name(&new.name).ok_or(AccountError::Name)?;
    let nip_s = nip.as_ref().map(|i| i.nip.as_str().to_string());
    let nik_s = nik.as_ref().map(|i| i.nik.as_str().to_string());
    let password_hash = match &new.password {
        Some(pw) => {
            let ids: Vec<&str> = [nip_s.as_deref(), nik_s.as_deref()].into_iter().flatten().collect();
            check_password(pw.expose(), &ids, &name).map_err(AccountError::Password)?;
            Some(hasher.hash(pw).await?)
        }
        None => None,
    };
    let row = AccountRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.as_str().into(),
        nip: nip_s,
        nik: nik_s,
        name,
        password_hash,
        is_admin: new.is_admin,
        status: AccountStatus::Active.as_str().into(),
        created_at: now,
        updated_at: now,
        opd_id: opd_id.map(String::from),
        profile: "{}".into(),
        email: None,
        email_verified: false,
        phone_number: None,
        locale: None,
    };
    store::insert(db, &row).await?;
    let warnings = nik.map(|i| i.warnings).unwrap_or_default();
    Ok((Account::from_row(row)?.0, warnings))
}

/// The name as stored (trimmed), if it follows the naming rule.
pub fn valid_name(name: &str) -> Option<String> {
    let name = name.trim();
    let ok = !name.is_empty() && name.chars().count() <= 200 && !name.chars().any(char::is_control);
    ok.then(|| name.to_string())
}

/// A citizen account from a confirmed self-registration: the password was checked and hashed
/// when the person asked, and the address is proven by the link they followed.
pub async fn create_registered(
    db: &Db,
    nik: &str,
    name: &str,
    password_hash: &str,
    email: &str,
    locale: Option<&str>,
    now: i64,
) -> Result<Account, AccountError> {
    let nik = parse_nik(nik, super::today(now))?;
    let name = valid_name(name).ok_or(AccountError::Name)?;
    let row = AccountRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: AccountKind::Citizen.as_str().into(),
        nip: None,
        nik: Some(nik.nik.as_str().to_string()),
        name,
        password_hash: Some(password_hash.to_string()),
        is_admin: false,
        status: AccountStatus::Active.as_str().into(),
        created_at: now,
        updated_at: now,
        opd_id: None,
        profile: "{}".into(),
        email: Some(email.to_string()),
        email_verified: true,
        phone_number: None,
        locale: locale.map(String::from),
    };
    // Created and marked together: an unmarked self-registered account could be linked to an
    // upstream login asserting its NIK.
    let mut tx = db.begin().await?;
    store::insert(&mut tx, &row).await?;
    store::mark_self_registered(&mut tx, &row.id).await?;
    tx.commit().await?;
    Ok(Account::from_row(row)?.0)
}

/// An account from a row another query already read (a listing), checked as `get` checks it.
pub fn from_stored(row: AccountRow) -> Result<Account, StoreError> {
    Ok(Account::from_row(row)?.0)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Account>, StoreError> {
    store::get(db, id).await?.map(|r| Ok(Account::from_row(r)?.0)).transpose()
}

/// Finds an account by NIP, NIK (separators allowed) or internal id, for the CLI and admins.
pub async fn find(db: &Db, identifier: &str) -> Result<Option<Account>, StoreError> {
    if let Some((a, _)) = find_for_login(db, identifier).await? {
        return Ok(Some(a));
    }
    get(db, identifier.trim()).await
}

/// Accounts matching a name fragment or a NIP/NIK prefix, newest first.
pub async fn search(db: &Db, query: &str, limit: i64) -> Result<Vec<Account>, StoreError> {
    store::search(db, query, limit).await?.into_iter().map(|r| Ok(Account::from_row(r)?.0)).collect()
}

/// As `search`, within an OPD unit and the units below it.
pub async fn search_in_subtree(db: &Db, query: &str, unit: &str, limit: i64) -> Result<Vec<Account>, StoreError> {
    store::search_in_subtree(db, query, unit, limit).await?.into_iter().map(|r| Ok(Account::from_row(r)?.0)).collect()
}

/// Saves OPD membership and profile attributes.
/// Saves an administrator's edit of the unit and profile. The citizen's `verified` is taken from
/// the row as stored and held, never from the edited copy: it is set only by the counter
/// verification, and an edit read just before one must not undo it.
pub async fn save_edited_profile(db: &Db, account: &Account, now: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let mut profile = account.profile.clone();
    if let Some(row) = store::get_locked(&mut tx, &account.id).await? {
        let (stored, _) = Account::from_row(row)?;
        match stored.profile.get("verified") {
            Some(v) => profile.insert("verified".into(), v.clone()),
            None => profile.remove("verified"),
        };
    }
    let profile = serde_json::Value::Object(profile).to_string();
    store::set_opd_and_profile(&mut tx, &account.id, account.opd_id.as_deref(), &profile, now).await?;
    tx.commit().await
}

pub async fn save_profile(db: &Db, account: &Account, now: i64) -> Result<(), StoreError> {
    let profile = serde_json::Value::Object(account.profile.clone()).to_string();
    store::set_opd_and_profile(db, &account.id, account.opd_id.as_deref(), &profile, now).await?;
    Ok(())
}

/// Marks a citizen identity-verified, deciding on the row as stored and held (see
/// `store::accounts::get_locked`): of two officers verifying at once exactly one does it, and an
/// edit of another profile attribute at the same moment is not lost. `None`: no such account;
/// `Some(false)`: verified already.
pub async fn mark_identity_verified(db: &Db, id: &str, now: i64) -> Result<Option<bool>, StoreError> {
    let mut tx = db.begin().await?;
    let Some(row) = store::get_locked(&mut tx, id).await? else { return Ok(None) };
    let (mut account, _) = Account::from_row(row)?;
    if account.identity_verified() {
        return Ok(Some(false));
    }
    account.profile.insert("verified".into(), true.into());
    let profile = serde_json::Value::Object(account.profile).to_string();
    store::set_profile(&mut tx, id, &profile, now).await?;
    tx.commit().await?;
    Ok(Some(true))
}

/// Changes the status. Any status but `active` revokes every grant of the account at once, in
/// the same transaction, and queues a back-channel logout token for each application that
/// listens (reason `account_<status>`); the caller ends the SSO sessions, which are refused
/// meanwhile because each use checks the status.
pub async fn set_status(db: &Db, id: &str, status: AccountStatus, now: i64) -> Result<bool, AccountError> {
    let mut tx = db.begin().await?;
    // Two administrators suspending each other at once must not both succeed: judged under the
    // role's lock, counting the active holders before and after.
    let admin = crate::identity::admin::DISKOMINFO_ADMIN;
    let before = if status != AccountStatus::Active {
        crate::store::roles::lock_global(&mut tx, admin).await?;
        crate::store::roles::active_holders_of_global(&mut tx, admin).await?
    } else {
        0
    };
    let found = store::set_status(&mut tx, id, status.as_str(), now).await?;
    if before > 0 && crate::store::roles::active_holders_of_global(&mut tx, admin).await? == 0 {
        return Err(AccountError::LastAdmin);
    }
    if found && status != AccountStatus::Active {
        let reason = format!("account_{}", status.as_str());
        crate::store::logout::revoke_and_enqueue(&mut tx, id, crate::store::logout::Ending::All, &reason, now).await?;
    }
    tx.commit().await?;
    Ok(found)
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("the current password is wrong")]
    WrongCurrent,
    #[error("{0}")]
    Policy(PasswordRule),
    #[error("{0}")]
    Internal(String),
}

/// Checks the current password (in the hashing queue place `slot`) and the policy for the new
/// one; returns the new one's hash for the caller to store (with whatever else the change ends,
/// in one transaction).
pub async fn new_password_hash(
    db: &Db,
    hasher: &Hasher,
    slot: HashSlot,
    account_id: &str,
    current: &Secret<String>,
    new: &Secret<String>,
) -> Result<String, PasswordChangeError> {
    let internal = |e: &dyn std::fmt::Display| PasswordChangeError::Internal(e.to_string());
    let row = store::get(db, account_id).await.map_err(|e| internal(&e))?.ok_or(PasswordChangeError::WrongCurrent)?;
    if !hasher.verify_in(slot, current, row.password_hash.as_deref()).await.map_err(|e| internal(&e))? {
        return Err(PasswordChangeError::WrongCurrent);
    }
    let ids: Vec<&str> = [row.nip.as_deref(), row.nik.as_deref()].into_iter().flatten().collect();
    check_password(new.expose(), &ids, &row.name).map_err(PasswordChangeError::Policy)?;
    hasher.hash(new).await.map_err(|e| internal(&e))
}

/// Finds an account by what a person types at login: an 18-digit NIP or a 16-digit NIK, with
/// spaces and dots allowed. Returns the stored password hash alongside.
pub async fn find_for_login(db: &Db, login: &str) -> Result<Option<(Account, Option<String>)>, StoreError> {
    let digits: String = login.chars().filter(|c| !c.is_whitespace() && *c != '.').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let row = match digits.len() {
        18 => store::find_by_nip(db, &digits).await?,
        16 => store::find_by_nik(db, &digits).await?,
        _ => None,
    };
    row.map(Account::from_row).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        assert_eq!(check_password("pendek", &[], ""), Err(PasswordRule::TooShort));
        assert_eq!(
            check_password("x199001012015031001y", &["199001012015031001"], ""),
            Err(PasswordRule::ContainsIdentifier)
        );
        assert_eq!(check_password("SitiAminah2026!", &[], "Siti Aminah, S.Kom."), Err(PasswordRule::ContainsName));
        assert_eq!(check_password("1234567890", &[], ""), Err(PasswordRule::Common));
        assert_eq!(check_password("Password123", &[], ""), Err(PasswordRule::Common), "case does not help");
        assert_eq!(check_password("bismillah123", &[], ""), Err(PasswordRule::Common));
        assert!(check_password("cukup-panjang-sekali", &["199001012015031001"], "Siti Aminah").is_ok());
        assert!(is_common("123456") && is_common("dragon"));
    }

    #[test]
    fn statuses_read_and_write_as_stored() {
        for s in AccountStatus::ALL {
            assert_eq!(AccountStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert_eq!(AccountStatus::parse("retired"), Some(AccountStatus::Retired));
        assert_eq!(AccountStatus::parse("Active"), None, "stored lowercase only");
        assert_eq!(AccountStatus::parse("holiday"), None);
        assert_eq!(AccountStatus::parse(""), None);
        assert!(serde_json::from_str::<AccountStatus>("\"holiday\"").is_err());
        assert_eq!(serde_json::from_str::<AccountStatus>("\"dismissed\"").unwrap(), AccountStatus::Dismissed);
    }
}
