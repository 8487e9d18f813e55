//! The audit trail: events are recorded for logins, failures and lockouts, and the keyed hash
//! chain detects an altered, deleted or re-linked record, newest records cut off (against the
//! head, and against a checkpoint kept away from the server), and a moved retention anchor. The
//! server and the `gerbang` command appending at once never fork it.

use std::collections::HashSet;

use gerbang::audit::{self, AuditRow, Event};
use gerbang::config::Secret;
use gerbang::ops::login::password_login;
use gerbang::store::Db;
use serde_json::{json, Value};

use crate::common::*;

async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .expect("tamper");
}

async fn try_exec(db: &Db, sql: &str) -> Result<(), sqlx::Error> {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
}

async fn trail(db: &Db) -> Vec<AuditRow> {
    gerbang::store::audit::all(db).await.expect("trail")
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The link rule before the chain was keyed, as published in the source: all an insider without
/// the master key can compute.
fn unkeyed_link(prev: &str, r: &AuditRow) -> String {
    let at = r.at.to_string();
    let mut buf = String::new();
    for f in [prev, &at, &r.kind, &r.actor, &r.subject, &r.ip, &r.detail] {
        buf.push_str(&format!("{}:{f}", f.len()));
    }
    gerbang::crypto::sha256_hex(buf.as_bytes())
}

async fn append_some(db: &Db, n: i64, at: i64) {
    for i in 0..n {
        let e = Event::new("test.event").actor("a").subject(&format!("s{i}")).detail(json!({ "i": i }));
        audit::append(db, e, at + i).await.expect("append");
    }
}

/// The `gerbang` command as an operator runs it on the server's database, in its own process.
async fn gerbang(app: &TestApp, args: &[&str]) -> Run {
    gerbang_on(&app.state.config, args).await
}

async fn gerbang_on(c: &gerbang::config::Config, args: &[&str]) -> Run {
    Gerbang::new(args).on(c).output().await
}

#[tokio::test]
async fn logins_failures_and_lockouts_are_chained_and_tampering_is_found() {
    let app = TestApp::spawn_with(&[("GERBANG_LOGIN_MAX_FAILURES", "3")]).await;
    let st = &app.state;
    let nip = unique_nip();
    let a = app.asn(&nip, "Diaudit").await;
    let t = gerbang::state::now();
    let wrong = Secret::new("salah-sekali-1234".to_string());
    for i in 0..3 {
        let _ = password_login(st, &nip, &wrong, "10.4.4.4", t + 10 * i).await;
    }
    let _ = password_login(st, &nip, &Secret::new(PASSWORD.into()), "10.4.4.4", t + 31).await;
    let c = app.web_client(&["openid"], &[gerbang::oidc::clients::GrantType::AuthorizationCode], true).await;
    let other = unique_nip();
    app.asn(&other, "Berhasil").await;
    login(&app, &browser(), &start_auth(&app.rp(&c).await, &[]).url, &other, PASSWORD).await;

    let events = audit::list(&st.db, 100, Some(&a.id)).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "login.failed").count(), 3, "{kinds:?}");
    assert!(kinds.contains(&"login.locked"), "lockouts are visible: {kinds:?}");
    assert!(events.iter().all(|e| e.ip == "10.4.4.4"));
    let all = audit::list(&st.db, 100, None).await.unwrap();
    assert!(all.iter().any(|e| e.kind == "login.succeeded" && e.detail.contains(&c.id)));
    assert!(all.iter().all(|e| !e.detail.contains(PASSWORD)), "no secrets in the trail");

    let v = audit::verify(&st.db).await.unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.records as usize, all.len());

    // Alter one record: found, and named.
    let victim = all[all.len() / 2].seq;
    exec(&st.db, &format!("UPDATE audit_events SET ip = '1.2.3.4' WHERE seq = {victim}")).await;
    let v = audit::verify(&st.db).await.unwrap();
    assert!(!v.ok);
    assert_eq!(v.broken_at, Some(victim));
    assert!(v.problem.unwrap().contains("altered"));
    // Put it back, then delete one: the next record's link breaks.
    exec(&st.db, &format!("UPDATE audit_events SET ip = '{}' WHERE seq = {victim}", all[all.len() / 2].ip)).await;
    assert!(audit::verify(&st.db).await.unwrap().ok);
    exec(&st.db, &format!("DELETE FROM audit_events WHERE seq = {victim}")).await;
    let v = audit::verify(&st.db).await.unwrap();
    assert!(!v.ok);
    assert_eq!(v.broken_at, Some(victim), "the missing record is named: {v:?}");
    assert!(v.problem.unwrap().contains("missing"));
}

