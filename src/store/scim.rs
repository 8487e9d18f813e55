//! SCIM tokens, and the queries of the SCIM endpoints: filters become SQL through a fixed map
//! of attributes to columns, with every value a bound parameter, never text in the query.

use sqlx::{postgres::PgRow, sqlite::SqliteRow, FromRow};

use super::{dispatch, Db, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub opd_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, name, opd_id, created_by, created_at, last_used_at, revoked_at";

pub async fn insert_token(db: &Db, t: &TokenRow, token_hash: &str) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO scim_tokens (id, name, token_hash, opd_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        [&t.id, &t.name, token_hash, &t.opd_id, &t.created_by, t.created_at],
        execute
    )?;
    Ok(())
}

/// The unrevoked token with this hash, marking it used (at most once a minute, to spare writes).
pub async fn use_token(db: &Db, token_hash: &str, now: i64) -> Result<Option<TokenRow>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM scim_tokens WHERE token_hash = $1 AND revoked_at IS NULL");
    let row = dispatch!(db, &sql, [token_hash], fetch_optional(TokenRow))?;
    if let Some(t) = &row {
        if t.last_used_at.is_none_or(|at| at < now - 60) {
            dispatch!(db, "UPDATE scim_tokens SET last_used_at = $1 WHERE id = $2", [now, &t.id], execute)?;
        }
    }
    Ok(row)
}

pub async fn list_tokens(db: &Db) -> Result<Vec<TokenRow>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM scim_tokens ORDER BY created_at, name");
    Ok(dispatch!(db, &sql, [], fetch_all(TokenRow))?)
}

/// Revokes the named token; false when there is no such unrevoked token.
pub async fn revoke_token(db: &Db, name: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE scim_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        [now, name],
        execute
    )?;
    Ok(n == 1)
}

/// What a `User` shows beyond the account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserMeta {
    pub id: String,
    pub external_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub external_id: Option<String>,
}

