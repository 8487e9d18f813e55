//! Reading the whole database for a backup: the tables in dependency order with their columns
//! (from the database's own catalog, so a table added by a later migration is included without
//! a list to keep up to date), and every row as typed JSON values, all from one consistent
//! snapshot while the server keeps serving.
//!
//! The catalog queries are necessarily per dialect (`pragma_table_info` has no PostgreSQL
//! counterpart); the row queries are generated from the catalog. Rows travel in a form both
//! databases read back: integers as JSON numbers, booleans as `true`/`false`, text as strings,
//! blobs as base64 strings, so a SQLite backup restores into PostgreSQL too.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Column as _, Row, TypeInfo, ValueRef};

use super::{Db, StoreError};

/// The type a column's values travel as.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Integer,
    Boolean,
    Text,
    Blob,
    Real,
}

impl Kind {
    /// From a PostgreSQL `udt_name` or a SQLite declared type.
    fn of(sql_type: &str) -> Kind {
        let t = sql_type.to_ascii_lowercase();
        if t.starts_with("bool") {
            Kind::Boolean
        } else if t.contains("int") {
            Kind::Integer
        } else if t == "bytea" || t.contains("blob") || t.is_empty() {
            Kind::Blob
        } else if t.contains("real") || t.contains("floa") || t.contains("doub") || t == "numeric" {
            Kind::Real
        } else {
            Kind::Text
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    /// The database's own type name (PostgreSQL `udt_name`), for casts on insert.
    #[serde(skip)]
    pub sql_type: String,
}

/// A reference from `column` to `parent_column` of `parent`.
#[derive(Clone, Debug)]
pub struct ForeignKey {
    pub column: String,
    pub parent: String,
    pub parent_column: String,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub foreign_keys: Vec<ForeignKey>,
    /// PostgreSQL columns filled from a sequence (serial or identity): set past the restored
    /// rows afterwards.
    pub sequenced: Vec<String>,
    /// PostgreSQL identity columns refuse explicit values without `OVERRIDING SYSTEM VALUE`.
    pub identity: bool,
}

impl Table {
    /// A reference to a row of the same table (a unit's parent unit): such rows must be
    /// inserted parents first.
    pub fn self_reference(&self) -> Option<&ForeignKey> {
        self.foreign_keys.iter().find(|f| f.parent == self.name)
    }
}

/// Quotes an identifier for either dialect.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The migrations table is not data: the schema version is recorded in the archive's header
/// instead, and a restore rebuilds it by running the migrations.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The highest migration applied, 0 on a database never migrated.
pub async fn schema_version(exec: super::Exec<'_>) -> Result<i64, StoreError> {
    let mut exec = exec;
    let sql = match exec {
        super::Exec::Sqlite(_) | super::Exec::SqliteTx(_) => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
        }
        super::Exec::Postgres(_) | super::Exec::PostgresTx(_) => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    let (n,): (i64,) = super::dispatch!(exec.reborrow(), sql, [MIGRATIONS_TABLE], fetch_one((i64,)))?;
    if n == 0 {
        return Ok(0);
    }
    max_version(exec).await
}

async fn max_version(exec: super::Exec<'_>) -> Result<i64, StoreError> {
    let v: (i64,) = super::dispatch!(
        exec,
        "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        [],
        fetch_one((i64,))
    )?;
    Ok(v.0)
}

/// Every table but the migrations table, parents before the tables that refer to them.
pub async fn catalog(exec: super::Exec<'_>) -> Result<Vec<Table>, StoreError> {
    let mut exec = exec;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    if matches!(exec, super::Exec::Sqlite(_) | super::Exec::SqliteTx(_)) {
        let names: Vec<(String,)> = super::dispatch!(
                exec.reborrow(),
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> $1",
                [MIGRATIONS_TABLE],
                fetch_all((String,))
            )?;
        for (name,) in names {
            let cols: Vec<(String, String)> = super::dispatch!(
                exec.reborrow(),
                "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
                [name.as_str()],
                fetch_all((String, String))
            )?;
            let fks: Vec<(String, String, Option<String>)> = super::dispatch!(
                exec.reborrow(),
                "SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list($1)",
                [name.as_str()],
                fetch_all((String, String, Option<String>))
            )?;
            let columns = cols.into_iter().map(|(n, t)| Column { kind: Kind::of(&t), name: n, sql_type: t }).collect();
            let foreign_keys = fks
                .into_iter()
                .map(|(column, parent, to)| ForeignKey {
                    column,
                    parent,
                    parent_column: to.unwrap_or_else(|| "id".into()),
                })
                .collect();
            tables.insert(name.clone(), Table { name, columns, foreign_keys, sequenced: vec![], identity: false });
        }
    } else {
        let cols: Vec<(String, String, String, Option<String>, String)> = super::dispatch!(
                exec.reborrow(),
                "SELECT c.table_name::text, c.column_name::text, c.udt_name::text, c.column_default::text, c.is_identity::text
                 FROM information_schema.columns c
                 JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> $1
                 ORDER BY c.table_name, c.ordinal_position",
                [MIGRATIONS_TABLE],
                fetch_all((String, String, String, Option<String>, String))
            )?;
        for (table, column, udt, default, identity) in cols {
            let t = tables.entry(table.clone()).or_insert_with(|| Table {
                name: table,
                columns: vec![],
                foreign_keys: vec![],
                sequenced: vec![],
                identity: false,
            });
            if identity == "YES" || default.as_deref().is_some_and(|d| d.starts_with("nextval(")) {
                t.sequenced.push(column.clone());
            }
            t.identity |= identity == "YES";
            t.columns.push(Column { kind: Kind::of(&udt), name: column, sql_type: udt });
        }
        let fks: Vec<(String, String, String, String)> = super::dispatch!(
            exec.reborrow(),
            "SELECT cl.relname::text, a.attname::text, pcl.relname::text, pa.attname::text
                 FROM pg_constraint k
                 JOIN pg_class cl ON cl.oid = k.conrelid
                 JOIN pg_class pcl ON pcl.oid = k.confrelid
                 JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                 JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
                 JOIN pg_namespace n ON n.oid = cl.relnamespace
                 WHERE k.contype = 'f' AND n.nspname = current_schema()
                 ORDER BY 1, 2",
            [],
            fetch_all((String, String, String, String))
        )?;
        for (table, column, parent, parent_column) in fks {
            if let Some(t) = tables.get_mut(&table) {
                t.foreign_keys.push(ForeignKey { column, parent, parent_column });
            }
        }
    }
    dependency_order(tables)
}

/// Parents first; among tables free to go, by name, so archives of equal databases are equal.
fn dependency_order(mut tables: BTreeMap<String, Table>) -> Result<Vec<Table>, StoreError> {
    let known: BTreeSet<String> = tables.keys().cloned().collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready: Vec<String> = tables
            .values()
            .filter(|t| {
                t.foreign_keys
                    .iter()
                    .all(|f| f.parent == t.name || done.contains(&f.parent) || !known.contains(&f.parent))
            })
            .map(|t| t.name.clone())
            .collect();
        if ready.is_empty() {
            let left: Vec<&str> = tables.keys().map(String::as_str).collect();
            return Err(StoreError::Corrupt(format!("tables refer to each other in a cycle: {}", left.join(", "))));
        }
        for name in ready {
            if let Some(t) = tables.remove(&name) {
                done.insert(name);
                order.push(t);
            }
        }
    }
    Ok(order)
}

/// One read-only transaction that sees the database as it was when it began: PostgreSQL's
/// repeatable read, SQLite's read transaction (in WAL mode writers go on meanwhile).
pub struct Snapshot {
    conn: SnapshotConn,
    pub schema: i64,
    pub tables: Vec<Table>,
}

enum SnapshotConn {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Snapshot {
    pub async fn begin(db: &Db) -> Result<Snapshot, StoreError> {
        let mut conn = match db {
            // Deferred: the snapshot is taken by the first read, below, and no write lock is
            // held, so the server's writes are not held up for the length of the backup.
            Db::Sqlite(p) => SnapshotConn::Sqlite(p.begin_with("BEGIN DEFERRED").await?),
            Db::Postgres(p) => {
                SnapshotConn::Postgres(p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?)
            }
        };
        let schema = schema_version(conn.exec()).await?;
        let tables = catalog(conn.exec()).await?;
        Ok(Snapshot { conn, schema, tables })
    }

