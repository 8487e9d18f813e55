//! Administrative operations, shared by the admin API and the console: each one checks the
//! caller's delegated powers (`identity::admin`), makes the change through the domain modules and
//! records it in the audit trail, with the state before and after where something is edited.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditRow, Event};
use crate::auth::session::{self, SsoSession};
use crate::config::Secret;
use crate::identity::accounts::{self, Account, AccountError, NewAccount};
use crate::identity::admin::{Admin, DISKOMINFO_ADMIN};
use crate::identity::roles::{self, Holder, RoleError};
use crate::oidc::clients::{self, Client, ClientEdit, ClientError, GrantType, NewClient};
use crate::oidc::introspect::check_access_token;
use crate::oidc::registration::{self, AppRequest, WorkflowError};
use crate::state::AppState;
use crate::store::accounts as account_store;
use crate::store::app_requests::{self as request_store, RequestRow};
use crate::store::certs::{self as cert_store, CertRow, HeldCert};
use crate::store::opd::{self as opd_store, OpdRow};
use crate::store::roles::{self as role_store, RoleRow};

/// The console is an application of Gerbang like any other; the admin API accepts only tokens
/// issued to it.
pub const CONSOLE_CLIENT_ID: &str = "gerbang-console";

/// Most items one bulk request may carry: enough for a whole OPD, small enough for one request.
pub const MAX_BULK: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No valid token or session: log in again.
    Unauthenticated(String),
    /// Logged in, but the login was not strong enough for administration.
    NeedsLevel(u8),
    Forbidden(String),
    NotFound(&'static str),
    Conflict(String),
    /// The request's content is wrong; the text names the field.
    Invalid(String),
    /// Once-only data that was already handed out.
    Gone(String),
    /// Logged where it happened; callers show a generic message.
    Internal,
}

impl AdminError {
    /// The explanation for the person, without internals.
    pub fn detail(&self) -> String {
        match self {
            AdminError::Unauthenticated(d)
            | AdminError::Forbidden(d)
            | AdminError::Conflict(d)
            | AdminError::Invalid(d)
            | AdminError::Gone(d) => d.clone(),
            AdminError::NeedsLevel(l) => format!("security level {l} is required"),
            AdminError::NotFound(what) => format!("no such {what}"),
            AdminError::Internal => "the server could not complete the request".into(),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> AdminError {
    tracing::error!(error = %e, "administrative operation failed");
    AdminError::Internal
}

fn forbidden(s: &str) -> AdminError {
    AdminError::Forbidden(s.to_string())
}

impl From<crate::store::StoreError> for AdminError {
    fn from(e: crate::store::StoreError) -> Self {
        internal(e)
    }
}

impl From<ClientError> for AdminError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid { field, message } => AdminError::Invalid(format!("{field}: {message}")),
            ClientError::Conflict => AdminError::Conflict("an application with this id exists".into()),
            other => internal(other),
        }
    }
}

impl From<WorkflowError> for AdminError {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::Invalid(c) => c.into(),
            WorkflowError::NoUnit => forbidden("you belong to no OPD unit"),
            WorkflowError::NotFound => AdminError::NotFound("request"),
            WorkflowError::AlreadyDecided => AdminError::Conflict("the request was already decided".into()),
            WorkflowError::ReasonRequired => AdminError::Invalid("reason: a rejection needs a reason".into()),
            WorkflowError::AlreadyFetched => {
                AdminError::Gone("the credentials were already fetched; ask Diskominfo to rotate the secret".into())
            }
            WorkflowError::NotRequester => forbidden("only the requester may fetch the credentials"),
            WorkflowError::NotApproved => AdminError::Conflict("the request is not approved".into()),
            e => internal(e),
        }
    }
}

impl From<AccountError> for AdminError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Conflict(field) => {
                AdminError::Conflict(format!("an account with this {field} already exists"))
            }
            AccountError::Store(s) => internal(s),
            AccountError::Hash(h) => internal(h),
            other => AdminError::Invalid(other.to_string()),
        }
    }
}

/// Who is calling, from an access token the console was given. Revoked, expired and foreign
/// tokens are refused; roles are read live, so a removed role stops working at once.
pub async fn authenticate(st: &AppState, token: &str, now: i64) -> Result<Admin, AdminError> {
    let unauthenticated = |d: &str| AdminError::Unauthenticated(d.to_string());
    let (claims, grant) = check_access_token(st, token, now)
        .await
        .map_err(|_| unauthenticated("the access token is invalid, expired or revoked"))?;
    let grant = grant.ok_or_else(|| forbidden("a person's token is required, not an application's"))?;
    if claims.client_id != CONSOLE_CLIENT_ID {
        return Err(forbidden("the token was not issued to the admin console"));
    }
    if claims.security_level.unwrap_or(1) < st.config.admin_min_level {
        return Err(AdminError::NeedsLevel(st.config.admin_min_level));
    }
    let account = accounts::get(&st.db, &grant.account_id).await?.filter(|a| a.is_active());
    let account = account.ok_or_else(|| unauthenticated("the account is not active"))?;
    Admin::load(&st.db, account).await?.ok_or_else(|| forbidden("no administrative role"))
}

