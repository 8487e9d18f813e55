//! The audit trail: security-relevant events appended with a hash chain. Each record's hash
//! covers its content and the previous record's hash, so altering or deleting a record breaks
//! every later link; `verify` walks the chain and says where. Appends are serialized (one lock
//! per process, plus a PostgreSQL advisory lock across replicas).

use serde::Serialize;
use serde_json::Value;

use crate::crypto;
pub use crate::store::audit::AuditRow;
use crate::store::audit::{self as store, NewRecord};
use crate::store::{Db, StoreError};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Default)]
pub struct Event {
    pub kind: &'static str,
    pub actor: String,
    pub subject: String,
    pub ip: String,
    pub detail: Value,
}

impl Event {
    pub fn new(kind: &'static str) -> Event {
        Event { kind, detail: Value::Object(Default::default()), ..Default::default() }
    }
    pub fn actor(mut self, a: &str) -> Event {
        self.actor = a.to_string();
        self
    }
    pub fn subject(mut self, s: &str) -> Event {
        self.subject = s.to_string();
        self
    }
    pub fn ip(mut self, ip: &str) -> Event {
        self.ip = ip.to_string();
        self
    }
    pub fn detail(mut self, d: Value) -> Event {
        self.detail = d;
        self
    }
}

fn link_hash(prev: &str, at: i64, kind: &str, actor: &str, subject: &str, ip: &str, detail: &str) -> String {
    // Length-prefixed fields: no two different records serialize the same way.
    let mut buf = String::new();
    for f in [prev, &at.to_string(), kind, actor, subject, ip, detail] {
        buf.push_str(&f.len().to_string());
        buf.push(':');
        buf.push_str(f);
    }
    crypto::sha256_hex(buf.as_bytes())
}

static APPEND: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn append(db: &Db, e: Event, now: i64) -> Result<(), StoreError> {
    let _guard = APPEND.lock().await;
    let detail = e.detail.to_string();
    let record = NewRecord { at: now, kind: e.kind, actor: &e.actor, subject: &e.subject, ip: &e.ip, detail: &detail };
    store::append(db, &record, |last| {
        let prev = last.unwrap_or_else(|| GENESIS.into());
        let hash = link_hash(&prev, now, e.kind, &e.actor, &e.subject, &e.ip, &detail);
        (prev, hash)
    })
    .await
}

/// Appends and logs instead of failing: an event that cannot be recorded must not turn a
/// successful login into an error, but it must be visible to operators.
pub async fn record(db: &Db, e: Event, now: i64) {
    let kind = e.kind;
    if let Err(err) = append(db, e, now).await {
        tracing::error!(error = %err, kind, "could not append to the audit trail");
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Verification {
    pub records: u64,
    pub ok: bool,
    /// The first broken record and why.
    pub broken_at: Option<i64>,
    pub problem: Option<String>,
}

pub async fn verify(db: &Db) -> Result<Verification, StoreError> {
    let rows = store::all(db).await?;
    // After a retention purge the chain starts at the anchor: the last removed record's hash.
    let anchor = store::anchor(db).await?;
    let mut prev = anchor.map(|a| a.1).unwrap_or_else(|| GENESIS.to_string());
    for (i, r) in rows.iter().enumerate() {
        if r.prev_hash != prev {
            let problem = format!("the record before #{} was altered or deleted (chain link does not match)", r.seq);
            return Ok(Verification { records: i as u64, ok: false, broken_at: Some(r.seq), problem: Some(problem) });
        }
        let expected = link_hash(&r.prev_hash, r.at, &r.kind, &r.actor, &r.subject, &r.ip, &r.detail);
        if r.hash != expected {
            let problem = format!("record #{} was altered (its content does not match its hash)", r.seq);
            return Ok(Verification { records: i as u64, ok: false, broken_at: Some(r.seq), problem: Some(problem) });
        }
        prev = r.hash.clone();
    }
    Ok(Verification { records: rows.len() as u64, ok: true, broken_at: None, problem: None })
}

pub async fn list(db: &Db, limit: i64, subject: Option<&str>) -> Result<Vec<AuditRow>, StoreError> {
    store::latest(db, limit.clamp(1, 10_000), subject).await
}

/// What the audit viewer filters on; empty strings match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// An event kind or the start of one (`login.` matches every login event).
    pub kind: String,
    /// An account id that is the actor or the subject of the event.
    pub who: String,
    pub since: i64,
    pub until: i64,
    pub limit: i64,
}

/// Records matching a filter, newest first.
pub async fn search(db: &Db, f: &Filter) -> Result<Vec<AuditRow>, StoreError> {
    let until = if f.until <= 0 { i64::MAX } else { f.until };
    store::search(db, &f.kind, &f.who, f.since, until, f.limit.clamp(1, 10_000)).await
}

/// Records between two instants (inclusive start, exclusive end), oldest first, for exports.
pub async fn range(db: &Db, since: i64, until: i64) -> Result<Vec<AuditRow>, StoreError> {
    store::range(db, since, until).await
}

/// CSV (RFC 4180) of records, with times in UTC, for the region's periodic SPBE reporting.
pub fn to_csv(rows: &[AuditRow]) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    let mut out = String::from("seq,time_utc,kind,actor,subject,ip,detail,hash\r\n");
    for r in rows {
        let time = chrono::DateTime::from_timestamp(r.at, 0)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        let cols = [
            r.seq.to_string(),
            time,
            r.kind.clone(),
            r.actor.clone(),
            r.subject.clone(),
            r.ip.clone(),
            r.detail.clone(),
            r.hash.clone(),
        ];
        out.push_str(&cols.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// Removes records older than `before` (the retention policy) and moves the chain's anchor to
/// the last removed record, so `verify` still checks everything that remains. Returns how many
/// records were removed.
pub async fn purge_before(db: &Db, before: i64, now: i64) -> Result<u64, StoreError> {
    let _guard = APPEND.lock().await;
    store::purge_before(db, before, now).await
}
