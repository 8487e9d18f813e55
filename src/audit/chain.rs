//! Walking the chain: what makes it valid, checked a page of records at a time, and the
//! comparison with a signed checkpoint.

use super::{legacy_link, same, ChainKey, Checkpoint, CheckpointCheck, CheckpointOutcome, Verification, GENESIS};
use crate::store::audit::{Anchor, AuditRow, Head};

/// Records read at a time.
pub(super) const PAGE: i64 = 1000;

fn span(from: i64, to: i64) -> String {
    if from == to {
        format!("record #{from} is")
    } else {
        format!("records #{from}–#{to} are")
    }
}

fn verification(head: Option<&Head>) -> Verification {
    Verification {
        records: 0,
        ok: true,
        broken_at: None,
        problem: None,
        head: head.map_or(0, |h| h.seq),
        legacy_until: head.map_or(0, |h| h.keyed_from - 1),
        checkpoint: None,
    }
}

/// The verdict on a trail without its head row.
pub(super) fn headless() -> Verification {
    let mut v = verification(None);
    v.broken(None, "the trail's head row is missing: the trail was tampered with".into());
    v
}

/// One pass over the records after the anchor, oldest first, fed in pages.
pub(super) struct Walk<'a> {
    key: &'a ChainKey,
    head: &'a Head,
    v: Verification,
    start: i64,
    prev_seq: i64,
    prev_hash: String,
    /// The record whose hash a checkpoint vouches for, and its hash once seen.
    wanted: Option<i64>,
    held: Option<String>,
}

impl<'a> Walk<'a> {
    /// Checks the head's and the anchor's MACs; `Err` with the verdict when one is broken.
    pub(super) fn begin(
        key: &'a ChainKey,
        head: &'a Head,
        anchor: Option<&Anchor>,
        wanted: Option<i64>,
    ) -> Result<Walk<'a>, Verification> {
        let mut v = verification(Some(head));
        if !key.head_ok(head) {
            let problem = format!(
                "the trail's head (naming record #{}) does not carry a valid MAC: it was altered, or this is not the master key the trail was written with",
                head.seq
            );
            v.broken(None, problem);
            return Err(v);
        }
        let (mut prev_seq, mut prev_hash) = (0, GENESIS.to_string());
        if let Some(a) = anchor {
            if !key.anchor_ok(a) {
                let problem = format!(
                    "the retention anchor (after record #{}) does not carry a valid MAC: it was altered, e.g. moved to hide removed records",
                    a.seq
                );
                v.broken(None, problem);
                return Err(v);
            }
            (prev_seq, prev_hash) = (a.seq, a.hash.clone());
        }
        Ok(Walk { key, head, v, start: prev_seq, prev_seq, prev_hash, wanted, held: None })
    }

    /// The sequence number after which records are read.
    pub(super) fn start(&self) -> i64 {
        self.start
    }

    /// Checks the next records (in order); false once the chain is found broken.
    pub(super) fn feed(&mut self, rows: &[AuditRow]) -> bool {
        // Records at or before the anchor were removed by a purge that ran while they were read.
        for r in rows.iter().filter(|r| r.seq > self.start) {
            let keyed = r.seq >= self.head.keyed_from;
            // Keyed records are numbered without gaps, so one deleted in the middle shows even
            // before its successor's link is checked.
            if keyed && r.seq != self.prev_seq + 1 {
                let at = self.prev_seq + 1;
                self.v.broken(Some(at), format!("{} missing (deleted)", span(at, r.seq - 1)));
                return false;
            }
            if r.prev_hash != self.prev_hash {
                let problem =
                    format!("the record before #{} was altered or deleted (chain link does not match)", r.seq);
                self.v.broken(Some(r.seq), problem);
                return false;
            }
            let expected = if keyed {
                self.key.link(&r.prev_hash, r.seq, r.at, &r.kind, &r.actor, &r.subject, &r.ip, &r.detail)
            } else {
                legacy_link(&r.prev_hash, r.at, &r.kind, &r.actor, &r.subject, &r.ip, &r.detail)
            };
            if !same(&r.hash, &expected) {
                self.v.broken(
                    Some(r.seq),
                    format!("record #{} was altered (its content does not match its hash)", r.seq),
                );
                return false;
            }
            if self.wanted == Some(r.seq) {
                self.held = Some(r.hash.clone());
            }
            (self.prev_seq, self.prev_hash) = (r.seq, r.hash.clone());
            self.v.records += 1;
        }
        true
    }

    /// The verdict once every record up to the head was fed, and the hash of the wanted record.
    pub(super) fn finish(mut self) -> (Verification, Option<String>) {
        if self.v.ok {
            if self.prev_seq < self.head.seq {
                let problem =
                    format!("{} missing: the newest records were deleted", span(self.prev_seq + 1, self.head.seq));
                self.v.broken(Some(self.prev_seq + 1), problem);
            } else if self.prev_hash != self.head.hash {
                let problem =
                    format!("record #{} is not the newest record the head names: it was replaced", self.head.seq);
                self.v.broken(Some(self.head.seq), problem);
            }
        }
        (self.v, self.held)
    }
}

/// The verdict on `rows` (all of them, oldest first) under `head` and `anchor`.
#[cfg(test)]
pub(super) fn check_chain(
    key: &ChainKey,
    head: Option<&Head>,
    anchor: Option<&Anchor>,
    rows: &[AuditRow],
) -> Verification {
    let Some(head) = head else { return headless() };
    match Walk::begin(key, head, anchor, None) {
        Ok(mut w) => {
            w.feed(rows);
            w.finish().0
        }
        Err(v) => v,
    }
}

/// Compares the trail with a checkpoint; `held` is the hash of the record it names, if the walk
/// saw it.
pub(super) fn check_checkpoint(
    v: &mut Verification,
    cp: &Checkpoint,
    head: &Head,
    anchor: Option<&Anchor>,
    held: Option<&str>,
) {
    let held = if cp.seq == 0 {
        Some(GENESIS)
    } else if let Some(a) = anchor.filter(|a| a.seq == cp.seq) {
        Some(a.hash.as_str())
    } else {
        held
    };
    let outcome = if cp.seq > head.seq {
        CheckpointOutcome::Behind
    } else if anchor.is_some_and(|a| cp.seq < a.seq) {
        CheckpointOutcome::Expired
    } else if held.is_some_and(|h| h == cp.hash) {
        CheckpointOutcome::Matches
    } else {
        CheckpointOutcome::Differs
    };
    v.checkpoint = Some(CheckpointCheck { seq: cp.seq, at: cp.at, kid: cp.kid.clone(), outcome });
    if !v.ok {
        return;
    }
    let signed = chrono::DateTime::from_timestamp(cp.at, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_default();
    match outcome {
        CheckpointOutcome::Matches => {}
        CheckpointOutcome::Behind => v.broken(
            Some(head.seq + 1),
            format!(
                "the trail is behind the checkpoint signed {signed}: it ends at #{} but the checkpoint vouches for #{}, so {} missing (the newest records were deleted and the head put back)",
                head.seq,
                cp.seq,
                span(head.seq + 1, cp.seq)
            ),
        ),
        CheckpointOutcome::Differs => v.broken(
            Some(cp.seq),
            format!(
                "record #{} is not the one the checkpoint signed {signed} vouches for: the chain was rewritten",
                cp.seq
            ),
        ),
        CheckpointOutcome::Expired => v.broken(
            None,
            format!(
                "the checkpoint signed {signed} vouches for #{}, which the retention policy has removed: check against a newer checkpoint",
                cp.seq
            ),
        ),
    }
}
