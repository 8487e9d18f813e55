//! Bulk import of civil servants (personnel export) and citizens (population export). Every row
//! is checked before anything is written, against its own rules, the rest of the file and the
//! stored accounts; then new and changed rows are written with multi-row upserts in large
//! transactions, keyed by NIP or NIK so a second run updates instead of duplicating. Leavers
//! (a status other than `active`) are disabled through `accounts::set_status`, one audit record
//! each; the run itself is one audit record.

mod rows;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use csv::StringRecord;
use serde::Serialize;
use serde_json::{json, Map, Value};

pub use rows::{parse_status, Checked, ImportKind, Layout};

use super::{forbidden, AdminError, Principal};
use crate::audit::{self, Event};
use crate::identity::accounts::AccountStatus;
use crate::state::AppState;
use crate::store::import::{self as store, ImportRow, Key, StoredAccount};

/// Rows written per transaction: large enough that commits cost little, small enough that a
/// server running on the same SQLite file gets the write lock between them.
pub const BATCH: usize = 20_000;

/// A file as read: its header and its data rows with the line each starts on.
#[derive(Debug, Default)]
pub struct Table {
    pub header: StringRecord,
    pub rows: Vec<(u64, StringRecord)>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Import the good rows even when some are bad.
    pub partial: bool,
    /// Check only; write nothing.
    pub dry_run: bool,
}

/// The stages a run goes through, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Checking,
    Writing,
}

/// Told how far a run is; shared by the checking threads.
pub trait Progress: Sync {
    fn begin(&self, phase: Phase, total: u64);
    fn advance(&self, n: u64);
}

/// For callers that show nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: Phase, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A refused row: its line in the file, why, and its index in `Table::rows`.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
    #[serde(skip)]
    pub index: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub kind: &'static str,
    pub rows: u64,
    /// Whether anything was written (false when bad rows stopped the run, or on a dry run).
    pub written: bool,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Civil servants moved to another unit (their tokens are revoked).
    pub moved: u64,
    pub status_changed: u64,
    /// Status changes that were refused (e.g. of the operator's own account), with the reason.
    pub status_failed: Vec<Rejected>,
    pub rejected: Vec<Rejected>,
    pub ignored_columns: Vec<String>,
}

/// A good row and what it does to the stored accounts.
enum Plan {
    Create,
    Update { moved: bool },
    Unchanged,
}

