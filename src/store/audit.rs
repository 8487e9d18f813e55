//! Audit-trail rows: appending under the chain's head row, reading, and the retention purge with
//! its anchor. How a record's hash and the head's and anchor's MACs are computed, and what makes
//! the chain valid, is `crate::audit`'s.

use serde::Serialize;

use super::{dispatch, Db, StoreError, Tx};

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

/// The chain's head: the newest record's sequence number and hash (the anchor's, or the genesis
/// value, when there is none), the first sequence number linked under the keyed rule, and the
/// head's own MAC (empty until the first start after the migration signs it).
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    pub keyed_from: i64,
    pub mac: String,
}

/// Where the chain starts after a retention purge: the last removed record, and the anchor's MAC.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    pub at: i64,
    pub mac: String,
}

/// How a new record joins the chain, worked out by `crate::audit` from the head.
pub struct Link {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    /// The head's MAC once it names the new record.
    pub head_mac: String,
}

/// The head, locked for the rest of the transaction: on PostgreSQL by `FOR UPDATE` on its row
/// (other servers and the command line wait for it); on SQLite the transaction already holds
/// the database's write lock (`BEGIN IMMEDIATE`). Either way, no two writers read the same head.
async fn locked_head(tx: &mut Tx) -> Result<Head, StoreError> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT seq, hash, keyed_from, mac FROM audit_head WHERE id = 1{lock}");
    dispatch!(&mut *tx, &sql, [], fetch_optional(Head))?
        .ok_or_else(|| StoreError::Corrupt("the audit trail's head row is missing".into()))
}

/// Appends one record and moves the head to it, in one transaction holding the head (see
/// [`locked_head`]): `link` gets the head and returns the new record's sequence number, hashes
/// and the new head's MAC. `known` is the head as the caller last left it, if it remembers one
/// (PostgreSQL tries it before reading the head; SQLite reads it under its lock anyway). Returns
/// the new head.
pub async fn append(
    db: &Db,
    r: &NewRecord<'_>,
    known: Option<Head>,
    link: impl Fn(&Head) -> Link,
) -> Result<Head, StoreError> {
    if matches!(db, Db::Postgres(_)) {
        return append_swapping(db, r, known, &link).await;
    }
    let mut tx = db.begin().await?;
    let head = locked_head(&mut tx).await?;
    let l = link(&head);
    dispatch!(
        &mut tx,
        "INSERT INTO audit_events (seq, at, kind, actor, subject, ip, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [l.seq, r.at, r.kind, r.actor, r.subject, r.ip, r.detail, &l.prev_hash, &l.hash],
        execute
    )?;
    dispatch!(
        &mut tx,
        "UPDATE audit_head SET seq = $1, hash = $2, mac = $3 WHERE id = 1",
        [l.seq, &l.hash, &l.head_mac],
        execute
    )?;
    tx.commit().await?;
    Ok(Head { seq: l.seq, hash: l.hash, keyed_from: head.keyed_from, mac: l.head_mac })
}

/// How often [`append_swapping`] reads the head again after another writer moved it.
const SWAP_ROUNDS: usize = 50;

/// PostgreSQL's append, two round trips where the transaction takes five (BEGIN, the locked
/// read, insert, update, COMMIT): the head is read unlocked, then one statement moves it and
/// inserts the record only if nobody moved it meanwhile. A writer racing for the head makes
/// that statement wait for it, then find the head changed and do nothing (READ COMMITTED
/// re-checks the row it waited for), so this reads the head again. Every login appends a
/// record, so this is on the hottest write path: a head `known` from this process's previous
/// append is tried first, one round trip when no other process wrote since. A wrong guess costs
/// a statement that changes nothing, since the statement itself compares the head.
async fn append_swapping(
    db: &Db,
    r: &NewRecord<'_>,
    mut known: Option<Head>,
    link: &impl Fn(&Head) -> Link,
) -> Result<Head, StoreError> {
    for _ in 0..SWAP_ROUNDS {
        let head = match known.take() {
            Some(h) => h,
            None => {
                head(db).await?.ok_or_else(|| StoreError::Corrupt("the audit trail's head row is missing".into()))?
            }
        };
        let l = link(&head);
        let moved = dispatch!(
            db,
            "WITH moved AS (UPDATE audit_head SET seq = $1, hash = $2, mac = $3 \
               WHERE id = 1 AND seq = $4 AND hash = $5 AND keyed_from = $6 RETURNING id) \
             INSERT INTO audit_events (seq, at, kind, actor, subject, ip, detail, prev_hash, hash) \
             SELECT $1, $7, $8, $9, $10, $11, $12, $5, $2 FROM moved",
            [
                l.seq,
                &l.hash,
                &l.head_mac,
                head.seq,
                &head.hash,
                head.keyed_from,
                r.at,
                r.kind,
                r.actor,
                r.subject,
                r.ip,
                r.detail
            ],
            execute
        )?;
        if moved == 1 {
            return Ok(Head { seq: l.seq, hash: l.hash, keyed_from: head.keyed_from, mac: l.head_mac });
        }
    }
    Err(StoreError::Conflict("audit_head".into()))
}

