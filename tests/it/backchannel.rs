//! OpenID Connect Back-Channel Logout 1.0: a relying party in the test receives the logout
//! token for every way a session ends (RP-initiated logout, an administrator ending a session or
//! suspending the account), verifies it as an application must (signature through /jwks, `typ`,
//! iss, aud, events, sid/sub, no nonce), and a failing receiver is retried with back-off until
//! the delivery is given up and shown to administrators.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gerbang::oidc::clients::GrantType;
use gerbang::oidc::keys::Alg;
use gerbang::ops::backchannel::{deliver_due, Round};
use serde_json::{json, Value};

use crate::common::*;
use crate::self_service::{refresh, refresh_app, token};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The relying party's back-channel logout endpoint: keeps every token it is sent and answers
/// 503 while told to fail.
#[derive(Clone, Default)]
struct Receiver {
    tokens: Arc<Mutex<Vec<String>>>,
    fail_next: Arc<AtomicUsize>,
    always_fail: Arc<AtomicBool>,
    /// Requests that were not a proper form post of `logout_token`.
    malformed: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start() -> (String, Receiver) {
        let r = Receiver::default();
        let state = r.clone();
        let handler = move |headers: axum::http::HeaderMap, body: String| {
            let r = state.clone();
            async move {
                let form_post = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
                let token: Option<String> = url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into());
                match token {
                    Some(t) if form_post => r.tokens.lock().unwrap().push(t),
                    _ => {
                        r.malformed.fetch_add(1, Ordering::SeqCst);
                        return axum::http::StatusCode::BAD_REQUEST;
                    }
                }
                let fail = r.always_fail.load(Ordering::SeqCst)
                    || r.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                if fail {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                }
            }
        };
        let app = axum::Router::new().route("/backchannel-logout", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://127.0.0.1:{}/backchannel-logout", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (uri, r)
    }

    fn received(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }
}

/// A confidential application with refresh tokens that listens at `uri`.
async fn listening_client(app: &TestApp, uri: &str, alg: Alg, pairwise: bool) -> TestClient {
    let uri = uri.to_string();
    app.client_where(&["openid", "profile"], &refresh_app(), |n| {
        n.backchannel_logout_uri = Some(uri);
        // The receiver is on loopback, which only development clients may name.
        n.development = true;
        n.token_alg = alg;
        n.pairwise = pairwise;
    })
    .await
}

/// Logs the browser in to `c` and returns the token response.
async fn sign_in(app: &TestApp, b: &reqwest::Client, c: &TestClient, nip: &str) -> Value {
    let start = start_auth(&app.rp(c).await, &["profile"]);
    let cb = login(app, b, &start.url, nip, PASSWORD).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &query(&cb)["code"]),
        ("redirect_uri", &c.redirect_uri),
        ("code_verifier", start.verifier.secret()),
    ];
    let (status, t) = token(app, c, &form).await;
    assert_eq!(status, 200, "{t}");
    t
}

fn id_claims(t: &Value) -> Value {
    jwt_payload(t["id_token"].as_str().unwrap())
}

/// Verifies a logout token as a relying party must (§2.6) and returns its claims.
async fn verify(app: &TestApp, token: &str, client_id: &str) -> Value {
    let header = jwt_header(token);
    assert_eq!(header["typ"], "logout+jwt", "explicitly typed (§2.4)");
    let jwks: jsonwebtoken::jwk::JwkSet =
        http_client().get(app.url("/jwks")).send().await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header["kid"].as_str().unwrap()).expect("signed with a published key");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let alg: jsonwebtoken::Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[client_id]);
    v.set_issuer(&[&app.base]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &v).expect("valid signature and claims").claims;
    assert!(claims.get("nonce").is_none(), "a logout token never carries a nonce");
    assert_eq!(claims["events"], json!({ EVENT: {} }));
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120, "two minutes");
    claims
}

/// Logs out through the confirmation page (RP-initiated logout without a hint).
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

async fn admin(app: &TestApp) -> String {
    let (nip, _) = staff(app, "Admin Diskominfo", None, Some("diskominfo-admin")).await;
    console_token(app, &nip).await
}

