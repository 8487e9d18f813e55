//! Verification of the keyed audit chain: edits, deletions, unkeyed recomputation, anchors, checkpoints.

use super::chain::{check_chain, check_checkpoint};
use super::*;

fn key() -> ChainKey {
    ChainKey::derive(&[9u8; 32])
}

/// Records appended as `append` links them, after `legacy` records written under the old rule.
fn trail(key: &ChainKey, legacy: i64, keyed: i64) -> (Head, Vec<AuditRow>) {
    let (mut prev, mut rows) = (GENESIS.to_string(), Vec::new());
    for seq in 1..=legacy + keyed {
        let (at, kind, detail) = (1_000 + seq, "login.failed", format!("{{\"n\":{seq}}}"));
        let hash = if seq <= legacy {
            legacy_link(&prev, at, kind, "", "s", "10.0.0.1", &detail)
        } else {
            key.link(&prev, seq, at, kind, "", "s", "10.0.0.1", &detail)
        };
        rows.push(AuditRow {
            seq,
            at,
            kind: kind.into(),
            actor: String::new(),
            subject: "s".into(),
            ip: "10.0.0.1".into(),
            detail,
            prev_hash: prev.clone(),
            hash: hash.clone(),
        });
        prev = hash;
    }
    let seq = legacy + keyed;
    let head = Head { seq, hash: prev.clone(), keyed_from: legacy + 1, mac: key.head_mac(seq, &prev, legacy + 1) };
    (head, rows)
}

fn problem(v: &Verification) -> &str {
    v.problem.as_deref().unwrap_or_default()
}

#[test]
fn an_untouched_trail_verifies_with_its_unkeyed_beginning() {
    let (head, rows) = trail(&key(), 3, 4);
    let v = check_chain(&key(), Some(&head), None, &rows);
    assert!(v.ok, "{v:?}");
    assert_eq!((v.records, v.head, v.legacy_until), (7, 7, 3));
    let (head, rows) = trail(&key(), 0, 0);
    assert!(check_chain(&key(), Some(&head), None, &rows).ok, "an empty trail");
}

#[test]
fn an_edited_record_is_named() {
    let (head, mut rows) = trail(&key(), 2, 5);
    rows[4].ip = "1.2.3.4".into();
    let v = check_chain(&key(), Some(&head), None, &rows);
    assert_eq!(v.broken_at, Some(5));
    assert!(problem(&v).contains("altered"), "{v:?}");
    // An unkeyed record is still checked with the old rule.
    let (head, mut rows) = trail(&key(), 2, 5);
    rows[1].detail = "{}".into();
    assert_eq!(check_chain(&key(), Some(&head), None, &rows).broken_at, Some(2));
}

#[test]
fn a_record_deleted_in_the_middle_or_at_the_end_is_missing() {
    let (head, mut rows) = trail(&key(), 0, 6);
    rows.remove(2);
    let v = check_chain(&key(), Some(&head), None, &rows);
    assert_eq!(v.broken_at, Some(3));
    assert!(problem(&v).contains("record #3 is missing"), "{v:?}");
    let (head, mut rows) = trail(&key(), 0, 6);
    rows.truncate(4);
    let v = check_chain(&key(), Some(&head), None, &rows);
    assert_eq!(v.broken_at, Some(5));
    assert!(problem(&v).contains("records #5–#6 are missing: the newest records were deleted"), "{v:?}");
}