/// Who is using the console: its session holds the grant the console's login created. The
/// grant must be unrevoked, the browser's single sign-on session that made it still alive
/// (`live_sid`), the login strong enough, the account active and an admin role held now. So
/// logging out, a revoked grant or a removed role ends console access at once, while an admin
/// at work is not sent through the login every time an access token would expire.
pub async fn authenticate_grant(
    st: &AppState,
    grant_id: &str,
    live_sid: Option<&str>,
    now: i64,
) -> Result<Admin, AdminError> {
    let ended = || AdminError::Unauthenticated("the console session ended".into());
    let grant = crate::store::grants::get_grant(&st.db, grant_id).await?.ok_or_else(ended)?;
    if grant.revoked_at.is_some()
        || grant.expires_at <= now
        || grant.client_id != CONSOLE_CLIENT_ID
        || live_sid != Some(grant.sid.as_str())
    {
        return Err(ended());
    }
    if crate::identity::levels::from_acr(&grant.acr).unwrap_or(1) < st.config.admin_min_level {
        return Err(AdminError::NeedsLevel(st.config.admin_min_level));
    }
    let account = accounts::get(&st.db, &grant.account_id).await?.filter(|a| a.is_active()).ok_or_else(ended)?;
    Admin::load(&st.db, account).await?.ok_or_else(|| forbidden("no administrative role"))
}

// ---------------------------------------------------------------- accounts

/// Diskominfo admins search everyone; OPD admins their own subtree's staff.
pub async fn search_accounts(st: &AppState, admin: &Admin, q: &str, limit: i64) -> Result<Vec<Account>, AdminError> {
    if !admin.sees_accounts() {
        return Err(forbidden("reading accounts needs diskominfo-admin or opd-admin"));
    }
    let limit = limit.clamp(1, 500);
    if admin.diskominfo {
        return Ok(accounts::search(&st.db, q.trim(), limit).await?);
    }
    let Some(unit) = admin.account.opd_id.as_deref() else { return Ok(Vec::new()) };
    Ok(accounts::search_in_subtree(&st.db, q.trim(), unit, limit).await?)
}

