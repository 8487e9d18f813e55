//! Writing a backup's rows back, all in one transaction: refused when the database already
//! holds data unless forced, in which case every row is deleted first inside that same
//! transaction (so a failed restore leaves the database as it was). Rows are matched to the
//! target's columns by name and converted to the target's types, so an archive from the other
//! database kind restores too; PostgreSQL sequences are moved past the restored rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use base64::Engine;
use serde_json::Value;

use super::backup::{catalog, quote, Column, Kind, Table};
use super::{Db, StoreError, Tx};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

fn migrator(kind: &str) -> &'static sqlx::migrate::Migrator {
    if kind == "postgres" {
        &POSTGRES
    } else {
        &SQLITE
    }
}

/// The highest migration this binary knows for a database kind.
pub fn binary_schema(kind: &str) -> i64 {
    migrator(kind).iter().map(|m| m.version).max().unwrap_or(0)
}

/// Applies the migrations up to `version` and no further, so an archive's rows meet the schema
/// they were taken from; the rest run after the restore, as an upgrade would. Refuses a
/// database already past that version (its tables may no longer fit the rows).
pub async fn migrate_to(db: &Db, version: i64) -> Result<(), RestoreError> {
    async fn steps<C: sqlx::migrate::Migrate + Send>(
        conn: &mut C,
        m: &sqlx::migrate::Migrator,
        version: i64,
    ) -> Result<(), RestoreError> {
        let migrate = |e: sqlx::migrate::MigrateError| RestoreError::Store(StoreError::Migrate(e));
        conn.ensure_migrations_table().await.map_err(migrate)?;
        let applied: BTreeSet<i64> =
            conn.list_applied_migrations().await.map_err(migrate)?.into_iter().map(|a| a.version).collect();
        if let Some(newest) = applied.iter().copied().max().filter(|v| *v > version) {
            return Err(RestoreError::Mismatch(format!(
                "the database is already at schema version {newest}, past the archive's {version}: restore into a new, empty database"
            )));
        }
        for step in m.iter().filter(|s| s.version <= version && !applied.contains(&s.version)) {
            if step.migration_type.is_down_migration() {
                continue;
            }
            conn.apply(step).await.map_err(migrate)?;
        }
        Ok(())
    }
    let m = migrator(db.kind());
    match db {
        Db::Sqlite(p) => steps(&mut *p.acquire().await?, m, version).await,
        Db::Postgres(p) => steps(&mut *p.acquire().await?, m, version).await,
    }
}

/// Tables the migrations themselves fill (the audit chain's head starts at the genesis
/// record): rows there do not make a database "not empty".
const SEEDED: &[&str] = &["audit_head"];

