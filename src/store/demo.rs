//! Removing the demonstration region: its accounts, and its units and roles once nothing else
//! uses them.

use super::{dispatch, Db, Exec, StoreError};

/// Deletes an account with what refers to it without a cascade (its bound certificates and
/// its application requests); grants, consents, factors and role assignments cascade.
pub async fn delete_account(db: impl Into<Exec<'_>>, id: &str) -> Result<bool, StoreError> {
    let mut exec = db.into();
    dispatch!(exec.reborrow(), "DELETE FROM certificates WHERE account_id = $1", [id], execute)?;
    dispatch!(exec.reborrow(), "DELETE FROM app_requests WHERE requester_id = $1", [id], execute)?;
    let n = dispatch!(exec, "DELETE FROM accounts WHERE id = $1", [id], execute)?;
    Ok(n == 1)
}

/// Deletes the unit when no account, unit, application or request refers to it. Its role
/// assignments cascade.
pub async fn delete_unit_if_unused(db: &Db, id: &str) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "DELETE FROM opd_units WHERE id = $1 \
           AND NOT EXISTS (SELECT 1 FROM accounts WHERE opd_id = $1) \
           AND NOT EXISTS (SELECT 1 FROM opd_units c WHERE c.parent_id = $1) \
           AND NOT EXISTS (SELECT 1 FROM clients WHERE owner_opd_id = $1) \
           AND NOT EXISTS (SELECT 1 FROM app_requests WHERE opd_id = $1)",
        [id],
        execute
    )?;
    Ok(n == 1)
}

/// Deletes the role when nobody holds it any more.
pub async fn delete_role_if_unused(db: &Db, id: &str) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "DELETE FROM roles WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM role_assignments WHERE role_id = $1)",
        [id],
        execute
    )?;
    Ok(n == 1)
}
