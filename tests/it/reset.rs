//! Password reset and activation links, end to end over HTTP: issued by the help desk (admin
//! API, console, command line) or through "forgot password", mailed through the real SMTP test
//! server or shown once, and followed to set a password. A GET never spends a link; a refused
//! password leaves it usable; of many simultaneous submissions one wins; and whoever knew the
//! old password is shut out.

use std::time::Duration;

use gerbang::identity::admin::{DISKOMINFO_ADMIN, OPD_ADMIN};
use gerbang::state::now;
use serde_json::{json, Value};

use crate::common::*;
use crate::console::console_login;
use crate::mailbox::{mailbox, smtp_settings, unique_address};
use crate::self_service::{refresh, refresh_app, refresh_token_in, signed_in};

const LEVEL_ONE_ADMIN: (&str, &str) = ("GERBANG_ADMIN_MIN_LEVEL", "1");
const NEW_PASSWORD: &str = "tautan-baru-rahasia-77";

fn with_smtp(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut s = smtp_settings();
    s.extend(extra.iter().cloned());
    s
}

async fn spawn(settings: &[(&'static str, String)]) -> TestApp {
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn_with(&pairs).await
}

/// `POST /admin/api/v1/accounts/{id}/password-reset` with an optional JSON body.
async fn ask(app: &TestApp, token: &str, id: &str, body: Option<Value>) -> (u16, Value) {
    let mut req =
        http_client().post(app.url(&format!("/admin/api/v1/accounts/{id}/password-reset"))).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Opens a link's page: its status and text.
pub(crate) async fn open(b: &reqwest::Client, url: &str) -> (u16, String) {
    let res = b.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

/// Opens the link and submits its form: the answer's status and text.
pub(crate) async fn follow(b: &reqwest::Client, url: &str, password: &str, repeat: &str) -> (u16, String) {
    let (status, html) = open(b, url).await;
    assert_eq!(status, 200, "{html}");
    let csrf = hidden(&html, "csrf");
    let res = b.post(url).form(&[("csrf", csrf.as_str()), ("password", password), ("repeat", repeat)]).send().await;
    let res = res.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn kinds(app: &TestApp, account: &str) -> Vec<String> {
    let mut rows = gerbang::audit::list(&app.state.db, 1000, Some(account)).await.unwrap();
    rows.sort_by_key(|r| r.seq);
    rows.into_iter().map(|r| r.kind).collect()
}

async fn detail_of(app: &TestApp, account: &str, kind: &str) -> Value {
    let mut rows = gerbang::audit::list(&app.state.db, 1000, Some(account)).await.unwrap();
    rows.sort_by_key(|r| r.seq);
    let row = rows.into_iter().rev().find(|r| r.kind == kind).unwrap_or_else(|| panic!("no {kind}"));
    serde_json::from_str(&row.detail).unwrap()
}

/// Whether a fresh browser gets through the login with this password.
pub(crate) async fn logs_in(app: &TestApp, nip: &str, password: &str) -> bool {
    let b = browser();
    let res = b.get(app.url("/account")).send().await.unwrap();
    let html = b.get(absolute(app, &location(&res))).send().await.unwrap().text().await.unwrap();
    submit_login(app, &b, &html, nip, password).await.status() == 303
}

fn absolute(app: &TestApp, url: &str) -> String {
    if url.starts_with("http") {
        url.to_string()
    } else {
        app.url(url)
    }
}

pub(crate) async fn verified(app: &TestApp, id: &str) -> String {
    let address = unique_address();
    gerbang::store::accounts::set_email(&app.state.db, id, Some(&address), true, now()).await.unwrap();
    address
}

#[tokio::test]
async fn a_help_desk_link_sets_a_new_password_and_shuts_out_the_old_one() {
    let app = spawn(&[(LEVEL_ONE_ADMIN.0, LEVEL_ONE_ADMIN.1.into())]).await;
    let (boss_nip, boss) = staff(&app, "Kepala Layanan", None, Some(DISKOMINFO_ADMIN)).await;
    let (nip, id) = staff(&app, "Dewi Lestari", None, None).await;
    let token = console_token(&app, &boss_nip).await;

    // The person is signed in somewhere, with an application holding a refresh token.
    let old = signed_in(&app, &nip).await;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let rt = refresh_token_in(&app, &old, &c).await;

    // No verified address and no mail server: the link comes back; e-mail is refused clearly.
    let (status, e) = ask(&app, &token, &id, Some(json!({ "delivery": "email" }))).await;
    assert_eq!((status, e["detail"].as_str().unwrap()), (409, "the account has no verified e-mail address"));
    verified(&app, &id).await;
    let (status, e) = ask(&app, &token, &id, Some(json!({ "delivery": "email" }))).await;
    assert_eq!((status, e["detail"].as_str().unwrap()), (409, "e-mail is not configured on this server"));
    let (status, e) = ask(&app, &token, &id, Some(json!({ "delivery": "pigeon" }))).await;
    assert_eq!(status, 422, "{e}");
    let before = now();
    let (status, link) = ask(&app, &token, &id, None).await;
    assert_eq!(status, 200, "{link}");
    assert_eq!((link["delivery"].as_str(), link["purpose"].as_str()), (Some("link"), Some("reset")));
    // Stamped by the server between the two readings (a second may pass during the request).
    assert!((before..=now()).contains(&(link["expires_at"].as_i64().unwrap() - 24 * 3600)), "{link}");
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&app.url("/reset/")), "{url}");
    assert_eq!(detail_of(&app, &id, "password.reset_link_issued").await["delivery"], "link");

    // Opening it (a mail scanner, a preview) spends nothing; a refused password neither.
    let b = browser();
    assert_eq!(open(&b, &url).await.0, 200);
    let (status, html) = follow(&b, &url, "pendek", "pendek").await;
    assert!(status == 400 && html.contains("minimal 10 karakter"), "{status} {html}");
    let (status, html) = follow(&b, &url, NEW_PASSWORD, "lain-sekali-rahasia-1").await;
    assert!(status == 400 && html.contains("tidak sama"), "{status} {html}");
    let (status, html) = follow(&b, &url, "Dewi-Lestari-2026!", "Dewi-Lestari-2026!").await;
    assert!(status == 400 && html.contains("nama"), "{status} {html}");
    // Without the form's CSRF token: refused, link untouched.
    let res = b.post(&url).form(&[("password", NEW_PASSWORD), ("repeat", NEW_PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let (status, html) = follow(&b, &url, NEW_PASSWORD, NEW_PASSWORD).await;
    assert!(status == 200 && html.contains("Kata sandi sudah diatur"), "{status} {html}");
    assert!(html.contains("href=\"/account\""));

    // Used: 410 with a page saying so.
    let (status, html) = open(&browser(), &url).await;
    assert!(status == 410 && html.contains("sudah dipakai"), "{status} {html}");

    // The old password no longer works, the new one does; the old session and token are gone.
    assert!(!logs_in(&app, &nip, PASSWORD).await);
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await);
    assert_eq!(old.get(app.url("/account")).send().await.unwrap().status(), 303, "signed out");
    assert_eq!(refresh(&app, &c, &rt).await, Err("invalid_grant".to_string()));
    let d = detail_of(&app, &id, "password.reset").await;
    assert_eq!((d["link"].clone(), d["issued_by"].clone()), (json!(link_id(&app, &id).await), json!(boss)));
}

/// The id of the newest link issued to the account, from the audit trail.
async fn link_id(app: &TestApp, id: &str) -> String {
    detail_of(app, id, "password.reset_link_issued").await["link"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn who_may_issue_a_link_and_for_whom() {
    let app = spawn(&[(LEVEL_ONE_ADMIN.0, LEVEL_ONE_ADMIN.1.into())]).await;
    let unit = opd_unit(&app, &format!("R{}", unique_nip()), None).await;
    let (boss_nip, boss) = staff(&app, "Admin Pusat", None, Some(DISKOMINFO_ADMIN)).await;
    let (opd_nip, opd_admin) = staff(&app, "Admin Dinas", Some(&unit), Some(OPD_ADMIN)).await;
    let (_, fellow) = staff(&app, "Admin Dinas Kedua", Some(&unit), Some(OPD_ADMIN)).await;
    let (_, plain) = staff(&app, "Staf Dinas", Some(&unit), None).await;
    let (_, elsewhere) = staff(&app, "Staf Lain", None, None).await;
    let (_, gone) = staff(&app, "Staf Pensiun", Some(&unit), None).await;
    let boss_token = console_token(&app, &boss_nip).await;
    let opd_token = console_token(&app, &opd_nip).await;
    let none = Some(json!({}));

    // Nobody for themselves.
    let (status, e) = ask(&app, &boss_token, &boss, None).await;
    assert_eq!(status, 403, "{e}");
    assert!(e["detail"].as_str().unwrap().contains("/account/password"));
    assert_eq!(ask(&app, &opd_token, &opd_admin, None).await.0, 403);
    // An OPD admin: their unit's staff yes; fellow administrators and Diskominfo's no.
    assert_eq!(ask(&app, &opd_token, &plain, none.clone()).await.0, 200);
    let (status, e) = ask(&app, &opd_token, &fellow, None).await;
    assert_eq!(
        (status, e["detail"].as_str().unwrap()),
        (403, "the password of an account holding an administrative role is reset by diskominfo-admin")
    );
    assert_eq!(ask(&app, &opd_token, &boss, None).await.0, 403);
    assert_eq!(ask(&app, &opd_token, &elsewhere, None).await.0, 403, "outside their units");
    assert_eq!(ask(&app, &opd_token, "no-such-id", None).await.0, 404, "malformed: names no account");
    // A region-wide administrator resets an OPD admin.
    assert_eq!(ask(&app, &boss_token, &fellow, None).await.0, 200);
    assert_eq!(ask(&app, &boss_token, "5f0c6a53-2d7e-4c1b-9a8e-0b1f2c3d4e5f", None).await.0, 404);
    // Inactive accounts: refused clearly.
    let gone_id = gerbang::ids::AccountId::parse(&gone).unwrap();
    let op = gerbang::ops::Principal::Operator(gerbang::ops::Operator::local());
    gerbang::ops::accounts::set_status(
        &app.state,
        &op,
        &gone_id,
        gerbang::identity::accounts::AccountStatus::Retired,
        now(),
    )
    .await
    .unwrap();
    let (status, e) = ask(&app, &boss_token, &gone, None).await;
    assert_eq!(status, 409);
    assert!(e["detail"].as_str().unwrap().contains("retired"), "{e}");
    for refused in [&boss, &opd_admin, &elsewhere, &gone] {
        assert!(!kinds(&app, refused).await.iter().any(|k| k.starts_with("password.")), "{refused}");
    }
    // An account suspended after its link was issued cannot follow it.
    let (_, link) = ask(&app, &boss_token, &plain, None).await;
    let plain_id = gerbang::ids::AccountId::parse(&plain).unwrap();
    gerbang::ops::accounts::set_status(
        &app.state,
        &op,
        &plain_id,
        gerbang::identity::accounts::AccountStatus::Suspended,
        now(),
    )
    .await
    .unwrap();
    assert_eq!(open(&browser(), link["url"].as_str().unwrap()).await.0, 403);
    // The document lists the operation.
    let doc: Value = http_client().get(app.url("/admin/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let op = &doc["paths"]["/admin/api/v1/accounts/{id}/password-reset"]["post"];
    assert!(op["responses"]["200"].is_object() && op["responses"]["409"].is_object(), "{op}");
}

#[tokio::test]
async fn a_link_is_taken_once_under_concurrency_and_refused_when_forged_or_old() {
    let app = spawn(&[(LEVEL_ONE_ADMIN.0, LEVEL_ONE_ADMIN.1.into())]).await;
    let (boss_nip, _) = staff(&app, "Admin Pusat", None, Some(DISKOMINFO_ADMIN)).await;
    let (nip, id) = staff(&app, "Budi Santoso", None, None).await;
    let token = console_token(&app, &boss_nip).await;
    let url = ask(&app, &token, &id, None).await.1["url"].as_str().unwrap().to_string();

    let b = browser();
    let csrf = hidden(&open(&b, &url).await.1, "csrf");
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (b, url, csrf) = (b.clone(), url.clone(), csrf.clone());
        tries.spawn(async move {
            let form = [("csrf", csrf.as_str()), ("password", NEW_PASSWORD), ("repeat", NEW_PASSWORD)];
            b.post(url).form(&form).send().await.unwrap().status().as_u16()
        });
    }
    let statuses: Vec<u16> = tries.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 410).count(), 19, "{statuses:?}");
    assert_eq!(kinds(&app, &id).await.iter().filter(|k| *k == "password.reset").count(), 1);
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await);

    // A newer link replaces the older one.
    let first = ask(&app, &token, &id, None).await.1["url"].as_str().unwrap().to_string();
    let second = ask(&app, &token, &id, None).await.1["url"].as_str().unwrap().to_string();
    assert_eq!(open(&browser(), &first).await.0, 410);
    assert_eq!(open(&browser(), &second).await.0, 200);

    // A day later: expired, 410, and the form's POST is refused too.
    let b = browser();
    let csrf = hidden(&open(&b, &second).await.1, "csrf");
    app.advance(24 * 3600 + 1);
    let (status, html) = open(&browser(), &second).await;
    assert!(status == 410 && html.contains("kedaluwarsa"), "{status} {html}");
    let form = [("csrf", csrf.as_str()), ("password", "lain-lagi-rahasia-99"), ("repeat", "lain-lagi-rahasia-99")];
    assert_eq!(b.post(&second).form(&form).send().await.unwrap().status(), 410);

    // Forged, cut off or malformed: 400, never echoed.
    let forged = format!("{}/reset/{}", app.base, "A".repeat(43));
    let (status, html) = open(&browser(), &forged).await;
    assert!(status == 400 && html.contains("tidak dikenal") && !html.contains(&"A".repeat(43)), "{status}");
    assert_eq!(open(&browser(), &second[..second.len() - 1]).await.0, 400);
    let (status, html) = open(&browser(), &app.url("/reset/%3Cscript%3E")).await;
    assert!(status == 400 && !html.contains("<script>"));
    // A reset link is no activation link.
    let as_activation = second.replace("/reset/", "/activate/");
    assert_eq!(open(&browser(), &as_activation).await.0, 400);
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await, "nothing changed");
}

#[tokio::test]
async fn a_link_mailed_to_the_verified_address_is_followed() {
    let app = spawn(&with_smtp(&[(LEVEL_ONE_ADMIN.0, LEVEL_ONE_ADMIN.1.into())])).await;
    let (boss_nip, _) = staff(&app, "Admin Pusat", None, Some(DISKOMINFO_ADMIN)).await;
    let (nip, id) = staff(&app, "Sari Utami", None, None).await;
    let token = console_token(&app, &boss_nip).await;
    // An unverified address receives nothing.
    gerbang::store::accounts::set_email(&app.state.db, &id, Some(&unique_address()), false, now()).await.unwrap();
    let (status, e) = ask(&app, &token, &id, Some(json!({ "delivery": "email" }))).await;
    assert_eq!((status, e["detail"].as_str().unwrap()), (409, "the account has no verified e-mail address"));

    let address = verified(&app, &id).await;
    let (status, sent) = ask(&app, &token, &id, None).await;
    assert_eq!(status, 200, "{sent}");
    let masked = format!("u***@{}", address.split_once('@').unwrap().1);
    assert_eq!(
        sent,
        json!({ "delivery": "email", "purpose": "reset", "sent_to": masked, "expires_at": sent["expires_at"] })
    );
    let mail = mailbox().only(&address).await;
    assert_eq!(mail.subject, "Atur ulang kata sandi Anda");
    assert!(mail.body.contains("Sari Utami") && mail.body.contains("24 jam"), "{}", mail.body);
    let url = mail.link(&app.url("/reset/")).expect("a reset link");
    // Asking for a link instead shows it, and replaces the mailed one.
    let (_, shown) = ask(&app, &token, &id, Some(json!({ "delivery": "link" }))).await;
    assert_eq!(open(&browser(), &url).await.0, 410);
    let (status, _) = follow(&browser(), shown["url"].as_str().unwrap(), NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200);
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await);
    // The verified address is told the password changed (a reset nobody asked for is a takeover).
    let mails = mailbox().wait_for(&address, 2).await;
    assert_eq!(mails.len(), 2, "the link, then the notice");
    assert_eq!(mails[1].subject, "Kata sandi Anda diubah");
    assert!(!mails[1].body.contains("/reset/"), "a notice carries no link: {}", mails[1].body);
}

#[tokio::test]
async fn an_account_created_without_a_password_is_activated_through_its_link() {
    let app = spawn(&[(LEVEL_ONE_ADMIN.0, LEVEL_ONE_ADMIN.1.into())]).await;
    let (boss_nip, boss) = staff(&app, "Admin Pusat", None, Some(DISKOMINFO_ADMIN)).await;
    let token = console_token(&app, &boss_nip).await;
    let nip = unique_nip();
    let res = http_client()
        .post(app.url("/admin/api/v1/accounts"))
        .bearer_auth(&token)
        .json(&json!({ "nip": nip, "name": "Rudi Hartono" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["account"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        (created["activation"]["delivery"].as_str(), created["activation"]["purpose"].as_str()),
        (Some("link"), Some("activation"))
    );
    let url = created["activation"]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&app.url("/activate/")), "{url}");
    assert!(!logs_in(&app, &nip, NEW_PASSWORD).await);
    // The help desk's button also answers with an activation link for it.
    let (_, again) = ask(&app, &token, &id, None).await;
    assert_eq!(again["purpose"], "activation");
    assert_eq!(open(&browser(), &url).await.0, 410, "replaced by the newer one");
    let url = again["url"].as_str().unwrap();
    let (status, html) = open(&browser(), url).await;
    assert!(status == 200 && html.contains("Aktifkan akun Anda"), "{html}");
    let (status, html) = follow(&browser(), url, NEW_PASSWORD, NEW_PASSWORD).await;
    assert!(status == 200 && html.contains("Akun sudah aktif"), "{html}");
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await);
    assert_eq!(detail_of(&app, &id, "account.activated").await["issued_by"], json!(boss));
    // With a password, creation hands out no link.
    let res = http_client()
        .post(app.url("/admin/api/v1/accounts"))
        .bearer_auth(&token)
        .json(&json!({ "nip": unique_nip(), "name": "Dengan Sandi", "password": "sandi-awal-panjang-9" }))
        .send()
        .await
        .unwrap();
    assert!(res.json::<Value>().await.unwrap().get("activation").is_none());
}

#[tokio::test]
async fn the_console_issues_a_link_after_confirmation() {
    let app = spawn(&[(LEVEL_ONE_ADMIN.0, LEVEL_ONE_ADMIN.1.into())]).await;
    let (boss_nip, boss) = staff(&app, "Admin Pusat", None, Some(DISKOMINFO_ADMIN)).await;
    let (nip, id) = staff(&app, "Wahyu Nugroho", None, None).await;
    let b = browser();
    console_login(&app, &b, &boss_nip).await;
    let html = b.get(app.url(&format!("/console/accounts/{id}"))).send().await.unwrap().text().await.unwrap();
    let action = format!("/console/accounts/{id}/reset-link");
    assert!(html.replace("&#x2f;", "/").contains(&format!("action=\"{action}\"")));
    let own = b.get(app.url(&format!("/console/accounts/{boss}"))).send().await.unwrap().text().await.unwrap();
    assert!(!own.contains("id=\"reset-link\""), "no button on one's own page");
    let csrf = hidden(&html, "csrf");
    let res = b.post(app.url(&action)).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("name=\"confirmed\" value=\"1\""));
    assert!(!kinds(&app, &id).await.contains(&"password.reset_link_issued".to_string()), "not before confirming");
    let res = b.post(app.url(&action)).form(&[("confirmed", "1")]).send().await.unwrap();
    assert_eq!(res.status(), 403, "CSRF");
    let res = b.post(app.url(&action)).form(&[("csrf", csrf.as_str()), ("confirmed", "1")]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap().replace("&#x2f;", "/");
    let start = html.find("<code id=\"reset-url\">").expect("the link, once") + "<code id=\"reset-url\">".len();
    let url = html[start..start + html[start..].find('<').unwrap()].to_string();
    assert!(url.starts_with(&app.url("/reset/")), "{url}");
    assert_eq!(follow(&browser(), &url, NEW_PASSWORD, NEW_PASSWORD).await.0, 200);
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await);
}

/// Posts the forgot-password form from a fresh browser: status, Retry-After, body.
pub(crate) async fn forgot(app: &TestApp, identifier: &str) -> (u16, Option<String>, String) {
    let b = browser();
    let html = b.get(app.url("/login/forgot")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    let res =
        b.post(app.url("/login/forgot")).form(&[("csrf", csrf.as_str()), ("identifier", identifier)]).send().await;
    let res = res.unwrap();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (res.status().as_u16(), retry, res.text().await.unwrap())
}

#[tokio::test]
async fn forgot_password_mails_only_verified_addresses_and_says_the_same_to_everyone() {
    let app = spawn(&smtp_settings()).await;
    let (nip, id) = staff(&app, "Lina Marlina", None, None).await;
    let address = verified(&app, &id).await;
    let (bare_nip, bare) = staff(&app, "Tanpa Surel", None, None).await;
    let unverified = unique_address();
    gerbang::store::accounts::set_email(&app.state.db, &bare, Some(&unverified), false, now()).await.unwrap();

    let login_page = browser().get(app.url("/account")).send().await.unwrap();
    let login_page = browser().get(absolute(&app, &location(&login_page))).send().await.unwrap().text().await.unwrap();
    assert!(login_page.contains("href=\"/login/forgot\"") && login_page.contains("Lupa kata sandi?"));
    let res = browser().post(app.url("/login/forgot")).form(&[("identifier", nip.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 403, "CSRF");

    let known = forgot(&app, &nip).await;
    let unknown = forgot(&app, &unique_nip()).await;
    let without = forgot(&app, &bare_nip).await;
    assert_eq!(known.0, 200);
    assert!(known.2.contains("Jika ada akun"), "{}", known.2);
    assert_eq!(known, unknown, "byte-identical answers");
    assert_eq!(known, without, "byte-identical answers");

    let mail = mailbox().only(&address).await;
    assert!(mailbox().after(&unverified, Duration::from_millis(500)).await.is_empty());
    let url = mail.link(&app.url("/reset/")).expect("a reset link");
    assert_eq!(follow(&browser(), &url, NEW_PASSWORD, NEW_PASSWORD).await.0, 200);
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await);
    assert_eq!(detail_of(&app, &id, "password.reset").await["issued_by"], "self");

    // Per account: three links an hour, then silently nothing (the same answer).
    for _ in 0..3 {
        assert_eq!(forgot(&app, &nip).await, known);
    }
    // The first link, the notice that the password changed, and two more links.
    assert_eq!(mailbox().wait_for(&address, 4).await.len(), 4, "the first, its notice and two more");
    assert_eq!(mailbox().after(&address, Duration::from_millis(700)).await.len(), 4);
    app.advance(3601);
    assert_eq!(forgot(&app, &nip).await, known);
    mailbox().wait_for(&address, 5).await;
}

#[tokio::test]
async fn forgot_password_is_limited_per_address_and_unavailable_without_mail() {
    let app = spawn(&smtp_settings()).await;
    for _ in 0..10 {
        assert_eq!(forgot(&app, &unique_nip()).await.0, 200);
    }
    let (status, retry, html) = forgot(&app, &unique_nip()).await;
    assert_eq!(status, 429);
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert!(html.contains("Terlalu banyak permintaan"));
    app.advance(3601);
    assert_eq!(forgot(&app, &unique_nip()).await.0, 200);
    // IPv6 counts per /64: a new address from the same block for every request does not help.
    use gerbang::ops::forgot::{request, Requested};
    let t = app.state.now();
    for i in 1..=gerbang::ops::forgot::PER_ADDRESS {
        let r = request(&app.state, &unique_nip(), &format!("2001:db8:9:1::{i:x}"), t).await;
        assert!(matches!(r, Requested::Accepted), "request {i}: {r:?}");
    }
    let r = request(&app.state, &unique_nip(), "2001:db8:9:1:abcd::1", t).await;
    assert!(matches!(r, Requested::TooMany { .. }), "the block's limit: {r:?}");
    let r = request(&app.state, &unique_nip(), "2001:db8:9:2::1", t).await;
    assert!(matches!(r, Requested::Accepted), "another /64: {r:?}");

    let plain = TestApp::spawn().await;
    let b = browser();
    let res = b.get(plain.url("/login/forgot")).header("accept-language", "en").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("not available") && html.contains("help desk") && !html.contains("name=\"identifier\""));
}

#[tokio::test]
async fn a_person_locked_out_by_failed_logins_signs_in_after_a_reset() {
    let app =
        TestApp::spawn_with(&[("GERBANG_LOGIN_MAX_FAILURES", "2"), ("GERBANG_LOGIN_LOCKOUT_SECONDS", "3600")]).await;
    let (nip, id) = staff(&app, "Terkunci Sementara", None, None).await;
    for _ in 0..4 {
        assert!(!logs_in(&app, &nip, "salah-sekali-sandinya").await);
    }
    assert!(!logs_in(&app, &nip, PASSWORD).await, "locked: even the right password is refused");
    let op = gerbang::ops::Principal::Operator(gerbang::ops::Operator::local());
    let account = op.parse_account_id(&id).unwrap();
    let link = gerbang::ops::reset::issue(&app.state, &op, &account, None, now()).await.unwrap();
    let (status, _) = follow(&browser(), link.url.as_deref().unwrap(), NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200);
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await, "the reset lifted the lockout");
}

/// A reset link handed out before the person changed their password (or before the address it
/// was mailed to stopped being theirs) is closed: whoever holds it cannot set the password again.
#[tokio::test]
async fn a_password_change_closes_the_reset_links_handed_out_before_it() {
    use crate::self_service::{page, post};
    let app = spawn(&[(LEVEL_ONE_ADMIN.0, LEVEL_ONE_ADMIN.1.into())]).await;
    let (boss_nip, _) = staff(&app, "Kepala Layanan", None, Some(DISKOMINFO_ADMIN)).await;
    let (nip, id) = staff(&app, "Rudi Hartono", None, None).await;
    let token = console_token(&app, &boss_nip).await;
    let (status, link) = ask(&app, &token, &id, None).await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().unwrap().to_string();
    // Whoever holds it opens the form before the change, and submits it after.
    let attacker = browser();
    let (status, html) = open(&attacker, &url).await;
    assert_eq!(status, 200, "open until the change");
    let attacker_csrf = hidden(&html, "csrf");

    let b = signed_in(&app, &nip).await;
    let csrf = hidden(&page(&b, &app, "/account/password").await, "csrf");
    let form = [
        ("csrf", csrf),
        ("current_password", PASSWORD.to_string()),
        ("new_password", NEW_PASSWORD.to_string()),
        ("repeat_password", NEW_PASSWORD.to_string()),
    ];
    assert_eq!(post(&b, &app, "/account/password", &form).await.status(), 303);
    let taken = "Dikuasai-Penyerang-77";
    let form = [("csrf", attacker_csrf.as_str()), ("password", taken), ("repeat", taken)];
    let res = attacker.post(&url).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 410, "the link closed with the password change");
    assert_eq!(open(&attacker, &url).await.0, 410);
    assert!(logs_in(&app, &nip, NEW_PASSWORD).await);
    assert!(!logs_in(&app, &nip, taken).await);
}