#[tokio::test]
async fn retention_removes_old_records_and_the_rest_still_verifies_and_exports() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let day = 86_400;
    let t = gerbang::state::now();
    for (i, at) in [t - 10 * day, t - 9 * day, t - 2 * day, t - day].into_iter().enumerate() {
        let detail = serde_json::json!({ "note": format!("catatan, \"{i}\"") });
        audit::append(db, audit::Event::new("test.event").actor("a").subject("s").detail(detail), at).await.unwrap();
    }
    let removed = audit::purge_before(db, t - 7 * day, t).await.unwrap();
    assert_eq!(removed, 2);
    let v = audit::verify(db).await.unwrap();
    assert!(v.ok, "the remaining chain verifies from the anchor: {v:?}");
    assert_eq!(v.records, 2);
    let left = audit::list(db, 10, None).await.unwrap();
    // Deleting the oldest remaining record is still detected.
    exec(db, &format!("DELETE FROM audit_events WHERE seq = {}", left.last().unwrap().seq)).await;
    assert!(!audit::verify(db).await.unwrap().ok);

    let csv = audit::to_csv(&audit::range(db, t - 3 * day, t + 1).await.unwrap());
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "seq,time_utc,kind,actor,subject,ip,detail,hash");
    assert_eq!(lines.len(), 2, "one record left in the range: {csv}");
    assert!(
        lines[1].contains("\"{\"\"note\"\":\"\"catatan, \\\"\"3\\\"\"\"\"}\""),
        "quoted per RFC 4180: {}",
        lines[1]
    );
}

#[tokio::test]
async fn an_unknown_identifier_is_recorded_by_a_keyed_hash_not_one_anyone_can_recompute() {
    let app = TestApp::spawn().await;
    let st = &app.state;
    let nik = unique_nik();
    let wrong = Secret::new("salah-sekali-1234".to_string());
    let t = gerbang::state::now();
    let _ = password_login(st, &nik, &wrong, "10.5.5.5", t).await;
    let _ = password_login(st, &nik, &wrong, "10.5.5.5", t + 1).await;
    let failed: Vec<_> = audit::list(&st.db, 100, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "login.failed" && e.ip == "10.5.5.5")
        .collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].subject, failed[1].subject, "one identifier, one name in the trail");
    assert_eq!(failed[0].subject.len(), 64);
    assert_ne!(failed[0].subject, gerbang::crypto::sha256_hex(nik.as_bytes()), "not the plain SHA-256 of the NIK");
    assert!(!failed[0].subject.contains(&nik) && !failed[0].detail.contains(&nik));
}

#[tokio::test]
async fn deleting_the_newest_records_is_found_without_any_checkpoint() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    append_some(db, 6, gerbang::state::now()).await;
    let last = trail(db).await.last().expect("records").seq;
    exec(db, &format!("DELETE FROM audit_events WHERE seq > {}", last - 2)).await;
    let v = audit::verify(db).await.unwrap();
    assert!(!v.ok, "two newest records deleted: {v:?}");
    assert_eq!(v.broken_at, Some(last - 1));
    assert!(v.problem.unwrap().contains(&format!("records #{}–#{last} are missing", last - 1)));
    // Deleting the head row with them is found too, and does not keep the server from starting.
    exec(db, "DELETE FROM audit_head").await;
    let v = audit::verify(db).await.unwrap();
    assert!(!v.ok && v.problem.unwrap().contains("head row is missing"));
    let replica = app.replica().await;
    assert!(audit::append(&replica.state.db, Event::new("test.event"), gerbang::state::now()).await.is_err());
    assert!(!audit::verify(db).await.unwrap().ok);
}

