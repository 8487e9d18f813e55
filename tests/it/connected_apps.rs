//! Connected applications on the account page: the list of applications holding a person's
//! consent or tokens, and withdrawal, which deletes the consent, revokes every token at once and
//! makes the next login ask again; other people's, unknown and malformed ids name nothing.

use gerbang::oidc::clients::GrantType;
use openidconnect::OAuth2TokenResponse;
use serde_json::Value;

use crate::common::*;
use crate::self_service::{page, post};

const CODE_AND_REFRESH: &[GrantType] = &[GrantType::AuthorizationCode, GrantType::RefreshToken];

async fn post_form(app: &TestApp, path: &str, c: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let res = http_client().post(app.url(path)).basic_auth(&c.id, c.secret.as_deref()).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    (status, serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null))
}

async fn active(app: &TestApp, c: &TestClient, token: &str) -> bool {
    let (status, v) = post_form(app, "/introspect", c, &[("token", token)]).await;
    assert_eq!(status, 200);
    v["active"].as_bool().expect("active flag")
}

/// A third-party application (it asks for consent) with refresh tokens.
async fn third_party(app: &TestApp, scopes: &[&str]) -> TestClient {
    app.client_where(scopes, CODE_AND_REFRESH, |n| {
        n.first_party = false;
        n.name = "Layanan Perizinan".into();
    })
    .await
}

struct Tokens {
    access: String,
    refresh: String,
}

/// Signs `username` in to the application in browser `b` (consenting if asked) and redeems the code.
async fn connect(app: &TestApp, b: &reqwest::Client, c: &TestClient, scopes: &[&str], username: &str) -> Tokens {
    let rp = app.rp(c).await;
    let start = start_auth(&rp, scopes);
    let cb = login(app, b, &start.url, username, PASSWORD).await;
    let t = redeem(&rp, &cb, start.verifier).await;
    Tokens {
        access: t.access_token().secret().clone(),
        refresh: t.refresh_token().expect("refresh token").secret().clone(),
    }
}

async fn withdrawals(app: &TestApp, account: &str) -> Vec<Value> {
    let rows = gerbang::audit::list(&app.state.db, 1000, Some(account)).await.unwrap();
    rows.into_iter()
        .filter(|r| r.kind == "consent.withdrawn")
        .map(|r| {
            assert_eq!((r.actor.as_str(), r.subject.as_str()), (account, account));
            serde_json::from_str(&r.detail).unwrap()
        })
        .collect()
}

/// The withdrawal confirmation page's CSRF token (the page must be there).
async fn confirm_csrf(app: &TestApp, b: &reqwest::Client, client_id: &str) -> String {
    let html = page(b, app, &format!("/account/applications/{client_id}/withdraw")).await;
    hidden(&html, "csrf")
}

#[tokio::test]
async fn a_citizen_sees_the_application_with_its_scopes_and_withdrawal_revokes_everything() {
    let app = TestApp::spawn().await;
    let nik = unique_nik();
    let person = app.citizen(&nik, "Warga Uji").await;
    let c = third_party(&app, &["openid", "nik", "offline_access"]).await;
    let b = browser();
    let t = connect(&app, &b, &c, &["nik", "offline_access"], &nik).await;

    // The account page links to the list, which shows the application and what it received.
    assert!(page(&b, &app, "/account").await.contains("href=\"/account/applications\""));
    let html = page(&b, &app, "/account/applications").await;
    assert!(html.contains(&format!("data-client=\"{}\"", c.id)), "{html}");
    assert!(html.contains("Layanan Perizinan"));
    assert!(html.contains("data-scope=\"nik\">NIK (Nomor Induk Kependudukan)</li>"), "{html}");
    assert!(html.contains("data-scope=\"openid\""));
    assert!(html.contains("data-offline"), "a live refresh token is offline access");
    assert!(html.contains("Persetujuan diberikan") && html.contains("terakhir digunakan"));
    assert!(!html.contains("gerbang-account"), "Gerbang's own account page is no connected application");
    let en = b.get(app.url("/account/applications")).header("accept-language", "en").send().await.unwrap();
    assert!(en.text().await.unwrap().contains("NIK (Nomor Induk Kependudukan, national identity number)"));

    // The confirmation page changes nothing, however often it is opened.
    let csrf = confirm_csrf(&app, &b, &c.id).await;
    let html = page(&b, &app, &format!("/account/applications/{}/withdraw", c.id)).await;
    assert!(html.contains("Gerbang akan meminta persetujuan Anda kembali"), "{html}");
    assert!(html.contains("data-offline") && html.contains("data-scope=\"nik\""), "{html}");
    assert!(active(&app, &c, &t.access).await && active(&app, &c, &t.refresh).await);
    assert!(withdrawals(&app, &person.id).await.is_empty());

    // Without the CSRF token nothing happens either.
    let path = format!("/account/applications/{}/withdraw", c.id);
    assert_eq!(post(&b, &app, &path, &[]).await.status(), 403);
    assert_eq!(post(&b, &app, &path, &[("csrf", "forged".into())]).await.status(), 403);
    assert!(active(&app, &c, &t.access).await);

    let res = post(&b, &app, &path, &[("csrf", csrf.clone())]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account/applications?done=withdrawn");
    let html = page(&b, &app, "/account/applications?done=withdrawn").await;
    assert!(html.contains("Akses aplikasi telah dicabut.") && html.contains("id=\"no-apps\""), "{html}");

    // Every token of the application is dead: refresh, introspection, userinfo.
    let (status, v) =
        post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", &t.refresh)]).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!active(&app, &c, &t.access).await && !active(&app, &c, &t.refresh).await);
    let res = http_client().get(app.url("/userinfo")).bearer_auth(&t.access).send().await.unwrap();
    assert_eq!(res.status(), 401);

    let records = withdrawals(&app, &person.id).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["client_id"], c.id.as_str());
    assert_eq!(records[0]["scope"], "openid nik offline_access");
    assert_eq!(records[0]["revoked_grants"], 1);

    // Withdrawn, the application is no longer connected: a second POST names nothing.
    let res = post(&b, &app, &path, &[("csrf", csrf)]).await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Aplikasi ini tidak terhubung dengan akun Anda."));

    // The next authorization request asks for consent again, although the person is signed in.
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["nik"]);
    let res = b.get(&start.url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"decision\""), "consent page expected: {html}");
    assert!(html.contains("data-scope=\"nik\""));
}

