//! What ending a single sign-on session ends: the tokens of every login the browser made before
//! (re-authentication, step-up), codes not yet redeemed, the earlier person's grants when someone
//! else logs in on the same computer; and what pairwise applications learn about a session.

use gerbang::oidc::claims::PAIRWISE_AUTH_TIME_PRECISION;
use gerbang::state::now;
use openidconnect::PkceCodeVerifier;
use serde_json::Value;

use crate::common::*;
use crate::factors::{code_now, enrol, otp};
use crate::self_service::{page, post, refresh, refresh_app, sids, signed_in, token};

/// Redeems the code in `callback` for `c` as a plain form post: (status, body).
async fn redeem_form(app: &TestApp, c: &TestClient, callback: &str, verifier: &PkceCodeVerifier) -> (u16, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &query(callback)["code"]),
        ("redirect_uri", &c.redirect_uri),
        ("code_verifier", verifier.secret()),
    ];
    token(app, c, &form).await
}

/// Logs the browser in to `c` (with the password unless a session answers, or always with
/// `extra` = "&prompt=login") and returns the tokens.
async fn tokens(app: &TestApp, b: &reqwest::Client, c: &TestClient, nip: &str, extra: &str) -> Value {
    let start = start_auth(&app.rp(c).await, &["profile"]);
    let cb = login(app, b, &format!("{}{extra}", start.url), nip, PASSWORD).await;
    let (status, t) = redeem_form(app, c, &cb, &start.verifier).await;
    assert_eq!(status, 200, "{t}");
    t
}

fn rt(t: &Value) -> String {
    t["refresh_token"].as_str().expect("refresh token").to_string()
}

fn id_claims(t: &Value) -> Value {
    jwt_payload(t["id_token"].as_str().expect("ID token"))
}

/// Logs out through the confirmation page (no hint).
async fn log_out(app: &TestApp, b: &reqwest::Client) {
    let html = b.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let res = b
        .post(app.url("/logout/confirm"))
        .form(&[("decision", "logout"), ("csrf", hidden(&html, "csrf").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

fn invalid_grant() -> Result<String, String> {
    Err("invalid_grant".into())
}

#[tokio::test]
async fn logging_out_ends_the_tokens_of_the_browsers_earlier_logins_too() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Login Ulang").await;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let b = browser();
    let first = tokens(&app, &b, &c, &nip, "").await;
    let again = tokens(&app, &b, &c, &nip, "&prompt=login").await;
    assert_ne!(id_claims(&first)["sid"], id_claims(&again)["sid"], "a new login is a new session");
    // Until the logout, the earlier login's tokens carry on.
    let rt_first = refresh(&app, &c, &rt(&first)).await.expect("the earlier login still refreshes");

    log_out(&app, &b).await;
    assert_eq!(refresh(&app, &c, &rt_first).await, invalid_grant(), "the earlier login ended with the logout");
    assert_eq!(refresh(&app, &c, &rt(&again)).await, invalid_grant());
}

#[tokio::test]
async fn another_person_logging_in_on_the_same_browser_ends_the_first_persons_grants() {
    let app = TestApp::spawn().await;
    let (ayu, budi) = (unique_nip(), unique_nip());
    let ayu_id = app.asn(&ayu, "Ayu").await.id;
    app.asn(&budi, "Budi").await;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let shared = browser();
    let hers = tokens(&app, &shared, &c, &ayu, "").await;
    let his = tokens(&app, &shared, &c, &budi, "&prompt=login").await;

    assert_eq!(refresh(&app, &c, &rt(&hers)).await, invalid_grant(), "Ayu's tokens do not stay with Budi");
    assert!(sids(&app, &ayu_id).await.is_empty(), "Ayu's session is no longer listed");
    let rt_his = refresh(&app, &c, &rt(&his)).await.expect("Budi's own tokens work");
    log_out(&app, &shared).await;
    assert_eq!(refresh(&app, &c, &rt_his).await, invalid_grant());
    let trail = gerbang::audit::list(&app.state.db, 50, Some(&ayu_id)).await.unwrap();
    let ended = trail.iter().find(|e| e.kind == "session.ended").expect("the end of Ayu's session is recorded");
    assert!(ended.detail.contains("\"revoked_grants\":1"), "{}", ended.detail);
}

#[tokio::test]
async fn a_code_issued_before_logout_is_refused_after_it_and_one_from_before_a_new_login_joins_it() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Kode Tertunda").await;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let rp = app.rp(&c).await;
    let b = browser();
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &b, &start.url, &nip, PASSWORD).await;
    log_out(&app, &b).await;
    let (status, e) = redeem_form(&app, &c, &cb, &start.verifier).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");

    // A code from before a new login of the same person is redeemed into the new session, so
    // the next logout ends it as well.
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &b, &start.url, &nip, PASSWORD).await;
    let again = tokens(&app, &b, &c, &nip, "&prompt=login").await;
    let (status, late) = redeem_form(&app, &c, &cb, &start.verifier).await;
    assert_eq!(status, 200, "{late}");
    assert_eq!(id_claims(&late)["sid"], id_claims(&again)["sid"]);
    log_out(&app, &b).await;
    assert_eq!(refresh(&app, &c, &rt(&late)).await, invalid_grant());
}

