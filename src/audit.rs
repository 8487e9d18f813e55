//! The audit trail: security-relevant events appended to a keyed hash chain. Each record's hash
//! is an HMAC, under a key derived from the master key, over its sequence number, its content and
//! the previous record's hash: altering, deleting or re-linking a record breaks the chain, and
//! someone who can edit the database but lacks the key cannot compute a new one. The head row
//! (newest sequence number and hash, with its own MAC) shows the newest records were not cut
//! off; signed checkpoints kept away from the server show the trail was neither rolled back nor
//! rewritten since, even by someone holding the key. `verify` walks the chain and says where it
//! breaks. Appends lock the head row in the database, so the server's replicas and the command
//! line, each its own process, never link two records to the same predecessor.
//!
//! Records written before the chain was keyed (`keyed_from` in the head) keep their unkeyed
//! SHA-256 links and are checked with that old rule; the first start after the upgrade vouched
//! for them as they stood by signing the head.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::Serialize;
use serde_json::{json, Value};

use crate::crypto;
pub use crate::store::audit::AuditRow;
use crate::store::audit::{self as store, Anchor, Head, Link, NewRecord};
use crate::store::{Db, StoreError};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The kind of the record saying where the keyed chain took over from the unkeyed one.
pub const CHAIN_KEYED: &str = "audit.chain_keyed";

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

/// Length-prefixed fields: no two different lists serialize the same way.
fn framed(fields: &[&str]) -> String {
    let mut buf = String::new();
    for f in fields {
        buf.push_str(&f.len().to_string());
        buf.push(':');
        buf.push_str(f);
    }
    buf
}

/// The link of a record written before the chain was keyed: a plain SHA-256 anyone can
/// recompute, kept only to check those records.
fn legacy_link(prev: &str, at: i64, kind: &str, actor: &str, subject: &str, ip: &str, detail: &str) -> String {
    crypto::sha256_hex(framed(&[prev, &at.to_string(), kind, actor, subject, ip, detail]).as_bytes())
}

/// The chain's HMAC key, derived from the master key under its own label.
#[derive(Clone, Debug)]
pub struct ChainKey(crypto::IdHasher);

impl ChainKey {
    pub fn derive(master: &[u8; 32]) -> ChainKey {
        ChainKey(crypto::IdHasher::new(crypto::derive_key(master, "gerbang audit chain v1")))
    }

    /// Each use of the key starts with its own label, so a record's hash can never pass for a
    /// head's or an anchor's MAC.
    fn mac(&self, fields: &[&str]) -> String {
        self.0.hash(framed(fields).as_bytes())
    }

    #[allow(clippy::too_many_arguments)]
    fn link(
        &self,
        prev: &str,
        seq: i64,
        at: i64,
        kind: &str,
        actor: &str,
        subject: &str,
        ip: &str,
        detail: &str,
    ) -> String {
        self.mac(&["link", prev, &seq.to_string(), &at.to_string(), kind, actor, subject, ip, detail])
    }

    fn head_mac(&self, seq: i64, hash: &str, keyed_from: i64) -> String {
        self.mac(&["head", &seq.to_string(), hash, &keyed_from.to_string()])
    }

    fn anchor_mac(&self, seq: i64, hash: &str, at: i64) -> String {
        self.mac(&["anchor", &seq.to_string(), hash, &at.to_string()])
    }

    fn head_ok(&self, h: &Head) -> bool {
        !h.mac.is_empty() && same(&h.mac, &self.head_mac(h.seq, &h.hash, h.keyed_from))
    }

    fn anchor_ok(&self, a: &Anchor) -> bool {
        !a.mac.is_empty() && same(&a.mac, &self.anchor_mac(a.seq, &a.hash, a.at))
    }
}

fn same(a: &str, b: &str) -> bool {
    crypto::constant_time_eq(a.as_bytes(), b.as_bytes())
}

/// The chain key of each database this process writes to, by [`Db::identity`]: the trail is
/// written through `record(&db, …)` from every operation, and the handle is all they pass.
static KEYS: RwLock<BTreeMap<String, ChainKey>> = RwLock::new(BTreeMap::new());

fn key_of(db: &Db) -> Result<ChainKey, StoreError> {
    KEYS.read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&db.identity())
        .cloned()
        .ok_or_else(|| StoreError::Corrupt("the audit chain's key was not loaded for this database".into()))
}

/// Makes the chain's key known for `db` (every process that writes the trail calls this once at
/// start-up) and signs the head the migration to the keyed chain left unsigned. That first
/// signature vouches for the records written before, as they stand then; a record
/// [`CHAIN_KEYED`] says so in the trail.
pub async fn open(db: &Db, key: ChainKey, now: i64) -> Result<(), StoreError> {
    KEYS.write().unwrap_or_else(|p| p.into_inner()).insert(db.identity(), key.clone());
    let adopted =
        store::adopt(db, |h| key.head_mac(h.seq, &h.hash, h.keyed_from), |a| key.anchor_mac(a.seq, &a.hash, a.at))
            .await?;
    if let Some(h) = adopted.filter(|h| h.keyed_from > 1) {
        let detail = json!({ "legacy_until": h.keyed_from - 1, "legacy_hash": h.hash });
        append(db, Event::new(CHAIN_KEYED).detail(detail), now).await?;
    }
    Ok(())
}

