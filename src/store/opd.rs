//! The tree of regional government units (OPD and the units below them).

use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct OpdRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, code, name, kind, parent_id, created_at, updated_at";

pub async fn insert(db: &Db, o: &OpdRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO opd_units (id, code, name, kind, parent_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [&o.id, &o.code, &o.name, &o.kind, &o.parent_id, o.created_at, o.updated_at],
        execute
    )?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<OpdRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM opd_units WHERE id = $1");
    Ok(dispatch!(db, &sql, [id], fetch_optional(OpdRow))?)
}

pub async fn find_by_code(db: &Db, code: &str) -> Result<Option<OpdRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM opd_units WHERE code = $1");
    Ok(dispatch!(db, &sql, [code], fetch_optional(OpdRow))?)
}

pub async fn list(db: &Db) -> Result<Vec<OpdRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM opd_units ORDER BY code");
    Ok(dispatch!(db, &sql, [], fetch_all(OpdRow))?)
}

/// The unit and its ancestors, nearest first.
pub async fn ancestry(db: &Db, id: &str) -> Result<Vec<OpdRow>, StoreError> {
    let sql = "WITH RECURSIVE chain (id, depth) AS ( \
                 SELECT id, 0 FROM opd_units WHERE id = $1 \
                 UNION ALL \
                 SELECT o.parent_id, c.depth + 1 FROM opd_units o JOIN chain c ON o.id = c.id \
                 WHERE o.parent_id IS NOT NULL AND c.depth < 32) \
               SELECT u.id, u.code, u.name, u.kind, u.parent_id, u.created_at, u.updated_at \
               FROM chain c JOIN opd_units u ON u.id = c.id ORDER BY c.depth";
    Ok(dispatch!(db, sql, [id], fetch_all(OpdRow))?)
}

/// Accounts in the unit or any unit below it.
pub async fn accounts_in_subtree(db: impl Into<Exec<'_>>, id: &str) -> Result<Vec<String>, StoreError> {
    let sql = "WITH RECURSIVE sub (id, depth) AS ( \
                 SELECT id, 0 FROM opd_units WHERE id = $1 \
                 UNION ALL \
                 SELECT o.id, s.depth + 1 FROM opd_units o JOIN sub s ON o.parent_id = s.id WHERE s.depth < 32) \
               SELECT a.id FROM accounts a WHERE a.opd_id IN (SELECT id FROM sub)";
    let rows: Vec<(String,)> = dispatch!(db, sql, [id], fetch_all((String,)))?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The unit and every unit below it.
pub async fn subtree_ids(db: &Db, id: &str) -> Result<Vec<String>, StoreError> {
    let sql = "WITH RECURSIVE sub (id, depth) AS ( \
                 SELECT id, 0 FROM opd_units WHERE id = $1 \
                 UNION ALL \
                 SELECT o.id, s.depth + 1 FROM opd_units o JOIN sub s ON o.parent_id = s.id WHERE s.depth < 32) \
               SELECT id FROM sub";
    let rows: Vec<(String,)> = dispatch!(db, sql, [id], fetch_all((String,)))?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}
