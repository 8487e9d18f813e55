//! Roles (global or per application) and their assignment to accounts or OPD units.

use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RoleRow {
    pub id: String,
    /// Empty for a global role.
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

pub async fn insert(db: &Db, r: &RoleRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO roles (id, client_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5)",
        [&r.id, &r.client_id, &r.name, &r.description, r.created_at],
        execute
    )?;
    Ok(())
}

pub async fn find(db: &Db, client_id: &str, name: &str) -> Result<Option<RoleRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT id, client_id, name, description, created_at FROM roles WHERE client_id = $1 AND name = $2",
        [client_id, name],
        fetch_optional(RoleRow)
    )?)
}

pub async fn list(db: &Db) -> Result<Vec<RoleRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT id, client_id, name, description, created_at FROM roles ORDER BY client_id, name",
        [],
        fetch_all(RoleRow)
    )?)
}

/// False when the holder already had the role. The existing assignment is skipped rather than
/// reported as a unique violation because on PostgreSQL a failed statement would abort the
/// whole transaction the insert may be part of.
pub async fn assign(
    db: impl Into<Exec<'_>>,
    id: &str,
    role_id: &str,
    account_id: Option<&str>,
    opd_id: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "INSERT INTO role_assignments (id, role_id, account_id, opd_id, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
        [id, role_id, account_id, opd_id, now],
        execute
    )?;
    Ok(n == 1)
}

pub async fn unassign(
    db: impl Into<Exec<'_>>,
    role_id: &str,
    account_id: Option<&str>,
    opd_id: Option<&str>,
) -> Result<bool, StoreError> {
    let n = match (account_id, opd_id) {
        (Some(a), _) => {
            dispatch!(db, "DELETE FROM role_assignments WHERE role_id = $1 AND account_id = $2", [role_id, a], execute)?
        }
        (None, Some(o)) => {
            dispatch!(db, "DELETE FROM role_assignments WHERE role_id = $1 AND opd_id = $2", [role_id, o], execute)?
        }
        (None, None) => 0,
    };
    Ok(n > 0)
}

/// Every role an account holds: assigned to it directly, or to its OPD unit or any unit above.
pub async fn effective(db: impl Into<Exec<'_>>, account_id: &str) -> Result<Vec<RoleRow>, StoreError> {
    let sql = "WITH RECURSIVE chain (id, depth) AS ( \
                 SELECT opd_id, 0 FROM accounts WHERE id = $1 AND opd_id IS NOT NULL \
                 UNION ALL \
                 SELECT o.parent_id, c.depth + 1 FROM opd_units o JOIN chain c ON o.id = c.id \
                 WHERE o.parent_id IS NOT NULL AND c.depth < 32) \
               SELECT DISTINCT r.id, r.client_id, r.name, r.description, r.created_at \
               FROM roles r JOIN role_assignments ra ON ra.role_id = r.id \
               WHERE ra.account_id = $1 OR ra.opd_id IN (SELECT id FROM chain) \
               ORDER BY r.client_id, r.name";
    Ok(dispatch!(db, sql, [account_id], fetch_all(RoleRow))?)
}

/// Roles assigned to the account itself (not through its unit): the ones an admin can remove
/// from the person.
pub async fn direct_of_account(db: &Db, account_id: &str) -> Result<Vec<RoleRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT r.id, r.client_id, r.name, r.description, r.created_at FROM roles r \
         JOIN role_assignments ra ON ra.role_id = r.id WHERE ra.account_id = $1 ORDER BY r.client_id, r.name",
        [account_id],
        fetch_all(RoleRow)
    )?)
}
