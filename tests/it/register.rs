//! Citizen self-registration end to end: the form, the neutral answer, the mailed link, the
//! confirmation, login; refusals, throttles, and the race on one link.

use std::time::Duration;

use gerbang::auth::links;
use gerbang::identity::accounts;
use gerbang::oidc::clients::GrantType;
use gerbang::state::now;

use crate::common::*;
use crate::mailbox::{mailbox, smtp_settings, unique_address};

pub(crate) const PW: &str = "lembayung-senja-2026";

pub async fn register_app() -> TestApp {
    register_app_with(&[]).await
}

pub async fn register_app_with(extra: &[(&str, &str)]) -> TestApp {
    let mut settings = smtp_settings();
    settings.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    settings.push(("GERBANG_CITIZEN_REGISTRATION", "true".into()));
    settings.push(("GERBANG_TRUSTED_PROXIES", "127.0.0.1/32".into()));
    let s: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn_with(&s).await
}

/// A fresh client address per call, so tests do not spend each other's hourly budget.
pub fn unique_ip() -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    format!("10.{}.{}.{}", (n >> 16) as u8, (n >> 8) as u8, n as u8)
}

pub async fn submit(app: &TestApp, b: &reqwest::Client, ip: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let res = b.get(app.url("/register")).header("x-forwarded-for", ip).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let mut form = vec![("csrf".to_string(), hidden(&html, "csrf"))];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    b.post(app.url("/register")).header("x-forwarded-for", ip).form(&form).send().await.unwrap()
}

pub async fn register(app: &TestApp, b: &reqwest::Client, nik: &str, name: &str, email: &str) -> reqwest::Response {
    let f = [("nik", nik), ("name", name), ("email", email), ("password", PW), ("repeat", PW)];
    submit(app, b, &unique_ip(), &f).await
}

/// Registers, follows the mailed link and confirms; returns the new account's id.
pub async fn register_and_confirm(app: &TestApp, nik: &str, email: &str) -> String {
    let b = browser();
    let res = register(app, &b, nik, "Rina Warga", email).await;
    assert_eq!(res.status(), 200);
    let link = mailbox().only(email).await.link(&app.url("/register/confirm/")).expect("link");
    let page = b.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let res = b.post(&link).form(&[("csrf", hidden(&html, "csrf"))]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    accounts::find(&app.state.db, nik).await.unwrap().expect("account").id
}

pub async fn citizen_claims(app: &TestApp, c: &TestClient, nik: &str) -> Result<serde_json::Value, String> {
    let rp = app.rp(c).await;
    let start = start_auth(&rp, &["profile", "nik", "citizen_profile"]);
    let b = browser();
    let res = b.get(&start.url).send().await.unwrap();
    let html = res.text().await.unwrap();
    let res = b
        .post(app.url("/login"))
        .form(&[
            ("login_id", hidden(&html, "login_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", nik.to_string()),
            ("password", PW.to_string()),
        ])
        .send()
        .await
        .unwrap();
    if res.status() != 303 {
        return Err(format!("{} {}", res.status(), res.text().await.unwrap()));
    }
    let cb = location(&res);
    let t = redeem(&rp, &cb, start.verifier).await;
    use openidconnect::TokenResponse;
    Ok(jwt_payload(&t.id_token().expect("id token").to_string()))
}

pub async fn citizen_app(app: &TestApp, require_verified: bool) -> TestClient {
    app.client_where(&["openid", "profile", "nik", "citizen_profile"], &[GrantType::AuthorizationCode], |n| {
        n.first_party = true;
        n.require_verified = require_verified;
    })
    .await
}

#[tokio::test]
async fn registration_mail_confirm_and_login() {
    let app = register_app().await;
    let (nik, email) = (unique_nik(), unique_address());
    let b = browser();
    let res = register(&app, &b, &nik, "Rina Warga", &email).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("Periksa e-mail Anda"), "{body}");
    let mail = mailbox().only(&email).await;
    assert_eq!(mail.subject, "Selesaikan pendaftaran akun Anda");
    assert!(mail.body.contains("Rina Warga"));
    let link = mail.link(&app.url("/register/confirm/")).expect("link");
    // Opening the link (a mail scanner, a preview) takes nothing.
    for _ in 0..2 {
        let page = b.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Buat akun saya"));
    }
    assert!(accounts::find(&app.state.db, &nik).await.unwrap().is_none(), "no account before the button");
    let html = b.get(&link).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    // A forged form (no valid CSRF token) takes nothing either.
    let forged = b.post(&link).form(&[("csrf", "x")]).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let res = b.post(&link).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Akun Anda sudah dibuat"));
    let a = accounts::find(&app.state.db, &nik).await.unwrap().expect("account");
    assert_eq!(a.kind, accounts::AccountKind::Citizen);
    assert_eq!(a.name, "Rina Warga");
    assert_eq!(a.verified_email(), Some(email.as_str()));
    assert_eq!(a.locale.as_deref(), Some("id"));
    assert!(a.profile.get("verified").is_none());
    // Used now: 410 and a page saying so, on GET and POST.
    let again = b.post(&link).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains("Tautan ini sudah dipakai"));
    assert_eq!(b.get(&link).send().await.unwrap().status(), 410);
    // Login works; the person is not identity-verified.
    let c = citizen_app(&app, false).await;
    let claims = citizen_claims(&app, &c, &nik).await.expect("login");
    assert_eq!(claims["verified"], false);
    assert_eq!(claims["nik"], nik.as_str());
    // The account page says so, and where to go.
    let me = crate::self_service::signed_in_with(&app, &nik, PW).await;
    let html = crate::self_service::page(&me, &app, "/account").await;
    assert!(
        html.contains("Belum diverifikasi di loket. Untuk verifikasi, bawa KTP-el Anda ke loket Disdukcapil"),
        "{html}"
    );
    let audit = gerbang::audit::list(&app.state.db, 50, Some(&a.id)).await.unwrap();
    assert!(audit.iter().any(|r| r.kind == "account.registered"));
}