#[tokio::test]
async fn first_party_applications_are_listed_and_withdrawal_still_revokes_their_tokens() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let person = app.asn(&nip, "Pegawai Uji").await;
    let unit = opd_unit(&app, &format!("D{}", &nip[14..]), None).await;
    let c = app
        .client_where(&["openid", "nip", "roles"], CODE_AND_REFRESH, |n| {
            n.name = "Sistem Kepegawaian".into();
            n.owner_opd_id = Some(unit.clone());
        })
        .await;
    let b = browser();
    let t = connect(&app, &b, &c, &["nip", "roles"], &nip).await;

    let html = page(&b, &app, "/account/applications").await;
    assert!(html.contains("Sistem Kepegawaian") && html.contains(&format!("Pemilik: Dinas D{}", &nip[14..])), "{html}");
    assert!(html.contains("data-scope=\"nip\">NIP (Nomor Induk Pegawai)</li>"), "{html}");
    assert!(html.contains("data-scope=\"roles\">Peran dan hak akses Anda</li>"));
    assert!(html.contains("Aplikasi resmi pemerintah daerah (tanpa persetujuan)"));

    let html = page(&b, &app, &format!("/account/applications/{}/withdraw", c.id)).await;
    assert!(html.contains("id=\"first-party\""), "the page says no consent will be asked: {html}");
    let res =
        post(&b, &app, &format!("/account/applications/{}/withdraw", c.id), &[("csrf", hidden(&html, "csrf"))]).await;
    assert_eq!(res.status(), 303);
    assert!(!active(&app, &c, &t.access).await && !active(&app, &c, &t.refresh).await);
    let records = withdrawals(&app, &person.id).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["scope"], "openid nip roles");
    assert!(page(&b, &app, "/account/applications").await.contains("id=\"no-apps\""));

    // First-party: the next login goes straight back to the application.
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["nip"]);
    let res = b.get(&start.url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with(&c.redirect_uri));
}

#[tokio::test]
async fn other_peoples_unknown_and_malformed_applications_are_not_found_and_nothing_is_revoked() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (unique_nik(), unique_nik());
    app.citizen(&alice, "Alice").await;
    let bob_account = app.citizen(&bob, "Bob").await;
    let mine = third_party(&app, &["openid", "nik"]).await;
    let theirs = third_party(&app, &["openid", "nik"]).await;
    let a = browser();
    let b = browser();
    connect(&app, &a, &mine, &["nik"], &alice).await;
    let bobs = connect(&app, &b, &theirs, &["nik"], &bob).await;

    let csrf = confirm_csrf(&app, &a, &mine.id).await;
    for id in [
        theirs.id.as_str(),
        "no-such-application",
        "gerbang-account",
        "gerbang-console",
        "bad%20id",
        "%3Cscript%3E",
        &"x".repeat(65),
    ] {
        let path = format!("/account/applications/{id}/withdraw");
        let res = a.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{id}");
        let html = res.text().await.unwrap();
        assert!(html.contains("Aplikasi ini tidak terhubung dengan akun Anda."), "{id}: {html}");
        assert!(!html.contains("<script>"));
        let res = post(&a, &app, &path, &[("csrf", csrf.clone())]).await;
        assert_eq!(res.status(), 404, "{id}");
    }
    assert!(active(&app, &theirs, &bobs.access).await, "Bob's tokens survive Alice's attempts");
    assert!(withdrawals(&app, &bob_account.id).await.is_empty());
    assert!(page(&b, &app, "/account/applications").await.contains(&format!("data-client=\"{}\"", theirs.id)));

    // Signed out, the pages send the person to the login.
    let res = browser().get(app.url("/account/applications")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).contains("/authorize?"));
}

