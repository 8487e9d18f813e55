//! The audit trail: events are recorded for logins, failures and lockouts, and the hash chain
//! detects an altered or deleted record.

use gerbang::audit;
use gerbang::auth::login::password_login;
use gerbang::config::Secret;
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
    assert!(v.broken_at.unwrap() > victim);
}