#[tokio::test]
async fn an_existing_nik_gets_the_same_answer_and_its_holder_is_told() {
    let app = register_app().await;
    let holder_nik = unique_nik();
    let holder = app.citizen(&holder_nik, "Pemilik Asli").await;
    let holder_mail = unique_address();
    gerbang::store::accounts::set_email(&app.state.db, &holder.id, Some(&holder_mail), true, now()).await.unwrap();
    let (attacker, fresh) = (unique_address(), unique_address());
    let taken = register(&app, &browser(), &holder_nik, "Orang Lain", &attacker).await;
    let new = register(&app, &browser(), &unique_nik(), "Orang Lain", &fresh).await;
    assert_eq!(taken.status(), new.status());
    assert_eq!(taken.text().await.unwrap(), new.text().await.unwrap(), "identical answers");
    let warn = mailbox().only(&holder_mail).await;
    assert_eq!(warn.subject, "Percobaan pendaftaran dengan NIK Anda");
    assert!(warn.body.contains("/login/forgot"));
    assert!(!warn.body.contains("/register/confirm/"));
    mailbox().only(&fresh).await;
    assert!(mailbox().after(&attacker, Duration::from_secs(2)).await.is_empty(), "nothing to the requester");
    let found = accounts::search(&app.state.db, &holder_nik, 10).await.unwrap();
    assert_eq!(found.len(), 1, "never a second account");
    // Audited, with what happened, never the password's hash.
    let rows = gerbang::audit::list(&app.state.db, 100, None).await.unwrap();
    let requested: Vec<_> = rows.iter().filter(|r| r.kind == "registration.requested").collect();
    assert_eq!(requested.len(), 2, "{requested:?}");
    assert!(
        requested.iter().any(|r| r.detail.contains("\"exists\""))
            && requested.iter().any(|r| r.detail.contains("\"link\""))
    );
    assert!(requested.iter().all(|r| !r.detail.contains("argon2") && r.ip.starts_with("10.")));
    // A holder without a verified address: still the same answer, and no mail to anyone.
    let quiet_nik = unique_nik();
    app.citizen(&quiet_nik, "Tanpa Surel").await;
    let other = unique_address();
    let res = register(&app, &browser(), &quiet_nik, "Orang Lain", &other).await;
    assert_eq!(res.status(), 200);
    assert!(mailbox().after(&other, Duration::from_secs(1)).await.is_empty());
}