impl GroupRow {
    pub fn unit(&self) -> super::opd::OpdRow {
        super::opd::OpdRow {
            id: self.id.clone(),
            code: self.code.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            parent_id: self.parent_id.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

/// A query whose number of parameters depends on the filter, on either database.
async fn fetch<T>(db: &Db, sql: &str, binds: &[Bind]) -> Result<Vec<T>, StoreError>
where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    macro_rules! run {
        ($d:ty, $pool:expr) => {{
            let mut q = sqlx::query_as::<$d, T>(sql);
            for b in binds {
                q = match b {
                    Bind::Text(s) => q.bind(s.clone()),
                    Bind::Int(i) => q.bind(*i),
                };
            }
            q.fetch_all($pool).await?
        }};
    }
    Ok(match db {
        Db::Sqlite(p) => run!(sqlx::Sqlite, p),
        Db::Postgres(p) => run!(sqlx::Postgres, p),
    })
}

/// Columns a SCIM filter may reach, each named once here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    ExternalId,
    Nip,
    Email,
    Name,
    Code,
}

impl Column {
    /// The column, and whether it compares case-insensitively (RFC 7643 `caseExact: false`).
    fn sql(self) -> (&'static str, bool) {
        match self {
            Column::Id => ("id", false),
            Column::ExternalId => ("external_id", false),
            Column::Nip => ("nip", false),
            Column::Email => ("email", true),
            Column::Name => ("name", true),
            Column::Code => ("code", false),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Eq,
    Ne,
    Contains,
    StartsWith,
    EndsWith,
}

/// A condition on rows, built by `scim::filter` from a client's filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Cmp(Column, Match, String),
    /// `true`: the column is empty; `false`: it has a value.
    Null(Column, bool),
    Present(Column),
    /// The account's status is (`true`) or is not (`false`) `active`.
    Active(bool),
    All,
    Nothing,
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

fn like_pattern(s: &str, m: Match) -> String {
    let esc = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    match m {
        Match::StartsWith => format!("{esc}%"),
        Match::EndsWith => format!("%{esc}"),
        _ => format!("%{esc}%"),
    }
}

fn condition(c: &Cond, binds: &mut Vec<Bind>) -> String {
    match c {
        Cond::And(a, b) => format!("({} AND {})", condition(a, binds), condition(b, binds)),
        Cond::Or(a, b) => format!("({} OR {})", condition(a, binds), condition(b, binds)),
        Cond::Not(a) => format!("(NOT {})", condition(a, binds)),
        Cond::All => "1 = 1".into(),
        Cond::Nothing => "1 = 0".into(),
        Cond::Active(true) => "status = 'active'".into(),
        Cond::Active(false) => "status <> 'active'".into(),
        Cond::Present(col) => {
            let (c, _) = col.sql();
            format!("({c} IS NOT NULL AND {c} <> '')")
        }
        Cond::Null(col, true) => format!("{} IS NULL", col.sql().0),
        Cond::Null(col, false) => format!("{} IS NOT NULL", col.sql().0),
        Cond::Cmp(col, m, value) => {
            let (c, folded) = col.sql();
            let bound = match m {
                Match::Eq | Match::Ne => value.clone(),
                _ if !folded => value.clone(),
                _ => like_pattern(value, *m),
            };
            binds.push(Bind::Text(bound));
            let n = binds.len();
            let (lhs, rhs) =
                if folded { (format!("LOWER({c})"), format!("LOWER(${n})")) } else { (c.to_string(), format!("${n}")) };
            // SQLite's LIKE ignores ASCII case and PostgreSQL's does not, so case-exact
            // attributes (RFC 7643 `caseExact: true`) compare substrings, alike on both.
            let v = format!("CAST(${n} AS TEXT)");
            match m {
                Match::Eq => format!("({c} IS NOT NULL AND {lhs} = {rhs})"),
                Match::Ne => format!("({c} IS NULL OR {lhs} <> {rhs})"),
                _ if folded => format!("({c} IS NOT NULL AND {lhs} LIKE {rhs} ESCAPE '\\')"),
                Match::StartsWith => format!("({c} IS NOT NULL AND substr({c}, 1, length({v})) = {v})"),
                Match::EndsWith => format!(
                    "({c} IS NOT NULL AND length({c}) >= length({v}) \
                     AND substr({c}, length({c}) - length({v}) + 1) = {v})"
                ),
                Match::Contains => format!("({c} IS NOT NULL AND ({v} = '' OR replace({c}, {v}, '') <> {c}))"),
            }
        }
    }
}

/// `WITH` clause and condition limiting rows to an OPD subtree (`column` holding the unit id).
fn scope(root: Option<&str>, column: &str, binds: &mut Vec<Bind>) -> (String, String) {
    let Some(root) = root else { return (String::new(), "1 = 1".into()) };
    binds.push(Bind::Text(root.to_string()));
    let n = binds.len();
    (
        format!(
            "WITH RECURSIVE sub (id, depth) AS ( \
               SELECT id, 0 FROM opd_units WHERE id = ${n} \
               UNION ALL \
               SELECT o.id, s.depth + 1 FROM opd_units o JOIN sub s ON o.parent_id = s.id WHERE s.depth < 32) "
        ),
        format!("{column} IN (SELECT id FROM sub)"),
    )
}

/// One page of a listing and the number of all matches.
pub struct Page<T> {
    pub total: i64,
    pub rows: Vec<T>,
}

/// A listed civil servant: the whole account row and its SCIM fields, read by the listing's one
/// query rather than again per person.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    #[sqlx(flatten)]
    pub account: super::accounts::AccountRow,
    pub external_id: Option<String>,
}

/// Civil servants matching `filter` within the subtree of `root` (everyone when `None`),
/// oldest first; `offset` counts from 0.
pub async fn find_users(
    db: &Db,
    filter: &Cond,
    root: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Page<UserRow>, StoreError> {
    let mut binds = Vec::new();
    let (with, within) = scope(root, "opd_id", &mut binds);
    let cond = condition(filter, &mut binds);
    let from = format!("FROM accounts WHERE kind = 'asn' AND {within} AND {cond}");
    let total: Vec<(i64,)> = fetch(db, &format!("{with}SELECT COUNT(*) {from}"), &binds).await?;
    let n = binds.len();
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    let sql = format!(
        "{with}SELECT {}, external_id {from} ORDER BY created_at, id LIMIT ${} OFFSET ${}",
        super::accounts::COLUMNS,
        n + 1,
        n + 2
    );
    let rows = fetch(db, &sql, &binds).await?;
    Ok(Page { total: total.first().map(|t| t.0).unwrap_or(0), rows })
}

pub async fn user_meta(db: &Db, id: &str) -> Result<Option<UserMeta>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT id, external_id, created_at, updated_at FROM accounts WHERE id = $1 AND kind = 'asn'",
        [id],
        fetch_optional(UserMeta)
    )?)
}