#[test]
fn a_chain_recomputed_without_the_key_does_not_verify() {
    // The insider deletes record 3 and links the rest again, numbered without a gap, with a
    // key of their own (or the old unkeyed rule), and moves the head to match.
    let (head, rows) = trail(&key(), 0, 6);
    let forger = ChainKey::derive(&[1u8; 32]);
    let (forged_head, mut forged) = trail(&forger, 0, 5);
    forged[..2].clone_from_slice(&rows[..2]);
    let mut prev = rows[1].hash.clone();
    for r in forged.iter_mut().skip(2) {
        r.prev_hash = prev.clone();
        r.hash = forger.link(&prev, r.seq, r.at, &r.kind, &r.actor, &r.subject, &r.ip, &r.detail);
        prev = r.hash.clone();
    }
    let v = check_chain(&key(), Some(&head), None, &forged);
    assert_eq!(v.broken_at, Some(3), "{v:?}");
    assert!(problem(&v).contains("altered"));
    let moved = Head { seq: 5, hash: prev, keyed_from: 1, mac: forged_head.mac };
    let v = check_chain(&key(), Some(&moved), None, &forged);
    assert!(!v.ok && problem(&v).contains("head"), "{v:?}");
    // Nor can records be passed off as unkeyed ones by moving where the keyed chain starts.
    let (mut head, rows) = trail(&key(), 0, 3);
    head.keyed_from = 10;
    assert!(!check_chain(&key(), Some(&head), None, &rows).ok);
    assert!(!check_chain(&key(), None, None, &rows).ok, "no head");
}

#[test]
fn the_retention_anchor_carries_a_mac() {
    let k = key();
    let (head, rows) = trail(&k, 1, 5);
    let cut = |n: usize| {
        let a = &rows[n - 1];
        (Anchor { seq: a.seq, hash: a.hash.clone(), at: 5, mac: k.anchor_mac(a.seq, &a.hash, 5) }, &rows[n..])
    };
    let (anchor, rest) = cut(2);
    let v = check_chain(&k, Some(&head), Some(&anchor), rest);
    assert!(v.ok && v.records == 4, "{v:?}");
    // Moved by hand to hide two more removed records: its MAC no longer matches.
    let (mut moved, rest) = cut(4);
    moved.mac = anchor.mac.clone();
    assert!(problem(&check_chain(&k, Some(&head), Some(&moved), rest)).contains("retention anchor"));
    // A purge that ran while the records were read: those it removed are skipped.
    let (anchor, _) = cut(3);
    assert!(check_chain(&k, Some(&head), Some(&anchor), &rows).ok);
}

#[test]
fn a_checkpoint_finds_a_trail_rolled_back_or_rewritten() {
    let k = key();
    let (head, rows) = trail(&k, 0, 8);
    let cp = |seq: i64, hash: &str| Checkpoint { seq, hash: hash.into(), at: 7, kid: "rs256-x".into() };
    let check = |head: &Head, rows: &[AuditRow], anchor: Option<&Anchor>, c: &Checkpoint| {
        let mut v = check_chain(&k, Some(head), anchor, rows);
        let held = rows.iter().find(|r| r.seq == c.seq).map(|r| r.hash.as_str());
        check_checkpoint(&mut v, c, head, anchor, held);
        v
    };
    let v = check(&head, &rows, None, &cp(6, &rows[5].hash));
    assert!(v.ok && v.checkpoint.as_ref().unwrap().outcome == CheckpointOutcome::Matches, "{v:?}");
    // The head put back to one saved earlier, after the newest records were deleted: the
    // chain alone is intact, the checkpoint is not.
    let (old_head, old_rows) = trail(&k, 0, 5);
    assert!(check_chain(&k, Some(&old_head), None, &old_rows).ok);
    let v = check(&old_head, &old_rows, None, &cp(6, &rows[5].hash));
    assert_eq!(v.checkpoint.as_ref().unwrap().outcome, CheckpointOutcome::Behind);
    assert_eq!(v.broken_at, Some(6));
    assert!(problem(&v).contains("behind the checkpoint"), "{v:?}");
    let v = check(&head, &rows, None, &cp(6, &rows[4].hash));
    assert_eq!((v.ok, v.checkpoint.unwrap().outcome), (false, CheckpointOutcome::Differs));
    let a = &rows[6];
    let anchor = Anchor { seq: a.seq, hash: a.hash.clone(), at: 9, mac: k.anchor_mac(a.seq, &a.hash, 9) };
    let v = check(&head, &rows[7..], Some(&anchor), &cp(6, &rows[5].hash));
    assert_eq!((v.ok, v.checkpoint.unwrap().outcome), (false, CheckpointOutcome::Expired));
    let v = check(&head, &rows[7..], Some(&anchor), &cp(7, &rows[6].hash));
    assert!(v.ok, "the anchor is the record the checkpoint names: {v:?}");
}
