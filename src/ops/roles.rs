//! Roles: defining them and assigning them to accounts, one at a time or in bulk.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::accounts::{account, lookup};
use super::applications::application_at;
use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, Event};
use crate::identity::accounts::Account;
use crate::identity::roles::{self, Holder, RoleError};
use crate::ids::AccountId;
use crate::oidc::clients::{self};
use crate::state::AppState;
use crate::store::roles as role_store;
pub use crate::store::roles::RoleRow;

/// Most items one bulk request may carry: enough for a whole OPD, small enough for one request.
pub const MAX_BULK: usize = 500;

/// Roles the caller may hand out: all for Diskominfo, those of their own applications for an
/// OPD admin.
pub async fn assignable_roles(st: &AppState, who: &Principal) -> Result<Vec<RoleRow>, AdminError> {
    if !who.sees_accounts() {
        return Err(forbidden("reading roles needs diskominfo-admin or opd-admin"));
    }
    let all = role_store::list(&st.db).await?;
    if who.diskominfo() {
        return Ok(all);
    }
    let owners: std::collections::HashMap<String, Option<String>> =
        clients::list(&st.db).await?.into_iter().map(|c| (c.id, c.owner_opd_id)).collect();
    Ok(all
        .into_iter()
        .filter(|r| r.client_id.as_ref().and_then(|c| owners.get(c)).is_some_and(|o| who.manages_unit(o.as_deref())))
        .collect())
}

