//! Audit-trail rows: appending under the chain's lock, reading, and the retention purge with
//! its anchor. How a record's hash is computed, and what makes the chain valid, is `crate::audit`'s.

use serde::Serialize;

use super::{dispatch, Db, StoreError};

/// Arbitrary constant naming the audit chain's PostgreSQL advisory lock.
const PG_LOCK: i64 = 0x6765_7262_616e_6701;

const COLUMNS: &str = "seq, at, kind, actor, subject, ip, detail, prev_hash, hash";

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub ip: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A record's content, before it is linked into the chain.
pub struct NewRecord<'a> {
    pub at: i64,
    pub kind: &'a str,
    pub actor: &'a str,
    pub subject: &'a str,
    pub ip: &'a str,
    pub detail: &'a str,
}

/// Appends one record in a transaction that holds the chain (on PostgreSQL an advisory lock
/// across replicas; on SQLite the write lock): `link` gets the last record's hash (`None` on an
/// empty trail) and returns the new record's previous hash and hash.
pub async fn append(
    db: &Db,
    r: &NewRecord<'_>,
    link: impl FnOnce(Option<String>) -> (String, String),
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    if tx.is_postgres() {
        dispatch!(&mut tx, "SELECT pg_advisory_xact_lock($1)", [PG_LOCK], execute)?;
    }
    let last: Option<(String,)> =
        dispatch!(&mut tx, "SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1", [], fetch_optional((String,)))?;
    let (prev, hash) = link(last.map(|l| l.0));
    dispatch!(
        &mut tx,
        "INSERT INTO audit_events (at, kind, actor, subject, ip, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [r.at, r.kind, r.actor, r.subject, r.ip, r.detail, &prev, &hash],
        execute
    )?;
    tx.commit().await
}

/// Every record, oldest first.
pub async fn all(db: &Db) -> Result<Vec<AuditRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_events ORDER BY seq");
    Ok(dispatch!(db, &sql, [], fetch_all(AuditRow))?)
}

/// The hash the chain starts from after a retention purge: the last removed record's.
pub async fn anchor(db: &Db) -> Result<Option<(i64, String)>, StoreError> {
    Ok(dispatch!(db, "SELECT seq, hash FROM audit_anchor WHERE id = 1", [], fetch_optional((i64, String)))?)
}

/// The newest records, of one subject or of all.
pub async fn latest(db: &Db, limit: i64, subject: Option<&str>) -> Result<Vec<AuditRow>, StoreError> {
    Ok(match subject {
        Some(s) => {
            let sql = format!("SELECT {COLUMNS} FROM audit_events WHERE subject = $1 ORDER BY seq DESC LIMIT $2");
            dispatch!(db, &sql, [s, limit], fetch_all(AuditRow))?
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM audit_events ORDER BY seq DESC LIMIT $1");
            dispatch!(db, &sql, [limit], fetch_all(AuditRow))?
        }
    })
}

/// Records whose kind starts with `kind_prefix` (empty: any), whose actor or subject is `who`
/// (empty: anyone), at `since` ≤ at < `until`; newest first.
pub async fn search(
    db: &Db,
    kind_prefix: &str,
    who: &str,
    since: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    // A prefix: `%` and `_` in it are literal characters (kinds contain `_`), not wildcards.
    let kind = if kind_prefix.is_empty() {
        String::new()
    } else {
        format!("{}%", kind_prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events \
         WHERE ($1 = '' OR kind LIKE $1 ESCAPE '\\') AND ($2 = '' OR actor = $2 OR subject = $2) AND at >= $3 AND at < $4 \
         ORDER BY seq DESC LIMIT $5"
    );
    Ok(dispatch!(db, &sql, [&kind, who, since, until, limit], fetch_all(AuditRow))?)
}

/// Records between two instants (inclusive start, exclusive end), oldest first.
pub async fn range(db: &Db, since: i64, until: i64) -> Result<Vec<AuditRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_events WHERE at >= $1 AND at < $2 ORDER BY seq");
    Ok(dispatch!(db, &sql, [since, until], fetch_all(AuditRow))?)
}

/// Removes the records older than `before` and moves the anchor to the last of them, in one
/// transaction so the chain is never left without its start. Returns how many were removed.
pub async fn purge_before(db: &Db, before: i64, now: i64) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    let last: Option<(i64, String)> = dispatch!(
        &mut tx,
        "SELECT seq, hash FROM audit_events WHERE at < $1 ORDER BY seq DESC LIMIT 1",
        [before],
        fetch_optional((i64, String))
    )?;
    let Some((seq, hash)) = last else { return Ok(0) };
    dispatch!(
        &mut tx,
        "INSERT INTO audit_anchor (id, seq, hash, at) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at",
        [seq, &hash, now],
        execute
    )?;
    let n = dispatch!(&mut tx, "DELETE FROM audit_events WHERE seq <= $1", [seq], execute)?;
    tx.commit().await?;
    Ok(n)
}