/// Spares one process's tasks from queueing on the database's lock; the head row's lock is what
/// keeps writers in different processes apart.
static APPEND: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The head each database's trail had after this process's last append there (read and written
/// under [`APPEND`]): the next append tries it before reading the head (see `store::append`).
static LAST_HEAD: std::sync::Mutex<BTreeMap<String, Head>> = std::sync::Mutex::new(BTreeMap::new());

pub async fn append(db: &Db, e: Event, now: i64) -> Result<(), StoreError> {
    let key = key_of(db)?;
    let _guard = APPEND.lock().await;
    let detail = e.detail.to_string();
    let record = NewRecord { at: now, kind: e.kind, actor: &e.actor, subject: &e.subject, ip: &e.ip, detail: &detail };
    let id = db.identity();
    let known = LAST_HEAD.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    let head = store::append(db, &record, known, |head| {
        let seq = head.seq + 1;
        let hash = key.link(&head.hash, seq, now, e.kind, &e.actor, &e.subject, &e.ip, &detail);
        let head_mac = key.head_mac(seq, &hash, head.keyed_from);
        Link { seq, prev_hash: head.hash.clone(), hash, head_mac }
    })
    .await?;
    LAST_HEAD.lock().unwrap_or_else(|p| p.into_inner()).insert(id, head);
    Ok(())
}

/// Appends and logs instead of failing: an event that cannot be recorded must not turn a
/// successful login into an error, but it must be visible to operators.
pub async fn record(db: &Db, e: Event, now: i64) {
    let kind = e.kind;
    if let Err(err) = append(db, e, now).await {
        tracing::error!(error = %err, kind, "could not append to the audit trail");
    }
}

/// The newest record's sequence number and hash, for a checkpoint; `None` when the head row is
/// missing or its MAC does not check (a checkpoint must not vouch for a damaged head).
pub async fn head(db: &Db) -> Result<Option<(i64, String)>, StoreError> {
    let key = key_of(db)?;
    Ok(store::head(db).await?.filter(|h| key.head_ok(h)).map(|h| (h.seq, h.hash)))
}

/// What a signed checkpoint vouches for (its signature already checked): the head at a moment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// When it was signed, and by which key.
    pub at: i64,
    pub kid: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointOutcome {
    /// The trail still holds the record the checkpoint names, unchanged.
    Matches,
    /// The trail ends before the record the checkpoint names: its newest records were deleted.
    Behind,
    /// The trail holds another record under that number: the chain was rewritten.
    Differs,
    /// The retention policy has removed the record the checkpoint names.
    Expired,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckpointCheck {
    pub seq: i64,
    pub at: i64,
    pub kid: String,
    pub outcome: CheckpointOutcome,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Verification {
    /// Records checked (up to the first broken one).
    pub records: u64,
    pub ok: bool,
    /// The first broken (or missing) record and why.
    pub broken_at: Option<i64>,
    pub problem: Option<String>,
    /// The newest record's sequence number, as the head names it.
    pub head: i64,
    /// Records up to this number predate the keyed chain and were checked with the old unkeyed
    /// rule (0: none).
    pub legacy_until: i64,
    /// The comparison with an exported checkpoint, when one was given.
    pub checkpoint: Option<CheckpointCheck>,
}

impl Verification {
    fn broken(&mut self, at: Option<i64>, problem: String) {
        self.ok = false;
        self.broken_at = at;
        self.problem = Some(problem);
    }
}

pub async fn verify(db: &Db) -> Result<Verification, StoreError> {
    verify_against(db, None).await
}

/// Checks the chain, and the trail against a checkpoint when one is given. The records are read
/// a page at a time: the trail grows without bound, and read whole it took memory in proportion
/// (each replica verifies it at start for the metrics).
pub async fn verify_against(db: &Db, checkpoint: Option<&Checkpoint>) -> Result<Verification, StoreError> {
    verify_in_pages(db, checkpoint, chain::PAGE).await
}

/// [`verify_against`], reading `page` records at a time (any size gives the same verdict).
pub async fn verify_in_pages(db: &Db, checkpoint: Option<&Checkpoint>, page: i64) -> Result<Verification, StoreError> {
    let page = page.max(1);
    let key = key_of(db)?;
    // The head first: records appended meanwhile are left out.
    let Some(head) = store::head(db).await? else { return Ok(chain::headless()) };
    let mut round = 0;
    loop {
        round += 1;
        let anchor = store::anchor(db).await?;
        let mut walk = match chain::Walk::begin(&key, &head, anchor.as_ref(), checkpoint.map(|c| c.seq)) {
            Ok(w) => w,
            Err(v) => return Ok(v),
        };
        let mut after = walk.start();
        loop {
            let rows = store::page(db, after, head.seq, page).await?;
            if !walk.feed(&rows) {
                break;
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == page => after = last.seq,
                _ => break,
            }
        }
        let (mut v, held) = walk.finish();
        // A retention purge that ran meanwhile removed records this walk had still to read, and
        // moved the anchor past them: walked again from the new anchor.
        if !v.ok && round < 3 && store::anchor(db).await? != anchor {
            continue;
        }
        if let Some(cp) = checkpoint {
            chain::check_checkpoint(&mut v, cp, &head, anchor.as_ref(), held.as_deref());
        }
        return Ok(v);
    }
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
/// the last removed record, with a MAC so it cannot be moved further by hand; `verify` still
/// checks everything that remains. Returns how many records were removed.
pub async fn purge_before(db: &Db, before: i64, now: i64) -> Result<u64, StoreError> {
    let key = key_of(db)?;
    let _guard = APPEND.lock().await;
    store::purge_before(db, before, now, |seq, hash, at| key.anchor_mac(seq, hash, at)).await
}

mod chain;

#[cfg(test)]
mod tests;
