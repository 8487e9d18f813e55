//! Second factors through the browser-facing pages: enrolling an authenticator on the account
//! page, logging in with a one-time code (level 2), replay refusal, recovery codes, step-up, and
//! the password change.

use gerbang::auth::totp;
use gerbang::oidc::clients::{self, GrantType, NewClient};
use gerbang::state::now;
use openidconnect::TokenResponse;
use serde_json::{json, Value};

use crate::common::*;

pub(crate) fn code_now(secret_b32: &str, offset_steps: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD.decode(secret_b32.as_bytes()).expect("base32");
    format!("{:06}", totp::hotp(&secret, (totp::step_at(now()) + offset_steps) as u64))
}

/// An authenticator enrolled for the account (`nip`, `account_id`) and a browser at the
/// second-factor page of a login whose password step passed: (the secret in base32, the
/// browser, the page).
pub(crate) async fn at_second_step(app: &TestApp, nip: &str, account_id: &str) -> (String, reqwest::Client, String) {
    let (st, t) = (&app.state, now());
    let enrolment = totp::start_enrolment(&st.db, &st.sealer, account_id, nip, "Gerbang", t).await.unwrap();
    let secret = enrolment.secret_base32;
    assert!(totp::confirm_enrolment(&st.db, &st.sealer, account_id, &code_now(&secret, -1), t).await.unwrap());
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let html = b.get(start_auth(&app.rp(&c).await, &[]).url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(app, &b, &html, nip, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"code\""), "the second-factor page");
    (secret, b, html)
}

fn text_of(html: &str, marker: &str) -> String {
    let start = html.find(marker).unwrap_or_else(|| panic!("{marker} not in page")) + marker.len();
    html[start..start + html[start..].find('<').unwrap()].trim().to_string()
}