#[tokio::test]
async fn twenty_concurrent_withdrawals_record_one_and_fail_none() {
    let app = TestApp::spawn().await;
    let nik = unique_nik();
    let person = app.citizen(&nik, "Warga Cepat").await;
    let c = third_party(&app, &["openid", "nik", "offline_access"]).await;
    let b = browser();
    let t = connect(&app, &b, &c, &["nik", "offline_access"], &nik).await;
    // A second login at the same application: two grants, both revoked by the one withdrawal.
    let t2 = connect(&app, &b, &c, &["nik"], &nik).await;

    let csrf = confirm_csrf(&app, &b, &c.id).await;
    let path = format!("/account/applications/{}/withdraw", c.id);
    let runs = (0..20).map(|_| {
        let (b, url, csrf) = (b.clone(), app.url(&path), csrf.clone());
        tokio::spawn(async move { b.post(url).form(&[("csrf", csrf)]).send().await.unwrap().status().as_u16() })
    });
    let mut statuses = Vec::new();
    for r in runs {
        statuses.push(r.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 303 || *s == 404), "{statuses:?}");
    assert!(statuses.contains(&303), "{statuses:?}");
    let records = withdrawals(&app, &person.id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["revoked_grants"], 2);
    for tok in [&t.access, &t.refresh, &t2.access, &t2.refresh] {
        assert!(!active(&app, &c, tok).await);
    }
}

#[tokio::test]
async fn a_code_issued_before_the_withdrawal_is_refused_after_it() {
    let app = TestApp::spawn().await;
    let nik = unique_nik();
    app.citizen(&nik, "Warga Lambat").await;
    let c = third_party(&app, &["openid", "nik"]).await;
    let b = browser();
    connect(&app, &b, &c, &["nik"], &nik).await;

    // Signed in and consented: the next authorization request yields a code at once.
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["nik"]);
    let res = b.get(&start.url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let code = query(&location(&res))["code"].clone();

    let csrf = confirm_csrf(&app, &b, &c.id).await;
    let res = post(&b, &app, &format!("/account/applications/{}/withdraw", c.id), &[("csrf", csrf)]).await;
    assert_eq!(res.status(), 303);

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", c.redirect_uri.as_str()),
        ("code_verifier", start.verifier.secret().as_str()),
    ];
    let (status, v) = post_form(&app, "/token", &c, &form).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_grant")), "{v}");
    assert!(page(&b, &app, "/account/applications").await.contains("id=\"no-apps\""), "no grant was made");
}

/// A code redeemed at the very moment the person withdraws: whichever finishes first, no live
/// grant of the application outlives the withdrawal (the exchange re-reads the consent after
/// inserting its grant; the withdrawal revokes the grants it finds).
#[tokio::test]
async fn a_code_redeemed_during_the_withdrawal_leaves_no_live_grant() {
    let app = TestApp::spawn().await;
    let nik = unique_nik();
    let person = app.citizen(&nik, "Warga Cepat").await;
    let c = third_party(&app, &["openid", "nik"]).await;
    let withdraw_path = format!("/account/applications/{}/withdraw", c.id);
    for round in 0..8 {
        let b = browser();
        connect(&app, &b, &c, &["nik"], &nik).await;
        let rp = app.rp(&c).await;
        let start = start_auth(&rp, &["nik"]);
        let res = b.get(&start.url).send().await.unwrap();
        assert_eq!(res.status(), 303);
        let code = query(&location(&res))["code"].clone();
        let csrf = confirm_csrf(&app, &b, &c.id).await;
        let verifier = start.verifier.secret().clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", c.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let withdraw_form = [("csrf", csrf)];
        let ((status, v), withdrawn) =
            tokio::join!(post_form(&app, "/token", &c, &form), post(&b, &app, &withdraw_path, &withdraw_form));
        assert_eq!(withdrawn.status(), 303, "round {round}");
        assert!(status == 200 || (status, v["error"].as_str()) == (400, Some("invalid_grant")), "round {round}: {v}");
        if status == 200 {
            let token = v["access_token"].as_str().expect("access token");
            assert!(!active(&app, &c, token).await, "round {round}: a token that outlived the withdrawal");
        }
        let now = gerbang::state::now();
        let grants = gerbang::store::connected::grants_of_account(&app.state.db, &person.id, now).await.unwrap();
        let live = grants.iter().filter(|g| g.client_id == c.id && g.revoked_at.is_none() && g.expires_at > now);
        assert_eq!(live.count(), 0, "round {round}");
    }
}