pub async fn set_account_external_id(db: &Db, id: &str, external_id: Option<&str>, now: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE accounts SET external_id = $1, updated_at = $2 WHERE id = $3",
        [external_id, now, id],
        execute
    )?;
    Ok(())
}

const GROUP_COLUMNS: &str = "id, code, name, kind, parent_id, created_at, updated_at, external_id";

pub async fn find_groups(
    db: &Db,
    filter: &Cond,
    root: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Page<GroupRow>, StoreError> {
    let mut binds = Vec::new();
    let (with, within) = scope(root, "id", &mut binds);
    let cond = condition(filter, &mut binds);
    let from = format!("FROM opd_units WHERE {within} AND {cond}");
    let total: Vec<(i64,)> = fetch(db, &format!("{with}SELECT COUNT(*) {from}"), &binds).await?;
    let n = binds.len();
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    let sql = format!("{with}SELECT {GROUP_COLUMNS} {from} ORDER BY code, id LIMIT ${} OFFSET ${}", n + 1, n + 2);
    let rows = fetch(db, &sql, &binds).await?;
    Ok(Page { total: total.first().map(|t| t.0).unwrap_or(0), rows })
}

pub async fn group(db: &Db, id: &str) -> Result<Option<GroupRow>, StoreError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM opd_units WHERE id = $1");
    Ok(dispatch!(db, &sql, [id], fetch_optional(GroupRow))?)
}

/// The unit's own staff (not those of the units below it): id and name.
pub async fn members(db: &Db, unit_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT id, name FROM accounts WHERE opd_id = $1 AND kind = 'asn' ORDER BY name, id",
        [unit_id],
        fetch_all((String, String))
    )?)
}

pub async fn update_group(
    db: &Db,
    id: &str,
    name: &str,
    external_id: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE opd_units SET name = $1, external_id = $2, updated_at = $3 WHERE id = $4",
        [name, external_id, now, id],
        execute
    )?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_become_sql_with_bound_values() {
        let c = Cond::Or(
            Box::new(Cond::Cmp(Column::Nip, Match::Eq, "x' OR 1=1 --".into())),
            Box::new(Cond::And(
                Box::new(Cond::Cmp(Column::Email, Match::Contains, "50%_\\".into())),
                Box::new(Cond::Not(Box::new(Cond::Active(false)))),
            )),
        );
        let mut binds = Vec::new();
        let sql = condition(&c, &mut binds);
        assert_eq!(
            sql,
            "((nip IS NOT NULL AND nip = $1) OR ((email IS NOT NULL AND LOWER(email) LIKE LOWER($2) ESCAPE '\\') \
             AND (NOT status <> 'active')))"
        );
        let texts: Vec<String> =
            binds.iter().map(|b| if let Bind::Text(s) = b { s.clone() } else { String::new() }).collect();
        assert_eq!(texts, vec!["x' OR 1=1 --".to_string(), "%50\\%\\_\\\\%".to_string()]);
    }
}
