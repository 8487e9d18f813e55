//! The account page's changes go through the application layer: each is recorded in the audit
//! trail with the person as both actor and subject, refusals record nothing, and removing the
//! authenticator takes the recovery codes with it in one transaction.

use gerbang::auth::{recovery, totp, Factors};
use gerbang::oidc::clients::GrantType;
use gerbang::state::now;
use gerbang::store::passkeys::{self as passkey_store, PasskeyRow};
use serde_json::{json, Value};

use crate::common::*;
use crate::transactions::{allow, refuse};

/// The account's self-service records, oldest first, as (kind, actor, subject, detail); the
/// login's own records are left out.
async fn records(app: &TestApp, account: &str) -> Vec<(String, String, String, Value)> {
    let mut rows = gerbang::audit::list(&app.state.db, 1000, Some(account)).await.unwrap();
    rows.sort_by_key(|r| r.seq);
    rows.into_iter()
        .filter(|r| !r.kind.starts_with("login."))
        .map(|r| (r.kind, r.actor, r.subject, serde_json::from_str(&r.detail).unwrap()))
        .collect()
}

fn mine(account: &str, kinds: &[(&str, Value)]) -> Vec<(String, String, String, Value)> {
    kinds.iter().map(|(k, d)| (k.to_string(), account.to_string(), account.to_string(), d.clone())).collect()
}

pub(crate) fn code_now(secret_b32: &str, offset_steps: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD.decode(secret_b32.as_bytes()).expect("base32");
    format!("{:06}", totp::hotp(&secret, (totp::step_at(now()) + offset_steps) as u64))
}

/// A browser signed in to the account page.
pub(crate) async fn signed_in(app: &TestApp, nip: &str) -> reqwest::Client {
    signed_in_with(app, nip, PASSWORD).await
}

pub(crate) async fn signed_in_with(app: &TestApp, nip: &str, password: &str) -> reqwest::Client {
    let b = browser();
    let res = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = login(app, &b, &location(&res), nip, password).await;
    assert!(back.starts_with(&app.url("/account")), "{back}");
    b
}

pub(crate) async fn page(b: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let res = b.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap().replace("&#x2f;", "/")
}

pub(crate) async fn post(b: &reqwest::Client, app: &TestApp, path: &str, form: &[(&str, String)]) -> reqwest::Response {
    b.post(app.url(path)).form(form).send().await.unwrap()
}

/// The public ids of the account's live sessions.
pub(crate) async fn sids(app: &TestApp, account: &str) -> Vec<String> {
    let list = gerbang::auth::session::list_for_account(&app.state.cache, account, now()).await.unwrap();
    list.into_iter().map(|s| s.sid).collect()
}

/// Enrols an authenticator; returns the number of recovery codes shown.
pub(crate) async fn enrol(app: &TestApp, b: &reqwest::Client) -> usize {
    let html = page(b, app, "/account/totp").await;
    let marker = "id=\"secret\">";
    let at = html.find(marker).unwrap() + marker.len();
    let secret = html[at..at + html[at..].find('<').unwrap()].trim().to_string();
    let csrf = hidden(&html, "csrf");
    let res = post(b, app, "/account/totp", &[("csrf", csrf.clone()), ("code", "000000".into())]).await;
    assert_eq!(res.status(), 400, "a wrong first code does not enrol");
    let res = post(b, app, "/account/totp", &[("csrf", csrf), ("code", code_now(&secret, 0))]).await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap().matches("<li>").count()
}

