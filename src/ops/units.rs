//! The OPD tree: reading it and adding units, within the principal's powers.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{forbidden, internal, AdminError, Principal};
use crate::audit::{self, Event};
use crate::state::AppState;
pub use crate::store::opd::OpdRow;
use crate::store::opd::{self as opd_store};

/// The OPD tree (OPD admins: their own subtree).
pub async fn opd_units(st: &AppState, who: &Principal) -> Result<Vec<OpdRow>, AdminError> {
    if !who.sees_accounts() {
        return Err(forbidden("reading the OPD tree needs diskominfo-admin or opd-admin"));
    }
    Ok(opd_store::list(&st.db).await?.into_iter().filter(|o| who.manages_unit(Some(&o.id))).collect())
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

/// Diskominfo shapes the OPD tree; an OPD admin may add units below its own. A new unit below
/// a parent holding roles gives nobody anything yet (it has no staff); whoever is later created
/// in it or moved into it is checked then, against every role it inherits.
pub async fn create_unit(st: &AppState, who: &Principal, new: NewUnit, now: i64) -> Result<OpdRow, AdminError> {
    let parent = new.parent.clone().filter(|p| !p.is_empty());
    match &parent {
        None if !who.region_wide() => return Err(forbidden("top-level units are created by diskominfo-admin")),
        None => {}
        Some(code) => {
            let p = opd_store::find_by_code(&st.db, code)
                .await?
                .ok_or_else(|| AdminError::Invalid(format!("parent: unknown OPD unit `{code}`")))?;
            if !who.manages_unit(Some(&p.id)) {
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
    audit::record(&st.db, Event::new("opd.created").actor(&who.actor()).detail(detail), now).await;
    Ok(unit)
}

/// A unit by its code, as the command line names units.
pub async fn unit_by_code(st: &AppState, who: &Principal, code: &str) -> Result<OpdRow, AdminError> {
    if !who.sees_accounts() {
        return Err(forbidden("reading the OPD tree needs diskominfo-admin or opd-admin"));
    }
    let unit = opd_store::find_by_code(&st.db, code.trim()).await?.ok_or(AdminError::NotFound("OPD unit"))?;
    if !who.manages_unit(Some(&unit.id)) {
        return Err(forbidden("the unit is outside the OPD units you manage"));
    }
    Ok(unit)
}

/// Every unit, to name the units of accounts, applications and requests on a page. Anyone with
/// an administrative role may read the names; what they may change is checked elsewhere.
pub async fn unit_names(st: &AppState, who: &Principal) -> Result<Vec<OpdRow>, AdminError> {
    if who.person().is_none() && !who.diskominfo() {
        return Err(forbidden("unit names are for people with an administrative role"));
    }
    Ok(opd_store::list(&st.db).await?)
}