/// Logs `b` into the account page and enrols an authenticator; returns its secret and the
/// recovery codes shown once.
pub(crate) async fn enrol(app: &TestApp, b: &reqwest::Client, login_id: &str) -> (String, Vec<String>) {
    let res = b.get(app.url("/account")).send().await.unwrap();
    if res.status() == 303 {
        let back = login(app, b, &location(&res), login_id, PASSWORD).await;
        assert!(back.starts_with(&app.url("/account")), "{back}");
    }
    let page = b.get(app.url("/account/totp")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.replace("&#x2f;", "/").contains("data:image/svg+xml;base64,"), "QR code rendered on the server");
    let secret = text_of(&html, "id=\"secret\">");
    let res = b
        .post(app.url("/account/totp"))
        .form(&[("csrf", hidden(&html, "csrf")), ("code", "000000".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a wrong first code does not enrol");
    let res = b
        .post(app.url("/account/totp"))
        .form(&[("csrf", hidden(&html, "csrf")), ("code", code_now(&secret, 0))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let codes_page = res.text().await.unwrap();
    let codes: Vec<String> =
        codes_page.split("<li>").skip(1).map(|s| s[..s.find('<').unwrap()].trim().to_string()).collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn password_step(app: &TestApp, b: &reqwest::Client, auth_url: &str, login_id: &str) -> String {
    let html = b.get(auth_url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(app, b, &html, login_id, PASSWORD).await;
    assert_eq!(res.status(), 200, "the second step follows the password");
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"code\""));
    html
}

pub(crate) async fn otp(app: &TestApp, b: &reqwest::Client, html: &str, field: &str, value: &str) -> reqwest::Response {
    b.post(app.url("/login/otp"))
        .form(&[("login_id", hidden(html, "login_id")), ("csrf", hidden(html, "csrf")), (field, value.to_string())])
        .send()
        .await
        .unwrap()
}

async fn id_claims(app: &TestApp, c: &TestClient, start: AuthStart, callback: &str) -> Value {
    let rp = app.rp(c).await;
    let t = redeem(&rp, callback, start.verifier).await;
    jwt_payload(&t.id_token().unwrap().to_string())
}

#[tokio::test]
async fn one_time_codes_give_level_two_once_each_and_recovery_codes_work_once() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Dua Langkah").await;
    let (secret, codes) = enrol(&app, &browser(), &nip).await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;

    let b = browser();
    let start = start_auth(&rp, &[]);
    let html = password_step(&app, &b, &start.url, &nip).await;
    let res = otp(&app, &b, &html, "code", "123456").await;
    assert_eq!(res.status(), 401);
    // The next step's code: accepted (one step of clock drift), and then spent.
    let code = code_now(&secret, 1);
    let res = otp(&app, &b, &res.text().await.unwrap(), "code", &code).await;
    assert_eq!(res.status(), 303);
    let claims = id_claims(&app, &c, start, &location(&res)).await;
    assert_eq!(claims["acr"], "urn:gerbang:loa:2");
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["security_level"], 2);

    // An expired code (two steps old), checked at an injected time against the stored factor.
    let account = gerbang::identity::accounts::find(&app.state.db, &nip).await.unwrap().unwrap();
    let later = now() + 4 * totp::STEP_SECONDS;
    let (db, sealer) = (&app.state.db, &app.state.sealer);
    assert!(
        !totp::verify(db, sealer, &account.id, &code_now(&secret, 2), later).await.unwrap(),
        "two steps old: expired"
    );
    assert!(
        totp::verify(db, sealer, &account.id, &code_now(&secret, 4), later).await.unwrap(),
        "the current code at that time works"
    );
    let b2 = browser();
    let html = password_step(&app, &b2, &start_auth(&rp, &[]).url, &nip).await;
    let res = otp(&app, &b2, &html, "code", &code).await;
    assert_eq!(res.status(), 401, "a code is accepted once (replay refused)");
    let res = otp(&app, &b2, &html, "code", &code_now(&secret, -1)).await;
    assert_eq!(res.status(), 401, "an earlier step than the last one used is refused too");

    // A recovery code: level 1 only, and single use.
    let b3 = browser();
    let start = start_auth(&rp, &[]);
    let html = password_step(&app, &b3, &start.url, &nip).await;
    let res = otp(&app, &b3, &html, "recovery_code", &codes[0].to_uppercase()).await;
    assert_eq!(res.status(), 200, "asked to enrol again before going on");
    let notice = res.text().await.unwrap().replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(notice.contains("href=\"/account\""));
    let cont = notice
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.starts_with(&c.redirect_uri))
        .expect("continue link")
        .to_string();
    let claims = id_claims(&app, &c, start, &cont).await;
    assert_eq!(claims["acr"], "urn:gerbang:loa:1");
    let b4 = browser();
    let html = password_step(&app, &b4, &start_auth(&rp, &[]).url, &nip).await;
    assert_eq!(otp(&app, &b4, &html, "recovery_code", &codes[0]).await.status(), 401);
    let page = b3.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(": 9."), "nine codes left");
}

#[tokio::test]
async fn an_application_requiring_level_two_steps_a_password_session_up() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Naik Level").await;
    let basic = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let redirect = format!("https://keu-{}.example.go.id/cb", uuid::Uuid::new_v4().simple());
    let mut n =
        NewClient::web("Keuangan", vec![redirect.clone()], vec!["openid".into()], vec![GrantType::AuthorizationCode]);
    n.min_level = 2;
    let (k, secret) = clients::register(&app.state.db, &app.state.redirect_policy, n, now()).await.unwrap();
    let strict = TestClient {
        id: k.id,
        secret: secret.map(|s| s.expose().clone()),
        redirect_uri: redirect,
        post_logout_uri: String::new(),
    };

    let b = browser();
    // Without an authenticator the level cannot be reached: a clear refusal.
    let cb = login(&app, &b, &start_auth(&app.rp(&basic).await, &[]).url, &nip, PASSWORD).await;
    assert!(query(&cb).contains_key("code"));
    let res = b.get(&start_auth(&app.rp(&strict).await, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("verifikasi dua langkah"));

    // Enrol in the same browser (the level-1 session), then step up.
    let before = totp::step_at(now());
    let (secret, codes) = enrol(&app, &b, &nip).await;
    let start = start_auth(&app.rp(&strict).await, &[]);
    let res = b.get(&start.url).send().await.unwrap();
    assert_eq!(res.status(), 200, "asked for the code, not the password");
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"code\"") && !html.contains("name=\"password\""));
    // The code that confirmed the enrolment is spent (its step, `before` or later, was used; a
    // 30-second boundary passing meanwhile changes nothing), and so is every earlier one; the
    // next one works.
    let secret_bytes = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).expect("base32");
    let spent = format!("{:06}", totp::hotp(&secret_bytes, before as u64));
    assert_eq!(otp(&app, &b, &html, "code", &spent).await.status(), 401);
    let res = otp(&app, &b, &html, "code", &code_now(&secret, 1)).await;
    assert_eq!(res.status(), 303);
    let claims = id_claims(&app, &strict, start, &location(&res)).await;
    assert_eq!(claims["acr"], "urn:gerbang:loa:2");
    // A recovery-code login is level 1; prompt=none cannot step it up: interaction is required.
    let b2 = browser();
    let html = password_step(&app, &b2, &start_auth(&app.rp(&basic).await, &[]).url, &nip).await;
    assert_eq!(otp(&app, &b2, &html, "recovery_code", &codes[1]).await.status(), 200, "the re-enrol notice");
    let res = b2.get(format!("{}&prompt=none", start_auth(&app.rp(&strict).await, &[]).url)).send().await.unwrap();
    assert_eq!(query(&location(&res))["error"], "interaction_required");
}

