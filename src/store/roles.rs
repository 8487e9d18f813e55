//! Roles (global or per application) and their assignment to accounts or OPD units.

use super::{dispatch, Db, Exec, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoleRow {
    pub id: String,
    /// The application the role belongs to; `None` for a global role. The table keeps `''`
    /// for a global role (so the pair stays unique on both databases), converted here; the
    /// serialized form keeps the empty string the console's forms and the CLI's output use.
    #[serde(serialize_with = "global_as_empty")]
    pub client_id: Option<String>,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

impl RoleRow {
    pub fn is_global(&self) -> bool {
        self.client_id.is_none()
    }

    /// Global, or the application's own.
    pub fn applies_to(&self, client_id: &str) -> bool {
        self.client_id.as_deref().is_none_or(|c| c == client_id)
    }

    /// The client id as audit records name it: empty for a global role.
    pub fn client_text(&self) -> &str {
        self.client_id.as_deref().unwrap_or("")
    }
}

fn global_as_empty<S: serde::Serializer>(client_id: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(client_id.as_deref().unwrap_or(""))
}

/// A row as the table holds it.
#[derive(sqlx::FromRow)]
struct Stored {
    id: String,
    client_id: String,
    name: String,
    description: String,
    created_at: i64,
}

impl From<Stored> for RoleRow {
    fn from(r: Stored) -> Self {
        let client_id = Some(r.client_id).filter(|c| !c.is_empty());
        RoleRow { id: r.id, client_id, name: r.name, description: r.description, created_at: r.created_at }
    }
}

fn rows(stored: Vec<Stored>) -> Vec<RoleRow> {
    stored.into_iter().map(RoleRow::from).collect()
}

pub async fn insert(db: &Db, r: &RoleRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO roles (id, client_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5)",
        [&r.id, r.client_text(), &r.name, &r.description, r.created_at],
        execute
    )?;
    Ok(())
}

/// `client_id` `None` for a global role.
pub async fn find(db: &Db, client_id: Option<&str>, name: &str) -> Result<Option<RoleRow>, StoreError> {
    let found = dispatch!(
        db,
        "SELECT id, client_id, name, description, created_at FROM roles WHERE client_id = $1 AND name = $2",
        [client_id.unwrap_or(""), name],
        fetch_optional(Stored)
    )?;
    Ok(found.map(RoleRow::from))
}

pub async fn list(db: &Db) -> Result<Vec<RoleRow>, StoreError> {
    let found = dispatch!(
        db,
        "SELECT id, client_id, name, description, created_at FROM roles ORDER BY client_id, name",
        [],
        fetch_all(Stored)
    )?;
    Ok(rows(found))
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

/// Holds the role's row until the transaction ends, so changes to who holds one role run one
/// after the other. On PostgreSQL two removals at once (a person's own assignment and their
/// unit's) each still saw the other's row when checking who kept the role, and neither revoked
/// the person's tokens; SQLite runs writing transactions one at a time already.
pub async fn lock(tx: &mut Tx, role_id: &str) -> Result<(), StoreError> {
    if tx.is_postgres() {
        dispatch!(&mut *tx, "SELECT id FROM roles WHERE id = $1 FOR UPDATE", [role_id], fetch_optional((String,)))?;
    }
    Ok(())
}

/// Active accounts holding the global role `name`, directly or through a unit (a civil servant
/// in the unit or any unit below it), as `tx` sees them.
pub async fn active_holders_of_global(tx: &mut Tx, name: &str) -> Result<i64, StoreError> {
    let (n,): (i64,) = dispatch!(
        &mut *tx,
        "WITH RECURSIVE r (id) AS (SELECT id FROM roles WHERE client_id = '' AND name = $1), \
         units (id, depth) AS ( \
           SELECT ra.opd_id, 0 FROM role_assignments ra JOIN r ON ra.role_id = r.id WHERE ra.opd_id IS NOT NULL \
           UNION ALL \
           SELECT o.id, u.depth + 1 FROM opd_units o JOIN units u ON o.parent_id = u.id WHERE u.depth < 32) \
         SELECT CAST(COUNT(*) AS BIGINT) FROM accounts a WHERE a.status = 'active' AND ( \
           a.id IN (SELECT ra.account_id FROM role_assignments ra JOIN r ON ra.role_id = r.id \
                    WHERE ra.account_id IS NOT NULL) \
           OR (a.kind = 'asn' AND a.opd_id IN (SELECT id FROM units)))",
        [name],
        fetch_one((i64,))
    )?;
    Ok(n)
}

/// Takes the global role `name`'s row lock (PostgreSQL; SQLite's writers run one at a time), so
/// changes that may take the role from its last holders are judged one after another.
pub async fn lock_global(tx: &mut Tx, name: &str) -> Result<(), StoreError> {
    if tx.is_postgres() {
        dispatch!(
            &mut *tx,
            "SELECT id FROM roles WHERE client_id = '' AND name = $1 FOR UPDATE",
            [name],
            fetch_optional((String,))
        )?;
    }
    Ok(())
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
    Ok(rows(dispatch!(db, sql, [account_id], fetch_all(Stored))?))
}

/// Every role a unit gives its staff: assigned to it or to any unit above it.
pub async fn held_at_unit(db: &Db, opd_id: &str) -> Result<Vec<RoleRow>, StoreError> {
    let sql = "WITH RECURSIVE chain (id, depth) AS ( \
                 SELECT id, 0 FROM opd_units WHERE id = $1 \
                 UNION ALL \
                 SELECT o.parent_id, c.depth + 1 FROM opd_units o JOIN chain c ON o.id = c.id \
                 WHERE o.parent_id IS NOT NULL AND c.depth < 32) \
               SELECT DISTINCT r.id, r.client_id, r.name, r.description, r.created_at \
               FROM roles r JOIN role_assignments ra ON ra.role_id = r.id \
               WHERE ra.opd_id IN (SELECT id FROM chain) \
               ORDER BY r.client_id, r.name";
    Ok(rows(dispatch!(db, sql, [opd_id], fetch_all(Stored))?))
}

/// Roles assigned to the account itself (not through its unit): the ones an admin can remove
/// from the person.
pub async fn direct_of_account(db: &Db, account_id: &str) -> Result<Vec<RoleRow>, StoreError> {
    let found = dispatch!(
        db,
        "SELECT r.id, r.client_id, r.name, r.description, r.created_at FROM roles r \
         JOIN role_assignments ra ON ra.role_id = r.id WHERE ra.account_id = $1 ORDER BY r.client_id, r.name",
        [account_id],
        fetch_all(Stored)
    )?;
    Ok(rows(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_global_role_is_none_above_the_table_and_empty_in_it() {
        let stored = |client_id: &str| Stored {
            id: "r1".into(),
            client_id: client_id.into(),
            name: "auditor".into(),
            description: String::new(),
            created_at: 0,
        };
        let global = RoleRow::from(stored(""));
        assert_eq!(global.client_id, None);
        assert!(global.is_global() && global.applies_to("simpeg") && global.applies_to("other"));
        assert_eq!(global.client_text(), "");
        assert_eq!(serde_json::to_value(&global).unwrap()["client_id"], "");
        let own = RoleRow::from(stored("simpeg"));
        assert_eq!(own.client_id.as_deref(), Some("simpeg"));
        assert!(!own.is_global() && own.applies_to("simpeg") && !own.applies_to("other"));
        assert_eq!(serde_json::to_value(&own).unwrap()["client_id"], "simpeg");
    }
}