async fn api(app: &TestApp, t: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http_client().request(method, app.url(path)).bearer_auth(t);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The status of a new authorization request from the browser `b`: 303 when its SSO session
/// answers, 200 (the login page) when it has none.
async fn authorize(app: &TestApp, b: &reqwest::Client, c: &TestClient) -> u16 {
    b.get(start_auth(&app.rp(c).await, &["profile"]).url).send().await.unwrap().status().as_u16()
}

async fn wait_for(r: &Receiver, n: usize) -> Vec<String> {
    for _ in 0..100 {
        if r.received().len() >= n {
            return r.received();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("expected {n} logout tokens, got {}", r.received().len());
}

#[tokio::test]
async fn discovery_advertises_back_channel_logout_with_sessions() {
    let app = TestApp::spawn().await;
    let d: Value =
        http_client().get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
}

#[tokio::test]
async fn logging_out_sends_each_listening_application_a_verifiable_logout_token() {
    let app = TestApp::spawn().await;
    // The worker `serve` starts: woken by the logout, it delivers without being called.
    let worker = gerbang::ops::backchannel::spawn_worker(app.state.clone());
    let (uri, rp) = Receiver::start().await;
    let nip = unique_nip();
    app.asn(&nip, "Keluar Semua").await;
    let plain = listening_client(&app, &uri, Alg::RS256, false).await;
    let pairwise = listening_client(&app, &uri, Alg::ES256, true).await;
    let deaf = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let b = browser();
    let t_plain = sign_in(&app, &b, &plain, &nip).await;
    let t_pairwise = sign_in(&app, &b, &pairwise, &nip).await;
    sign_in(&app, &b, &deaf, &nip).await;
    assert!(rp.received().is_empty(), "nothing before the session ends");

    log_out(&app, &b).await;
    let tokens = wait_for(&rp, 2).await;
    worker.abort();
    assert_eq!(tokens.len(), 2, "one per listening application, none for the one without a URI");
    assert_eq!(rp.malformed.load(Ordering::SeqCst), 0);
    let mut by_aud = std::collections::HashMap::new();
    for t in &tokens {
        let aud = jwt_payload(t)["aud"].as_str().unwrap().to_string();
        by_aud.insert(aud.clone(), verify(&app, t, &aud).await);
    }
    for (c, t, alg) in [(&plain, &t_plain, "RS256"), (&pairwise, &t_pairwise, "ES256")] {
        let claims = &by_aud[&c.id];
        let id = id_claims(t);
        assert_eq!(claims["sub"], id["sub"], "the subject the application knows");
        assert_eq!(claims["sid"], id["sid"], "the session the application knows");
        let header = jwt_header(tokens.iter().find(|x| jwt_payload(x)["aud"] == c.id.as_str()).unwrap());
        assert_eq!(header["alg"], alg, "signed with the application's algorithm");
    }
    assert_ne!(by_aud[&plain.id]["sub"], by_aud[&pairwise.id]["sub"], "pairwise subjects stay pairwise");
}

#[tokio::test]
async fn suspension_ends_every_session_at_once_and_tells_the_applications() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (uri, rp) = Receiver::start().await;
    let admin = admin(&app).await;
    let (nip, id) = staff(&app, "Pensiun Dini", None, None).await;
    let c = listening_client(&app, &uri, Alg::RS256, false).await;
    let (b1, b2) = (browser(), browser());
    let t1 = sign_in(&app, &b1, &c, &nip).await;
    let t2 = sign_in(&app, &b2, &c, &nip).await;
    assert_eq!(authorize(&app, &b1, &c).await, 303, "the SSO cookie answers the next authorization at once");

    // Two administrators at once: the account is suspended once, each session announced once.
    let path = format!("/admin/api/v1/accounts/{id}/status");
    let body = json!({ "status": "suspended" });
    let (a, b) = tokio::join!(
        api(&app, &admin, reqwest::Method::PUT, &path, Some(body.clone())),
        api(&app, &admin, reqwest::Method::PUT, &path, Some(body.clone()))
    );
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");

    let now = app.state.now();
    let live = gerbang::auth::session::list_for_account(&app.state.cache, &id, now).await.unwrap();
    assert!(live.is_empty(), "every SSO session ended at once, not merely refused");
    assert_eq!(authorize(&app, &b1, &c).await, 200, "the SSO cookie no longer signs in: the login page");
    for t in [&t1, &t2] {
        assert_eq!(refresh(&app, &c, t["refresh_token"].as_str().unwrap()).await, Err("invalid_grant".into()));
    }

    assert_eq!(deliver_due(&app.state, now).await, Round { delivered: 2, retrying: 0, given_up: 0 });
    let tokens = rp.received();
    assert_eq!(tokens.len(), 2, "one per session, none twice");
    let mut sids: Vec<String> = Vec::new();
    for t in &tokens {
        let claims = verify(&app, t, &c.id).await;
        assert_eq!(claims["sub"], id.as_str());
        sids.push(claims["sid"].as_str().unwrap().into());
    }
    sids.sort();
    let mut expected: Vec<String> =
        [&t1, &t2].iter().map(|t| id_claims(t)["sid"].as_str().unwrap().to_string()).collect();
    expected.sort();
    assert_eq!(sids, expected);
    let (s, list) = api(
        &app,
        &admin,
        reqwest::Method::GET,
        &format!("/admin/api/v1/applications/{}/logout-deliveries", c.id),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(list.as_array().unwrap().iter().all(|d| d["reason"] == "account_suspended" && d["delivered_at"].is_i64()));
    assert_eq!(deliver_due(&app.state, now + 3600).await, Round::default(), "nothing is sent twice");
}

#[tokio::test]
async fn an_administrator_ending_one_session_tells_only_that_sessions_applications() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (uri, rp) = Receiver::start().await;
    let admin = admin(&app).await;
    let (nip, id) = staff(&app, "Sesi Lupa", None, None).await;
    let c = listening_client(&app, &uri, Alg::EdDSA, false).await;
    let (b1, b2) = (browser(), browser());
    let t1 = sign_in(&app, &b1, &c, &nip).await;
    let t2 = sign_in(&app, &b2, &c, &nip).await;
    let sid = id_claims(&t1)["sid"].as_str().unwrap().to_string();
    let path = format!("/admin/api/v1/accounts/{id}/sessions/{sid}");
    assert_eq!(api(&app, &admin, reqwest::Method::DELETE, &path, None).await.0, 204);
    assert_eq!(deliver_due(&app.state, app.state.now()).await.delivered, 1);
    let tokens = rp.received();
    assert_eq!(tokens.len(), 1);
    let claims = verify(&app, &tokens[0], &c.id).await;
    assert_eq!(claims["sid"], sid.as_str());
    assert!(refresh(&app, &c, t2["refresh_token"].as_str().unwrap()).await.is_ok(), "the other session lives on");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_back_off_then_given_up_and_shown_to_administrators() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (uri, rp) = Receiver::start().await;
    let admin = admin(&app).await;
    let nip = unique_nip();
    app.asn(&nip, "Penerima Rusak").await;
    let c = listening_client(&app, &uri, Alg::RS256, false).await;
    let list = format!("/admin/api/v1/applications/{}/logout-deliveries", c.id);

    // Down for two attempts, then back: delivered on the third, after 30 s and 60 s.
    rp.fail_next.store(2, Ordering::SeqCst);
    let b = browser();
    sign_in(&app, &b, &c, &nip).await;
    log_out(&app, &b).await;
    let retry = Round { delivered: 0, retrying: 1, given_up: 0 };
    // Times from one reading: the wall clock may pass a second boundary between the calls, which
    // would put "29 s later" at 30 s.
    let t0 = app.state.now();
    assert_eq!(deliver_due(&app.state, t0).await, retry);
    assert_eq!(deliver_due(&app.state, t0).await, Round::default(), "not before the back-off");
    app.advance(29);
    assert_eq!(deliver_due(&app.state, t0 + 29).await, Round::default());
    app.advance(1);
    assert_eq!(deliver_due(&app.state, t0 + 30).await, retry);
    app.advance(60);
    assert_eq!(deliver_due(&app.state, t0 + 90).await.delivered, 1);
    let tokens = rp.received();
    assert_eq!(tokens.len(), 3);
    let jtis: std::collections::HashSet<String> =
        tokens.iter().map(|t| jwt_payload(t)["jti"].as_str().unwrap().to_string()).collect();
    assert_eq!(jtis.len(), 3, "a fresh token at every attempt");
    verify(&app, &tokens[2], &c.id).await;
    let (_, rows) = api(&app, &admin, reqwest::Method::GET, &list, None).await;
    assert_eq!(rows[0]["attempts"], 3);
    assert!(rows[0]["delivered_at"].is_i64());

    // Gone for good: eight attempts, then given up, with the error for administrators.
    rp.always_fail.store(true, Ordering::SeqCst);
    sign_in(&app, &b, &c, &nip).await;
    log_out(&app, &b).await;
    let mut given_up = 0;
    for _ in 0..8 {
        given_up += deliver_due(&app.state, app.state.now()).await.given_up;
        app.advance(3600);
    }
    assert_eq!(given_up, 1);
    assert_eq!(deliver_due(&app.state, app.state.now()).await, Round::default(), "given up means no more attempts");
    // Hours later: the earlier administrator's access token has expired.
    let admin = self::admin(&app).await;
    let (s, rows) = api(&app, &admin, reqwest::Method::GET, &list, None).await;
    assert_eq!(s, 200);
    let failed = &rows[0];
    assert_eq!(failed["attempts"], 8);
    assert!(failed["failed_at"].is_i64());
    assert_eq!(failed["last_error"], "HTTP 503");
    assert_eq!(failed["reason"], "logout");
    let trail = gerbang::store::audit::latest(&app.state.db, 100, None).await.unwrap();
    assert!(trail.iter().any(|r| r.kind == "backchannel_logout.failed"), "recorded in the audit trail");
}

#[tokio::test]
async fn the_back_channel_logout_uri_follows_the_redirect_uri_rules() {
    let app =
        TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1"), ("GERBANG_REDIRECT_DOMAINS", "*.example.go.id")]).await;
    let admin = admin(&app).await;
    let c = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let path = format!("/admin/api/v1/applications/{}", c.id);
    for bad in [
        json!({ "backchannel_logout_uri": "http://app.example.go.id/bcl" }),
        json!({ "backchannel_logout_uri": "https://app.example.go.id/bcl#frag" }),
        json!({ "backchannel_logout_uri": "https://evil.example.com/bcl" }),
        json!({ "backchannel_logout_uri": "http://127.0.0.1:9/bcl" }),
        json!({ "backchannel_logout_uri": "bcl" }),
        json!({ "backchannel_logout_session_required": true }),
    ] {
        let (s, p) = api(&app, &admin, reqwest::Method::PATCH, &path, Some(bad.clone())).await;
        assert_eq!(s, 422, "{bad}: {p}");
    }
    let good = json!({ "backchannel_logout_uri": "https://app.example.go.id/bcl?x=1", "backchannel_logout_session_required": true });
    let (s, v) = api(&app, &admin, reqwest::Method::PATCH, &path, Some(good)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["backchannel_logout_uri"], "https://app.example.go.id/bcl?x=1");
    assert_eq!(v["backchannel_logout_session_required"], true);
    let (s, v) = api(
        &app,
        &admin,
        reqwest::Method::PATCH,
        &path,
        Some(json!({ "backchannel_logout_uri": "", "backchannel_logout_session_required": false })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["backchannel_logout_uri"], Value::Null, "an empty string removes it");
}

#[tokio::test]
async fn a_factor_reset_a_session_ended_on_the_account_page_and_a_password_reset_each_send_one() {
    use crate::self_service::{page, post, signed_in};
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (uri, rp) = Receiver::start().await;
    let admin = admin(&app).await;
    let (nip, id) = staff(&app, "Banyak Jalan", None, None).await;
    let c = listening_client(&app, &uri, Alg::RS256, false).await;
    let sid_of = |t: &Value| id_claims(t)["sid"].as_str().unwrap().to_string();
    let last_sid = |rp: &Receiver| jwt_payload(rp.received().last().unwrap())["sid"].as_str().unwrap().to_string();

    // An administrator resets the person's second factors (lost phone).
    let t = sign_in(&app, &browser(), &c, &nip).await;
    let reset = format!("/admin/api/v1/accounts/{id}/factor-reset");
    assert_eq!(api(&app, &admin, reqwest::Method::POST, &reset, None).await.0, 200);
    assert_eq!(deliver_due(&app.state, app.state.now()).await.delivered, 1);
    assert_eq!(last_sid(&rp), sid_of(&t));

    // The person ends a forgotten browser's session from the account page.
    let t = sign_in(&app, &browser(), &c, &nip).await;
    let me = signed_in(&app, &nip).await;
    let csrf = hidden(&page(&me, &app, "/account/password").await, "csrf");
    let res = post(&me, &app, &format!("/account/sessions/{}/end", sid_of(&t)), &[("csrf", csrf)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(deliver_due(&app.state, app.state.now()).await.delivered, 1);
    assert_eq!(last_sid(&rp), sid_of(&t));

    // A help-desk password reset shuts out every session.
    let t = sign_in(&app, &browser(), &c, &nip).await;
    let path = format!("/admin/api/v1/accounts/{id}/password-reset");
    let (s, link) = api(&app, &admin, reqwest::Method::POST, &path, Some(json!({ "delivery": "link" }))).await;
    assert_eq!(s, 200, "{link}");
    let url = link["url"].as_str().unwrap().to_string();
    let b = browser();
    let html = b.get(&url).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf", hidden(&html, "csrf")),
        ("password", "sandi-baru-panjang-99".into()),
        ("repeat", "sandi-baru-panjang-99".into()),
    ];
    assert_eq!(b.post(&url).form(&form).send().await.unwrap().status(), 200);
    assert_eq!(deliver_due(&app.state, app.state.now()).await.delivered, 1);
    assert_eq!(last_sid(&rp), sid_of(&t));

    let list = format!("/admin/api/v1/applications/{}/logout-deliveries", c.id);
    let (_, rows) = api(&app, &admin, reqwest::Method::GET, &list, None).await;
    let mut reasons: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    reasons.sort();
    assert_eq!(reasons, ["factors_reset", "password_reset", "session_ended"]);
    for t in rp.received() {
        verify(&app, &t, &c.id).await;
    }
}

#[tokio::test]
async fn the_command_line_sets_and_removes_the_uri_and_the_console_shows_deliveries() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let c = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let cli = |args: &[&str]| {
        let out = Gerbang::new(args).on(&app.state.config).env("GERBANG_REDIRECT_DOMAINS", "*.example.go.id").run();
        let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
        (out.code, v)
    };
    let uri = "https://app.example.go.id/oidc/backchannel-logout";
    let (code, v) = cli(&[
        "client",
        "update",
        &c.id,
        "--backchannel-logout-uri",
        uri,
        "--backchannel-logout-session-required",
        "true",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["backchannel_logout_uri"].as_str(), v["backchannel_logout_session_required"].as_bool()),
        (Some(uri), Some(true))
    );
    let (code, v) =
        cli(&["client", "update", &c.id, "--backchannel-logout-uri", "http://app.example.go.id/x", "--json"]);
    assert_eq!((code, v["error"].as_str()), (1, Some("invalid")), "{v}");

    // A delivery that failed shows on the application's console page with its error.
    let (nip, _) = staff(&app, "Admin Konsol", None, Some("diskominfo-admin")).await;
    let person = unique_nip();
    app.asn(&person, "Tamu").await;
    let b = browser();
    sign_in(&app, &b, &c, &person).await;
    log_out(&app, &b).await;
    assert_eq!(deliver_due(&app.state, app.state.now()).await.retrying, 1, "nobody answers at app.example.go.id");
    let console = browser();
    crate::console::console_login(&app, &console, &nip).await;
    let html =
        console.get(app.url(&format!("/console/applications/{}", c.id))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"bcl-deliveries\""), "{html}");
    assert!(html.contains("backchannel-logout") && html.contains("<code>logout</code>"), "{html}");

    let (code, v) = cli(&["client", "update", &c.id, "--backchannel-logout-uri", "", "--json"]);
    assert_eq!((code, v["backchannel_logout_uri"].clone()), (0, Value::Null), "{v}");
}

/// The personnel system marking someone as gone (SCIM `active: false`) is a leaving like any
/// other: every session ends and each listening application receives a verifiable logout token.
#[tokio::test]
async fn deactivation_through_scim_sends_the_logout_token() {
    let app = TestApp::spawn().await;
    let (uri, rp) = Receiver::start().await;
    let (nip, id) = staff(&app, "Diberhentikan Lewat SIMPEG", None, None).await;
    let c = listening_client(&app, &uri, Alg::ES256, false).await;
    let b = browser();
    let t = sign_in(&app, &b, &c, &nip).await;

    let operator = gerbang::ops::Principal::Operator(gerbang::ops::Operator::local());
    let now = app.state.now();
    let (_, scim) = gerbang::ops::scim::create_token(&app.state, &operator, "simpeg", None, now).await.unwrap();
    let off = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "active", "value": false }]
    });
    let res = http_client()
        .patch(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(scim.expose())
        .header("content-type", "application/scim+json")
        .body(off.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);

    assert_eq!(authorize(&app, &b, &c).await, 200, "the SSO cookie no longer signs in");
    assert_eq!(refresh(&app, &c, t["refresh_token"].as_str().unwrap()).await, Err("invalid_grant".into()));
    // Read after the deactivation: the notice is due from the second it was written, which on a
    // loaded machine may be past the `now` read before the request.
    assert_eq!(deliver_due(&app.state, app.state.now()).await, Round { delivered: 1, retrying: 0, given_up: 0 });
    let tokens = rp.received();
    assert_eq!(tokens.len(), 1);
    let claims = verify(&app, &tokens[0], &c.id).await;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["sid"], id_claims(&t)["sid"]);
}