#[tokio::test]
async fn password_change_checks_the_current_password_and_the_policy() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Ganti Kunci").await;
    let b = browser();
    let res = b.get(app.url("/account")).send().await.unwrap();
    login(&app, &b, &location(&res), &nip, PASSWORD).await;
    let html = b.get(app.url("/account/password")).send().await.unwrap().text().await.unwrap();
    let post = |current: &str, new: &str, repeat: &str| {
        b.post(app.url("/account/password"))
            .form(&[
                ("csrf", hidden(&html, "csrf")),
                ("current_password", current.into()),
                ("new_password", new.into()),
                ("repeat_password", repeat.into()),
            ])
            .send()
    };
    assert_eq!(post("salah-sekali-1234", "sandi-baru-yang-kuat", "sandi-baru-yang-kuat").await.unwrap().status(), 400);
    assert_eq!(post(PASSWORD, "sandi-baru-yang-kuat", "sandi-baru-yang-lain").await.unwrap().status(), 400);
    let res = post(PASSWORD, "1234567890", "1234567890").await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("paling sering"), "explains the common-password rule");
    let res = post(PASSWORD, "sandi-baru-yang-kuat", "sandi-baru-yang-kuat").await.unwrap();
    assert_eq!(res.status(), 303);
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let b2 = browser();
    let html = b2.get(&start_auth(&rp, &[]).url).send().await.unwrap().text().await.unwrap();
    assert_eq!(submit_login(&app, &b2, &html, &nip, PASSWORD).await.status(), 401, "the old password no longer works");
    assert!(query(&login(&app, &browser(), &start_auth(&rp, &[]).url, &nip, "sandi-baru-yang-kuat").await)
        .contains_key("code"));
    // Forged form without CSRF token.
    let res = b.post(app.url("/account/password")).form(&[("current_password", "x")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn people_see_their_sessions_and_can_end_one() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Dua Perangkat").await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let laptop = browser();
    let phone = browser();
    let res = laptop.get(app.url("/account")).send().await.unwrap();
    login(&app, &laptop, &location(&res), &nip, PASSWORD).await;
    login(&app, &phone, &start_auth(&rp, &[]).url, &nip, PASSWORD).await;
    let page = laptop.get(app.url("/account")).send().await.unwrap().text().await.unwrap().replace("&#x2f;", "/");
    let items: Vec<(String, bool)> = page
        .split("<li class=\"keys__item\">")
        .filter(|li| li.contains("/account/sessions/"))
        .map(|li| {
            let at = li.find("/account/sessions/").unwrap() + "/account/sessions/".len();
            (li[at..at + li[at..].find('/').unwrap()].to_string(), li.contains("perangkat ini"))
        })
        .collect();
    assert_eq!(items.len(), 2, "both sessions are listed");
    assert_eq!(items.iter().filter(|(_, current)| *current).count(), 1, "the current one is marked");
    // End the other one (the phone's): confirmation first, then the phone has to log in again.
    let other = items.iter().find(|(_, current)| !current).unwrap().0.clone();
    let confirm = laptop
        .get(app.url(&format!("/account/sessions/{other}/end")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        confirm.contains("href=\"/account\"") && confirm.contains("name=\"csrf\""),
        "a confirmation with a way to cancel"
    );
    let res = laptop
        .post(app.url(&format!("/account/sessions/{other}/end")))
        .form(&[("csrf", hidden(&confirm, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let silent = |b: &reqwest::Client| b.get(format!("{}&prompt=none", start_auth(&rp, &[]).url)).send();
    let phone_res = silent(&phone).await.unwrap();
    let laptop_res = silent(&laptop).await.unwrap();
    assert_eq!(query(&location(&phone_res))["error"], "login_required", "the phone must log in again");
    assert!(query(&location(&laptop_res)).contains_key("code"), "the laptop keeps its session");
}

/// Loading the enrolment page has no side effect on what is being scanned: a reload, a second
/// tab or a prefetch shows the same secret, and a code from it confirms.
#[tokio::test]
async fn the_enrolment_page_shows_one_secret_until_it_is_confirmed() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Dua Tab").await;
    let b = crate::self_service::signed_in(&app, &nip).await;
    let first = b.get(app.url("/account/totp")).send().await.unwrap().text().await.unwrap();
    let second = b.get(app.url("/account/totp")).send().await.unwrap().text().await.unwrap();
    // Five more at once (tabs restored together): still the one secret.
    let loads: Vec<_> = (0..5)
        .map(|_| {
            let (b, url) = (b.clone(), app.url("/account/totp"));
            tokio::spawn(async move { b.get(url).send().await.unwrap().text().await.unwrap() })
        })
        .collect();
    let secret = text_of(&first, "id=\"secret\">");
    assert_eq!(text_of(&second, "id=\"secret\">"), secret, "a reload shows the same secret");
    for load in loads {
        assert_eq!(text_of(&load.await.unwrap(), "id=\"secret\">"), secret);
    }
    // The first tab's form, with a code from the secret it showed.
    let form = [("csrf", hidden(&first, "csrf")), ("code", code_now(&secret, 0))];
    let res = b.post(app.url("/account/totp")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200, "enrolled with the secret first shown");
    let id = gerbang::identity::accounts::find(&app.state.db, &nip).await.unwrap().unwrap().id;
    assert!(totp::is_enrolled(&app.state.db, &id).await.unwrap());
    let res = b.post(app.url("/account/totp")).form(&form).send().await.unwrap();
    assert_ne!(res.status(), 200, "confirmed once");
    assert_eq!(location(&b.get(app.url("/account/totp")).send().await.unwrap()), "/account", "enrolled already");
}

/// A pending enrolment lives `totp::PENDING_SECONDS`: until then every start shows its secret;
/// after it a start makes a new one, and neither the stale secret nor a replaced one confirms.
#[tokio::test]
async fn a_pending_enrolment_is_kept_while_fresh_and_replaced_once_stale() {
    let app = TestApp::spawn().await;
    let (st, t) = (&app.state, now());
    let id = app.asn(&unique_nip(), "Enrolmen Basi").await.id;
    let start = |at: i64| totp::start_enrolment(&st.db, &st.sealer, &id, "Enrolmen Basi", "Gerbang", at);
    let code_at = |secret: &str, at: i64| {
        let secret = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
        format!("{:06}", totp::hotp(&secret, totp::step_at(at) as u64))
    };
    let old = start(t).await.unwrap().secret_base32;
    let fresh_until = t + totp::PENDING_SECONDS - 1;
    assert_eq!(start(fresh_until).await.unwrap().secret_base32, old, "fresh: the same secret");
    let stale = t + totp::PENDING_SECONDS;
    let confirm = |code: String, at: i64| {
        let (st, id) = (app.state.clone(), id.clone());
        async move { totp::confirm_enrolment(&st.db, &st.sealer, &id, &code, at).await.unwrap() }
    };
    assert!(!confirm(code_at(&old, stale), stale).await, "a stale enrolment does not confirm");
    let new = start(stale).await.unwrap().secret_base32;
    assert_ne!(new, old, "stale: a new secret");
    assert!(!confirm(code_at(&old, stale), stale).await, "the replaced secret does not confirm");
    assert!(confirm(code_at(&new, stale), stale).await);
    assert!(!confirm(code_at(&new, stale), stale).await, "once");
    assert!(matches!(start(stale).await, Err(totp::TotpError::Enrolled)), "enrolled: nothing starts");
}

/// The enrolment form in `b`: the page and the secret it shows.
async fn totp_page(app: &TestApp, b: &reqwest::Client) -> (String, String) {
    let res = b.get(app.url("/account/totp")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let secret = text_of(&html, "id=\"secret\">");
    (html, secret)
}

async fn post_code(app: &TestApp, b: &reqwest::Client, html: &str, code: String) -> u16 {
    let form = [("csrf", hidden(html, "csrf")), ("code", code)];
    b.post(app.url("/account/totp")).form(&form).send().await.unwrap().status().as_u16()
}

/// A pending secret belongs to the login session it was shown to: a phisher who opened the
/// enrolment page and copied its secret must not see the person, logging in afresh after
/// changing their password, shown (and confirming) that same secret.
#[tokio::test]
async fn a_pending_secret_is_shown_and_confirmed_only_in_the_session_it_was_shown_to() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Dua Sesi").await;
    let attacker = crate::self_service::signed_in(&app, &nip).await;
    let (attacker_form, copied) = totp_page(&app, &attacker).await;
    let person = crate::self_service::signed_in(&app, &nip).await;
    let (form, secret) = totp_page(&app, &person).await;
    assert_ne!(secret, copied, "another session is shown a secret of its own");
    assert_eq!(post_code(&app, &person, &form, code_now(&copied, 0)).await, 400, "another session's secret");
    assert_eq!(post_code(&app, &attacker, &attacker_form, code_now(&copied, 0)).await, 400, "replaced meanwhile");
    assert_eq!(post_code(&app, &person, &form, code_now(&secret, 0)).await, 200, "its own secret confirms");
    let id = gerbang::identity::accounts::find(&app.state.db, &nip).await.unwrap().unwrap().id;
    let (db, sealer) = (&app.state.db, &app.state.sealer);
    assert!(!totp::verify(db, sealer, &id, &code_now(&copied, 1), now()).await.unwrap(), "the copied secret");
    assert!(totp::verify(db, sealer, &id, &code_now(&secret, 1), now()).await.unwrap(), "the secret shown");
}

/// A reload shows the session's secret while it is the pending one; once another session has
/// replaced it, a fresh one (never the other session's), which then replaces that one in turn.
#[tokio::test]
async fn a_session_whose_pending_secret_was_replaced_is_shown_a_fresh_one() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Dua Peramban").await;
    let (a, b) = (crate::self_service::signed_in(&app, &nip).await, crate::self_service::signed_in(&app, &nip).await);
    let (_, first) = totp_page(&app, &a).await;
    assert_eq!(totp_page(&app, &a).await.1, first, "a reload: the same secret");
    let (b_form, b_secret) = totp_page(&app, &b).await;
    let (a_form, again) = totp_page(&app, &a).await;
    assert!(again != first && again != b_secret, "neither the replaced secret nor the other session's");
    assert_eq!(totp_page(&app, &a).await.1, again, "and that one is kept on the next reload");
    assert_eq!(post_code(&app, &b, &b_form, code_now(&b_secret, 0)).await, 400, "replaced by the reload");
    assert_eq!(post_code(&app, &b, &b_form, code_now(&again, 0)).await, 400, "not shown to this session");
    assert_eq!(post_code(&app, &a, &a_form, code_now(&again, 0)).await, 200);
}

/// Showings in one session at once end with one secret, whether they start the enrolment or
/// replace another session's pending one; a replaced secret confirms in neither session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_showings_in_one_session_end_with_one_secret() {
    let app = TestApp::spawn().await;
    let id = app.asn(&unique_nip(), "Serentak").await.id;
    let show_at_once = |sid: &'static str| {
        let shows: Vec<_> = (0..6)
            .map(|_| {
                let (st, id) = (app.state.clone(), id.clone());
                tokio::spawn(async move {
                    let to = totp::ShownTo { cache: &st.cache, sid };
                    let e = totp::start_enrolment_for(&st.db, &st.sealer, &id, to, "Serentak", "Gerbang", now());
                    e.await.unwrap().secret_base32
                })
            })
            .collect();
        async move {
            let mut secrets = Vec::new();
            for show in shows {
                secrets.push(show.await.unwrap());
            }
            secrets
        }
    };
    let first = show_at_once("sesi-a").await;
    assert!(first.iter().all(|s| *s == first[0]), "one secret: {first:?}");
    let second = show_at_once("sesi-b").await;
    assert!(second.iter().all(|s| *s == second[0]), "one secret: {second:?}");
    assert_ne!(second[0], first[0], "the other session's is replaced");
    let confirm = |sid: &'static str, secret: &str| {
        let (st, id, code) = (app.state.clone(), id.clone(), code_now(secret, 0));
        async move {
            let to = totp::ShownTo { cache: &st.cache, sid };
            totp::confirm_enrolment_for(&st.db, &st.sealer, &id, to, &code, now()).await.unwrap()
        }
    };
    assert!(!confirm("sesi-a", &first[0]).await, "replaced");
    assert!(!confirm("sesi-a", &second[0]).await, "shown to another session");
    assert!(confirm("sesi-b", &second[0]).await);
}