/// Imports `table` as `kind`. Needs region-wide powers (and the power to change statuses when
/// the file has a status column). Bad rows are reported with their line and reason; unless
/// `partial`, any bad row means nothing is written.
pub async fn import(
    st: &AppState,
    who: &Principal,
    kind: ImportKind,
    table: &Table,
    opts: Options,
    progress: &dyn Progress,
    now: i64,
) -> Result<Report, AdminError> {
    if !who.diskominfo() {
        return Err(forbidden("importing accounts needs diskominfo-admin"));
    }
    let layout = Layout::new(kind, &table.header).map_err(AdminError::Invalid)?;
    if layout.has_status() && !who.changes_status() {
        return Err(forbidden("a status column needs the power to change statuses"));
    }
    let units: HashMap<String, String> = match kind {
        ImportKind::Asn => crate::store::opd::list(&st.db).await?.into_iter().map(|u| (u.code, u.id)).collect(),
        ImportKind::Citizens => HashMap::new(),
    };
    let mut report = Report {
        kind: kind.as_str(),
        rows: table.rows.len() as u64,
        ignored_columns: layout.ignored.clone(),
        ..Report::default()
    };

    progress.begin(Phase::Checking, table.rows.len() as u64);
    let checked = check_all(&layout, table, &units, crate::identity::today(now), progress);
    let mut good: Vec<(usize, Checked)> = Vec::with_capacity(checked.len());
    for (index, r) in checked.into_iter().enumerate() {
        match r {
            Ok(c) => good.push((index, c)),
            Err(reason) => report.rejected.push(Rejected { line: table.rows[index].0, reason, index }),
        }
    }
    reject_repeats(table, &mut good, &mut report.rejected);
    let stored = stored_accounts(st, kind, &good).await?;
    reject_taken(table, kind, &stored, &mut good, &mut report.rejected);
    report.rejected.sort_by_key(|r| r.line);
    if (!report.rejected.is_empty() && !opts.partial) || opts.dry_run {
        return Ok(report);
    }

    let key = match kind {
        ImportKind::Asn => Key::Nip,
        ImportKind::Citizens => Key::Nik,
    };
    let mut writes: Vec<ImportRow> = Vec::new();
    let mut moved: Vec<String> = Vec::new();
    let mut status_changes: Vec<(u64, String, AccountStatus)> = Vec::new();
    for (index, c) in &good {
        let current = stored.by_key.get(&c.key);
        let plan = plan(c, current);
        match plan {
            Plan::Create => report.created += 1,
            Plan::Update { moved: m } => {
                report.updated += 1;
                if m {
                    moved.extend(current.map(|s| s.id.clone()));
                }
            }
            Plan::Unchanged => report.unchanged += 1,
        }
        if let (Some(s), Some(want)) = (current, c.status) {
            if s.status != want.as_str() {
                status_changes.push((table.rows[*index].0, s.id.clone(), want));
            }
        }
        if matches!(plan, Plan::Unchanged) {
            continue;
        }
        writes.push(ImportRow {
            id: uuid::Uuid::new_v4().to_string(),
            nip: (kind == ImportKind::Asn).then(|| c.key.clone()),
            nik: if kind == ImportKind::Asn { c.nik.clone() } else { Some(c.key.clone()) },
            name: c.name.clone(),
            status: c.status.unwrap_or(AccountStatus::Active).as_str().to_string(),
            opd_id: c.opd_id.clone(),
            profile: Value::Object(c.profile.clone()).to_string(),
            email: c.email.clone(),
            phone_number: c.phone_number.clone(),
        });
    }
    drop(good);

    progress.begin(Phase::Writing, writes.len() as u64);
    let moved_set: HashSet<&str> = moved.iter().map(String::as_str).collect();
    let (committed, stop) = (AtomicU64::new(0), AtomicBool::new(false));
    let w = Writer { st, key, stored: &stored, moved: &moved_set, progress, committed: &committed, stop: &stop, now };
    // PostgreSQL works on each connection's rows in its own process: two writers on disjoint
    // halves keep both cores busy. SQLite has one writer at a time, so one it is. When one
    // fails, the other finishes the batch it is in and stops: both are awaited to the end (not
    // dropped mid-commit), so the count of committed rows is exact.
    let written = if st.db.kind() == "postgres" && writes.len() > BATCH {
        let (a, b) = writes.split_at(writes.len() / 2);
        let (ra, rb) = tokio::join!(w.write(a), w.write(b));
        ra.and(rb)
    } else {
        w.write(&writes).await
    };
    report.moved = moved.len() as u64;
    if let Err(e) = written {
        failed(st, who, kind, &report, committed.load(Ordering::Relaxed), now).await;
        return Err(e);
    }
    report.written = true;

    for (line, id, status) in status_changes {
        let changed = match who.parse_account_id(&id) {
            Ok(id) => super::accounts::set_status(st, who, &id, status, now).await,
            Err(e) => Err(e),
        };
        match changed {
            Ok(_) => report.status_changed += 1,
            Err(AdminError::Internal) => {
                failed(st, who, kind, &report, committed.load(Ordering::Relaxed), now).await;
                return Err(AdminError::Internal);
            }
            Err(e) => report.status_failed.push(Rejected { line, reason: e.detail(), index: 0 }),
        }
    }
    let detail = json!({
        "kind": kind.as_str(), "rows": report.rows, "created": report.created, "updated": report.updated,
        "unchanged": report.unchanged, "moved": report.moved, "status_changed": report.status_changed,
        "rejected": report.rejected.len(), "partial": opts.partial,
    });
    audit::record(
        &st.db,
        Event::new("import.completed").actor(&who.actor()).subject(kind.as_str()).detail(detail),
        now,
    )
    .await;
    Ok(report)
}

