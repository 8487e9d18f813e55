//! A password alone never becomes a strong factor for an administrator: their first passkey or
//! authenticator app is enrolled only through a one-time enrolment link another administrator
//! (or the operator) issued. Everyone else may enrol after a password, and the level it was done
//! at is recorded and shown.

use gerbang::auth::Factors;
use gerbang::identity::admin::{DISKOMINFO_ADMIN, OPD_ADMIN};
use gerbang::identity::roles::{self, Holder};
use gerbang::ops::{bootstrap, enrolment, Operator, Principal};
use gerbang::state::now;
use serde_json::{json, Value};

use crate::common::*;
use crate::self_service::{enrol, page, post, signed_in, signed_in_with};

const LEVEL_ONE_ADMIN: &[(&str, &str)] = &[("GERBANG_ADMIN_MIN_LEVEL", "1")];

/// Every way a level-1 session could add a factor is refused, and nothing is stored.
async fn assert_no_enrolment(app: &TestApp, b: &reqwest::Client, account: &str) {
    let html = page(b, app, "/account").await;
    assert!(html.contains("id=\"enrol-needs-link\""), "the page says a link is needed");
    assert!(!html.contains("action=\"/account/passkeys\"") && !html.contains("href=\"/account/totp\""));
    let csrf = csrf_of(app, b).await;
    let res = post(b, app, "/account/passkeys/options", &[("csrf", csrf.clone())]).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "enrolment_link_required");
    assert_eq!(b.get(app.url("/account/totp")).send().await.unwrap().status(), 403);
    let res = post(b, app, "/account/totp", &[("csrf", csrf.clone()), ("code", "123456".into())]).await;
    assert_eq!(res.status(), 403);
    let res = post(b, app, "/account/passkeys", &[("csrf", csrf.clone()), ("credential", "{}".into())]).await;
    assert_eq!(res.status(), 400, "a broken answer is refused before anything else");
    assert_eq!(post(b, app, "/account/recovery", &[("csrf", csrf)]).await.status(), 403);
    assert_eq!(Factors::of(&app.state.db, account).await.unwrap(), Factors::default());
    let kinds = kinds(app, account).await;
    assert!(!kinds.iter().any(|k| k.starts_with("totp.") || k.starts_with("passkey.") || k.starts_with("recovery")));
}

/// The account forms' CSRF token (the password page always has one).
async fn csrf_of(app: &TestApp, b: &reqwest::Client) -> String {
    hidden(&page(b, app, "/account/password").await, "csrf")
}

async fn kinds(app: &TestApp, account: &str) -> Vec<String> {
    let rows = gerbang::audit::list(&app.state.db, 1000, Some(account)).await.unwrap();
    rows.into_iter().map(|r| r.kind).collect()
}

/// The detail of the newest audit record of `kind` about `account`.
async fn detail_of(app: &TestApp, account: &str, kind: &str) -> Value {
    let mut rows = gerbang::audit::list(&app.state.db, 1000, Some(account)).await.unwrap();
    rows.sort_by_key(|r| r.seq);
    let row = rows.into_iter().rev().find(|r| r.kind == kind).unwrap_or_else(|| panic!("no {kind}"));
    serde_json::from_str(&row.detail).unwrap()
}

#[tokio::test]
async fn an_administrators_password_alone_enrols_no_factor() {
    let app = TestApp::spawn().await;
    let (nip, id) = staff(&app, "Admin Tanpa Faktor", None, Some(DISKOMINFO_ADMIN)).await;
    assert_no_enrolment(&app, &signed_in(&app, &nip).await, &id).await;

    // A role inherited through the unit counts the same: that is how it would be handed out.
    let unit = opd_unit(&app, &format!("E{}", unique_nip()), None).await;
    let opd_admin = roles::create(&app.state.db, None, OPD_ADMIN, "", now()).await.unwrap();
    roles::assign(&app.state.db, &opd_admin, &Holder::Opd(unit.clone()), now()).await.unwrap();
    let (nip2, id2) = staff(&app, "Admin Lewat Unit", Some(&unit), None).await;
    assert_no_enrolment(&app, &signed_in(&app, &nip2).await, &id2).await;
}

#[tokio::test]
async fn anyone_else_may_enrol_after_a_password_and_the_level_is_recorded_and_shown() {
    let app = TestApp::spawn().await;
    let (nip, id) = staff(&app, "Pegawai Biasa", None, None).await;
    let b = signed_in(&app, &nip).await;
    assert!(!page(&b, &app, "/account").await.contains("enrol-needs-link"));
    enrol(&app, &b).await;
    assert_eq!(detail_of(&app, &id, "totp.enrolled").await, json!({ "via": "session", "session_level": 1 }));
    assert!(page(&b, &app, "/account").await.contains("didaftarkan dari sesi tingkat 1"));
}