#[tokio::test]
async fn a_chain_recomputed_without_the_key_does_not_verify() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    append_some(db, 8, gerbang::state::now()).await;
    let all = trail(db).await;
    let i = all.len() - 5;
    let victim = all[i].seq;
    // The insider deletes one record and links the later ones again by the published rule,
    // numbered so no gap shows.
    exec(db, &format!("DELETE FROM audit_events WHERE seq >= {victim}")).await;
    let mut prev = all[i - 1].hash.clone();
    for (k, r) in all[i + 1..].iter().enumerate() {
        let hash = unkeyed_link(&prev, r);
        let values = [r.kind.as_str(), &r.actor, &r.subject, &r.ip, &r.detail, &prev, &hash].map(quoted).join(", ");
        let sql = format!(
            "INSERT INTO audit_events (seq, at, kind, actor, subject, ip, detail, prev_hash, hash) VALUES ({}, {}, {values})",
            victim + k as i64,
            r.at
        );
        exec(db, &sql).await;
        prev = hash;
    }
    let v = audit::verify(db).await.unwrap();
    assert!(!v.ok, "a recomputed chain: {v:?}");
    assert_eq!(v.broken_at, Some(victim));
    assert!(v.problem.unwrap().contains("altered"));
    // Moving the head to the forged end does not help: its MAC needs the key too. (Before the
    // keyed chain there was no head to move.)
    let last = victim + all.len() as i64 - 2 - i as i64;
    let _ = try_exec(db, &format!("UPDATE audit_head SET seq = {last}, hash = {} WHERE id = 1", quoted(&prev))).await;
    let v = audit::verify(db).await.unwrap();
    assert!(!v.ok, "{v:?}");
    assert!(v.problem.unwrap().contains("head"));
}

#[tokio::test]
async fn moving_the_retention_anchor_by_hand_is_found() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let (day, t) = (86_400, gerbang::state::now());
    append_some(db, 3, t - 10 * day).await;
    append_some(db, 4, t - day).await;
    assert_eq!(audit::purge_before(db, t - 7 * day, t).await.unwrap(), 3);
    assert!(audit::verify(db).await.unwrap().ok);
    // The insider removes the two oldest remaining records and moves the anchor after them,
    // copying the hash from the record.
    let hidden = trail(db).await[1].clone();
    exec(db, &format!("UPDATE audit_anchor SET seq = {}, hash = {} WHERE id = 1", hidden.seq, quoted(&hidden.hash)))
        .await;
    exec(db, &format!("DELETE FROM audit_events WHERE seq <= {}", hidden.seq)).await;
    let v = audit::verify(db).await.unwrap();
    assert!(!v.ok, "{v:?}");
    assert!(v.problem.unwrap().contains("retention anchor"));
}