#[tokio::test]
async fn each_self_service_change_is_recorded_with_the_person_as_actor_and_subject() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let nip = unique_nip();
    let id = app.asn(&nip, "Swa Layan").await.id;
    let b = signed_in(&app, &nip).await;
    let mine_only = sids(&app, &id).await;
    let phone = signed_in(&app, &nip).await;
    let csrf = hidden(&page(&b, &app, "/account/password").await, "csrf");
    let none = || json!({});

    // Enrolment: the authenticator, then the first recovery codes.
    assert_eq!(enrol(&app, &b).await, recovery::COUNT);
    let enrolled = || json!({ "via": "session", "session_level": 1 });
    assert_eq!(
        records(&app, &id).await,
        mine(&id, &[("totp.enrolled", enrolled()), ("recovery_codes.generated", none())])
    );

    // A new set of codes.
    let res = post(&b, &app, "/account/recovery", &[("csrf", csrf.clone())]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap().matches("<li>").count(), recovery::COUNT);

    // A wrong current password is recorded (it may be someone guessing); an accepted change too.
    let pw = |current: &str, new: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("current_password", current.to_string()),
            ("new_password", new.to_string()),
            ("repeat_password", new.to_string()),
        ]
    };
    assert_eq!(
        post(&b, &app, "/account/password", &pw("salah-sekali-1234", "sandi-baru-yang-kuat")).await.status(),
        400
    );
    let res = post(&b, &app, "/account/password", &pw(PASSWORD, "sandi-baru-yang-kuat")).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account?done=password_changed".to_string()));
    assert_eq!(phone.get(app.url("/account")).send().await.unwrap().status(), 303, "signed out by the change");

    // A passkey: a broken answer from the browser is refused; removal of an unknown one is 404;
    // removal of the person's own is recorded.
    let res = post(&b, &app, "/account/passkeys", &[("csrf", csrf.clone()), ("credential", "{".into())]).await;
    assert_eq!(res.status(), 400);
    let key = PasskeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: id.clone(),
        cred_id: format!("cred-{}", uuid::Uuid::new_v4().simple()),
        name: "Kunci keamanan".into(),
        credential: "{}".into(),
        created_at: now(),
        last_used_at: None,
        enrolled_via: None,
        enrolled_level: None,
    };
    passkey_store::insert(db, &key).await.unwrap();
    let res = post(&b, &app, "/account/passkeys/no-such-key/remove", &[("csrf", csrf.clone())]).await;
    assert_eq!(res.status(), 404);
    let res = post(&b, &app, &format!("/account/passkeys/{}/remove", key.id), &[("csrf", csrf.clone())]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account?done=passkey_removed".to_string()));
    assert!(passkey_store::list(db, &id).await.unwrap().is_empty());

    // Removing the authenticator removes the recovery codes too.
    let res = post(&b, &app, "/account/totp/remove", &[("csrf", csrf.clone())]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account?done=totp_removed".to_string()));
    assert_eq!(Factors::of(db, &id).await.unwrap(), Factors::default());
    assert_eq!(recovery::remaining(db, &id).await.unwrap(), 0);

    // Ending a session: another browser's, then an unknown one (404, nothing recorded).
    let phone = signed_in_with(&app, &nip, "sandi-baru-yang-kuat").await;
    let both = sids(&app, &id).await;
    assert_eq!((mine_only.len(), both.len()), (1, 2));
    let other = both.into_iter().find(|s| !mine_only.contains(s)).unwrap();
    let res = post(&b, &app, &format!("/account/sessions/{other}/end"), &[("csrf", csrf.clone())]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account?done=session_ended".to_string()));
    assert_eq!(phone.get(app.url("/account")).send().await.unwrap().status(), 303, "the phone must log in again");
    let res = post(&b, &app, "/account/sessions/no-such-session/end", &[("csrf", csrf.clone())]).await;
    assert_eq!(res.status(), 404);

    assert_eq!(
        records(&app, &id).await,
        mine(
            &id,
            &[
                ("totp.enrolled", enrolled()),
                ("recovery_codes.generated", none()),
                ("recovery_codes.generated", none()),
                ("password.change_failed", none()),
                ("password.changed", json!({ "sessions_ended": 1, "revoked_grants": 0 })),
                ("passkey.removed", none()),
                ("totp.removed", none()),
                ("session.ended", json!({ "sid": other, "revoked_grants": 0 })),
            ]
        )
    );
    let v = gerbang::audit::verify(db).await.unwrap();
    assert!(v.ok, "{v:?}");
}

#[tokio::test]
async fn removing_the_authenticator_and_its_recovery_codes_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let nip = unique_nip();
    let id = app.asn(&nip, "Satu Transaksi").await.id;
    let b = signed_in(&app, &nip).await;
    assert_eq!(enrol(&app, &b).await, recovery::COUNT);
    let csrf = hidden(&page(&b, &app, "/account/password").await, "csrf");

    // The authenticator goes first; the recovery codes' removal then fails.
    refuse(db, "refuse_code_removal", "DELETE", "recovery_codes", &id).await;
    let res = post(&b, &app, "/account/totp/remove", &[("csrf", csrf.clone())]).await;
    assert_eq!(res.status(), 500);
    assert!(totp::is_enrolled(db, &id).await.unwrap(), "the authenticator is still there");
    assert_eq!(recovery::remaining(db, &id).await.unwrap(), recovery::COUNT as i64);
    let kinds: Vec<String> = records(&app, &id).await.into_iter().map(|r| r.0).collect();
    assert_eq!(kinds, ["totp.enrolled", "recovery_codes.generated"], "no record of a removal that did not happen");

    allow(db, "refuse_code_removal", "recovery_codes").await;
    let res = post(&b, &app, "/account/totp/remove", &[("csrf", csrf)]).await;
    assert_eq!(res.status(), 303);
    assert!(!totp::is_enrolled(db, &id).await.unwrap());
    assert_eq!(recovery::remaining(db, &id).await.unwrap(), 0);
    let kinds: Vec<String> = records(&app, &id).await.into_iter().map(|r| r.0).collect();
    assert_eq!(kinds, ["totp.enrolled", "recovery_codes.generated", "totp.removed"]);
}

/// An application with refresh tokens, authorized by the person in browser `b` (signed in
/// already, so the grant is made under that browser's session).
pub(crate) async fn refresh_token_in(app: &TestApp, b: &reqwest::Client, c: &TestClient) -> String {
    let rp = app.rp(c).await;
    let start = start_auth(&rp, &["profile"]);
    let res = b.get(&start.url).send().await.unwrap();
    assert_eq!(res.status(), 303, "signed in already: straight back to the application");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &query(&location(&res))["code"]),
        ("redirect_uri", &c.redirect_uri),
        ("code_verifier", start.verifier.secret()),
    ];
    let (status, t) = token(app, c, &form).await;
    assert_eq!(status, 200, "{t}");
    t["refresh_token"].as_str().unwrap().to_string()
}