/// Registering someone else's NIK over and over, from ever new client and mail addresses, does
/// not turn Gerbang into a mail bomb: its holder is told a few times a day, and the registrant
/// gets the same answer every time.
#[tokio::test]
async fn a_taken_niks_holder_is_told_only_a_few_times_a_day() {
    let app = register_app().await;
    let holder_nik = unique_nik();
    let holder = app.citizen(&holder_nik, "Pemilik Asli").await;
    let holder_mail = unique_address();
    gerbang::store::accounts::set_email(&app.state.db, &holder.id, Some(&holder_mail), true, now()).await.unwrap();
    let answer = |res: reqwest::Response| async move { (res.status(), res.text().await.unwrap()) };
    let fresh = answer(register(&app, &browser(), &unique_nik(), "Orang Lain", &unique_address()).await).await;
    let limit = gerbang::ops::registration::NOTICES_PER_HOLDER as usize;
    for i in 0..limit + 3 {
        // A new client address (see `register`) and a new registrant address each time.
        let res = register(&app, &browser(), &holder_nik, "Orang Lain", &unique_address()).await;
        assert_eq!(answer(res).await, fresh, "registration {i}: the same answer as for a new NIK");
    }
    mailbox().wait_for(&holder_mail, limit).await;
    let told = mailbox().after(&holder_mail, Duration::from_secs(2)).await;
    assert_eq!(told.len(), limit, "{limit} notices a day, not one per registration");
    assert!(told.iter().all(|m| m.subject == "Percobaan pendaftaran dengan NIK Anda"));
    let rows = gerbang::audit::list(&app.state.db, 100, None).await.unwrap();
    let outcomes: Vec<_> = rows.iter().filter(|r| r.kind == "registration.requested").map(|r| &r.detail).collect();
    assert_eq!(outcomes.iter().filter(|d| d.contains("\"exists_throttled\"")).count(), 3, "{outcomes:?}");
    // The next day the holder is told again.
    app.advance(24 * 3600 + 1);
    assert_eq!(register(&app, &browser(), &holder_nik, "Orang Lain", &unique_address()).await.status(), 200);
    mailbox().wait_for(&holder_mail, limit + 1).await;
}

#[tokio::test]
async fn invalid_fields_are_named() {
    let app = register_app().await;
    let b = browser();
    let email = unique_address();
    let cases: &[(&str, &str, &str, &str)] = &[
        ("35090142039", "Rina", PW, "NIK harus terdiri dari 16 digit (ditemukan 11 digit)"),
        ("3599014203900001", "Rina", PW, "35.99 pada NIK tidak ditemukan dalam data wilayah"),
        ("3509013102900001", "Rina", PW, "Digit 7-12 NIK harus berupa tanggal lahir yang ada di kalender"),
        ("3509014203900001", "Rina", "1234567890", "kata sandi yang umum"),
        ("3509014203900001", "", PW, "Nama wajib diisi"),
    ];
    for (nik, name, pw, expected) in cases {
        let f = [("nik", *nik), ("name", *name), ("email", email.as_str()), ("password", *pw), ("repeat", *pw)];
        let res = submit(&app, &b, &unique_ip(), &f).await;
        assert_eq!(res.status(), 422, "{nik}");
        let html = res.text().await.unwrap();
        assert!(html.contains(expected), "{expected}: {html}");
        assert!(html.contains(&format!("value=\"{email}\"")), "the form keeps what was typed");
        assert!(!html.contains(PW), "never echoes a password");
    }
    let f =
        [("nik", "3509014203900001"), ("name", "Rina"), ("email", "bukan-surel"), ("password", PW), ("repeat", "lain")];
    let html = submit(&app, &b, &unique_ip(), &f).await.text().await.unwrap();
    assert!(html.contains("Masukkan alamat e-mail yang benar"));
    let f = [
        ("nik", "3509014203900001"),
        ("name", "Rina"),
        ("email", email.as_str()),
        ("password", PW),
        ("repeat", "lain-lagi-sekali"),
    ];
    let res = submit(&app, &b, &unique_ip(), &f).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Kedua kata sandi tidak sama"));
    assert!(mailbox().after(&email, Duration::from_secs(1)).await.is_empty());
    // English on request.
    let res = b.get(app.url("/register")).header("accept-language", "en").send().await.unwrap();
    assert!(res.text().await.unwrap().contains("Citizen registration"));
}