    /// Calls `each` with every row of `table`, its values in column order; returns the count.
    pub async fn rows<E: From<StoreError>>(
        &mut self,
        table: &Table,
        mut each: impl FnMut(&[Value]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut n = 0u64;
        let mut values = Vec::with_capacity(table.columns.len());
        match &mut self.conn {
            SnapshotConn::Sqlite(tx) => {
                let list: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
                let sql = format!("SELECT {} FROM {}", list.join(", "), quote(&table.name));
                let mut rows = sqlx::query(&sql).fetch(&mut **tx);
                while let Some(row) = rows.try_next().await.map_err(StoreError::from)? {
                    values.clear();
                    for (i, c) in table.columns.iter().enumerate() {
                        values.push(sqlite_value(&row, i, c.kind).map_err(StoreError::from)?);
                    }
                    each(&values)?;
                    n += 1;
                }
            }
            SnapshotConn::Postgres(tx) => {
                let list: Vec<String> = table.columns.iter().map(pg_select).collect();
                let sql = format!("SELECT {} FROM {}", list.join(", "), quote(&table.name));
                let mut rows = sqlx::query(&sql).fetch(&mut **tx);
                while let Some(row) = rows.try_next().await.map_err(StoreError::from)? {
                    values.clear();
                    for (i, c) in table.columns.iter().enumerate() {
                        values.push(pg_value(&row, i, c.kind).map_err(StoreError::from)?);
                    }
                    each(&values)?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Ends the read transaction.
    pub async fn end(self) -> Result<(), StoreError> {
        match self.conn {
            SnapshotConn::Sqlite(tx) => tx.rollback().await?,
            SnapshotConn::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

impl SnapshotConn {
    fn exec(&mut self) -> super::Exec<'_> {
        match self {
            SnapshotConn::Sqlite(tx) => super::Exec::SqliteTx(tx),
            SnapshotConn::Postgres(tx) => super::Exec::PostgresTx(tx),
        }
    }
}

/// Each column read in the type its kind decodes from: PostgreSQL `INTEGER` widened to
/// `BIGINT`, anything text-like (UUID, JSON) as text.
fn pg_select(c: &Column) -> String {
    let q = quote(&c.name);
    match c.kind {
        Kind::Integer => format!("{q}::int8"),
        Kind::Real => format!("{q}::float8"),
        Kind::Text => format!("{q}::text"),
        Kind::Boolean | Kind::Blob => q,
    }
}

fn blob(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn pg_value(row: &sqlx::postgres::PgRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Integer => row.try_get::<Option<i64>, _>(i)?.map(Value::from).unwrap_or(Value::Null),
        Kind::Boolean => row.try_get::<Option<bool>, _>(i)?.map(Value::from).unwrap_or(Value::Null),
        Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Value::from).unwrap_or(Value::Null),
        Kind::Blob => row.try_get::<Option<Vec<u8>>, _>(i)?.map(|b| blob(&b)).unwrap_or(Value::Null),
        Kind::Real => row.try_get::<Option<f64>, _>(i)?.map(Value::from).unwrap_or(Value::Null),
    })
}

/// SQLite values carry their own storage class whatever the column declares; each is turned
/// into the column's kind (a `BOOLEAN` column stores 0 and 1).
fn sqlite_value(row: &sqlx::sqlite::SqliteRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let class = raw.type_info().name().to_ascii_uppercase();
    let name = row.columns().get(i).map(|c| c.name().to_string()).unwrap_or_default();
    let odd = || sqlx::Error::Decode(format!("column {name}: a {class} value where {kind:?} was declared").into());
    Ok(match (kind, class.as_str()) {
        (Kind::Boolean, "INTEGER") => Value::Bool(row.try_get::<i64, _>(i)? != 0),
        (Kind::Integer, "INTEGER") => Value::from(row.try_get::<i64, _>(i)?),
        (Kind::Real, "INTEGER" | "REAL") => Value::from(row.try_get::<f64, _>(i)?),
        (Kind::Blob, "BLOB") => blob(&row.try_get::<Vec<u8>, _>(i)?),
        (Kind::Text, "TEXT") => Value::from(row.try_get::<String, _>(i)?),
        (Kind::Text, "INTEGER") => Value::from(row.try_get::<i64, _>(i)?.to_string()),
        (Kind::Blob, "TEXT") => blob(row.try_get::<String, _>(i)?.as_bytes()),
        _ => return Err(odd()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_both_dialects() {
        for (t, k) in [
            ("int8", Kind::Integer),
            ("BIGINT", Kind::Integer),
            ("INTEGER", Kind::Integer),
            ("bool", Kind::Boolean),
            ("BOOLEAN", Kind::Boolean),
            ("bytea", Kind::Blob),
            ("BLOB", Kind::Blob),
            ("text", Kind::Text),
            ("uuid", Kind::Text),
            ("float8", Kind::Real),
        ] {
            assert_eq!(Kind::of(t), k, "{t}");
        }
    }
}
