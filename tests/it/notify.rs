//! Security notices: each reaches the person's verified address in their language, says what
//! to do if it was not them, carries no secret, and nothing goes to an unproven address.

use std::time::Duration;

use gerbang::oidc::clients::GrantType;
use gerbang::state::now;
use gerbang::store::accounts as account_store;
use serde_json::json;

use crate::common::*;
use crate::mailbox::{mailbox, smtp_settings, unique_address, Mail};
use crate::self_service::{enrol, page, post, signed_in};

async fn with_mail(extra: &[(&str, &str)]) -> TestApp {
    let settings = smtp_settings();
    let mut pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend_from_slice(extra);
    TestApp::spawn_with(&pairs).await
}

/// A civil servant whose address is `verified` or not; returns the NIP, id and address.
async fn person(app: &TestApp, verified: bool) -> (String, String, String) {
    let nip = unique_nip();
    let a = app.asn(&nip, "Sari").await;
    let to = unique_address();
    account_store::set_email(&app.state.db, &a.id, Some(&to), verified, now()).await.unwrap();
    (nip, a.id, to)
}

/// A browser on Windows, as a person would use.
fn windows_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36")
        .build()
        .unwrap()
}

/// A full login at an application from browser `b`, asking for a fresh password even when it
/// holds a session; returns the Set-Cookie headers of the login response.
async fn sign_in(app: &TestApp, b: &reqwest::Client, nip: &str) -> Vec<String> {
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let url = format!("{}&prompt=login", start_auth(&app.rp(&c).await, &[]).url);
    let html = b.get(&url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(app, b, &html, nip, PASSWORD).await;
    assert_eq!(res.status(), 303, "signed in");
    res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

fn assert_plain(mail: &Mail) {
    assert!(mail.body.contains("help desk") || mail.body.contains("ganti kata sandi"), "what to do: {}", mail.body);
    assert!(!mail.body.contains("/reset/") && !mail.body.contains("/verify-email/"), "no links: {}", mail.body);
    assert!(!mail.body.contains(PASSWORD));
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_told_and_a_known_one_is_not() {
    let app = with_mail(&[]).await;
    let (nip, _, to) = person(&app, true).await;
    let laptop = windows_browser();
    let cookies = sign_in(&app, &laptop, &nip).await;
    let device = cookies.iter().find(|c| c.starts_with("gerbang_device=")).expect("device cookie");
    assert!(
        device.contains("HttpOnly") && device.contains("SameSite=Lax") && device.contains("Max-Age=34560000"),
        "{device}"
    );
    assert!(mailbox().after(&to, Duration::from_millis(300)).await.is_empty(), "the first device ever is silent");

    // Another browser without the cookie: told, with the device named.
    sign_in(&app, &windows_browser(), &nip).await;
    let mail = mailbox().only(&to).await;
    assert_eq!(mail.subject, "Masuk dari perangkat baru");
    assert!(mail.body.contains("(Chrome · Windows)"), "{}", mail.body);
    assert_plain(&mail);
    // The same laptop again, and again: nothing new.
    sign_in(&app, &laptop, &nip).await;
    sign_in(&app, &laptop, &nip).await;
    assert_eq!(mailbox().after(&to, Duration::from_millis(300)).await.len(), 1);
    // A forged device cookie is just another new device.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("gerbang_device={}", "A".repeat(43)), &reqwest::Url::parse(&app.base).unwrap());
    let forged =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_provider(jar).build().unwrap();
    sign_in(&app, &forged, &nip).await;
    assert_eq!(mailbox().wait_for(&to, 2).await.len(), 2);
}

#[tokio::test]
async fn nothing_goes_to_an_unproven_address() {
    let app = with_mail(&[]).await;
    let (nip, _, to) = person(&app, false).await;
    sign_in(&app, &windows_browser(), &nip).await;
    let b = signed_in(&app, &nip).await;
    enrol(&app, &b).await;
    assert!(mailbox().after(&to, Duration::from_millis(500)).await.is_empty());
}

#[tokio::test]
async fn password_and_factor_changes_are_told() {
    let app = with_mail(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (nip, id, to) = person(&app, true).await;
    let b = signed_in(&app, &nip).await;
    let mut expected = 0;
    let mut next = |subject: &'static str, text: &'static str| {
        expected += 1;
        let (to, n) = (to.clone(), expected);
        async move {
            let mails = mailbox().wait_for(&to, n).await;
            assert_eq!(mails.len(), n, "one message per change");
            let mail = mails.last().unwrap().clone();
            assert_eq!(mail.subject, subject);
            assert!(mail.body.contains(text), "{}", mail.body);
            assert_plain(&mail);
        }
    };
    enrol(&app, &b).await;
    next("Faktor kedua ditambahkan", "aplikasi autentikator").await;
    let csrf = hidden(&page(&b, &app, "/account/password").await, "csrf");
    assert_eq!(post(&b, &app, "/account/recovery", &[("csrf", csrf.clone())]).await.status(), 200);
    next("Faktor kedua ditambahkan", "kode pemulihan baru").await;
    assert_eq!(post(&b, &app, "/account/totp/remove", &[("csrf", csrf.clone())]).await.status(), 303);
    next("Faktor kedua dihapus", "aplikasi autentikator").await;
    let form = [
        ("csrf", csrf.clone()),
        ("current_password", PASSWORD.to_string()),
        ("new_password", "sandi-baru-yang-kuat".to_string()),
        ("repeat_password", "sandi-baru-yang-kuat".to_string()),
    ];
    assert_eq!(post(&b, &app, "/account/password", &form).await.status(), 303);
    next("Kata sandi Anda diubah", "diubah pada").await;

    // An administrator's reset of every factor, in the person's language (English here).
    account_store::set_locale(&app.state.db, &id, "en").await.unwrap();
    let (admin_nip, _) = staff(&app, "Admin", None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &admin_nip).await;
    let res = http_client()
        .post(app.url(&format!("/admin/api/v1/accounts/{id}/factor-reset")))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    next("A second factor was removed", "all second factors (reset by an administrator)").await;
}

#[tokio::test]
async fn a_lockout_is_told_once() {
    let app = with_mail(&[("GERBANG_LOGIN_MAX_FAILURES", "3")]).await;
    let (nip, _, to) = person(&app, true).await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let html = b.get(start_auth(&app.rp(&c).await, &[]).url).send().await.unwrap().text().await.unwrap();
    for _ in 0..6 {
        let res = submit_login(&app, &b, &html, &nip, "salah-sekali-1234").await;
        assert!(res.status() == 401 || res.status() == 429, "{}", res.status());
    }

    let mail = mailbox().only(&to).await;
    assert_eq!(mail.subject, "Akun Anda dikunci sementara");
    assert_plain(&mail);
    assert_eq!(mailbox().after(&to, Duration::from_millis(300)).await.len(), 1, "once per lockout");
}

#[tokio::test]
async fn notices_are_in_the_language_of_the_last_sign_in() {
    let app = with_mail(&[("GERBANG_LOGIN_MAX_FAILURES", "3")]).await;
    let (nip, id, to) = person(&app, true).await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let url = format!("{}&ui_locales=en", start_auth(&app.rp(&c).await, &[]).url);
    let b = browser();
    let html = b.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(submit_login(&app, &b, &html, &nip, PASSWORD).await.status(), 303);
    let a = gerbang::identity::accounts::get(&app.state.db, &id).await.unwrap().unwrap();
    assert_eq!(a.locale.as_deref(), Some("en"));
    let elsewhere = browser();
    let html = elsewhere.get(&url).send().await.unwrap().text().await.unwrap();
    // The notice goes with the first attempt refused unjudged. On a slow machine the growing
    // delay after each failure can run out before the next attempt, so all three are judged and
    // only the fourth is refused: four attempts tell once either way.
    for _ in 0..4 {
        submit_login(&app, &elsewhere, &html, &nip, "salah-sekali-1234").await;
    }
    let mail = mailbox().only(&to).await;
    assert_eq!(mail.subject, "Your account is locked for a while");
    assert!(mail.body.contains("Hello Sari,") && mail.body.contains("change your password"), "{}", mail.body);
}

/// Someone with the password guessing second-factor codes: the short lock pauses them, and on
/// its own would let them try again after every pause. At the fifth wrong code of the day the
/// person is told; after the day's twentieth even the right code is refused, until the password
/// is changed.
#[tokio::test]
async fn guessing_second_factor_codes_is_told_and_capped_for_the_day() {
    use gerbang::auth::totp;
    let app = with_mail(&[]).await;
    let (nip, id, to) = person(&app, true).await;
    let owner = signed_in(&app, &nip).await;
    let (st, t) = (&app.state, now());
    let enrolment = totp::start_enrolment(&st.db, &st.sealer, &id, &nip, "Gerbang", t).await.unwrap();
    let secret = data_encoding::BASE32_NOPAD.decode(enrolment.secret_base32.as_bytes()).unwrap();
    let code = |at: i64, offset: i64| format!("{:06}", totp::hotp(&secret, (totp::step_at(at) + offset) as u64));
    assert!(totp::confirm_enrolment(&st.db, &st.sealer, &id, &code(t, -1), t).await.unwrap());
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let second_step = |password: &'static str| {
        let (app, rp, nip) = (&app, &rp, nip.clone());
        async move {
            let b = browser();
            let html = b.get(start_auth(rp, &[]).url).send().await.unwrap().text().await.unwrap();
            let res = submit_login(app, &b, &html, &nip, password).await;
            assert_eq!(res.status(), 200);
            let html = res.text().await.unwrap();
            assert!(html.contains("name=\"code\""), "the second-factor page");
            (b, html)
        }
    };
    let wrong = |at: i64| {
        ["000000", "111111", "222222", "333333"].into_iter().find(|w| (-2..=2).all(|o| code(at, o) != *w)).unwrap()
    };
    for i in 0..20 {
        // Past the short lock's window each time: only the day's cap is left to stop them.
        app.advance(400);
        let (b, html) = second_step(PASSWORD).await;
        let res = crate::factors::otp(&app, &b, &html, "code", wrong(st.now())).await;
        assert_eq!(res.status(), 401, "wrong code {i}");
        if i == 4 {
            let mail = mailbox().only(&to).await;
            assert_eq!(mail.subject, "Kata sandi Anda dipakai, tetapi kodenya salah");
            assert!(mail.body.contains("ganti kata sandi"), "{}", mail.body);
        }
    }
    assert_eq!(mailbox().after(&to, Duration::from_millis(300)).await.len(), 1, "told once");
    app.advance(400);
    let (b, html) = second_step(PASSWORD).await;
    let res = crate::factors::otp(&app, &b, &html, "code", &code(st.now(), 0)).await;
    assert_eq!(res.status(), 429, "the day's cap: even the right code waits");

    // The owner, signed in elsewhere, changes the password: the guesser's count goes with it.
    let csrf = hidden(&page(&owner, &app, "/account/password").await, "csrf");
    let form = [
        ("csrf", csrf),
        ("current_password", PASSWORD.to_string()),
        ("new_password", "Sandi-Baru-Sekali-42".to_string()),
        ("repeat_password", "Sandi-Baru-Sekali-42".to_string()),
    ];
    assert_eq!(post(&owner, &app, "/account/password", &form).await.status(), 303);
    let (b, html) = second_step("Sandi-Baru-Sekali-42").await;
    let res = crate::factors::otp(&app, &b, &html, "code", &code(st.now(), 1)).await;
    assert_eq!(res.status(), 303, "a new password, a new day's count");
}