#[tokio::test]
async fn an_administrator_ending_a_session_ends_its_earlier_logins_and_pending_codes() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (admin_nip, _) = staff(&app, "Admin", None, Some("diskominfo-admin")).await;
    let admin = console_token(&app, &admin_nip).await;
    let (nip, id) = staff(&app, "Pegawai", None, None).await;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let b = browser();
    let first = tokens(&app, &b, &c, &nip, "").await;
    tokens(&app, &b, &c, &nip, "&prompt=login").await;
    let start = start_auth(&app.rp(&c).await, &["profile"]);
    let pending = login(&app, &b, &start.url, &nip, PASSWORD).await;

    let live = sids(&app, &id).await;
    assert_eq!(live.len(), 1, "the replaced session is not listed");
    let res = http_client()
        .delete(app.url(&format!("/admin/api/v1/accounts/{id}/sessions/{}", live[0])))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(refresh(&app, &c, &rt(&first)).await, invalid_grant(), "the earlier login went with it");
    let (status, e) = redeem_form(&app, &c, &pending, &start.verifier).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
}

#[tokio::test]
async fn ending_a_session_on_the_account_page_ends_its_earlier_logins_and_pending_codes() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Halaman Akun").await.id;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let a = signed_in(&app, &nip).await;
    let first = tokens(&app, &a, &c, &nip, "").await;
    tokens(&app, &a, &c, &nip, "&prompt=login").await;
    let start = start_auth(&app.rp(&c).await, &["profile"]);
    let pending = login(&app, &a, &start.url, &nip, PASSWORD).await;

    // From another device, the person ends the session of the first browser.
    let before = sids(&app, &id).await;
    assert_eq!(before.len(), 1);
    let other = signed_in(&app, &nip).await;
    let path = format!("/account/sessions/{}/end", before[0]);
    let csrf = hidden(&page(&other, &app, &path).await, "csrf");
    let res = post(&other, &app, &path, &[("csrf", csrf)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(refresh(&app, &c, &rt(&first)).await, invalid_grant(), "the earlier login went with it");
    let (status, e) = redeem_form(&app, &c, &pending, &start.verifier).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
}

#[tokio::test]
async fn a_step_up_keeps_the_earlier_grants_until_logout_ends_them_all() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Naik Level").await;
    let basic = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let strict = app
        .client_where(&["openid", "profile"], &refresh_app(), |n| {
            n.min_level = 2;
            n.first_party = true;
        })
        .await;
    let b = browser();
    let before = tokens(&app, &b, &basic, &nip, "").await;
    let (secret, _) = enrol(&app, &b, &nip).await;

    let start = start_auth(&app.rp(&strict).await, &["profile"]);
    let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
    let res = otp(&app, &b, &html, "code", &code_now(&secret, 1)).await;
    assert_eq!(res.status(), 303);
    let (status, stepped) = redeem_form(&app, &strict, &location(&res), &start.verifier).await;
    assert_eq!(status, 200, "{stepped}");
    assert_eq!(id_claims(&stepped)["acr"], "urn:gerbang:loa:2");
    assert_ne!(id_claims(&stepped)["sid"], id_claims(&before)["sid"]);
    let rt_before = refresh(&app, &basic, &rt(&before)).await.expect("the grant from before the step-up lives on");

    log_out(&app, &b).await;
    assert_eq!(refresh(&app, &basic, &rt_before).await, invalid_grant());
    assert_eq!(refresh(&app, &strict, &rt(&stepped)).await, invalid_grant());
}