/// The faces have always sent an empty client id for a global role as well as none.
fn global_or_application(client_id: Option<&str>) -> Option<&str> {
    client_id.filter(|c| !c.is_empty())
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
pub async fn create_role(st: &AppState, who: &Principal, new: NewRole, now: i64) -> Result<RoleRow, AdminError> {
    let client = global_or_application(new.client_id.as_deref()).map(String::from);
    match &client {
        None if !who.diskominfo() => return Err(forbidden("global roles are created by diskominfo-admin")),
        None => {}
        Some(c) => {
            application_at(st, who, c).await?;
        }
    }
    // Held by whoever has a signer binding at the moment, computed and never stored: a stored
    // role of that name would let an assignment make someone a signer without a certificate.
    if new.name.trim() == crate::oidc::claims::SIGNER_ROLE {
        return Err(AdminError::Conflict(
            "name: `signer` is reserved; it is held by accounts with a valid bound electronic certificate".into(),
        ));
    }
    let description = new.description.trim();
    if description.chars().count() > 500 || description.chars().any(char::is_control) {
        return Err(AdminError::Invalid("description: up to 500 characters on one line".into()));
    }
    let role = match roles::create(&st.db, client.as_deref(), new.name.trim(), description, now).await {
        Ok(r) => r,
        Err(RoleError::Name) => return Err(AdminError::Invalid(format!("name: {}", RoleError::Name))),
        Err(RoleError::Conflict) => return Err(AdminError::Conflict(RoleError::Conflict.to_string())),
        Err(e) => return Err(internal(e)),
    };
    let detail = json!({ "role": role.name, "client_id": role.client_text(), "description": role.description });
    audit::record(&st.db, Event::new("role.created").actor(&who.actor()).detail(detail), now).await;
    Ok(role)
}

/// The roles an account holds: (directly assigned, held in all including through its unit).
pub async fn roles_of(
    st: &AppState,
    who: &Principal,
    account_id: &AccountId,
) -> Result<(Vec<RoleRow>, Vec<RoleRow>), AdminError> {
    let a = account(st, who, account_id).await?;
    Ok((role_store::direct_of_account(&st.db, &a.id).await?, roles::effective(&st.db, &a.id).await?))
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Assignment {
    pub role: String,
    /// The application the role belongs to; absent for a global role.
    pub client_id: Option<String>,
    pub account_id: String,
}

/// Global roles are Diskominfo's to hand out; an application's roles its owning OPD's admins'.
async fn may_hand_out(st: &AppState, who: &Principal, client: Option<&str>) -> Result<(), AdminError> {
    let owner = match client {
        None => None,
        Some(client) => {
            let c = st.clients.get(&st.db, client).await?.ok_or(AdminError::NotFound("application"))?;
            Some(c.owner_opd_id.clone())
        }
    };
    if !who.assigns_role(owner.as_ref().map(|o| o.as_deref())) {
        return Err(forbidden("you may assign only roles of applications your OPD units own"));
    }
    Ok(())
}

/// Placing a person in a unit gives them every role the unit and the units above it hold, so it
/// is allowed only to whoever may assign each role the person does not hold yet: otherwise an
/// OPD admin could move themselves (or create an account) into a unit Diskominfo gave a global
/// role. `account` is `None` for an account not created yet.
pub(super) async fn may_place(
    st: &AppState,
    who: &Principal,
    account: Option<&str>,
    unit: &str,
) -> Result<(), AdminError> {
    let held = match account {
        Some(id) => roles::effective(&st.db, id).await?,
        None => Vec::new(),
    };
    for role in roles::held_at_unit(&st.db, unit).await? {
        if held.iter().any(|h| h.id == role.id) {
            continue;
        }
        let owner = match role.client_id.as_deref() {
            None => None,
            // A role whose application is gone is nobody's to hand out but Diskominfo's.
            Some(client) => st.clients.get(&st.db, client).await?.map(|c| c.owner_opd_id.clone()),
        };
        if !who.assigns_role(owner.as_ref().map(|o| o.as_deref())) {
            let name = match role.client_id.as_deref() {
                None => role.name.clone(),
                Some(c) => format!("{c}:{}", role.name),
            };
            return Err(forbidden(&format!(
                "the unit gives its staff the role `{name}`, which you may not assign; ask diskominfo-admin"
            )));
        }
    }
    Ok(())
}

async fn find_role(st: &AppState, client: Option<&str>, name: &str) -> Result<RoleRow, AdminError> {
    match roles::find(&st.db, client, name).await {
        Ok(r) => Ok(r),
        Err(RoleError::UnknownRole(_)) => Err(AdminError::NotFound("role")),
        Err(e) => Err(internal(e)),
    }
}

async fn check_assignment(st: &AppState, who: &Principal, a: &Assignment) -> Result<(RoleRow, Account), AdminError> {
    let client = global_or_application(a.client_id.as_deref());
    may_hand_out(st, who, client).await?;
    let account = lookup(st, who, &a.account_id).await?;
    // Nobody widens (or trims) their own powers; another administrator does it for them.
    if who.is_account(&account.id) {
        return Err(forbidden("you cannot change your own roles; another administrator must"));
    }
    let role = find_role(st, client, &a.role).await?;
    Ok((role, account))
}

pub async fn assign(st: &AppState, who: &Principal, a: &Assignment, now: i64) -> Result<(), AdminError> {
    let (role, account) = check_assignment(st, who, a).await?;
    match roles::assign(&st.db, &role, &Holder::Account(account.id.clone()), now).await {
        Ok(()) => {}
        Err(RoleError::AlreadyAssigned) => {
            return Err(AdminError::Conflict("the account already holds this role".into()));
        }
        Err(e) => return Err(internal(e)),
    }
    record_assigned(st, who, &role, &account, now).await;
    Ok(())
}

async fn record_assigned(st: &AppState, who: &Principal, role: &RoleRow, account: &Account, now: i64) {
    let detail = json!({ "role": role.name, "client_id": role.client_text() });
    audit::record(&st.db, Event::new("role.assigned").actor(&who.actor()).subject(&account.id).detail(detail), now)
        .await;
}

/// Takes a role away; tokens that carried it are revoked. Returns how many grants were revoked.
pub async fn unassign(st: &AppState, who: &Principal, a: &Assignment, now: i64) -> Result<u64, AdminError> {
    let (role, account) = check_assignment(st, who, a).await?;
    let revoked =
        roles::unassign(&st.db, &role, &Holder::Account(account.id.clone()), now).await.map_err(unassign_error)?;
    record_unassigned(st, who, &role, &account, revoked, now).await;
    Ok(revoked)
}

/// The last active `diskominfo-admin` is a conflict the caller can resolve (another first).
pub(super) fn unassign_error(e: RoleError) -> AdminError {
    match e {
        RoleError::LastAdmin => AdminError::Conflict(e.to_string()),
        e => internal(e),
    }
}

async fn record_unassigned(st: &AppState, who: &Principal, role: &RoleRow, account: &Account, revoked: u64, now: i64) {
    let detail = json!({ "role": role.name, "client_id": role.client_text(), "revoked_grants": revoked });
    audit::record(&st.db, Event::new("role.unassigned").actor(&who.actor()).subject(&account.id).detail(detail), now)
        .await;
}

/// What a bulk request does to every item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BulkAction {
    Assign,
    Unassign,
}

impl BulkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Assign => "assign",
            BulkAction::Unassign => "unassign",
        }
    }

    pub fn parse(s: &str) -> Option<BulkAction> {
        [BulkAction::Assign, BulkAction::Unassign].into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct BulkAssignments {
    pub action: BulkAction,
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
/// applied, so a mistake in row 300 does not leave 299 half-done changes behind, and all are
/// applied in one transaction, so neither does a database failure.
pub async fn bulk(st: &AppState, who: &Principal, b: &BulkAssignments, now: i64) -> Result<BulkReport, AdminError> {
    let assigning = b.action == BulkAction::Assign;
    if b.assignments.is_empty() || b.assignments.len() > MAX_BULK {
        return Err(AdminError::Invalid(format!("assignments: give 1 to {MAX_BULK} items")));
    }
    let mut checked = Vec::with_capacity(b.assignments.len());
    for (i, a) in b.assignments.iter().enumerate() {
        let item = check_assignment(st, who, a).await.map_err(|e| match e {
            AdminError::NotFound(what) => AdminError::Invalid(format!("assignments[{i}]: no such {what}")),
            AdminError::Forbidden(why) => AdminError::Forbidden(format!("assignments[{i}]: {why}")),
            other => other,
        })?;
        checked.push(item);
    }
    // Applied in one transaction; the audit records follow its commit, one per change.
    let items: Vec<(RoleRow, Holder)> =
        checked.iter().map(|(role, account)| (role.clone(), Holder::Account(account.id.clone()))).collect();
    let mut report = BulkReport { changed: 0, unchanged: 0, revoked_grants: 0 };
    let outcomes: Vec<Option<u64>> = if assigning {
        let given = roles::assign_all(&st.db, &items, now).await.map_err(internal)?;
        given.into_iter().map(|g| g.then_some(0)).collect()
    } else {
        roles::unassign_all(&st.db, &items, now).await.map_err(unassign_error)?
    };
    for ((role, account), outcome) in checked.iter().zip(outcomes) {
        let Some(revoked) = outcome else {
            report.unchanged += 1;
            continue;
        };
        report.changed += 1;
        report.revoked_grants += revoked;
        if assigning {
            record_assigned(st, who, role, account, now).await;
        } else {
            record_unassigned(st, who, role, account, revoked, now).await;
        }
    }
    Ok(report)
}

/// A role held by a whole OPD unit: its staff and the staff of the units below it inherit it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct UnitAssignment {
    pub role: String,
    /// The application the role belongs to; absent for a global role.
    pub client_id: Option<String>,
    /// The OPD unit's id.
    pub opd_id: String,
}

async fn check_unit_assignment(
    st: &AppState,
    who: &Principal,
    a: &UnitAssignment,
) -> Result<(RoleRow, Holder), AdminError> {
    let client = global_or_application(a.client_id.as_deref());
    may_hand_out(st, who, client).await?;
    crate::store::opd::get(&st.db, &a.opd_id).await?.ok_or(AdminError::NotFound("OPD unit"))?;
    if !who.manages_unit(Some(&a.opd_id)) {
        return Err(forbidden("the unit is outside the OPD units you manage"));
    }
    let role = find_role(st, client, &a.role).await?;
    Ok((role, Holder::Opd(a.opd_id.clone())))
}

/// Gives a role to a unit, recorded as `role.assigned` with the unit in the detail.
pub async fn assign_to_unit(st: &AppState, who: &Principal, a: &UnitAssignment, now: i64) -> Result<(), AdminError> {
    let (role, holder) = check_unit_assignment(st, who, a).await?;
    match roles::assign(&st.db, &role, &holder, now).await {
        Ok(()) => {}
        Err(RoleError::AlreadyAssigned) => return Err(AdminError::Conflict("the unit already holds this role".into())),
        Err(e) => return Err(internal(e)),
    }
    let detail = json!({ "role": role.name, "client_id": role.client_text(), "opd_id": a.opd_id });
    audit::record(&st.db, Event::new("role.assigned").actor(&who.actor()).detail(detail), now).await;
    Ok(())
}

/// Takes a role from a unit; tokens of its staff that carried it are revoked. Returns how many
/// grants were revoked.
pub async fn unassign_from_unit(
    st: &AppState,
    who: &Principal,
    a: &UnitAssignment,
    now: i64,
) -> Result<u64, AdminError> {
    let (role, holder) = check_unit_assignment(st, who, a).await?;
    let revoked = roles::unassign(&st.db, &role, &holder, now).await.map_err(unassign_error)?;
    let detail =
        json!({ "role": role.name, "client_id": role.client_text(), "opd_id": a.opd_id, "revoked_grants": revoked });
    audit::record(&st.db, Event::new("role.unassigned").actor(&who.actor()).detail(detail), now).await;
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_actions_read_and_write_as_the_api_names_them() {
        for a in [BulkAction::Assign, BulkAction::Unassign] {
            assert_eq!(BulkAction::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), serde_json::json!(a.as_str()));
        }
        assert_eq!(BulkAction::parse("toggle"), None);
        assert_eq!(BulkAction::parse("Assign"), None);
        let body = serde_json::json!({ "action": "unassign", "assignments": [] });
        assert_eq!(serde_json::from_value::<BulkAssignments>(body).unwrap().action, BulkAction::Unassign);
        assert!(serde_json::from_value::<BulkAssignments>(
            serde_json::json!({ "action": "toggle", "assignments": [] })
        )
        .is_err());
    }
}