#[tokio::test]
async fn registration_off_or_without_mail() {
    let off = TestApp::spawn().await;
    let res = browser().get(off.url("/register")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let token = "a".repeat(43);
    assert_eq!(browser().get(off.url(&format!("/register/confirm/{token}"))).send().await.unwrap().status(), 404);
    // The login page offers registration only where it works.
    let c = crate::register::citizen_app(&off, false).await;
    let start = start_auth(&off.rp(&c).await, &["profile"]);
    assert!(!browser().get(&start.url).send().await.unwrap().text().await.unwrap().contains("id=\"register-link\""));
    let on = register_app().await;
    let c = citizen_app(&on, false).await;
    let start = start_auth(&on.rp(&c).await, &["profile"]);
    assert!(browser().get(&start.url).send().await.unwrap().text().await.unwrap().contains("id=\"register-link\""));
    let no_mail = TestApp::spawn_with(&[("GERBANG_CITIZEN_REGISTRATION", "true")]).await;
    let res = browser().get(no_mail.url("/register")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Pendaftaran memerlukan e-mail"), "{html}");
    assert!(!html.contains("name=\"password\""));
}

#[tokio::test]
async fn throttled_per_address_and_per_email() {
    let app = register_app().await;
    let b = browser();
    let ip = unique_ip();
    for i in 0..6 {
        let email = unique_address();
        let f = [
            ("nik", unique_nik()),
            ("name", "Rina".into()),
            ("email", email.clone()),
            ("password", PW.into()),
            ("repeat", PW.into()),
        ];
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = submit(&app, &b, &ip, &f).await;
        if i < 5 {
            assert_eq!(res.status(), 200, "registration {i}");
        } else {
            assert_eq!(res.status(), 429);
            let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!(wait > 3500 && wait <= 3600, "{wait}");
            assert!(res.text().await.unwrap().contains("Terlalu banyak pendaftaran"));
        }
    }
    // Per address of mail: the fourth in a day is answered the same, and not sent.
    let email = unique_address();
    for _ in 0..4 {
        let res = register(&app, &browser(), &unique_nik(), "Rina", &email).await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("Periksa e-mail Anda"));
    }
    mailbox().wait_for(&email, 3).await;
    assert_eq!(mailbox().after(&email, Duration::from_secs(2)).await.len(), 3);
}

#[tokio::test]
async fn one_link_confirmed_by_twenty_requests_makes_one_account() {
    let app = register_app().await;
    let (nik, email) = (unique_nik(), unique_address());
    let b = browser();
    assert_eq!(register(&app, &b, &nik, "Rina Warga", &email).await.status(), 200);
    let link = mailbox().only(&email).await.link(&app.url("/register/confirm/")).unwrap();
    let html = b.get(&link).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    let statuses = post_concurrently(&b, &link, &[("csrf", &csrf)], 20).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 410).count(), 19, "{statuses:?}");
    assert_eq!(accounts::search(&app.state.db, &nik, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn forged_and_expired_links_are_explained() {
    let app = register_app().await;
    let b = browser();
    for bad in ["a".repeat(43), "pendek".into(), "%3Cscript%3E".into()] {
        let res = b.get(app.url(&format!("/register/confirm/{bad}"))).send().await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        let html = res.text().await.unwrap();
        assert!(html.contains("Tautan ini tidak dikenal"));
        assert!(!html.contains("<script>"));
    }
    let (nik, email) = (unique_nik(), unique_address());
    assert_eq!(register(&app, &b, &nik, "Rina Warga", &email).await.status(), 200);
    let link = mailbox().only(&email).await.link(&app.url("/register/confirm/")).unwrap();
    let html = b.get(&link).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    app.advance(links::LIFETIME + 1);
    let res = b.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("sudah kedaluwarsa"));
    let res = b.post(&link).form(&[("csrf", csrf)]).send().await.unwrap();
    assert_eq!(res.status(), 410);
    assert!(accounts::find(&app.state.db, &nik).await.unwrap().is_none());
}

#[tokio::test]
async fn a_nik_registered_meanwhile_makes_no_second_account() {
    let app = register_app().await;
    let (nik, email) = (unique_nik(), unique_address());
    let b = browser();
    assert_eq!(register(&app, &b, &nik, "Rina Warga", &email).await.status(), 200);
    let link = mailbox().only(&email).await.link(&app.url("/register/confirm/")).unwrap();
    let html = b.get(&link).send().await.unwrap().text().await.unwrap();
    let officer_made = app.citizen(&nik, "Dibuat Petugas").await;
    let res = b.post(&link).form(&[("csrf", hidden(&html, "csrf"))]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("NIK ini sudah terdaftar") && html.contains("&#x2f;login&#x2f;forgot"), "{html}");
    let found = accounts::search(&app.state.db, &nik, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, officer_made.id);
}