pub(crate) async fn token(app: &TestApp, c: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let res = http_client().post(app.url("/token")).basic_auth(&c.id, c.secret.as_deref()).form(form).send().await;
    let res = res.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Uses a refresh token: `Ok(the rotated one)` or `Err(the error code)`.
pub(crate) async fn refresh(app: &TestApp, c: &TestClient, rt: &str) -> Result<String, String> {
    match token(app, c, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await {
        (200, t) => Ok(t["refresh_token"].as_str().unwrap().to_string()),
        (400, e) => Err(e["error"].as_str().unwrap().to_string()),
        other => panic!("{other:?}"),
    }
}

pub(crate) fn refresh_app() -> [GrantType; 2] {
    [GrantType::AuthorizationCode, GrantType::RefreshToken]
}

#[tokio::test]
async fn ending_a_session_on_the_account_page_revokes_the_tokens_issued_under_it() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Dua Peramban").await.id;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let a = signed_in(&app, &nip).await;
    let sid_a = sids(&app, &id).await.pop().unwrap();
    let rt_a = refresh(&app, &c, &refresh_token_in(&app, &a, &c).await).await.expect("a live refresh token");
    let b = signed_in(&app, &nip).await;
    let rt_b = refresh_token_in(&app, &b, &c).await;

    // Browser B ends A's session through the confirmation page.
    let html = page(&b, &app, &format!("/account/sessions/{sid_a}/end")).await;
    assert!(html.contains(&format!("action=\"/account/sessions/{sid_a}/end\"")), "{html}");
    let res = post(&b, &app, &format!("/account/sessions/{sid_a}/end"), &[("csrf", hidden(&html, "csrf"))]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account?done=session_ended".to_string()));

    assert_eq!(refresh(&app, &c, &rt_a).await, Err("invalid_grant".to_string()), "A's application is cut off");
    assert_eq!(a.get(app.url("/account")).send().await.unwrap().status(), 303, "A must log in again");
    assert!(refresh(&app, &c, &rt_b).await.is_ok(), "B's own tokens live on");
    assert!(page(&b, &app, "/account").await.contains("Dua Peramban"), "B stays signed in");
    let last = records(&app, &id).await.pop().unwrap();
    assert_eq!(last, mine(&id, &[("session.ended", json!({ "sid": sid_a, "revoked_grants": 1 }))])[0]);
}

#[tokio::test]
async fn a_password_change_signs_out_the_other_devices_and_revokes_their_tokens() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Pegawai Berpindah").await.id;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let a = signed_in(&app, &nip).await;
    let rt_a = refresh_token_in(&app, &a, &c).await;
    // A grant that outlived its session (ended here without touching the grant, as expiry does).
    let before = sids(&app, &id).await;
    let old = signed_in(&app, &nip).await;
    let rt_old = refresh_token_in(&app, &old, &c).await;
    let sid_old = sids(&app, &id).await.into_iter().find(|s| !before.contains(s)).unwrap();
    gerbang::auth::session::drop_by_sid(&app.state.cache, &id, &sid_old).await.unwrap();
    let rt_old = refresh(&app, &c, &rt_old).await.expect("a grant outlives its session");
    let b = signed_in(&app, &nip).await;
    let rt_b = refresh_token_in(&app, &b, &c).await;

    let csrf = hidden(&page(&b, &app, "/account/password").await, "csrf");
    let form = [
        ("csrf", csrf),
        ("current_password", PASSWORD.to_string()),
        ("new_password", "sandi-baru-yang-kuat".to_string()),
        ("repeat_password", "sandi-baru-yang-kuat".to_string()),
    ];
    let res = post(&b, &app, "/account/password", &form).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account?done=password_changed".to_string()));

    assert_eq!(refresh(&app, &c, &rt_a).await, Err("invalid_grant".to_string()));
    assert_eq!(refresh(&app, &c, &rt_old).await, Err("invalid_grant".to_string()));
    assert_eq!(a.get(app.url("/account")).send().await.unwrap().status(), 303, "A's SSO session is gone");
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 200, "B stays signed in");
    assert!(refresh(&app, &c, &rt_b).await.is_ok(), "B's own application keeps its tokens");
    assert_eq!(sids(&app, &id).await.len(), 1);
    let last = records(&app, &id).await.pop().unwrap();
    let detail = json!({ "sessions_ended": 1, "revoked_grants": 2 });
    assert_eq!(last, mine(&id, &[("password.changed", detail)])[0]);
}