/// Bound parameters per statement, well under both databases' limits (SQLite 32,766,
/// PostgreSQL 65,535).
const MAX_PARAMS: usize = 8_000;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(
        "the target database is not empty (table `{table}` has {rows} rows): restore into an empty database, or add --force to delete every row first, in the same transaction as the restore"
    )]
    NotEmpty { table: String, rows: i64 },
    #[error("the archive does not fit this database: {0}")]
    Mismatch(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RestoreError {
    fn from(e: sqlx::Error) -> Self {
        RestoreError::Store(e.into())
    }
}

/// Refuses a database holding data before anything is written to it: a restore refused for
/// that must not have applied the migrations up to the archive's schema under the servers
/// using it. [`Restore::begin`] checks again inside its transaction.
pub async fn refuse_data(db: &Db) -> Result<(), RestoreError> {
    let list = catalog(db.into()).await?;
    refuse_rows(db.into(), &list).await
}

/// `NotEmpty` for the first of `tables` with rows (the seeded ones aside).
async fn refuse_rows(mut exec: super::Exec<'_>, tables: &[Table]) -> Result<(), RestoreError> {
    for t in tables.iter().filter(|t| !SEEDED.contains(&t.name.as_str())) {
        let sql = format!("SELECT COUNT(*) FROM {}", quote(&t.name));
        let (rows,): (i64,) = super::dispatch!(exec.reborrow(), &sql, [], fetch_one((i64,)))?;
        if rows > 0 {
            return Err(RestoreError::NotEmpty { table: t.name.clone(), rows });
        }
    }
    Ok(())
}

/// A restore in progress: the open transaction and the target's tables.
pub struct Restore {
    tx: Tx,
    tables: BTreeMap<String, Table>,
    restored: BTreeSet<String>,
}

/// One table being loaded.
pub struct Load {
    table: Table,
    /// For each target column, the position of its value in the archive's rows.
    from: Vec<usize>,
    pending: Vec<Vec<Value>>,
    /// Rows referring to rows of the same table are kept until the table ends and then
    /// inserted parents first.
    hold_all: bool,
    count: u64,
}

impl Restore {
    /// Opens the transaction; refuses a database with data unless `force`, and then deletes
    /// every row (children first).
    pub async fn begin(db: &Db, force: bool) -> Result<Restore, RestoreError> {
        let mut tx = db.begin().await?;
        let list = catalog((&mut tx).into()).await?;
        if !force {
            refuse_rows((&mut tx).into(), &list).await?;
        }
        for t in list.iter().rev() {
            let sql = format!("DELETE FROM {}", quote(&t.name));
            super::dispatch!(&mut tx, &sql, [], execute)?;
        }
        let tables = list.into_iter().map(|t| (t.name.clone(), t)).collect();
        Ok(Restore { tx, tables, restored: BTreeSet::new() })
    }

    /// Starts loading `name`, whose rows in the archive carry `columns` in that order.
    pub fn table(&mut self, name: &str, columns: &[Column]) -> Result<Load, RestoreError> {
        let table = self.tables.get(name).cloned().ok_or_else(|| {
            RestoreError::Mismatch(format!("table `{name}` is in the archive but not in the database"))
        })?;
        if !self.restored.insert(name.to_string()) {
            return Err(RestoreError::Mismatch(format!("table `{name}` appears twice in the archive")));
        }
        let mut from = Vec::with_capacity(table.columns.len());
        for c in &table.columns {
            let i = columns.iter().position(|s| s.name == c.name).ok_or_else(|| {
                RestoreError::Mismatch(format!("column `{name}.{}` is in the database but not in the archive", c.name))
            })?;
            from.push(i);
        }
        if let Some(extra) = columns.iter().find(|s| !table.columns.iter().any(|c| c.name == s.name)) {
            return Err(RestoreError::Mismatch(format!(
                "column `{name}.{}` is in the archive but not in the database",
                extra.name
            )));
        }
        let hold_all = table.self_reference().is_some();
        Ok(Load { table, from, pending: Vec::new(), hold_all, count: 0 })
    }

    /// Adds one row (values in the archive's column order).
    pub async fn row(&mut self, load: &mut Load, values: Vec<Value>) -> Result<(), RestoreError> {
        if load.from.iter().any(|&i| i >= values.len()) {
            return Err(RestoreError::Mismatch(format!("a row of `{}` has too few values", load.table.name)));
        }
        let row: Vec<Value> = load.from.iter().map(|&i| values[i].clone()).collect();
        load.pending.push(row);
        load.count += 1;
        if !load.hold_all && load.pending.len() * load.table.columns.len().max(1) >= MAX_PARAMS {
            let rows = std::mem::take(&mut load.pending);
            self.insert(&load.table, rows).await?;
        }
        Ok(())
    }

    /// Writes what is left of the table; returns its row count.
    pub async fn end_table(&mut self, mut load: Load) -> Result<u64, RestoreError> {
        let mut rows = std::mem::take(&mut load.pending);
        if load.hold_all {
            rows = parents_first(&load.table, rows)?;
        }
        let per = (MAX_PARAMS / load.table.columns.len().max(1)).max(1);
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(per));
            self.insert(&load.table, rows).await?;
            rows = rest;
        }
        Ok(load.count)
    }

    async fn insert(&mut self, table: &Table, rows: Vec<Vec<Value>>) -> Result<(), RestoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let pg = self.tx.is_postgres();
        let names: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
        let mut sql = format!("INSERT INTO {} ({})", quote(&table.name), names.join(", "));
        if pg && table.identity {
            sql.push_str(" OVERRIDING SYSTEM VALUE");
        }
        sql.push_str(" VALUES ");
        let mut binds = Vec::with_capacity(rows.len() * table.columns.len());
        for (r, row) in rows.iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for (i, (c, v)) in table.columns.iter().zip(row).enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                binds.push(bound(&table.name, c, v)?);
                sql.push_str(&format!("${}", binds.len()));
                // PostgreSQL: the column's own type, so text reaches a UUID or JSON column too.
                if pg {
                    sql.push_str(&format!("::{}", quote(&c.sql_type)));
                }
            }
            sql.push(')');
        }
        macro_rules! bind_all {
            ($q:expr) => {{
                let mut q = $q;
                for b in binds {
                    q = match b {
                        Bound::Int(v) => q.bind(v),
                        Bound::Bool(v) => q.bind(v),
                        Bound::Text(v) => q.bind(v),
                        Bound::Blob(v) => q.bind(v),
                        Bound::Real(v) => q.bind(v),
                    };
                }
                q
            }};
        }
        match &mut self.tx {
            Tx::Sqlite(t) => {
                bind_all!(sqlx::query::<sqlx::Sqlite>(&sql)).execute(&mut **t).await?;
            }
            Tx::Postgres(t) => {
                bind_all!(sqlx::query::<sqlx::Postgres>(&sql)).execute(&mut **t).await?;
            }
        }
        Ok(())
    }

    /// Checks every table of the database was in the archive, moves PostgreSQL sequences past
    /// the restored rows and commits.
    pub async fn commit(mut self) -> Result<(), RestoreError> {
        if let Some(missing) = self.tables.keys().find(|t| !self.restored.contains(*t)) {
            return Err(RestoreError::Mismatch(format!("table `{missing}` of the database is not in the archive")));
        }
        if let Tx::Postgres(t) = &mut self.tx {
            for table in self.tables.values() {
                for col in &table.sequenced {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)",
                        c = quote(col),
                        t = quote(&table.name)
                    );
                    sqlx::query(&sql).bind(quote(&table.name)).bind(col.as_str()).execute(&mut **t).await?;
                }
            }
        }
        self.tx.commit().await?;
        Ok(())
    }
}