/// Signs a head (and retention anchor) the migration left unsigned, once: `head_mac` and
/// `anchor_mac` compute the MACs. Returns the head when this call signed it, `None` when it was
/// already signed (by an earlier start, or by another process a moment ago).
pub async fn adopt(
    db: &Db,
    head_mac: impl FnOnce(&Head) -> String,
    anchor_mac: impl FnOnce(&Anchor) -> String,
) -> Result<Option<Head>, StoreError> {
    let mut tx = db.begin().await?;
    let head = locked_head(&mut tx).await?;
    if !head.mac.is_empty() {
        return Ok(None);
    }
    dispatch!(&mut tx, "UPDATE audit_head SET mac = $1 WHERE id = 1", [head_mac(&head)], execute)?;
    let anchor: Option<Anchor> =
        dispatch!(&mut tx, "SELECT seq, hash, at, mac FROM audit_anchor WHERE id = 1", [], fetch_optional(Anchor))?;
    if let Some(a) = anchor.filter(|a| a.mac.is_empty()) {
        dispatch!(&mut tx, "UPDATE audit_anchor SET mac = $1 WHERE id = 1", [anchor_mac(&a)], execute)?;
    }
    tx.commit().await?;
    Ok(Some(head))
}

pub async fn head(db: &Db) -> Result<Option<Head>, StoreError> {
    Ok(dispatch!(db, "SELECT seq, hash, keyed_from, mac FROM audit_head WHERE id = 1", [], fetch_optional(Head))?)
}

/// Every record, oldest first (for tests and small trails: the chain is verified page by page).
pub async fn all(db: &Db) -> Result<Vec<AuditRow>, StoreError> {
    page(db, 0, i64::MAX, i64::MAX).await
}

/// Up to `limit` records numbered after `after` and up to `up_to`, oldest first: the chain is
/// walked a page at a time.
pub async fn page(db: &Db, after: i64, up_to: i64, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3");
    Ok(dispatch!(db, &sql, [after, up_to, limit], fetch_all(AuditRow))?)
}

/// The hash the chain starts from after a retention purge: the last removed record's.
pub async fn anchor(db: &Db) -> Result<Option<Anchor>, StoreError> {
    Ok(dispatch!(db, "SELECT seq, hash, at, mac FROM audit_anchor WHERE id = 1", [], fetch_optional(Anchor))?)
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
    // Kinds are lower case; the prefix is too, so both databases match alike (SQLite's LIKE
    // ignores ASCII case, PostgreSQL's does not).
    let kind = if kind_prefix.is_empty() {
        String::new()
    } else {
        let prefix = kind_prefix.to_ascii_lowercase();
        format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
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
/// transaction holding the head so the chain is never left without its start and no append
/// interleaves; `sign` gives the anchor's MAC from its sequence number, hash and time. Returns
/// how many records were removed.
pub async fn purge_before(
    db: &Db,
    before: i64,
    now: i64,
    sign: impl FnOnce(i64, &str, i64) -> String,
) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    locked_head(&mut tx).await?;
    let last: Option<(i64, String)> = dispatch!(
        &mut tx,
        "SELECT seq, hash FROM audit_events WHERE at < $1 ORDER BY seq DESC LIMIT 1",
        [before],
        fetch_optional((i64, String))
    )?;
    let Some((seq, hash)) = last else { return Ok(0) };
    let mac = sign(seq, &hash, now);
    dispatch!(
        &mut tx,
        "INSERT INTO audit_anchor (id, seq, hash, at, mac) VALUES (1, $1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at, mac = excluded.mac",
        [seq, &hash, now, &mac],
        execute
    )?;
    let n = dispatch!(&mut tx, "DELETE FROM audit_events WHERE seq <= $1", [seq], execute)?;
    tx.commit().await?;
    Ok(n)
}