#[tokio::test]
async fn a_checkpoint_kept_away_finds_the_trail_rolled_back_and_outlives_key_rotation() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let t = gerbang::state::now();
    append_some(db, 3, t).await;
    // What an insider saves to roll the trail back later: the head row as it stands.
    let saved: (i64, String, String) = match db {
        Db::Sqlite(p) => sqlx::query_as("SELECT seq, hash, mac FROM audit_head").fetch_one(p).await,
        Db::Postgres(p) => sqlx::query_as("SELECT seq, hash, mac FROM audit_head").fetch_one(p).await,
    }
    .expect("head");
    append_some(db, 2, t + 10).await;

    let run = gerbang(&app, &["audit", "checkpoint"]).await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    let cp: Value = serde_json::from_str(&run.stdout).expect("checkpoint JSON");
    let newest = trail(db).await;
    let seq = newest[newest.len() - 2].seq;
    assert_eq!(cp["seq"], seq, "the head before the checkpoint's own record: {cp}");
    assert_eq!(cp["hash"], newest[newest.len() - 2].hash.as_str());
    assert_eq!(cp["issuer"], app.base.as_str());
    let jws = cp["checkpoint"].as_str().expect("jws");
    assert_eq!(jws.split('.').count(), 3);
    let kid = cp["kid"].as_str().expect("kid").to_string();
    assert!(kid.starts_with("rs256-"));
    let kept = newest.last().expect("checkpoint record");
    assert_eq!(kept.kind, "audit.checkpoint", "the checkpoint is in the trail too");
    assert!(kept.detail.contains(jws) && kept.actor == "cli:local");
    let file = app.state.config.data_dir.join("checkpoint.json");
    std::fs::write(&file, &run.stdout).expect("write checkpoint");
    let file = file.display().to_string();

    let run = gerbang(&app, &["audit", "verify", "--checkpoint", &file]).await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("audit trail intact: "), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("matches the checkpoint of #{seq} signed")), "{}", run.stdout);

    // A rotation, then the token lifetime, retire the key that signed it; the checkpoint still
    // verifies.
    app.state.keys.rotate(db, t + 1_000).await.expect("rotate");
    app.state.keys.rotate(db, t + 2_000).await.expect("rotate again");
    app.state.keys.step(db, t + 100_000).await.expect("retire");
    let key = gerbang::store::keys::find(db, &kid).await.unwrap().expect("key");
    assert_eq!(key.state, "retired");
    let run = gerbang(&app, &["audit", "verify", "--checkpoint", &file, "--json"]).await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!((v["ok"].clone(), v["checkpoint"]["outcome"].clone()), (json!(true), json!("matches")), "{v}");

    // A checkpoint whose claims were edited does not pass for one.
    let parts: Vec<&str> = jws.split('.').collect();
    let claims = String::from_utf8(gerbang::crypto::b64url_decode(parts[1]).unwrap()).unwrap();
    let edited = claims.replace(&format!("\"seq\":{seq}"), &format!("\"seq\":{}", seq - 2));
    assert_ne!(edited, claims);
    let forged = format!("{}.{}.{}", parts[0], gerbang::crypto::b64url(edited.as_bytes()), parts[2]);
    let forged_file = app.state.config.data_dir.join("forged.json");
    std::fs::write(&forged_file, forged).expect("write");
    let run = gerbang(&app, &["audit", "verify", "--checkpoint", &forged_file.display().to_string(), "--json"]).await;
    assert_eq!(run.code, 1);
    let out: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(out["error"], "invalid");
    assert!(out["message"].as_str().unwrap().contains("not a valid checkpoint"), "{out}");

    // The insider deletes everything after the saved head and puts the saved head row back:
    // the chain alone cannot tell, the checkpoint can.
    exec(db, &format!("DELETE FROM audit_events WHERE seq > {}", saved.0)).await;
    let sql = format!(
        "UPDATE audit_head SET seq = {}, hash = {}, mac = {} WHERE id = 1",
        saved.0,
        quoted(&saved.1),
        quoted(&saved.2)
    );
    exec(db, &sql).await;
    assert!(audit::verify(db).await.unwrap().ok, "the rolled-back chain is consistent in itself");
    let run = gerbang(&app, &["audit", "verify", "--checkpoint", &file]).await;
    assert_eq!(run.code, 1, "{} / {}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("audit trail BEHIND CHECKPOINT: "), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("records #{}–#{seq} are missing", saved.0 + 1)), "{}", run.stdout);
    let run = gerbang(&app, &["audit", "verify", "--checkpoint", &file, "--json"]).await;
    let v: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["checkpoint"]["outcome"], "behind");
    assert_eq!(v["broken_at"], saved.0 + 1);
    // Without a checkpoint the verdict is plain.
    exec(db, &format!("DELETE FROM audit_events WHERE seq = {}", saved.0 - 1)).await;
    let run = gerbang(&app, &["audit", "verify"]).await;
    assert_eq!(run.code, 1);
    assert!(run.stdout.starts_with(&format!("audit trail BROKEN at #{}: ", saved.0 - 1)), "{}", run.stdout);
}