#[tokio::test]
async fn pairwise_applications_get_their_own_sid_and_an_hourly_auth_time_and_can_still_log_out() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Nasabah").await.id;
    let pairwise = |n: &mut gerbang::oidc::clients::NewClient| {
        n.pairwise = true;
        n.first_party = true;
    };
    let bank = app.client_where(&["openid", "profile"], &refresh_app(), pairwise).await;
    let insurer = app.client_where(&["openid", "profile"], &refresh_app(), pairwise).await;
    let public = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let b = browser();
    let at_bank = tokens(&app, &b, &bank, &nip, "").await;
    // One login answers the others; max_age is checked on the exact time, not the rounded one.
    let at_insurer = tokens(&app, &b, &insurer, &nip, "&max_age=600").await;
    let at_public = tokens(&app, &b, &public, &nip, "").await;
    let session = gerbang::auth::session::list_for_account(&app.state.cache, &id, now()).await.unwrap().remove(0);

    let (bank_id, insurer_id, public_id) = (id_claims(&at_bank), id_claims(&at_insurer), id_claims(&at_public));
    assert_eq!(public_id["sid"], session.sid.as_str());
    assert_eq!(public_id["auth_time"], session.auth_time, "others are told the exact time");
    for (claims, c) in [(&bank_id, &bank), (&insurer_id, &insurer)] {
        assert_ne!(claims["sid"], session.sid.as_str(), "{}", c.id);
        let hour = session.auth_time - session.auth_time.rem_euclid(PAIRWISE_AUTH_TIME_PRECISION);
        assert_eq!(claims["auth_time"], hour, "{}", c.id);
    }
    assert_ne!(bank_id["sid"], insurer_id["sid"], "the session does not link the two applications");
    let access = jwt_payload(at_bank["access_token"].as_str().unwrap());
    assert_eq!((&access["sid"], &access["auth_time"]), (&bank_id["sid"], &bank_id["auth_time"]));
    // The same sid for the same session after a refresh.
    let (status, refreshed) =
        token(&app, &bank, &[("grant_type", "refresh_token"), ("refresh_token", &rt(&at_bank))]).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(id_claims(&refreshed)["sid"], bank_id["sid"]);

    // The bank's ID token names the session by the bank's sid: logout without asking.
    let res = b
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", at_bank["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", bank.post_logout_uri.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, bank.post_logout_uri.clone()));
    let silent = format!("{}&prompt=none", start_auth(&app.rp(&public).await, &[]).url);
    assert_eq!(query(&location(&b.get(&silent).send().await.unwrap()))["error"], "login_required");
    assert_eq!(refresh(&app, &insurer, &rt(&at_insurer)).await, invalid_grant());
}