#[tokio::test]
async fn a_malformed_id_in_an_account_path_is_not_found_and_never_echoed_into_a_form() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Jalur Aneh").await.id;
    let b = signed_in(&app, &nip).await;
    let csrf = hidden(&page(&b, &app, "/account/password").await, "csrf");
    let res = post(&b, &app, "/account/sessions/AAAAAAAAAAAAAAAAAAAAAA/end", &[("csrf", csrf.clone())]).await;
    let unknown = (res.status().as_u16(), res.text().await.unwrap().replace("&#x2f;", "/"));
    assert_eq!(unknown.0, 404);
    for path in [
        "/account/sessions/..%2Ftotp%2Fremove%3Fx%3D/end",
        "/account/passkeys/..%2Ftotp%2Fremove%3Fx%3D/remove",
        "/account/passkeys/..%2F..%2Faccount%2Ftotp%2Fremove/remove",
    ] {
        let (status, html) = page_status(&b, &app, path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(html, unknown.1, "the same page as an unknown id: {path}");
        assert!(!html.contains("<form"), "{path}: {html}");
        let res = post(&b, &app, path, &[("csrf", csrf.clone())]).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    assert!(records(&app, &id).await.is_empty());
}

async fn page_status(b: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = b.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

#[tokio::test]
async fn the_current_password_check_is_throttled_like_a_login() {
    // One failure allowed: the lock follows at once, with no delay measured in wall-clock seconds
    // (a slow run crossing a second would otherwise be let through the one-second wait).
    let app = TestApp::spawn_with(&[("GERBANG_LOGIN_MAX_FAILURES", "1")]).await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Sesi Dicuri").await.id;
    let b = signed_in(&app, &nip).await;
    let csrf = hidden(&page(&b, &app, "/account/password").await, "csrf");
    let pw = |current: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("current_password", current.to_string()),
            ("new_password", "sandi-baru-yang-kuat".to_string()),
            ("repeat_password", "sandi-baru-yang-kuat".to_string()),
        ]
    };
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses
            .push(post(&b, &app, "/account/password", &pw(&format!("tebakan-ke-{i}-salah"))).await.status().as_u16());
    }
    assert_eq!(statuses, vec![400, 429, 429, 429], "guessing is stopped");
    let res = post(&b, &app, "/account/password", &pw(PASSWORD)).await;
    assert_eq!(res.status(), 429, "the right password is refused too while locked");
    let failed = records(&app, &id).await.iter().filter(|r| r.0 == "password.change_failed").count();
    assert_eq!(failed, 1, "every judged wrong guess is in the audit trail");
}

