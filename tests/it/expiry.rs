//! Every lifetime, tested over HTTP by moving the server's clock forward (no sleeping): an
//! expired code, login flow, SSO session, refresh token and access token are each refused with
//! the error the protocol or the page promises, on both cache backends.

use std::time::Duration;

use gerbang::cache::BothCounted;
use gerbang::oidc::clients::GrantType;
use openidconnect::OAuth2TokenResponse;
use serde_json::Value;

use crate::common::*;

const CODE_AND_REFRESH: &[GrantType] = &[GrantType::AuthorizationCode, GrantType::RefreshToken];

async fn post_form(app: &TestApp, path: &str, c: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let res = http_client().post(app.url(path)).basic_auth(&c.id, c.secret.as_deref()).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    (status, serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null))
}

async fn active(app: &TestApp, c: &TestClient, token: &str) -> bool {
    let (status, v) = post_form(app, "/introspect", c, &[("token", token)]).await;
    assert_eq!(status, 200, "{v}");
    v["active"].as_bool().expect("active flag")
}

/// A fresh person signed in through `c` in `b`; returns the callback URL and the PKCE verifier.
async fn signed_in(app: &TestApp, c: &TestClient, b: &reqwest::Client) -> (String, String) {
    let nip = unique_nip();
    app.asn(&nip, "Pegawai Uji Waktu").await;
    let start = start_auth(&app.rp(c).await, &["profile"]);
    let cb = login(app, b, &start.url, &nip, PASSWORD).await;
    (cb, start.verifier.secret().clone())
}

async fn redeem_code(app: &TestApp, c: &TestClient, cb: &str, verifier: &str) -> (u16, Value) {
    let code = query(cb)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", c.redirect_uri.as_str()),
        ("code_verifier", verifier),
    ];
    post_form(app, "/token", c, &form).await
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let (cb, verifier) = signed_in(&app, &c, &browser()).await;
    app.advance(app.state.config.code_ttl + 1);
    let (status, body) = redeem_code(&app, &c, &cb, &verifier).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    // The same steps without the wait: the code is good (so the refusal above is the expiry).
    let (cb, verifier) = signed_in(&app, &c, &browser()).await;
    let (status, body) = redeem_code(&app, &c, &cb, &verifier).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_expired_login_flow_shows_the_start_again_page() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let nip = unique_nip();
    app.asn(&nip, "Pegawai Lambat").await;
    let rp = app.rp(&c).await;
    let b = browser();
    let res = b.get(start_auth(&rp, &["profile"]).url).send().await.unwrap();
    assert_eq!(res.status(), 200, "the login page");
    let html = res.text().await.unwrap();

    app.advance(app.state.config.login_ttl + 1);
    let res = submit_login(&app, &b, &html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("Waktu proses masuk telah habis"), "the expired-login page: {page}");
    assert!(!b.get(app.url("/account")).send().await.unwrap().status().is_success(), "no session was opened");

    // A login page opened now still works.
    let res = b.get(start_auth(&rp, &["profile"]).url).send().await.unwrap();
    let res = submit_login(&app, &b, &res.text().await.unwrap(), &nip, PASSWORD).await;
    assert_eq!(res.status(), 303, "a fresh login flow is accepted");
}

#[tokio::test]
async fn an_expired_sso_session_signs_nobody_in() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let rp = app.rp(&c).await;
    let b = browser();
    let nip = unique_nip();
    app.asn(&nip, "Pegawai Sesi").await;
    login(&app, &b, &start_auth(&rp, &["profile"]).url, &nip, PASSWORD).await;
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 200, "signed in");
    let silent = b.get(format!("{}&prompt=none", start_auth(&rp, &["profile"]).url)).send().await.unwrap();
    assert!(query(&location(&silent)).contains_key("code"), "the session signs in silently");

    app.advance(app.state.config.session_ttl + 1);
    let res = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).contains("/authorize?"), "to the login: {}", location(&res));
    let silent = b.get(format!("{}&prompt=none", start_auth(&rp, &["profile"]).url)).send().await.unwrap();
    assert_eq!(silent.status(), 303);
    let q = query(&location(&silent));
    assert_eq!(q.get("error").map(String::as_str), Some("login_required"), "{q:?}");
    assert!(!q.contains_key("code"));

    // Signing in again after the expiry works (the login throttle follows the clock too).
    let cb = login(&app, &b, &start_auth(&rp, &["profile"]).url, &nip, PASSWORD).await;
    assert!(query(&cb).contains_key("code"), "{cb}");
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_expired_refresh_token_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let (cb, verifier) = signed_in(&app, &c, &browser()).await;
    let (status, tokens) = redeem_code(&app, &c, &cb, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token").to_string();
    assert!(active(&app, &c, &refresh).await);

    app.advance(app.state.config.refresh_token_ttl + 1);
    assert!(!active(&app, &c, &refresh).await, "introspection says it is over");
    let (status, body) =
        post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}

#[tokio::test]
async fn an_expired_access_token_is_refused_at_userinfo_and_inactive() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let rp = app.rp(&c).await;
    let nip = unique_nip();
    app.asn(&nip, "Pegawai Token").await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let tokens = redeem(&rp, &cb, start.verifier).await;
    let at = tokens.access_token().secret().clone();
    let http = http_client();
    assert_eq!(http.get(app.url("/userinfo")).bearer_auth(&at).send().await.unwrap().status(), 200);
    assert!(active(&app, &c, &at).await);

    app.advance(app.state.config.access_token_ttl + 1);
    let res = http.get(app.url("/userinfo")).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers().get("www-authenticate").expect("challenge").to_str().unwrap().to_string();
    assert!(challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(!active(&app, &c, &at).await);
}

