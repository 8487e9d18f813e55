//! Notices: each certificate and kind told once however many rounds run at once, by e-mail to
//! the holder and the administrators who answer for them, and by webhook, retried until taken.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use gerbang::ops::certificates::monitor::notify_due;
use gerbang::store::accounts::set_email;

use super::*;
use crate::mailbox::{mailbox, smtp_settings, unique_address};

/// A webhook receiver: refuses the first `fail_first` posts with 500, keeps the bodies of the
/// accepted ones.
struct Hook {
    url: String,
    got: Arc<Mutex<Vec<Value>>>,
    calls: Arc<AtomicUsize>,
}

async fn hook(fail_first: usize) -> Hook {
    let got = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (g, c) = (got.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let (g, c) = (g.clone(), c.clone());
            async move {
                if c.fetch_add(1, Ordering::SeqCst) < fail_first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                g.lock().unwrap().push(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Hook { url, got, calls }
}

async fn with_address(app: &TestApp, account: &str) -> String {
    let addr = unique_address();
    set_email(&app.state.db, account, Some(&addr), true, app.state.now()).await.unwrap();
    addr
}

#[tokio::test]
async fn certs_monitor_notices_go_once_to_holder_admins_and_webhook_even_from_concurrent_rounds() {
    let hook = hook(1).await;
    let mut env: Vec<(&str, String)> = smtp_settings();
    env.push(("GERBANG_CERTIFICATE_WEBHOOK_URL", hook.url.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(&env).await;
    let replica = app.replica().await;
    let now = app.state.now();
    let (a, b) = (unit(&app, None).await, unit(&app, None).await);
    let a1 = unit(&app, Some(&a)).await;
    let (_, sup) = staff(&app, "Rina Wulandari", Some(&b), Some("diskominfo-admin")).await;
    let (_, opd_a) = staff(&app, "Lina Marlina", Some(&a), Some("opd-admin")).await;
    let (_, opd_b) = staff(&app, "Bayu Saputra", Some(&b), Some("opd-admin")).await;
    let (_, siti) = staff(&app, "Siti Rahmawati", Some(&a1), None).await;
    let (_, agus) = staff(&app, "Agus Prasetyo", Some(&a1), None).await;
    let (_, rudi) = staff(&app, "Rudi Hartono", Some(&a1), None).await;
    let (sup_mail, opd_a_mail, opd_b_mail, siti_mail, agus_mail, rudi_mail) = (
        with_address(&app, &sup).await,
        with_address(&app, &opd_a).await,
        with_address(&app, &opd_b).await,
        with_address(&app, &siti).await,
        with_address(&app, &agus).await,
        with_address(&app, &rudi).await,
    );
    let expiring = bind_row(&app.state.db, &siti, now, 7, |_| {}).await;
    let revoked = bind_row(&app.state.db, &siti, now, 300, |r| {
        r.status = "revoked".into();
        r.revoked_at = Some(now - 60);
        r.revocation_reason = "kunci hilang".into();
    })
    .await;
    // Nothing to tell: Agus renewed (a newer binding in force), Rudi's expired long ago.
    bind_row(&app.state.db, &agus, now, 7, |_| {}).await;
    bind_row(&app.state.db, &agus, now, 700, |_| {}).await;
    bind_row(&app.state.db, &rudi, now, -200, |_| {}).await;

    let rounds: Vec<_> = (0..8)
        .map(|i| {
            let st = if i % 2 == 0 { app.state.clone() } else { replica.state.clone() };
            tokio::spawn(async move { notify_due(&st, now).await })
        })
        .collect();
    let mut sent = 0;
    for r in rounds {
        sent += r.await.unwrap();
    }
    assert_eq!(sent, 2, "two notices, each sent by one round");

    // E-mail: the holder, Diskominfo and the admin of the unit above the holder's; not unit B's.
    let to_siti = mailbox().wait_for(&siti_mail, 2).await;
    let subjects: Vec<&str> = to_siti.iter().map(|m| m.subject.as_str()).collect();
    assert!(subjects.contains(&"Sertifikat elektronik Anda segera berakhir"), "{subjects:?}");
    assert!(subjects.contains(&"Sebuah sertifikat elektronik telah dicabut"), "{subjects:?}");
    let revoked_mail = to_siti.iter().find(|m| m.subject.contains("dicabut")).unwrap();
    assert!(revoked_mail.body.contains("kunci hilang"), "{}", revoked_mail.body);
    for admin in [&sup_mail, &opd_a_mail] {
        let got = mailbox().wait_for(admin, 2).await;
        assert!(got.iter().all(|m| m.body.contains("Siti Rahmawati")), "{got:?}");
        assert!(got.iter().any(|m| m.body.contains("/console/certificates?state=revoked")));
    }
    for nobody in [&opd_b_mail, &agus_mail, &rudi_mail] {
        assert!(mailbox().after(nobody, std::time::Duration::from_millis(300)).await.is_empty(), "{nobody}");
    }

    // Webhook: the first post was refused; a later round (one of the concurrent ones, or the
    // next) posts it again, once.
    assert!(!hook.got.lock().unwrap().is_empty());
    assert_eq!(notify_due(&replica.state, now).await, 0, "no new notices");
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    let mut events: Vec<&str> = got.iter().map(|b| b["event"].as_str().unwrap()).collect();
    events.sort();
    assert_eq!(events, ["certificate.expiring", "certificate.revoked"]);
    let body = got.iter().find(|b| b["event"] == "certificate.expiring").unwrap();
    assert_eq!(body["certificate"]["id"], expiring.as_str());
    assert_eq!(body["certificate"]["not_after"], now + 7 * DAY);
    assert_eq!(body["certificate"]["status"], "active");
    assert_eq!(body["holder"]["account_id"], siti.as_str());
    assert_eq!(body["holder"]["name"], "Siti Rahmawati");
    assert_eq!(body["holder"]["opd_id"], a1.as_str());
    assert_eq!(body["at"], now);
    assert!(body["certificate"]["fingerprint"].as_str().unwrap().len() == 64);
    let revoked_body = got.iter().find(|b| b["event"] == "certificate.revoked").unwrap();
    assert_eq!(revoked_body["certificate"]["id"], revoked.as_str());
    assert_eq!(notify_due(&app.state, now).await, 0);
    assert_eq!(hook.calls.load(Ordering::SeqCst), 3, "one refused post and two taken, nothing more");

    // Later: the certificate expires (a new kind, told once), and the e-mails say so.
    app.advance(8 * DAY);
    let later = app.state.now();
    assert_eq!(notify_due(&app.state, later).await, 1);
    assert_eq!(notify_due(&replica.state, later).await, 0);
    let to_siti = mailbox().wait_for(&siti_mail, 3).await;
    assert!(to_siti.iter().any(|m| m.subject == "Sebuah sertifikat elektronik telah berakhir"));
    assert_eq!(hook.got.lock().unwrap().len(), 3);

    let trail = gerbang::audit::list(&app.state.db, 100, Some(&siti)).await.unwrap();
    let notices: Vec<_> = trail.iter().filter(|e| e.kind == "certificate.notice").collect();
    assert_eq!(notices.len(), 3, "one audit record per notice");
    assert!(notices.iter().all(|e| e.actor == "system"));
}

#[tokio::test]
async fn certs_monitor_failing_checks_are_told_again_after_they_recover_and_fail_anew() {
    let app = TestApp::spawn().await;
    let now = app.state.now();
    let a = unit(&app, None).await;
    let (_, siti) = staff(&app, "Siti Rahmawati", Some(&a), None).await;
    let id = bind_row(&app.state.db, &siti, now, 300, |r| r.check_status = "unknown".into()).await;
    assert_eq!(notify_due(&app.state, now).await, 1, "no mail or webhook configured: the notice is still recorded");
    assert_eq!(notify_due(&app.state, now).await, 0);
    for (status, told) in [("good", 0), ("failed", 1), ("failed", 0), ("revoked", 1)] {
        exec(&app.state.db, &format!("UPDATE certificates SET check_status = '{status}' WHERE id = '{id}'")).await;
        assert_eq!(notify_due(&app.state, now).await, told, "after {status}");
    }
}