/// An import that stopped part way: the batches committed before the failure stay (each is a
/// transaction of its own), so the trail says how many rows were written, not nothing.
async fn failed(st: &AppState, who: &Principal, kind: ImportKind, report: &Report, committed: u64, now: i64) {
    let detail = json!({
        "kind": kind.as_str(), "rows": report.rows, "planned_created": report.created,
        "planned_updated": report.updated, "planned_moved": report.moved, "rows_written": committed,
        "status_changed": report.status_changed,
    });
    audit::record(&st.db, Event::new("import.failed").actor(&who.actor()).subject(kind.as_str()).detail(detail), now)
        .await;
}

/// Writes rows in transactions of [`BATCH`].
struct Writer<'a> {
    st: &'a AppState,
    key: Key,
    stored: &'a Stored,
    moved: &'a HashSet<&'a str>,
    progress: &'a dyn Progress,
    /// Rows in committed batches, for the record of a failed import.
    committed: &'a AtomicU64,
    /// Set by a writer that failed, so the other begins no further batch.
    stop: &'a AtomicBool,
    now: i64,
}

impl Writer<'_> {
    async fn write(&self, rows: &[ImportRow]) -> Result<(), AdminError> {
        let written = self.write_batches(rows).await;
        if written.is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
        written
    }

    async fn write_batches(&self, rows: &[ImportRow]) -> Result<(), AdminError> {
        for batch in rows.chunks(BATCH) {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let mut tx = self.st.db.begin().await?;
            store::upsert(&mut tx, self.key, batch, self.now).await?;
            // Tokens carry the unit and the roles held through it, as when the console moves someone.
            for r in batch {
                let Some(s) = r.nip.as_deref().and_then(|n| self.stored.by_key.get(n)) else { continue };
                if self.moved.contains(s.id.as_str()) {
                    crate::store::grants::revoke_grants_of_account(&mut tx, &s.id, self.now).await?;
                }
            }
            tx.commit().await?;
            self.committed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            self.progress.advance(batch.len() as u64);
        }
        Ok(())
    }
}

/// Checks every row, on as many threads as there are cores: a million NIKs take a while.
fn check_all(
    layout: &Layout,
    table: &Table,
    units: &HashMap<String, String>,
    today: chrono::NaiveDate,
    progress: &dyn Progress,
) -> Vec<Result<Checked, String>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let per = table.rows.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = table
            .rows
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for (i, (_, rec)) in part.iter().enumerate() {
                        out.push(layout.check(rec, units, today));
                        if i % 1000 == 999 {
                            progress.advance(1000);
                        }
                    }
                    progress.advance((part.len() % 1000) as u64);
                    out
                })
            })
            .collect();
        // A checking thread cannot panic short of a bug; its rows are then reported, not lost.
        handles
            .into_iter()
            .zip(table.rows.chunks(per))
            .flat_map(|(h, part)| {
                h.join().unwrap_or_else(|_| part.iter().map(|_| Err("internal error while checking".into())).collect())
            })
            .collect()
    })
}

/// A key (and a civil servant's NIK) may appear once per file: the later rows are refused.
fn reject_repeats(table: &Table, good: &mut Vec<(usize, Checked)>, rejected: &mut Vec<Rejected>) {
    let mut first: HashMap<String, u64> = HashMap::with_capacity(good.len());
    let mut first_nik: HashMap<String, u64> = HashMap::new();
    good.retain(|(index, c)| {
        let line = table.rows[*index].0;
        if let Some(earlier) = first.get(&c.key) {
            rejected.push(Rejected { line, reason: format!("the same NIP/NIK as line {earlier}"), index: *index });
            return false;
        }
        if let Some(nik) = &c.nik {
            if let Some(earlier) = first_nik.get(nik) {
                rejected.push(Rejected { line, reason: format!("nik: the same NIK as line {earlier}"), index: *index });
                return false;
            }
            first_nik.insert(nik.clone(), line);
        }
        first.insert(c.key.clone(), line);
        true
    });
}