/// A value ready to bind, in the target column's type.
enum Bound {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
    Real(Option<f64>),
}

fn bound(table: &str, c: &Column, v: &Value) -> Result<Bound, RestoreError> {
    let bad =
        || RestoreError::Mismatch(format!("column `{table}.{}` ({:?}) cannot take the value {v}", c.name, c.kind));
    Ok(match (c.kind, v) {
        (Kind::Integer, Value::Null) => Bound::Int(None),
        (Kind::Integer, Value::Number(n)) => Bound::Int(Some(n.as_i64().ok_or_else(bad)?)),
        (Kind::Integer, Value::Bool(b)) => Bound::Int(Some(i64::from(*b))),
        (Kind::Boolean, Value::Null) => Bound::Bool(None),
        (Kind::Boolean, Value::Bool(b)) => Bound::Bool(Some(*b)),
        (Kind::Boolean, Value::Number(n)) => Bound::Bool(Some(n.as_i64().ok_or_else(bad)? != 0)),
        (Kind::Text, Value::Null) => Bound::Text(None),
        (Kind::Text, Value::String(s)) => Bound::Text(Some(s.clone())),
        (Kind::Text, Value::Number(n)) => Bound::Text(Some(n.to_string())),
        (Kind::Blob, Value::Null) => Bound::Blob(None),
        (Kind::Blob, Value::String(s)) => {
            Bound::Blob(Some(base64::engine::general_purpose::STANDARD.decode(s).map_err(|_| bad())?))
        }
        (Kind::Real, Value::Null) => Bound::Real(None),
        (Kind::Real, Value::Number(n)) => Bound::Real(Some(n.as_f64().ok_or_else(bad)?)),
        _ => return Err(bad()),
    })
}