#[tokio::test]
async fn the_command_line_and_the_server_append_to_one_chain_without_forking() {
    let app = TestApp::spawn().await;
    let db = app.state.db.clone();
    let before = trail(&db).await.len();
    let (processes, runs) = (4, 3);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    // The server keeps appending for as long as the commands run.
    let server = tokio::spawn(async move {
        let (t, mut n) = (gerbang::state::now(), 0usize);
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let e = Event::new("test.server").detail(json!({ "i": n }));
            audit::append(&db, e, t).await.expect("server append");
            n += 1;
            tokio::task::yield_now().await;
        }
        n
    });
    // Each export is recorded in the trail by the command's own process.
    let args = ["audit", "export", "--since", "2000-01-01", "--until", "2100-01-01", "--format", "json"];
    let commands: Vec<_> = (0..processes)
        .map(|_| {
            let config = app.state.config.clone();
            tokio::spawn(async move {
                for _ in 0..runs {
                    let run = gerbang_on(&config, &args).await;
                    assert_eq!(run.code, 0, "{}", run.stderr);
                }
            })
        })
        .collect();
    for c in commands {
        c.await.expect("command");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let server_records = server.await.expect("server task");

    let db = &app.state.db;
    let all = trail(db).await;
    assert_eq!(all.len(), before + server_records + processes * runs, "every append landed");
    let exports: Vec<usize> =
        all.iter().enumerate().filter(|(_, r)| r.kind == "audit.exported").map(|(i, _)| i).collect();
    assert_eq!(exports.len(), processes * runs);
    let interleaved = all[exports[0]..*exports.last().unwrap()].iter().filter(|r| r.kind == "test.server").count();
    assert!(interleaved > 0, "the server appended while the commands did");
    let mut links = HashSet::new();
    for w in all.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "numbered without gaps");
        assert_eq!(w[1].prev_hash, w[0].hash, "each record links to the one before it");
    }
    assert!(all.iter().all(|r| links.insert(r.prev_hash.clone())), "no two records share a predecessor");
    let v = audit::verify(db).await.unwrap();
    assert!(v.ok, "{v:?}");
}

