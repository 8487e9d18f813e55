//! Delegated administration: `diskominfo-admin` may do everything, `opd-admin` manages the
//! staff of its own OPD subtree and the application roles of applications that subtree owns,
//! `auditor` reads the audit trail. Roles are read live from the database at every request,
//! so a removed role stops working at once.

use crate::identity::accounts::Account;
use crate::identity::roles;
use crate::store::opd as opd_store;
use crate::store::{Db, StoreError};

pub const DISKOMINFO_ADMIN: &str = "diskominfo-admin";
pub const OPD_ADMIN: &str = "opd-admin";
pub const AUDITOR: &str = "auditor";
pub const OPD_DEVELOPER: &str = "opd-developer";
/// A service-counter officer (Disdukcapil, Mal Pelayanan Publik): finds a citizen by NIK and
/// records that their identity document was checked, and nothing else.
pub const IDENTITY_OFFICER: &str = "identity-officer";

#[derive(Debug, Clone)]
pub struct Admin {
    pub account: Account,
    pub diskominfo: bool,
    pub opd_admin: bool,
    pub auditor: bool,
    /// May request applications for its own OPD unit.
    pub developer: bool,
    /// May verify citizens' identity at a counter.
    pub identity_officer: bool,
    /// OPD units an OPD admin manages: its own unit and everything below.
    pub scope: Vec<String>,
}

impl Admin {
    /// `None` when the account holds no administrative role at all.
    pub async fn load(db: &Db, account: Account) -> Result<Option<Admin>, StoreError> {
        let held = roles::effective(db, &account.id).await?;
        let has = |name: &str| held.iter().any(|r| r.is_global() && r.name == name);
        let (diskominfo, opd_admin, auditor, developer, identity_officer) =
            (has(DISKOMINFO_ADMIN), has(OPD_ADMIN), has(AUDITOR), has(OPD_DEVELOPER), has(IDENTITY_OFFICER));
        if !(diskominfo || opd_admin || auditor || developer || identity_officer) {
            return Ok(None);
        }
        let scope = match (&account.opd_id, opd_admin) {
            (Some(unit), true) => opd_store::subtree_ids(db, unit).await?,
            _ => Vec::new(),
        };
        Ok(Some(Admin { account, diskominfo, opd_admin, auditor, developer, identity_officer, scope }))
    }

    pub fn manages_unit(&self, unit: Option<&str>) -> bool {
        self.diskominfo || (self.opd_admin && unit.is_some_and(|u| self.scope.iter().any(|s| s == u)))
    }

    /// Reading or changing a person's roles and details.
    pub fn manages_account(&self, target: &Account) -> bool {
        // A citizen placed in a unit by an older version counts as unit-less (Diskominfo's).
        let unit = if target.kind == super::accounts::AccountKind::Asn { target.opd_id.as_deref() } else { None };
        self.manages_unit(unit)
    }

    /// Finding a citizen by NIK and verifying their identity. Citizens belong to no unit, so no
    /// OPD admin has them; Diskominfo and the counter officers do.
    pub fn verifies_citizens(&self) -> bool {
        self.diskominfo || self.identity_officer
    }

    pub fn sees_accounts(&self) -> bool {
        self.diskominfo || self.opd_admin
    }

    pub fn changes_status(&self) -> bool {
        self.diskominfo
    }

    pub fn requests_applications(&self) -> bool {
        (self.opd_admin || self.developer) && self.account.opd_id.is_some()
    }

    pub fn reviews_applications(&self) -> bool {
        self.diskominfo
    }

    /// Requests an administrator may see: all for Diskominfo, their subtree's for OPD admins,
    /// their own for developers.
    pub fn sees_request(&self, opd_id: &str, requester_id: &str) -> bool {
        self.diskominfo || (self.opd_admin && self.manages_unit(Some(opd_id))) || requester_id == self.account.id
    }

    pub fn reads_audit(&self) -> bool {
        self.diskominfo || self.auditor
    }

    /// Global roles are Diskominfo's alone; an OPD admin may hand out roles of applications
    /// its subtree owns.
    pub fn assigns_role(&self, role_client_owner_unit: Option<Option<&str>>) -> bool {
        match role_client_owner_unit {
            None => self.diskominfo,
            Some(owner) => self.manages_unit(owner),
        }
    }
}