pub async fn account(st: &AppState, admin: &Admin, id: &str) -> Result<Account, AdminError> {
    // Refused before the lookup: without account powers, not even whether an id exists.
    if !admin.sees_accounts() {
        return Err(forbidden("reading accounts needs diskominfo-admin or opd-admin"));
    }
    let a = accounts::get(&st.db, id).await?.ok_or(AdminError::NotFound("account"))?;
    if !admin.manages_account(&a) {
        return Err(forbidden("the account is outside the OPD units you manage"));
    }
    // An OPD admin's subtree can contain a Diskominfo administrator; those are Diskominfo's to
    // manage, or an OPD admin could end their sessions or rename them.
    if !admin.diskominfo
        && roles::effective(&st.db, &a.id).await?.iter().any(|r| r.client_id.is_empty() && r.name == DISKOMINFO_ADMIN)
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

/// Provisioning by hand: Diskominfo admins anywhere, OPD admins into their own units.
/// Returns the account and warnings about the NIK (unknown region codes), which do not block.
pub async fn create_account(
    st: &AppState,
    admin: &Admin,
    input: AccountInput,
    now: i64,
) -> Result<(Account, Vec<String>), AdminError> {
    let unit = input.opd_id.clone().filter(|u| !u.is_empty());
    match &unit {
        Some(u) => {
            opd_store::get(&st.db, u).await?.ok_or(AdminError::Invalid("opd_id: no such OPD unit".into()))?;
            if !admin.manages_unit(Some(u)) {
                return Err(forbidden("the unit is outside the OPD units you manage"));
            }
        }
        None if !admin.diskominfo => return Err(forbidden("an OPD admin creates accounts in their own units")),
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
    let (mut account, warnings) = accounts::create(&st.db, &st.hasher, new, now).await?;
    if unit.is_some() {
        account.opd_id = unit;
        accounts::save_profile(&st.db, &account, now).await?;
    }
    let detail = json!({ "source": "admin", "kind": account.kind.as_str(), "opd_id": account.opd_id });
    audit::record(
        &st.db,
        Event::new("account.created").actor(&admin.account.id).subject(&account.id).detail(detail),
        now,
    )
    .await;
    Ok((account, warnings.iter().map(|w| w.to_string()).collect()))
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AccountEdit {
    pub name: Option<String>,
    /// The OPD unit's id; an empty string removes the account from its unit (Diskominfo only).
    pub opd_id: Option<String>,
}

/// Name and unit. Moving someone needs power over both the old and the new unit. Everything is
/// checked before anything is written, so a refused edit changes nothing (not even the name
/// sent along with a refused unit).
pub async fn edit_account(
    st: &AppState,
    admin: &Admin,
    id: &str,
    edit: AccountEdit,
    now: i64,
) -> Result<Account, AdminError> {
    let mut a = account(st, admin, id).await?;
    let before = json!({ "name": a.name, "opd_id": a.opd_id });
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
                if let Some(u) = &unit {
                    opd_store::get(&st.db, u).await?.ok_or(AdminError::Invalid("opd_id: no such OPD unit".into()))?;
                }
                if !admin.manages_unit(unit.as_deref()) {
                    return Err(forbidden("the new unit is outside the OPD units you manage"));
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
        accounts::save_profile(&st.db, &a, now).await?;
        // Tokens carry the unit and the roles inherited through it; both just changed.
        revoked = crate::store::grants::revoke_grants_of_account(&st.db, &a.id, now).await?;
    }
    let after = json!({ "name": a.name, "opd_id": a.opd_id });
    if before != after {
        let detail = json!({ "before": before, "after": after, "revoked_grants": revoked });
        audit::record(
            &st.db,
            Event::new("account.updated").actor(&admin.account.id).subject(&a.id).detail(detail),
            now,
        )
        .await;
    }
    Ok(a)
}

/// Diskominfo admins only: anything but `active` revokes the account's tokens.
pub async fn set_status(st: &AppState, admin: &Admin, id: &str, status: &str, now: i64) -> Result<Account, AdminError> {
    if !admin.changes_status() {
        return Err(forbidden("changing a status needs diskominfo-admin"));
    }
    let mut a = accounts::get(&st.db, id).await?.ok_or(AdminError::NotFound("account"))?;
    if a.id == admin.account.id {
        return Err(AdminError::Conflict("you cannot change the status of your own account".into()));
    }
    let before = a.status.clone();
    accounts::set_status(&st.db, &a.id, status, now).await?;
    let detail = json!({ "before": before, "after": status });
    audit::record(
        &st.db,
        Event::new("account.status_changed").actor(&admin.account.id).subject(&a.id).detail(detail),
        now,
    )
    .await;
    a.status = status.to_string();
    Ok(a)
}

/// Removes every second factor (lost phone, lost key) and ends the person's sessions, since a
/// session opened with the lost factor may be in someone else's hands. Diskominfo admins only.
pub async fn reset_factors(st: &AppState, admin: &Admin, id: &str, now: i64) -> Result<usize, AdminError> {
    if !admin.diskominfo {
        return Err(forbidden("resetting second factors needs diskominfo-admin"));
    }
    let a = accounts::get(&st.db, id).await?.ok_or(AdminError::NotFound("account"))?;
    crate::auth::reset_factors(&st.db, &a.id).await?;
    let sessions = session::list_for_account(&st.cache, &a.id, now).await.map_err(internal)?;
    for s in &sessions {
        session::end_by_sid(&st.cache, &a.id, &s.sid).await.map_err(internal)?;
        crate::store::grants::revoke_grants_of_session(&st.db, &s.sid, now).await?;
    }
    let detail = json!({ "sessions_ended": sessions.len() });
    audit::record(
        &st.db,
        Event::new("account.factors_reset").actor(&admin.account.id).subject(&a.id).detail(detail),
        now,
    )
    .await;
    Ok(sessions.len())
}

// ---------------------------------------------------------------- sessions

pub async fn sessions(st: &AppState, admin: &Admin, account_id: &str, now: i64) -> Result<Vec<SsoSession>, AdminError> {
    let a = account(st, admin, account_id).await?;
    session::list_for_account(&st.cache, &a.id, now).await.map_err(internal)
}

/// Ends one session and revokes the tokens issued under it.
pub async fn end_session(
    st: &AppState,
    admin: &Admin,
    account_id: &str,
    sid: &str,
    now: i64,
) -> Result<u64, AdminError> {
    let a = account(st, admin, account_id).await?;
    if !session::end_by_sid(&st.cache, &a.id, sid).await.map_err(internal)? {
        return Err(AdminError::NotFound("session"));
    }
    let revoked = crate::store::grants::revoke_grants_of_session(&st.db, sid, now).await?;
    let detail = json!({ "sid": sid, "revoked_grants": revoked });
    audit::record(&st.db, Event::new("session.ended").actor(&admin.account.id).subject(&a.id).detail(detail), now)
        .await;
    Ok(revoked)
}

// ---------------------------------------------------------------- OPD units and roles

/// The OPD tree (OPD admins: their own subtree).
pub async fn opd_units(st: &AppState, admin: &Admin) -> Result<Vec<OpdRow>, AdminError> {
    if !admin.sees_accounts() {
        return Err(forbidden("reading the OPD tree needs diskominfo-admin or opd-admin"));
    }
    Ok(opd_store::list(&st.db).await?.into_iter().filter(|o| admin.manages_unit(Some(&o.id))).collect())
}

/// Roles the caller may hand out: all for Diskominfo, those of their own applications for an
/// OPD admin.
pub async fn assignable_roles(st: &AppState, admin: &Admin) -> Result<Vec<RoleRow>, AdminError> {
    if !admin.sees_accounts() {
        return Err(forbidden("reading roles needs diskominfo-admin or opd-admin"));
    }
    let all = role_store::list(&st.db).await?;
    if admin.diskominfo {
        return Ok(all);
    }
    let owners: std::collections::HashMap<String, Option<String>> =
        clients::list(&st.db).await?.into_iter().map(|c| (c.id, c.owner_opd_id)).collect();
    Ok(all
        .into_iter()
        .filter(|r| {
            !r.client_id.is_empty() && owners.get(&r.client_id).is_some_and(|o| admin.manages_unit(o.as_deref()))
        })
        .collect())
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NewRole {
    /// 1 to 64 lowercase letters, digits, `-`, `_`, `.` or `:`.
    pub name: String,
    /// The application the role belongs to; absent for a global role (Diskominfo only).
    pub client_id: Option<String>,
    #[serde(default)]
    pub description: String,
}

/// Global roles are Diskominfo's; an OPD admin defines roles of its own applications.
pub async fn create_role(st: &AppState, admin: &Admin, new: NewRole, now: i64) -> Result<RoleRow, AdminError> {
    let client = new.client_id.clone().filter(|c| !c.is_empty());
    match &client {
        None if !admin.diskominfo => return Err(forbidden("global roles are created by diskominfo-admin")),
        None => {}
        Some(c) => {
            application(st, admin, c).await?;
        }
    }
    let description = new.description.trim();
    if description.chars().count() > 500 || description.chars().any(char::is_control) {
        return Err(AdminError::Invalid("description: up to 500 characters on one line".into()));
    }
    let role = match roles::create(&st.db, client.as_deref().unwrap_or(""), new.name.trim(), description, now).await {
        Ok(r) => r,
        Err(RoleError::Name) => return Err(AdminError::Invalid(format!("name: {}", RoleError::Name))),
        Err(RoleError::Conflict) => return Err(AdminError::Conflict(RoleError::Conflict.to_string())),
        Err(e) => return Err(internal(e)),
    };
    let detail = json!({ "role": role.name, "client_id": role.client_id, "description": role.description });
    audit::record(&st.db, Event::new("role.created").actor(&admin.account.id).detail(detail), now).await;
    Ok(role)
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NewUnit {
    /// E.g. `3509.11`.
    pub code: String,
    pub name: String,
    /// `dinas`, `badan`, `kecamatan`, `bagian`, ...
    pub kind: String,
    /// The parent unit's code; absent for a top-level unit.
    pub parent: Option<String>,
}

/// Diskominfo shapes the OPD tree; an OPD admin may add units below its own.
pub async fn create_unit(st: &AppState, admin: &Admin, new: NewUnit, now: i64) -> Result<OpdRow, AdminError> {
    let parent = new.parent.clone().filter(|p| !p.is_empty());
    match &parent {
        None if !admin.diskominfo => return Err(forbidden("top-level units are created by diskominfo-admin")),
        None => {}
        Some(code) => {
            let p = opd_store::find_by_code(&st.db, code)
                .await?
                .ok_or_else(|| AdminError::Invalid(format!("parent: unknown OPD unit `{code}`")))?;
            if !admin.manages_unit(Some(&p.id)) {
                return Err(forbidden("the parent unit is outside the OPD units you manage"));
            }
        }
    }
    let unit = crate::identity::opd::create(
        &st.db,
        crate::identity::opd::NewOpd { code: new.code, name: new.name, kind: new.kind, parent },
        now,
    )
    .await
    .map_err(|e| match e {
        crate::identity::opd::OpdError::Invalid { .. } | crate::identity::opd::OpdError::UnknownParent(_) => {
            AdminError::Invalid(e.to_string())
        }
        crate::identity::opd::OpdError::Conflict(_) => AdminError::Conflict(e.to_string()),
        crate::identity::opd::OpdError::Store(s) => internal(s),
    })?;
    let detail = json!({ "opd_id": unit.id, "code": unit.code, "name": unit.name, "parent_id": unit.parent_id });
    audit::record(&st.db, Event::new("opd.created").actor(&admin.account.id).detail(detail), now).await;
    Ok(unit)
}

/// The roles an account holds: (directly assigned, held in all including through its unit).
pub async fn roles_of(
    st: &AppState,
    admin: &Admin,
    account_id: &str,
) -> Result<(Vec<RoleRow>, Vec<RoleRow>), AdminError> {
    let a = account(st, admin, account_id).await?;
    Ok((role_store::direct_of_account(&st.db, &a.id).await?, roles::effective(&st.db, &a.id).await?))
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Assignment {
    pub role: String,
    /// The application the role belongs to; absent for a global role.
    pub client_id: Option<String>,
    pub account_id: String,
}

async fn check_assignment(st: &AppState, admin: &Admin, a: &Assignment) -> Result<(RoleRow, Account), AdminError> {
    let client = a.client_id.as_deref().unwrap_or("");
    let owner = if client.is_empty() {
        None
    } else {
        let c = st.clients.get(&st.db, client).await?.ok_or(AdminError::NotFound("application"))?;
        Some(c.owner_opd_id.clone())
    };
    if !admin.assigns_role(owner.as_ref().map(|o| o.as_deref())) {
        return Err(forbidden("you may assign only roles of applications your OPD units own"));
    }
    let account = account(st, admin, &a.account_id).await?;
    let role = match roles::find(&st.db, client, &a.role).await {
        Ok(r) => r,
        Err(RoleError::UnknownRole(_)) => return Err(AdminError::NotFound("role")),
        Err(e) => return Err(internal(e)),
    };
    Ok((role, account))
}

pub async fn assign(st: &AppState, admin: &Admin, a: &Assignment, now: i64) -> Result<(), AdminError> {
    let (role, account) = check_assignment(st, admin, a).await?;
    apply_assign(st, admin, &role, &account, now)
        .await?
        .then_some(())
        .ok_or_else(|| AdminError::Conflict("the account already holds this role".into()))
}

/// True when the role was newly given.
async fn apply_assign(
    st: &AppState,
    admin: &Admin,
    role: &RoleRow,
    account: &Account,
    now: i64,
) -> Result<bool, AdminError> {
    match roles::assign(&st.db, role, &Holder::Account(account.id.clone()), now).await {
        Ok(()) => {}
        Err(RoleError::AlreadyAssigned) => return Ok(false),
        Err(e) => return Err(internal(e)),
    }
    let detail = json!({ "role": role.name, "client_id": role.client_id });
    audit::record(
        &st.db,
        Event::new("role.assigned").actor(&admin.account.id).subject(&account.id).detail(detail),
        now,
    )
    .await;
    Ok(true)
}

/// Takes a role away; tokens that carried it are revoked. Returns how many grants were revoked.
pub async fn unassign(st: &AppState, admin: &Admin, a: &Assignment, now: i64) -> Result<u64, AdminError> {
    let (role, account) = check_assignment(st, admin, a).await?;
    apply_unassign(st, admin, &role, &account, now).await
}

async fn apply_unassign(
    st: &AppState,
    admin: &Admin,
    role: &RoleRow,
    account: &Account,
    now: i64,
) -> Result<u64, AdminError> {
    let revoked = roles::unassign(&st.db, role, &Holder::Account(account.id.clone()), now).await.map_err(internal)?;
    let detail = json!({ "role": role.name, "client_id": role.client_id, "revoked_grants": revoked });
    audit::record(
        &st.db,
        Event::new("role.unassigned").actor(&admin.account.id).subject(&account.id).detail(detail),
        now,
    )
    .await;
    Ok(revoked)
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct BulkAssignments {
    /// `assign` or `unassign`
    pub action: String,
    pub assignments: Vec<Assignment>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkReport {
    /// Assignments made or removed.
    pub changed: usize,
    /// Already as asked (role already held, or not held).
    pub unchanged: usize,
    pub revoked_grants: u64,
}

/// All or nothing: every item is checked (existence and the caller's powers) before any is
/// applied, so a mistake in row 300 does not leave 299 half-done changes behind.
pub async fn bulk(st: &AppState, admin: &Admin, b: &BulkAssignments, now: i64) -> Result<BulkReport, AdminError> {
    let assigning = match b.action.as_str() {
        "assign" => true,
        "unassign" => false,
        _ => return Err(AdminError::Invalid("action: must be assign or unassign".into())),
    };
    if b.assignments.is_empty() || b.assignments.len() > MAX_BULK {
        return Err(AdminError::Invalid(format!("assignments: give 1 to {MAX_BULK} items")));
    }
    let mut checked = Vec::with_capacity(b.assignments.len());
    for (i, a) in b.assignments.iter().enumerate() {
        let item = check_assignment(st, admin, a).await.map_err(|e| match e {
            AdminError::NotFound(what) => AdminError::Invalid(format!("assignments[{i}]: no such {what}")),
            AdminError::Forbidden(why) => AdminError::Forbidden(format!("assignments[{i}]: {why}")),
            other => other,
        })?;
        checked.push(item);
    }
    let mut report = BulkReport { changed: 0, unchanged: 0, revoked_grants: 0 };
    for (role, account) in &checked {
        let changed = if assigning {
            apply_assign(st, admin, role, account, now).await?
        } else {
            let held = role_store::direct_of_account(&st.db, &account.id).await?.iter().any(|r| r.id == role.id);
            if held {
                report.revoked_grants += apply_unassign(st, admin, role, account, now).await?;
            }
            held
        };
        if changed {
            report.changed += 1;
        } else {
            report.unchanged += 1;
        }
    }
    Ok(report)
}

// ---------------------------------------------------------------- applications

/// Registered applications (OPD admins: those their subtree owns).
pub async fn applications(st: &AppState, admin: &Admin) -> Result<Vec<Client>, AdminError> {
    if !admin.sees_accounts() {
        return Err(forbidden("reading applications needs diskominfo-admin or opd-admin"));
    }
    Ok(clients::list(&st.db).await?.into_iter().filter(|c| admin.manages_unit(c.owner_opd_id.as_deref())).collect())
}

pub async fn application(st: &AppState, admin: &Admin, id: &str) -> Result<Arc<Client>, AdminError> {
    if !admin.sees_accounts() {
        return Err(forbidden("reading applications needs diskominfo-admin or opd-admin"));
    }
    let c = st.clients.get(&st.db, id).await?.ok_or(AdminError::NotFound("application"))?;
    if !admin.manages_unit(c.owner_opd_id.as_deref()) {
        return Err(forbidden("the application belongs to an OPD you do not manage"));
    }
    Ok(c)
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ApplicationInput {
    /// A readable client id (e.g. `simpeg`); generated when absent.
    pub client_id: Option<String>,
    pub owner_opd_id: Option<String>,
    #[serde(flatten)]
    pub app: AppRequest,
}

/// Direct registration by Diskominfo (OPDs go through the request workflow). The secret is
/// returned once.
pub async fn register_application(
    st: &AppState,
    admin: &Admin,
    input: ApplicationInput,
    now: i64,
) -> Result<(Client, Option<Secret<String>>), AdminError> {
    if !admin.diskominfo {
        return Err(forbidden("registering directly needs diskominfo-admin; OPDs submit a request"));
    }
    let owner = input.owner_opd_id.filter(|o| !o.is_empty());
    if let Some(o) = &owner {
        opd_store::get(&st.db, o).await?.ok_or(AdminError::Invalid("owner_opd_id: no such OPD unit".into()))?;
    }
    let r = &input.app;
    let grants = if r.public {
        vec![GrantType::AuthorizationCode]
    } else {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    };
    let mut new = NewClient::web(&r.name, r.redirect_uris.clone(), r.scopes.clone(), grants);
    new.id = input.client_id.filter(|i| !i.is_empty());
    new.public = r.public;
    new.category = r.category.clone();
    new.min_level = r.min_level;
    new.owner_opd_id = owner;
    let (client, secret) = clients::register(&st.db, &st.redirect_policy, new, now).await?;
    let detail = json!({ "client_id": client.id, "name": client.name, "category": client.category, "owner_opd_id": client.owner_opd_id });
    audit::record(&st.db, Event::new("application.registered").actor(&admin.account.id).detail(detail), now).await;
    Ok((client, secret))
}

fn settings(c: &Client) -> serde_json::Value {
    json!({
        "name": c.name, "category": c.category, "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris, "scopes": c.scopes, "min_level": c.min_level,
        "required_roles": c.required_roles, "owner_opd_id": c.owner_opd_id,
    })
}

/// The owning OPD's admin may change the technical settings; the category and the owner are
/// Diskominfo's decision.
pub async fn edit_application(
    st: &AppState,
    admin: &Admin,
    id: &str,
    edit: ClientEdit,
    now: i64,
) -> Result<Client, AdminError> {
    let current = application(st, admin, id).await?;
    if !admin.diskominfo {
        // What Diskominfo reviewed (the data the application may read, how strongly people must
        // log in, who may use it) stays Diskominfo's decision; the owner runs the technical side.
        let differs = |a: &[String], b: &[String]| {
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            a.sort();
            b.sort();
            a != b
        };
        if edit.category.is_some() || edit.owner_opd_id.is_some() {
            return Err(forbidden("only diskominfo-admin changes an application's category or owner"));
        }
        if edit.scopes.as_deref().is_some_and(|s| differs(s, &current.scopes))
            || edit.min_level.is_some_and(|l| l != current.min_level)
            || edit.required_roles.as_deref().is_some_and(|r| differs(r, &current.required_roles))
        {
            return Err(forbidden(
                "only diskominfo-admin changes an application's scopes, minimum level or required roles",
            ));
        }
    }
    if let Some(o) = edit.owner_opd_id.as_deref().filter(|o| !o.is_empty()) {
        opd_store::get(&st.db, o).await?.ok_or(AdminError::Invalid("owner_opd_id: no such OPD unit".into()))?;
    }
    let updated = clients::update(&st.db, &st.clients, &st.redirect_policy, &current, edit, now).await?;
    let (before, after) = (settings(&current), settings(&updated));
    if before != after {
        let detail = json!({ "client_id": updated.id, "before": before, "after": after });
        audit::record(&st.db, Event::new("application.updated").actor(&admin.account.id).detail(detail), now).await;
    }
    Ok(updated)
}

/// A new secret (Diskominfo, or the owning OPD's admin); the old one stops working.
pub async fn rotate_secret(st: &AppState, admin: &Admin, id: &str, now: i64) -> Result<Secret<String>, AdminError> {
    let c = application(st, admin, id).await?;
    if c.public {
        return Err(AdminError::Conflict("a public client has no secret".into()));
    }
    let secret =
        clients::rotate_secret(&st.db, &st.clients, &c.id, now).await?.ok_or(AdminError::NotFound("application"))?;
    audit::record(
        &st.db,
        Event::new("application.secret_rotated").actor(&admin.account.id).detail(json!({ "client_id": c.id })),
        now,
    )
    .await;
    Ok(secret)
}

/// Disables (revoking every grant) or enables an application. Diskominfo admins only.
pub async fn set_enabled(
    st: &AppState,
    admin: &Admin,
    id: &str,
    enabled: bool,
    now: i64,
) -> Result<Arc<Client>, AdminError> {
    if !admin.diskominfo {
        return Err(forbidden("disabling an application needs diskominfo-admin"));
    }
    if id == CONSOLE_CLIENT_ID && !enabled {
        return Err(AdminError::Conflict("the admin console cannot be disabled from itself".into()));
    }
    if !clients::set_disabled(&st.db, &st.clients, id, !enabled, now).await? {
        return Err(AdminError::NotFound("application"));
    }
    let kind = if enabled { "application.enabled" } else { "application.disabled" };
    audit::record(&st.db, Event::new(kind).actor(&admin.account.id).detail(json!({ "client_id": id })), now).await;
    st.clients.get(&st.db, id).await?.ok_or(AdminError::NotFound("application"))
}

// ---------------------------------------------------------------- registration requests

pub async fn submit_request(st: &AppState, admin: &Admin, req: AppRequest, now: i64) -> Result<RequestRow, AdminError> {
    if !admin.requests_applications() {
        return Err(forbidden("requesting an application needs opd-admin or opd-developer and an OPD unit"));
    }
    let row = registration::submit(st, &admin.account, req, now).await?;
    audit::record(
        &st.db,
        Event::new("app_request.submitted")
            .actor(&admin.account.id)
            .detail(json!({ "request": row.id, "name": row.name })),
        now,
    )
    .await;
    Ok(row)
}

/// Requests visible to the caller, newest first.
pub async fn requests(st: &AppState, admin: &Admin) -> Result<Vec<RequestRow>, AdminError> {
    if !(admin.reviews_applications() || admin.requests_applications()) {
        return Err(forbidden("application requests are for Diskominfo, OPD admins and OPD developers"));
    }
    let rows = request_store::list(&st.db).await?;
    Ok(rows.into_iter().filter(|r| admin.sees_request(&r.opd_id, &r.requester_id)).collect())
}

pub async fn request(st: &AppState, admin: &Admin, id: &str) -> Result<RequestRow, AdminError> {
    let r = request_store::get(&st.db, id).await?.ok_or(AdminError::NotFound("request"))?;
    if !admin.sees_request(&r.opd_id, &r.requester_id) {
        return Err(AdminError::NotFound("request"));
    }
    Ok(r)
}

/// Approve (optionally corrected) or reject with a reason. Diskominfo admins only.
pub async fn decide(
    st: &AppState,
    admin: &Admin,
    id: &str,
    approve: bool,
    reason: &str,
    corrected: Option<AppRequest>,
    now: i64,
) -> Result<RequestRow, AdminError> {
    if !admin.reviews_applications() {
        return Err(forbidden("reviewing requests needs diskominfo-admin"));
    }
    let row = if approve {
        registration::approve(st, id, &admin.account, corrected, now).await?
    } else {
        registration::reject(st, id, &admin.account, reason, now).await?
    };
    let kind = if row.status == "approved" { "app_request.approved" } else { "app_request.rejected" };
    let detail = json!({ "request": row.id, "client_id": row.client_id, "reason": row.reason });
    audit::record(&st.db, Event::new(kind).actor(&admin.account.id).subject(&row.requester_id).detail(detail), now)
        .await;
    Ok(row)
}

/// The approved application's credentials, for the requester, once.
pub async fn fetch_credentials(
    st: &AppState,
    admin: &Admin,
    id: &str,
    now: i64,
) -> Result<(String, Option<Secret<String>>), AdminError> {
    let out = registration::fetch_credentials(st, id, &admin.account, now).await?;
    audit::record(
        &st.db,
        Event::new("app_request.credentials_fetched").actor(&admin.account.id).detail(json!({ "request": id })),
        now,
    )
    .await;
    Ok(out)
}

// ---------------------------------------------------------------- audit trail

pub async fn audit_events(st: &AppState, admin: &Admin, filter: &audit::Filter) -> Result<Vec<AuditRow>, AdminError> {
    if !admin.reads_audit() {
        return Err(forbidden("reading the audit trail needs diskominfo-admin or auditor"));
    }
    Ok(audit::search(&st.db, filter).await?)
}

/// CSV of the trail between two instants, for the region's SPBE reporting; the export itself is
/// recorded.
pub async fn export_audit(
    st: &AppState,
    admin: &Admin,
    since: i64,
    until: i64,
    now: i64,
) -> Result<String, AdminError> {
    if !admin.reads_audit() {
        return Err(forbidden("exporting the audit trail needs diskominfo-admin or auditor"));
    }
    if until <= since {
        return Err(AdminError::Invalid("until: must be after since".into()));
    }
    let rows = audit::range(&st.db, since, until).await?;
    let detail = json!({ "since": since, "until": until, "records": rows.len() });
    audit::record(&st.db, Event::new("audit.exported").actor(&admin.account.id).detail(detail), now).await;
    Ok(audit::to_csv(&rows))
}

// ---------------------------------------------------------------- electronic certificates

/// Days before expiry from which a certificate is listed as expiring.
pub const CERT_WARN_DAYS: i64 = 30;

impl From<crate::certs::BindError> for AdminError {
    fn from(e: crate::certs::BindError) -> Self {
        match e {
            crate::certs::BindError::Cert(crate::certs::CertError::AlreadyBound) => {
                AdminError::Conflict(crate::certs::CertError::AlreadyBound.to_string())
            }
            crate::certs::BindError::Cert(c) => AdminError::Invalid(format!("certificate: {c}")),
            crate::certs::BindError::Store(s) => internal(s),
        }
    }
}

/// Certificates as monitoring sees them: Diskominfo and auditors the whole region, an OPD admin
/// its own staff's. `attention` limits the list to revoked, expired and soon-expiring ones.
pub async fn certificates(
    st: &AppState,
    admin: &Admin,
    attention: bool,
    now: i64,
) -> Result<Vec<HeldCert>, AdminError> {
    if !(admin.sees_accounts() || admin.auditor) {
        return Err(forbidden("monitoring certificates needs diskominfo-admin, opd-admin or auditor"));
    }
    let rows = if attention {
        crate::certs::needing_attention(&st.db, now, CERT_WARN_DAYS).await?
    } else {
        cert_store::list(&st.db, 1000).await?
    };
    let region_wide = admin.diskominfo || admin.auditor;
    Ok(rows.into_iter().filter(|r| region_wide || admin.manages_unit(r.holder_opd_id.as_deref())).collect())
}

pub async fn certificates_of(st: &AppState, admin: &Admin, account_id: &str) -> Result<Vec<CertRow>, AdminError> {
    let a = account(st, admin, account_id).await?;
    Ok(cert_store::of_account(&st.db, &a.id).await?)
}

/// Binds a person's signing certificate after checking it (validity, key usage, and the
/// configured issuers).
pub async fn bind_certificate(
    st: &AppState,
    admin: &Admin,
    account_id: &str,
    pem: &str,
    now: i64,
) -> Result<CertRow, AdminError> {
    let a = account(st, admin, account_id).await?;
    let checked = crate::certs::check(pem, &st.cert_issuers, now)
        .map_err(|e| AdminError::Invalid(format!("certificate: {e}")))?;
    let row = crate::certs::bind(&st.db, &a.id, &checked, &admin.account.id, now).await?;
    let detail = json!({
        "certificate": row.id, "fingerprint": row.fingerprint, "subject": row.subject, "issuer": row.issuer,
        "serial": row.serial, "not_after": row.not_after, "name_matches": checked.common_name.eq_ignore_ascii_case(a.name.trim()),
    });
    audit::record(&st.db, Event::new("certificate.bound").actor(&admin.account.id).subject(&a.id).detail(detail), now)
        .await;
    Ok(row)
}

/// Records a revocation (reported by the certificate authority or the holder); the certificate
/// no longer counts for signing.
pub async fn revoke_certificate(
    st: &AppState,
    admin: &Admin,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<CertRow, AdminError> {
    let row = cert_store::get(&st.db, id).await?.ok_or(AdminError::NotFound("certificate"))?;
    let a = account(st, admin, &row.account_id).await?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AdminError::Invalid("reason: give a reason of 1 to 500 characters".into()));
    }
    if !cert_store::revoke(&st.db, &row.id, reason, now).await? {
        return Err(AdminError::Conflict("the certificate is already revoked".into()));
    }
    let detail = json!({ "certificate": row.id, "fingerprint": row.fingerprint, "reason": reason });
    audit::record(
        &st.db,
        Event::new("certificate.revoked").actor(&admin.account.id).subject(&a.id).detail(detail),
        now,
    )
    .await;
    cert_store::get(&st.db, id).await?.ok_or(AdminError::NotFound("certificate"))
}
