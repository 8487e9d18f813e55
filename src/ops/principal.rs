//! Who performs an operation: a person with their live administrative roles, an application
//! acting for itself, or the operator at the server's command line. Every operation takes one,
//! checks its powers through it and names it in the audit trail.

use super::{forbidden, AdminError};
use crate::identity::accounts::{Account, AccountKind};
use crate::identity::admin::Admin;
use crate::ids::{AccountId, ClientId, IdError};

/// The operator of the `gerbang` command. Whoever can run it holds the master key and the
/// database, so it has every administrative power; it is still named in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(String);

impl Operator {
    pub const LOCAL: &'static str = "local";

    /// 1 to 64 letters, digits, `-`, `_`, `.` or `@`: it goes into audit records verbatim.
    pub fn new(name: &str) -> Result<Operator, String> {
        let name = name.trim();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
        if ok {
            Ok(Operator(name.to_string()))
        } else {
            Err("--actor: give 1 to 64 letters, digits, '-', '_', '.' or '@'".into())
        }
    }

    pub fn local() -> Operator {
        Operator(Operator::LOCAL.into())
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

/// Why an OPD admin may not touch an account, existing or not.
pub const OUTSIDE_UNITS: &str = "the account is outside the OPD units you manage";

#[derive(Debug, Clone)]
// One per request, moved a few times: its size does not matter, and boxing would spread `Box`
// through every face that matches on it.
#[allow(clippy::large_enum_variant)]
pub enum Principal {
    /// A person acting through the console or the admin API; roles read at this request.
    Person(Admin),
    /// An application acting for itself (client credentials).
    Application(String),
    Operator(Operator),
    /// A provisioning client (SCIM) holding a token, perhaps limited to an OPD subtree.
    Provisioner(Provisioner),
}

/// A provisioning client, named in the audit trail as `scim:<name>`. It manages civil servants
/// and units (in its subtree when its token names a unit) and holds no other power: it never
/// hands out global roles, nor counts as Diskominfo.
#[derive(Debug, Clone)]
pub struct Provisioner {
    pub name: String,
    /// The unit the token is limited to; `None`: the whole region.
    pub root: Option<String>,
    /// That unit and every unit below it.
    pub scope: Vec<String>,
}

impl Provisioner {
    fn manages_unit(&self, unit: Option<&str>) -> bool {
        match &self.root {
            None => true,
            Some(_) => unit.is_some_and(|u| self.scope.iter().any(|s| s == u)),
        }
    }
}

impl Principal {
    /// An account id from a request. A malformed one names no account: it is answered as a
    /// missing one is, after the first check every lookup makes, so without account powers
    /// nobody learns even that much.
    pub fn parse_account_id(&self, id: &str) -> Result<AccountId, AdminError> {
        AccountId::parse(id).map_err(|e| self.unknown(e))
    }

    /// As [`Principal::parse_account_id`], for an application's client id.
    pub fn parse_client_id(&self, id: &str) -> Result<ClientId, AdminError> {
        ClientId::parse(id).map_err(|e| self.unknown(e))
    }

    fn unknown(&self, e: IdError) -> AdminError {
        if self.sees_accounts() {
            AdminError::NotFound(e.0)
        } else {
            forbidden(&format!("reading {}s needs diskominfo-admin or opd-admin", e.0))
        }
    }

    /// The answer for an account that does not exist. Only region-wide administrators may learn
    /// that: anyone else gets the refusal an existing account outside their units gets, or an
    /// OPD admin could map which ids, NIPs and NIKs exist elsewhere in the region.
    pub fn no_such_account(&self) -> AdminError {
        if self.diskominfo() {
            AdminError::NotFound("account")
        } else if self.sees_accounts() {
            forbidden(OUTSIDE_UNITS)
        } else {
            forbidden("reading accounts needs diskominfo-admin or opd-admin")
        }
    }

    /// How the audit trail names the actor: an account id, `client:<id>` or `cli:<name>`.
    pub fn actor(&self) -> String {
        match self {
            Principal::Person(a) => a.account.id.clone(),
            Principal::Application(id) => format!("client:{id}"),
            Principal::Operator(o) => format!("cli:{}", o.name()),
            Principal::Provisioner(p) => format!("scim:{}", p.name),
        }
    }

    pub fn person(&self) -> Option<&Admin> {
        match self {
            Principal::Person(a) => Some(a),
            _ => None,
        }
    }

    pub fn account(&self) -> Option<&Account> {
        self.person().map(|a| &a.account)
    }

    fn operator(&self) -> bool {
        matches!(self, Principal::Operator(_))
    }

    /// Region-wide administration (Diskominfo's powers).
    pub fn diskominfo(&self) -> bool {
        self.operator() || self.person().is_some_and(|a| a.diskominfo)
    }

    pub fn auditor(&self) -> bool {
        self.person().is_some_and(|a| a.auditor)
    }

    pub fn manages_unit(&self, unit: Option<&str>) -> bool {
        self.operator() || self.person().is_some_and(|a| a.manages_unit(unit)) || self.provisioner_manages(unit)
    }

    fn provisioner_manages(&self, unit: Option<&str>) -> bool {
        matches!(self, Principal::Provisioner(p) if p.manages_unit(unit))
    }

    /// Powers over the whole OPD tree (top-level units): Diskominfo, or a provisioning client
    /// whose token is not limited to a unit.
    pub fn region_wide(&self) -> bool {
        self.diskominfo() || matches!(self, Principal::Provisioner(p) if p.root.is_none())
    }

    pub fn manages_account(&self, target: &Account) -> bool {
        // Citizens belong to no unit. One placed in a unit anyway (older versions allowed it)
        // is still no OPD admin's to verify or reset: it counts as unit-less.
        let unit = if target.kind == AccountKind::Asn { target.opd_id.as_deref() } else { None };
        self.manages_unit(unit)
    }

    pub fn verifies_citizens(&self) -> bool {
        self.operator() || self.person().is_some_and(|a| a.verifies_citizens())
    }

    pub fn sees_accounts(&self) -> bool {
        self.operator() || self.person().is_some_and(|a| a.sees_accounts()) || matches!(self, Principal::Provisioner(_))
    }

    /// A provisioning client changes the status of the people it manages (retirement,
    /// dismissal); `ops::scim` checks that the person is within its units first.
    pub fn changes_status(&self) -> bool {
        self.operator()
            || self.person().is_some_and(|a| a.changes_status())
            || matches!(self, Principal::Provisioner(_))
    }

    /// Requests are submitted by a person of an OPD unit, never by the operator.
    pub fn requests_applications(&self) -> bool {
        self.person().is_some_and(|a| a.requests_applications())
    }

    /// Reviews are a Diskominfo administrator's decision, recorded under their account.
    pub fn reviews_applications(&self) -> bool {
        self.person().is_some_and(|a| a.reviews_applications())
    }

    pub fn sees_request(&self, opd_id: &str, requester_id: &str) -> bool {
        self.operator() || self.person().is_some_and(|a| a.sees_request(opd_id, requester_id))
    }

    pub fn reads_audit(&self) -> bool {
        self.operator() || self.person().is_some_and(|a| a.reads_audit())
    }

    pub fn assigns_role(&self, role_client_owner_unit: Option<Option<&str>>) -> bool {
        self.operator()
            || self.person().is_some_and(|a| a.assigns_role(role_client_owner_unit))
            // Placing a person in a unit gives them the unit's roles: a provisioning client may
            // do so for roles of applications its units own, never for global (administrative) ones.
            || role_client_owner_unit.is_some_and(|owner| self.provisioner_manages(owner))
    }

    /// Whether this principal is the given account (nobody changes their own status).
    pub fn is_account(&self, id: &str) -> bool {
        self.account().is_some_and(|a| a.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_are_checked() {
        assert_eq!(Operator::new("budi.s@jember").map(|o| o.name().to_string()), Ok("budi.s@jember".into()));
        assert!(Operator::new("").is_err());
        assert!(Operator::new("a b").is_err());
        assert!(Operator::new("x\ny").is_err());
        assert!(Operator::new(&"a".repeat(65)).is_err());
        assert_eq!(Principal::Operator(Operator::local()).actor(), "cli:local");
        assert_eq!(Principal::Application("simpeg".into()).actor(), "client:simpeg");
    }

    #[test]
    fn applications_hold_no_administrative_power() {
        let p = Principal::Application("simpeg".into());
        assert!(!p.diskominfo() && !p.sees_accounts() && !p.reads_audit() && !p.manages_unit(Some("x")));
        let o = Principal::Operator(Operator::local());
        assert!(o.diskominfo() && o.manages_unit(None) && !o.requests_applications());
    }

    #[test]
    fn a_malformed_id_is_missing_for_those_who_may_look_and_refused_for_the_rest() {
        let o = Principal::Operator(Operator::local());
        let uuid = "5f0c6a53-2d7e-4c1b-9a8e-0b1f2c3d4e5f";
        assert_eq!(o.parse_account_id(uuid).map(|i| i.to_string()), Ok(uuid.to_string()));
        assert_eq!(o.parse_account_id("no-such-id"), Err(AdminError::NotFound("account")));
        assert_eq!(o.parse_client_id("simpeg").map(|i| i.to_string()), Ok("simpeg".to_string()));
        assert_eq!(o.parse_client_id("a/b"), Err(AdminError::NotFound("application")));
        let app = Principal::Application("simpeg".into());
        assert!(matches!(app.parse_account_id("no-such-id"), Err(AdminError::Forbidden(_))));
        assert!(matches!(app.parse_client_id("a/b"), Err(AdminError::Forbidden(_))));
        assert!(app.parse_account_id(uuid).is_ok(), "a well-formed id goes on to the operation's own checks");
    }
}