#[tokio::test]
async fn a_trail_from_before_the_keyed_chain_is_vouched_for_once_and_still_checked_by_the_old_rule() {
    // A database as the previous release left it: migrations up to 0011, records linked by the
    // unkeyed rule.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database_url(&dir).await;
    let kind = if url.starts_with("postgres") { "postgres" } else { "sqlite" };
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).expect("mkdir");
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(kind);
    for f in std::fs::read_dir(&all).expect("migrations") {
        let f = f.expect("entry");
        if f.file_name().to_string_lossy().as_ref() < "0012" {
            std::fs::copy(f.path(), old.join(f.file_name())).expect("copy");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(old.as_path()).await.expect("old migrations");
    let db = Db::connect(&url, 2).await.expect("connect");
    match &db {
        Db::Sqlite(p) => migrator.run(p).await,
        Db::Postgres(p) => migrator.run(p).await,
    }
    .expect("migrate to 0011");
    let mut prev = "0".repeat(64);
    for i in 0..5 {
        let mut r = AuditRow {
            seq: 0,
            at: 1_700_000_000 + i,
            kind: "login.failed".into(),
            actor: String::new(),
            subject: format!("s{i}"),
            ip: "10.9.9.9".into(),
            detail: "{}".into(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        r.hash = unkeyed_link(&prev, &r);
        let values =
            [r.kind.as_str(), &r.actor, &r.subject, &r.ip, &r.detail, &r.prev_hash, &r.hash].map(quoted).join(", ");
        exec(&db, &format!("INSERT INTO audit_events (at, kind, actor, subject, ip, detail, prev_hash, hash) VALUES ({}, {values})", r.at)).await;
        prev = r.hash;
    }
    db.close().await;

    // The upgraded server migrates, and its first start vouches for those records.
    let app = TestApp::spawn_with(&[("GERBANG_DATABASE_URL", &url)]).await;
    let db = &app.state.db;
    let v = audit::verify(db).await.unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!((v.records, v.legacy_until, v.head), (6, 5, 6));
    let rows = trail(db).await;
    assert_eq!(rows[5].kind, "audit.chain_keyed");
    assert_eq!(serde_json::from_str::<Value>(&rows[5].detail).unwrap()["legacy_until"], 5);
    append_some(db, 2, gerbang::state::now()).await;
    // Another start does not vouch again.
    let replica = app.replica().await;
    assert_eq!(trail(&replica.state.db).await.iter().filter(|r| r.kind == "audit.chain_keyed").count(), 1);
    assert!(audit::verify(db).await.unwrap().ok);

    // An old record is still checked by the old rule.
    exec(db, "UPDATE audit_events SET ip = '1.1.1.1' WHERE seq = 2").await;
    assert_eq!(audit::verify(db).await.unwrap().broken_at, Some(2));
    exec(db, "UPDATE audit_events SET ip = '10.9.9.9' WHERE seq = 2").await;
    assert!(audit::verify(db).await.unwrap().ok);
    // A new one cannot be passed off as old: relinked by the old rule, it is found.
    let r = trail(db).await.into_iter().find(|r| r.seq == 7).expect("record 7");
    exec(
        db,
        &format!(
            "UPDATE audit_events SET ip = '1.1.1.1', hash = {} WHERE seq = 7",
            quoted(&unkeyed_link(&r.prev_hash, &AuditRow { ip: "1.1.1.1".into(), ..r.clone() }))
        ),
    )
    .await;
    let v = audit::verify(db).await.unwrap();
    assert_eq!(v.broken_at, Some(7), "{v:?}");
}

#[tokio::test]
async fn the_upkeep_signs_a_checkpoint_into_the_trail_when_anything_happened() {
    let app = TestApp::spawn().await;
    let st = &app.state;
    let t = gerbang::state::now();
    append_some(&st.db, 2, t).await;
    gerbang::ops::upkeep::round(st, 60, t).await;
    let rows = trail(&st.db).await;
    let newest = rows.last().expect("records");
    assert_eq!((newest.kind.as_str(), newest.actor.as_str()), ("audit.checkpoint", ""));
    let detail: Value = serde_json::from_str(&newest.detail).unwrap();
    assert_eq!(detail["seq"], rows[rows.len() - 2].seq);
    // Nothing happened since: no second one.
    gerbang::ops::upkeep::round(st, 120, t + 3_600).await;
    assert_eq!(trail(&st.db).await.len(), rows.len());
    // The record's detail serves as a checkpoint file.
    let who = gerbang::ops::Principal::Operator(gerbang::ops::Operator::local());
    let v = gerbang::ops::audit::verify_audit(st, &who, Some(&newest.detail)).await.expect("verify");
    assert!(v.ok, "{v:?}");
    assert_eq!(v.checkpoint.unwrap().outcome, audit::CheckpointOutcome::Matches);
    // Only those who may read the trail sign checkpoints or check against one.
    let app_itself = gerbang::ops::Principal::Application("klien-lain".into());
    let refused = gerbang::ops::audit::checkpoint(st, &app_itself, t).await;
    assert!(matches!(refused, Err(gerbang::ops::AdminError::Forbidden(_))), "{refused:?}");
    assert_eq!(trail(&st.db).await.len(), rows.len(), "nothing recorded");
}

/// The chain is read a page at a time (read whole, a trail of months took each replica's memory
/// in proportion at every start): any page size gives the same verdict, including on an edit, a
/// deletion and a checkpoint that fall in later pages.
#[tokio::test]
async fn the_chain_is_verified_page_by_page_with_the_same_verdict() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    append_some(db, 40, gerbang::state::now()).await;
    let rows = trail(db).await;
    let verdicts = |cp: Option<audit::Checkpoint>| async move {
        let mut all = Vec::new();
        for page in [1, 7, 10_000] {
            all.push(audit::verify_in_pages(db, cp.as_ref(), page).await.unwrap());
        }
        assert!(all.windows(2).all(|w| w[0] == w[1]), "one verdict whatever the page size: {all:#?}");
        all.remove(0)
    };
    let v = verdicts(None).await;
    assert!(v.ok, "{v:?}");
    assert_eq!(v.records, rows.len() as u64);
    let middle = &rows[rows.len() - 12];
    let cp = audit::Checkpoint { seq: middle.seq, hash: middle.hash.clone(), at: 1, kid: "uji".into() };
    let v = verdicts(Some(cp.clone())).await;
    assert_eq!(v.checkpoint.map(|c| c.outcome), Some(audit::CheckpointOutcome::Matches));
    exec(db, &format!("UPDATE audit_events SET detail = '{{\"i\":99}}' WHERE seq = {}", middle.seq)).await;
    let v = verdicts(Some(cp)).await;
    assert_eq!(v.broken_at, Some(middle.seq), "{v:?}");
    assert!(v.problem.unwrap().contains("was altered"));
    exec(db, &format!("UPDATE audit_events SET detail = {} WHERE seq = {}", quoted(&middle.detail), middle.seq)).await;
    assert!(verdicts(None).await.ok, "put back");
    let later = rows[rows.len() - 5].seq;
    exec(db, &format!("DELETE FROM audit_events WHERE seq = {later}")).await;
    let v = verdicts(None).await;
    assert_eq!(v.broken_at, Some(later), "{v:?}");
    assert!(v.problem.unwrap().contains(&format!("record #{later} is missing")));
}