/// Orders rows so each comes after the row of the same table it refers to (a unit after its
/// parent unit): breadth first from the rows that refer to no row here, with the children
/// indexed by the parent they name, so a long chain costs no more than a flat list.
fn parents_first(table: &Table, rows: Vec<Vec<Value>>) -> Result<Vec<Vec<Value>>, RestoreError> {
    let Some(fk) = table.self_reference() else { return Ok(rows) };
    let pos = |name: &str| table.columns.iter().position(|c| c.name == name);
    let (Some(child), Some(parent)) = (pos(&fk.column), pos(&fk.parent_column)) else { return Ok(rows) };
    let present: HashSet<String> = rows.iter().map(|r| r[parent].to_string()).collect();
    let mut children: HashMap<String, Vec<usize>> = HashMap::new();
    let mut queue = VecDeque::new();
    for (i, r) in rows.iter().enumerate() {
        let p = r[child].to_string();
        if r[child].is_null() || !present.contains(&p) {
            queue.push_back(i);
        } else {
            children.entry(p).or_default().push(i);
        }
    }
    let mut order = Vec::with_capacity(rows.len());
    while let Some(i) = queue.pop_front() {
        order.push(i);
        if let Some(next) = children.remove(&rows[i][parent].to_string()) {
            queue.extend(next);
        }
    }
    if order.len() != rows.len() {
        return Err(RestoreError::Mismatch(format!("rows of `{}` refer to each other in a cycle", table.name)));
    }
    let mut slots: Vec<Option<Vec<Value>>> = rows.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::backup::ForeignKey;

    fn units() -> Table {
        let col = |n: &str| Column { name: n.into(), kind: Kind::Text, sql_type: "text".into() };
        Table {
            name: "opd_units".into(),
            columns: vec![col("id"), col("parent_id")],
            foreign_keys: vec![ForeignKey {
                column: "parent_id".into(),
                parent: "opd_units".into(),
                parent_column: "id".into(),
            }],
            sequenced: vec![],
            identity: false,
        }
    }

    #[test]
    fn units_go_in_after_their_parents() {
        let rows = vec![
            vec![json!("c"), json!("b")],
            vec![json!("b"), json!("a")],
            vec![json!("a"), Value::Null],
            vec![json!("d"), json!("elsewhere")],
        ];
        let order: Vec<Value> = parents_first(&units(), rows).unwrap().into_iter().map(|r| r[0].clone()).collect();
        assert_eq!(order, vec![json!("a"), json!("d"), json!("b"), json!("c")]);
        let cycle = vec![vec![json!("x"), json!("y")], vec![json!("y"), json!("x")]];
        assert!(parents_first(&units(), cycle).is_err());
        let selfish = vec![vec![json!("s"), json!("s")]];
        assert!(parents_first(&units(), selfish).is_err());
    }

    /// A chain listed children first took one pass over the rows per level: 50,000 units
    /// were over 10⁹ steps (minutes). Now one pass.
    #[test]
    fn a_long_chain_is_ordered_in_linear_time() {
        let n = 50_000;
        let rows: Vec<Vec<Value>> = (0..n)
            .rev()
            .map(|i| vec![json!(format!("u{i}")), if i == 0 { Value::Null } else { json!(format!("u{}", i - 1)) }])
            .collect();
        let started = std::time::Instant::now();
        let order = parents_first(&units(), rows).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
        assert_eq!((order[0][0].clone(), order[n - 1][0].clone()), (json!("u0"), json!(format!("u{}", n - 1))));
    }

    #[test]
    fn values_convert_to_the_target_column() {
        let c = |kind| Column { name: "c".into(), kind, sql_type: String::new() };
        assert!(matches!(bound("t", &c(Kind::Boolean), &json!(1)), Ok(Bound::Bool(Some(true)))));
        assert!(matches!(bound("t", &c(Kind::Integer), &json!(true)), Ok(Bound::Int(Some(1)))));
        assert!(matches!(bound("t", &c(Kind::Blob), &json!("AAE=")), Ok(Bound::Blob(Some(ref b))) if b == &[0, 1]));
        assert!(matches!(bound("t", &c(Kind::Text), &Value::Null), Ok(Bound::Text(None))));
        let e = bound("t", &c(Kind::Integer), &json!("x")).err().unwrap().to_string();
        assert_eq!(e, "the archive does not fit this database: column `t.c` (Integer) cannot take the value \"x\"");
    }
}