#[tokio::test]
async fn an_enrolment_link_lets_its_administrator_enrol_one_factor_once() {
    let app = TestApp::spawn_with(LEVEL_ONE_ADMIN).await;
    let (boss_nip, boss) = staff(&app, "Kepala Diskominfo", None, Some(DISKOMINFO_ADMIN)).await;
    let (nip, id) = staff(&app, "Admin Baru", None, Some(DISKOMINFO_ADMIN)).await;
    let (other_nip, _) = staff(&app, "Admin Lain", None, Some(DISKOMINFO_ADMIN)).await;
    let token = console_token(&app, &boss_nip).await;
    let issue = |account: String| {
        let (app, token) = (&app, token.clone());
        async move {
            http_client()
                .post(app.url(&format!("/admin/api/v1/accounts/{account}/enrolment-link")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    // Never for oneself: the point is a second person.
    assert_eq!(issue(boss.clone()).await.status(), 403);
    let before = now();
    let res = issue(id.clone()).await;
    assert_eq!(res.status(), 201);
    let link: Value = res.json().await.unwrap();
    // Stamped by the server between the two readings (a second may pass during the request).
    let issued_at = link["expires_at"].as_i64().unwrap() - enrolment::LINK_LIFETIME;
    assert!((before..=now()).contains(&issued_at), "24 hours: {link}");
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&app.url("/enrol/")), "{url}");
    assert_eq!(detail_of(&app, &id, "enrolment_link.issued").await["expires_at"], link["expires_at"]);

    // Someone else who opens it gets nothing, and the link still works for its person.
    let other = signed_in(&app, &other_nip).await;
    assert_eq!(other.get(&url).send().await.unwrap().status(), 303);
    let csrf = hidden(&page(&other, &app, "/account").await, "csrf");
    assert_eq!(post(&other, &app, "/account/enrol", &[("csrf", csrf)]).await.status(), 400);

    // Its person opens it before logging in: the login comes first, then the page offers it.
    let b = browser();
    let res = b.get(&url).send().await.unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account".to_string()));
    let res = b.get(app.url("/account")).send().await.unwrap();
    let back = login(&app, &b, &location(&res), &nip, PASSWORD).await;
    assert!(back.starts_with(&app.url("/account")), "{back}");
    let html = page(&b, &app, "/account").await;
    assert!(html.contains("action=\"/account/enrol\""), "the page offers the link");
    let res = post(&b, &app, "/account/enrol", &[("csrf", hidden(&html, "csrf"))]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account?done=enrolment_ready".to_string()));
    assert!(page(&b, &app, "/account").await.contains("id=\"enrol-open\""));
    enrol(&app, &b).await;
    let d = detail_of(&app, &id, "totp.enrolled").await;
    assert_eq!((d["via"].clone(), d["session_level"].clone()), (json!("link"), json!(1)));
    assert!(page(&b, &app, "/account").await.contains("didaftarkan melalui tautan pendaftaran"));

    // One factor per link: the same password-only session cannot add a passkey after it.
    assert_eq!(post(&b, &app, "/account/passkeys/options", &[("csrf", csrf_of(&app, &b).await)]).await.status(), 403);
    // And the link is spent.
    b.get(&url).send().await.unwrap();
    let csrf = hidden(&page(&b, &app, "/account").await, "csrf");
    assert_eq!(post(&b, &app, "/account/enrol", &[("csrf", csrf)]).await.status(), 400);
    let redeemed: Vec<String> = kinds(&app, &id).await.into_iter().filter(|k| k == "enrolment_link.redeemed").collect();
    assert_eq!(redeemed.len(), 1);
}

#[tokio::test]
async fn a_link_is_redeemed_once_under_concurrency_and_not_after_a_day() {
    let app = TestApp::spawn().await;
    let (nip, id) = staff(&app, "Admin Serentak", None, Some(DISKOMINFO_ADMIN)).await;
    let who = Principal::Operator(Operator::local());
    let account = who.parse_account_id(&id).unwrap();

    // Many simultaneous redemptions of one link through one signed-in browser: one wins.
    let link = enrolment::issue_link(&app.state, &who, &account, now()).await.unwrap();
    let b = signed_in(&app, &nip).await;
    b.get(&link.url).send().await.unwrap();
    let csrf = hidden(&page(&b, &app, "/account").await, "csrf");
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (b, url, csrf) = (b.clone(), app.url("/account/enrol"), csrf.clone());
        tries.spawn(async move { b.post(url).form(&[("csrf", csrf)]).send().await.unwrap().status().as_u16() });
    }
    let statuses: Vec<u16> = tries.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 19, "{statuses:?}");

    // The store's redemption itself, raced on the database (SQLite here, PostgreSQL in CI).
    let token = gerbang::crypto::random_token(32).unwrap();
    let row = gerbang::store::enrolment::LinkRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: id.clone(),
        issued_by: "cli:test".into(),
        created_at: now(),
        expires_at: now() + 60,
        redeemed_at: None,
        redeemed_sid: None,
        completed_at: None,
    };
    let hash = gerbang::crypto::sha256_hex(token.as_bytes());
    gerbang::store::enrolment::insert(&app.state.db, &row, &hash).await.unwrap();
    let mut races = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (db, hash, id) = (app.state.db.clone(), hash.clone(), id.clone());
        races
            .spawn(async move { gerbang::store::enrolment::redeem(&db, &hash, &id, &format!("sid-{i}"), now()).await });
    }
    let won = races.join_all().await.into_iter().filter(|r| matches!(r, Ok(Some(_)))).count();
    assert_eq!(won, 1);

    // Issued 25 hours ago: expired.
    let old = enrolment::issue_link(&app.state, &who, &account, now() - 25 * 3600).await.unwrap();
    let b = signed_in(&app, &nip).await;
    b.get(&old.url).send().await.unwrap();
    let csrf = hidden(&page(&b, &app, "/account").await, "csrf");
    let res = post(&b, &app, "/account/enrol", &[("csrf", csrf)]).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("kedaluwarsa"));
    // A malformed link is refused before any lookup, and never echoed.
    let res = browser().get(app.url("/enrol/..%2Faccount%2Ftotp")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_first_administrator_gets_a_link_printed_and_only_it_opens_enrolment() {
    let app = TestApp::spawn_with(&[("GERBANG_BOOTSTRAP", "true")]).await;
    let boot = bootstrap::run(&app.state, now()).await.unwrap().expect("first run");
    let admin = gerbang::identity::accounts::find(&app.state.db, &boot.admin_nip).await.unwrap().unwrap();
    let b = signed_in_with(&app, &boot.admin_nip, boot.admin_password.expose()).await;
    assert_no_enrolment(&app, &b, &admin.id).await;
    assert_eq!(
        detail_of(&app, &admin.id, "enrolment_link.issued").await["expires_at"],
        boot.admin_enrolment.expires_at
    );
    b.get(&boot.admin_enrolment.url).send().await.unwrap();
    let csrf = hidden(&page(&b, &app, "/account").await, "csrf");
    let res = post(&b, &app, "/account/enrol", &[("csrf", csrf)]).await;
    assert_eq!(location(&res), "/account?done=enrolment_ready");
    enrol(&app, &b).await;
    assert_eq!(detail_of(&app, &admin.id, "totp.enrolled").await["via"], "link");
}

#[tokio::test]
async fn only_administrators_who_manage_the_account_issue_links() {
    let app = TestApp::spawn_with(LEVEL_ONE_ADMIN).await;
    let unit = opd_unit(&app, &format!("L{}", unique_nip()), None).await;
    let elsewhere = opd_unit(&app, &format!("M{}", unique_nip()), None).await;
    let (opd_nip, _) = staff(&app, "Admin OPD", Some(&unit), Some(OPD_ADMIN)).await;
    let (_, mine) = staff(&app, "Staf Sendiri", Some(&unit), None).await;
    let (_, theirs) = staff(&app, "Staf Lain", Some(&elsewhere), None).await;
    let (_, chief) = staff(&app, "Admin Pusat", Some(&unit), Some(DISKOMINFO_ADMIN)).await;
    let (plain_nip, fellow) = staff(&app, "Bukan Admin", Some(&unit), Some("auditor")).await;
    let token = console_token(&app, &opd_nip).await;
    let issue = |token: String, account: String| {
        let app = &app;
        async move {
            let url = app.url(&format!("/admin/api/v1/accounts/{account}/enrolment-link"));
            http_client().post(url).bearer_auth(token).send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(issue(token.clone(), mine.clone()).await, 201);
    assert_eq!(issue(token.clone(), theirs.clone()).await, 403, "outside the units they manage");
    assert_eq!(issue(token.clone(), chief.clone()).await, 403, "Diskominfo's administrators are Diskominfo's");
    assert_eq!(issue(console_token(&app, &plain_nip).await, mine.clone()).await, 403, "an auditor issues none");
    assert_eq!(issue(token.clone(), fellow.clone()).await, 403, "a fellow administrator's link is Diskominfo's");
    assert_eq!(kinds(&app, &theirs).await.iter().filter(|k| k.starts_with("enrolment_link")).count(), 0);
}