#[tokio::test]
async fn codes_redeemed_while_the_session_ends_leave_no_refresh_token_alive() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Balapan").await;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let rp = app.rp(&c).await;
    let b = browser();
    tokens(&app, &b, &c, &nip, "").await;
    let mut pending = Vec::new();
    for _ in 0..12 {
        let start = start_auth(&rp, &["profile"]);
        let res = b.get(&start.url).send().await.unwrap();
        assert_eq!(res.status(), 303);
        pending.push((query(&location(&res))["code"].clone(), start.verifier.secret().clone()));
    }
    let csrf = hidden(&b.get(app.url("/logout")).send().await.unwrap().text().await.unwrap(), "csrf");
    let mut racing = Vec::new();
    for (code, verifier) in pending {
        let (url, c) = (app.url("/token"), c.clone());
        racing.push(tokio::spawn(async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &c.redirect_uri),
                ("code_verifier", &verifier),
            ];
            let res = http_client().post(url).basic_auth(&c.id, c.secret.as_deref()).form(&form).send().await.unwrap();
            let t: Value = res.json().await.unwrap();
            t["refresh_token"].as_str().map(String::from)
        }));
    }
    let res = b.post(app.url("/logout/confirm")).form(&[("decision", "logout"), ("csrf", csrf.as_str())]).send().await;
    assert_eq!(res.unwrap().status(), 200);
    for r in racing {
        if let Some(rt) = r.await.unwrap() {
            assert_eq!(refresh(&app, &c, &rt).await, invalid_grant(), "a grant made as the session ended");
        }
    }
}

#[tokio::test]
async fn a_grant_made_as_its_session_ended_is_refused_at_its_first_refresh() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Celah Waktu").await.id;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let t = tokens(&app, &browser(), &c, &nip, "").await;
    // The session ends but its grant is not revoked: as if the code had been redeemed between
    // the end being recorded and the session's grants being revoked.
    let sid = sids(&app, &id).await.remove(0);
    let memory = app.state.config.refresh_token_ttl;
    assert!(gerbang::auth::session::end_by_sid(&app.state.cache, &id, &sid, memory).await.unwrap());
    assert_eq!(refresh(&app, &c, &rt(&t)).await, invalid_grant());
}

#[tokio::test]
async fn a_session_logged_out_many_times_at_once_ends_once() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Klik Berkali").await.id;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let b = browser();
    tokens(&app, &b, &c, &nip, "").await;
    let csrf = hidden(&b.get(app.url("/logout")).send().await.unwrap().text().await.unwrap(), "csrf");
    let mut racing = Vec::new();
    for _ in 0..10 {
        let (b, url, csrf) = (b.clone(), app.url("/logout/confirm"), csrf.clone());
        racing.push(tokio::spawn(async move {
            b.post(url).form(&[("decision", "logout"), ("csrf", csrf.as_str())]).send().await.unwrap().status()
        }));
    }
    for r in racing {
        assert_eq!(r.await.unwrap(), 200);
    }
    let trail = gerbang::audit::list(&app.state.db, 50, Some(&id)).await.unwrap();
    assert_eq!(trail.iter().filter(|e| e.kind == "logout").count(), 1, "one logout, one record");
}

/// The login past the limit of live sessions ends the oldest one, and that one's tokens with it
/// (before, it only dropped the session and its refresh token lived on for 14 days).
#[tokio::test]
async fn the_session_pushed_out_by_the_limit_takes_its_tokens_with_it() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Banyak Perangkat").await.id;
    let c = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let oldest = tokens(&app, &browser(), &c, &nip, "").await;
    for _ in 0..gerbang::auth::session::MAX_SESSIONS - 1 {
        signed_in(&app, &nip).await;
    }
    let kept = refresh(&app, &c, &rt(&oldest)).await.expect("at the limit, the oldest still refreshes");
    signed_in(&app, &nip).await;
    assert_eq!(refresh(&app, &c, &kept).await, invalid_grant(), "pushed out: its refresh token ends");
    assert_eq!(sids(&app, &id).await.len(), gerbang::auth::session::MAX_SESSIONS);
    let ended = gerbang::audit::list(&app.state.db, 1000, Some(&id)).await.unwrap();
    let ended: Vec<Value> = ended
        .into_iter()
        .filter(|r| r.kind == "session.ended")
        .map(|r| serde_json::from_str(&r.detail).unwrap())
        .collect();
    assert_eq!(ended.len(), 1);
    assert_eq!((ended[0]["reason"].as_str(), ended[0]["revoked_grants"].as_u64()), (Some("session_limit"), Some(1)));
}