/// A new login in the same browser (here `prompt=login`; a step-up does the same) carries the
/// application's grant over to the new session. The application still knows the session its ID
/// token named: its refreshed ID tokens and its logout token keep naming that one.
#[tokio::test]
async fn after_a_new_login_in_the_same_browser_the_logout_token_names_the_session_the_application_knows() {
    let app = TestApp::spawn().await;
    let (uri, rp) = Receiver::start().await;
    let nip = unique_nip();
    app.asn(&nip, "Masuk Ulang").await;
    let c = listening_client(&app, &uri, Alg::RS256, false).await;
    let other = app.web_client(&["openid", "profile"], &refresh_app(), true).await;
    let b = browser();
    let first = sign_in(&app, &b, &c, &nip).await;
    let known = id_claims(&first)["sid"].as_str().unwrap().to_string();

    let again = format!("{}&prompt=login", start_auth(&app.rp(&other).await, &["profile"]).url);
    login(&app, &b, &again, &nip, PASSWORD).await;
    let now = app.state.now();
    let live = gerbang::auth::session::list_for_account(&app.state.cache, &first_sub(&first), now).await.unwrap();
    assert_eq!(live.len(), 1, "the new login replaced the old session");
    assert_ne!(live[0].sid, known, "under a new session id");

    let form = [("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())];
    let (status, refreshed) = token(&app, &c, &form).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(id_claims(&refreshed)["sid"], known.as_str(), "the refreshed ID token names the same session");

    log_out(&app, &b).await;
    assert_eq!(deliver_due(&app.state, app.state.now()).await, Round { delivered: 1, retrying: 0, given_up: 0 });
    let claims = verify(&app, &rp.received()[0], &c.id).await;
    assert_eq!(claims["sid"], known.as_str(), "the logout names the session the application knows");
    assert_eq!(
        refresh(&app, &c, refreshed["refresh_token"].as_str().unwrap()).await,
        Err("invalid_grant".into()),
        "and the logout ended the grant that followed the person to the new session"
    );
}

/// The account id behind a (non-pairwise) application's tokens.
fn first_sub(t: &Value) -> String {
    id_claims(t)["sub"].as_str().unwrap().to_string()
}
