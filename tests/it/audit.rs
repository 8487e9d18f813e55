//! The audit trail: events are recorded for logins, failures and lockouts, and the hash chain
//! detects an altered or deleted record.

use gerbang::audit;
use gerbang::config::Secret;
use gerbang::ops::login::password_login;
use gerbang::store::Db;

use crate::common::*;

async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .expect("tamper");
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