#[tokio::test]
async fn authenticators_are_labelled_with_the_name_never_the_nip_or_nik() {
    // Passkeys need a domain name as the issuer; no request is made to it.
    let app = TestApp::spawn_with(&[("GERBANG_ISSUER", "http://localhost:9")]).await;
    let st = &app.state;
    let nik = unique_nik();
    let account = app.citizen(&nik, "Ayu Lestari").await;
    let t = now();
    let (_, session, _) =
        gerbang::auth::session::create(&st.cache, &account.id, "1", vec!["pwd".into()], 3600, t, "10.0.0.1", "uji", 60)
            .await
            .unwrap();
    let me =
        || gerbang::ops::account::SignedIn { session: session.clone(), account: account.clone() }.recent(t).unwrap();
    let options = gerbang::ops::account::passkey_options(st, &me(), now()).await.unwrap();
    let user = &options["publicKey"]["user"];
    assert_eq!((user["name"].as_str(), user["displayName"].as_str()), (Some("Ayu Lestari"), Some("Ayu Lestari")));
    assert!(!options.to_string().contains(&nik), "the NIK does not go to the passkey provider");
    let totp = gerbang::ops::account::start_totp(st, &me(), t).await.unwrap().expect("an enrolment");
    assert!(totp.uri.starts_with("otpauth://totp/Gerbang:Ayu%20Lestari?"), "{}", totp.uri);
    assert!(!totp.uri.contains(&nik), "the NIK does not go to the authenticator app");
}

#[tokio::test]
async fn the_account_page_tells_times_in_the_regions_zone() {
    let app = TestApp::spawn_with(&[("GERBANG_UTC_OFFSET_MINUTES", "480")]).await;
    let nip = unique_nip();
    app.asn(&nip, "Pegawai Makassar").await;
    let b = signed_in(&app, &nip).await;
    let html = page(&b, &app, "/account").await;
    assert!(html.contains(" WITA ·") && !html.contains(" WIB"), "{html}");
}