/// Ending one session keeps the person's list of sessions as long as its newest session lives
/// (it used to be rewritten with a one-day lifetime): with sessions of three days, a password
/// change two days later still finds and ends the other device.
#[tokio::test]
async fn ending_a_session_keeps_the_list_of_the_others_for_their_whole_lifetime() {
    let app = TestApp::spawn_with(&[("GERBANG_SESSION_TTL", "259200")]).await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Tiga Hari").await.id;
    let (me, phone) = (signed_in(&app, &nip).await, signed_in(&app, &nip).await);
    let before = sids(&app, &id).await;
    let tablet = signed_in(&app, &nip).await;
    let tablet_sid = sids(&app, &id).await.into_iter().find(|s| !before.contains(s)).unwrap();
    let csrf = hidden(&page(&me, &app, "/account/password").await, "csrf");
    let res = post(&me, &app, &format!("/account/sessions/{tablet_sid}/end"), &[("csrf", csrf)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(tablet.get(app.url("/account")).send().await.unwrap().status(), 303);

    app.advance(2 * 86_400);
    assert_eq!(sids(&app, &id).await.len(), 2, "both remaining sessions are still listed");
    let form = [
        ("csrf", hidden(&page(&me, &app, "/account/password").await, "csrf")),
        ("current_password", PASSWORD.to_string()),
        ("new_password", "kunci-rahasia-baru-2026".to_string()),
        ("repeat_password", "kunci-rahasia-baru-2026".to_string()),
    ];
    assert_eq!(post(&me, &app, "/account/password", &form).await.status(), 303);
    assert_eq!(phone.get(app.url("/account")).send().await.unwrap().status(), 303, "the other device is signed out");
}

/// Many logins of one person at the same moment (every device at 07:30, or someone racing the
/// owner) on one cache, on any replicas: each session is listed, so the person's "end" and a
/// password change reach it. Run on the in-process store and, in CI, on Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_opened_at_the_same_moment_are_all_listed_and_all_ended_by_end_all_but() {
    use gerbang::auth::session;
    let app = TestApp::spawn().await;
    let cache = app.state.cache.clone();
    let account = format!("serentak-{}", unique_nip());
    let t = now();
    let open = |cache: gerbang::cache::Cache, account: String| async move {
        session::create(&cache, &account, "1", vec!["pwd".into()], 3600, t, "10.0.0.1", "uji", 600).await.unwrap()
    };
    let opened =
        futures_util::future::join_all((0..24).map(|_| tokio::spawn(open(cache.clone(), account.clone())))).await;
    let opened: Vec<_> = opened.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(session::list_for_account(&cache, &account, t + 1).await.unwrap().len(), 24, "none dropped");

    // A password change while more logins arrive: afterwards every live session other than the
    // one kept is listed (so the next change ends it), and all of the earlier ones are ended.
    let keep = opened[0].1.sid.clone();
    let more = (0..8).map(|_| tokio::spawn(open(cache.clone(), account.clone()))).collect::<Vec<_>>();
    let ended = session::end_all_but(&cache, &account, &keep, t + 1, 600).await.unwrap();
    let more: Vec<_> = futures_util::future::join_all(more).await.into_iter().map(|r| r.unwrap()).collect();
    assert!(ended.len() >= 23, "every earlier session but the kept one: {}", ended.len());
    for (cookie, _, _) in &opened[1..] {
        assert!(
            session::load(&cache, cookie, t + 1).await.unwrap().is_none(),
            "an earlier session outlived the change"
        );
    }
    let listed: Vec<String> =
        session::list_for_account(&cache, &account, t + 1).await.unwrap().into_iter().map(|s| s.sid).collect();
    for (cookie, s, _) in more.iter().chain(&opened[..1]) {
        if session::load(&cache, cookie, t + 1).await.unwrap().is_some() {
            assert!(listed.contains(&s.sid), "a live session is missing from the list");
        }
    }
    session::end_all_but(&cache, &account, &keep, t + 2, 600).await.unwrap();
    let left: Vec<String> =
        session::list_for_account(&cache, &account, t + 2).await.unwrap().into_iter().map(|s| s.sid).collect();
    assert_eq!(left, vec![keep]);
}