/// The cache itself (in-process, or Redis when the suite runs against it): whatever a moved
/// clock has expired is gone for every kind of entry, and what it has not is still there.
#[tokio::test]
async fn the_cache_expires_entries_by_the_servers_clock() {
    let app = TestApp::spawn().await;
    let cache = &app.state.cache;
    let minute = Duration::from_secs(60);
    cache.put("t:value", b"v", minute).await.unwrap();
    cache.put("t:taken", b"v", minute).await.unwrap();
    cache.put("t:marked", br#"{"grant_id":"g"}"#, minute).await.unwrap();
    cache.put("t:long", b"v", Duration::from_secs(600)).await.unwrap();
    cache.incr("t:count", minute).await.unwrap();
    assert_eq!(cache.count_below("t:bounded", 1, minute).await.unwrap(), Some(1));
    assert!(cache.swap("t:record", None, b"1", minute).await.unwrap());
    assert_eq!(cache.incr_window("t:window", minute).await.unwrap().0, 1);
    let pair = ["t:pair", "t:address"];
    assert_eq!(cache.count_both(pair, [1, 5], minute).await.unwrap(), BothCounted::Both);
    assert_eq!(cache.count_both(pair, [1, 5], minute).await.unwrap(), BothCounted::FirstFull { second: 1 });

    app.advance(61);
    assert_eq!(cache.get("t:value").await.unwrap(), None);
    assert_eq!(cache.take("t:taken").await.unwrap(), None);
    assert_eq!(cache.take_marking("t:marked", "t:mark", "grant_id", minute).await.unwrap(), None);
    assert_eq!(cache.get("t:mark").await.unwrap(), None, "an expired value leaves no mark");
    assert_eq!(cache.get("t:long").await.unwrap().as_deref(), Some(&b"v"[..]), "not yet expired");
    assert_eq!(cache.peek_count("t:count").await.unwrap(), 0);
    assert_eq!(cache.incr("t:count", minute).await.unwrap(), 1, "a new window");
    assert_eq!(cache.count_below("t:bounded", 1, minute).await.unwrap(), Some(1), "a new window");
    assert!(cache.swap("t:record", None, b"2", minute).await.unwrap(), "an expired record is absent");
    let (n, left) = cache.incr_window("t:window", minute).await.unwrap();
    assert_eq!(n, 1, "a new window");
    assert!(left > Duration::from_secs(58) && left <= minute, "{left:?}");
    assert_eq!(cache.count_both(pair, [1, 5], minute).await.unwrap(), BothCounted::Both, "a new window");
    assert!(cache.swap("t:settled", None, b"1", minute).await.unwrap());
    cache.settle("t:settled", &pair).await.unwrap();
    assert_eq!(cache.get("t:settled").await.unwrap(), None);
    assert_eq!((cache.peek_count(pair[0]).await.unwrap(), cache.peek_count(pair[1]).await.unwrap()), (0, 0));

    // Entries written after the move live their full lifetime from the moved time.
    cache.put("t:later", b"v", minute).await.unwrap();
    cache.put("t:marked", br#"{"grant_id":"g/1"}"#, minute).await.unwrap();
    let taken = cache.take_marking("t:marked", "t:mark", "grant_id", minute).await.unwrap();
    assert_eq!(taken.as_deref(), Some(&br#"{"grant_id":"g/1"}"#[..]));
    assert_eq!(cache.get_json::<String>("t:mark").await.unwrap().as_deref(), Some("g/1"), "the member, as JSON");
    assert_eq!(cache.take_marking("t:marked", "t:mark", "grant_id", minute).await.unwrap(), None, "once");
    // 58, not 59: the wall clock runs on under the moved one, and a stalled machine may add a
    // second between writing these entries and reading them back.
    app.advance(58);
    assert_eq!(cache.get("t:later").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(cache.get("t:long").await.unwrap().as_deref(), Some(&b"v"[..]));
    let (n, left) = cache.incr_window("t:window", minute).await.unwrap();
    assert_eq!(n, 2);
    assert!(left <= Duration::from_secs(2), "what is left by the moved clock: {left:?}");
    app.advance(2);
    assert_eq!(cache.get("t:later").await.unwrap(), None);
    assert_eq!(cache.get("t:mark").await.unwrap(), None, "the mark lives its own lifetime");
}

/// A count taken back to 0 keeps the window it had (in-process store and Redis alike): the
/// attempt that follows does not start a fresh one.
#[tokio::test]
async fn a_counter_taken_back_to_zero_keeps_its_window() {
    let app = TestApp::spawn().await;
    let cache = &app.state.cache;
    let minute = Duration::from_secs(60);
    assert_eq!(cache.count_below("t:held", 5, minute).await.unwrap(), Some(1));
    let pair = ["t:p", "t:a"];
    assert_eq!(cache.count_both(pair, [5, 5], minute).await.unwrap(), BothCounted::Both);
    assert_eq!(cache.incr("t:n", minute).await.unwrap(), 1);
    app.advance(30);
    cache.refund("t:held").await.unwrap();
    cache.settle("t:none", &pair).await.unwrap();
    cache.refund("t:n").await.unwrap();
    assert_eq!(cache.count_below("t:held", 5, minute).await.unwrap(), Some(1));
    assert_eq!(cache.count_both(pair, [5, 5], minute).await.unwrap(), BothCounted::Both);
    assert_eq!(cache.incr("t:n", minute).await.unwrap(), 1);
    app.advance(31);
    for key in ["t:held", pair[0], pair[1], "t:n"] {
        assert_eq!(cache.peek_count(key).await.unwrap(), 0, "{key}: the first window has ended");
    }
}