/// The stored accounts the file touches: by key, and (civil servants) by the NIKs given.
#[derive(Default)]
struct Stored {
    by_key: HashMap<String, StoredAccount>,
    by_nik: HashMap<String, StoredAccount>,
}

async fn stored_accounts(st: &AppState, kind: ImportKind, good: &[(usize, Checked)]) -> Result<Stored, AdminError> {
    let keys: Vec<&str> = good.iter().map(|(_, c)| c.key.as_str()).collect();
    let mut out = Stored::default();
    let key_of = |s: &StoredAccount| match kind {
        ImportKind::Asn => s.nip.clone().unwrap_or_default(),
        ImportKind::Citizens => s.nik.clone().unwrap_or_default(),
    };
    let key = if kind == ImportKind::Asn { Key::Nip } else { Key::Nik };
    for s in store::stored_by(&st.db, key, &keys).await? {
        out.by_key.insert(key_of(&s), s);
    }
    if kind == ImportKind::Asn {
        let niks: Vec<&str> = good.iter().filter_map(|(_, c)| c.nik.as_deref()).collect();
        if !niks.is_empty() {
            for s in store::stored_by(&st.db, Key::Nik, &niks).await? {
                out.by_nik.insert(s.nik.clone().unwrap_or_default(), s);
            }
        }
    }
    Ok(out)
}

/// Never two accounts for one person: a citizen NIK held by a civil servant, or a civil servant's
/// NIK held by another account, refuses the row.
fn reject_taken(
    table: &Table,
    kind: ImportKind,
    stored: &Stored,
    good: &mut Vec<(usize, Checked)>,
    rejected: &mut Vec<Rejected>,
) {
    good.retain(|(index, c)| {
        let reason = match kind {
            ImportKind::Citizens => stored.by_key.get(&c.key).filter(|s| s.kind != "citizen").map(|_| {
                "nik: the NIK belongs to a civil servant's account; import them with `import asn`".to_string()
            }),
            ImportKind::Asn => c
                .nik
                .as_ref()
                .and_then(|n| stored.by_nik.get(n))
                .filter(|s| s.nip.as_deref() != Some(c.key.as_str()))
                .map(|_| "nik: the NIK belongs to another account".to_string()),
        };
        match reason {
            Some(reason) => {
                rejected.push(Rejected { line: table.rows[*index].0, reason, index: *index });
                false
            }
            None => true,
        }
    });
}

/// What writing the row would change, judged on the stored account as read before writing.
fn plan(c: &Checked, stored: Option<&StoredAccount>) -> Plan {
    let Some(s) = stored else { return Plan::Create };
    // Most rows give no attribute (citizens never do): nothing to merge, nothing to parse.
    let profile_changes = !c.profile.is_empty() && {
        let before: Map<String, Value> = serde_json::from_str(&s.profile).unwrap_or_default();
        c.profile.iter().any(|(k, v)| before.get(k) != Some(v))
    };
    let moved = c.opd_id.is_some() && c.opd_id != s.opd_id;
    let differs = |given: &Option<String>, stored: &Option<String>| given.is_some() && given != stored;
    let changed = c.name != s.name
        || moved
        || profile_changes
        || differs(&c.nik, &s.nik)
        || differs(&c.email, &s.email)
        || differs(&c.phone_number, &s.phone_number);
    if changed {
        Plan::Update { moved }
    } else {
        Plan::Unchanged
    }
}
