//! Limits against unauthenticated floods (issue 10, item 8): rate limits per address and per
//! application with 429 and `Retry-After`, the parameter cap and repeat check, the bound on
//! stored login flows, and the request timeout.

use std::time::Duration;

use gerbang::oidc::clients::GrantType;
use gerbang::oidc::keys::Alg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

fn retry_after(res: &reqwest::Response) -> u64 {
    let v = res.headers().get("retry-after").unwrap_or_else(|| panic!("no Retry-After on {}", res.status()));
    v.to_str().unwrap().parse().expect("Retry-After in seconds")
}

async fn token_request(app: &TestApp, c: &TestClient, secret: &str, from: &str) -> reqwest::Response {
    http_client()
        .post(app.url("/token"))
        .basic_auth(&c.id, Some(secret))
        .header("x-forwarded-for", from)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_limited_endpoint_answers_429_with_retry_after_after_its_burst() {
    let app =
        TestApp::spawn_with(&[("GERBANG_RATE_LIMITS", "authorize=2, token=2, introspect=2, passkey=2, admin=2")]).await;
    let http = http_client();
    let get = |p: &str| http.get(app.url(p));
    let post = |p: &str| http.post(app.url(p)).form(&[("token", "x")]);

    for _ in 0..2 {
        assert_eq!(get("/authorize").send().await.unwrap().status(), 400, "an incomplete request, answered");
    }
    let res = get("/authorize").header("accept-language", "en").send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!((1..=60).contains(&retry_after(&res)));
    let html = res.text().await.unwrap();
    assert!(html.contains("Too many requests came from your network"), "{html}");
    assert!(html.contains("too_many_requests"));

    for _ in 0..2 {
        assert_eq!(post("/token").send().await.unwrap().status(), 401);
    }
    let res = post("/token").send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!((1..=60).contains(&retry_after(&res)));
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");

    // Introspection and revocation share one budget.
    assert_eq!(post("/introspect").send().await.unwrap().status(), 401);
    assert_eq!(post("/revoke").send().await.unwrap().status(), 401);
    let res = post("/revoke").send().await.unwrap();
    assert_eq!(res.status(), 429);
    retry_after(&res);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "too_many_requests");

    // Each passkey option endpoint counts against the same budget.
    assert_eq!(post("/login/passkey/options").send().await.unwrap().status(), 400);
    assert_eq!(post("/login/otp/passkey-options").send().await.unwrap().status(), 400);
    let res = post("/account/passkeys/options").send().await.unwrap();
    assert_eq!(res.status(), 429);
    retry_after(&res);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "too_many_requests");

    for _ in 0..2 {
        assert_eq!(get("/admin/api/v1/accounts").send().await.unwrap().status(), 401);
    }
    let res = get("/admin/api/v1/accounts").send().await.unwrap();
    assert_eq!(res.status(), 429);
    retry_after(&res);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["status"], 429);

    // Endpoints without a limit, and the discovery document, are not affected.
    for _ in 0..5 {
        assert_eq!(get("/.well-known/openid-configuration").send().await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn an_application_has_its_own_token_budget_whatever_the_address() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_TRUSTED_PROXIES", "127.0.0.1"),
        ("GERBANG_RATE_LIMITS", "token=100, token_client=3"),
    ])
    .await;
    let c = app.web_client(&[], &[GrantType::ClientCredentials], true).await;
    let other = app.web_client(&[], &[GrantType::ClientCredentials], true).await;
    let secret = c.secret.clone().unwrap();
    // Failed authentications under its name do not spend its budget.
    for i in 0..5 {
        assert_eq!(token_request(&app, &c, "wrong-secret", &format!("10.9.0.{i}")).await.status(), 401);
    }
    for i in 0..3 {
        let res = token_request(&app, &c, &secret, &format!("10.9.1.{i}")).await;
        assert_eq!(res.status(), 200, "each from another address");
    }
    let res = token_request(&app, &c, &secret, "10.9.2.1").await;
    assert_eq!(res.status(), 429, "a fresh address does not renew the application's budget");
    assert!((1..=60).contains(&retry_after(&res)));
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "too_many_requests");
    let res = token_request(&app, &other, other.secret.as_deref().unwrap(), "10.9.2.1").await;
    assert_eq!(res.status(), 200, "another application from the same address is served");
}

/// A public application has no secret, so naming it is all its authentication: one address
/// cannot spend its budget for every other user of it.
#[tokio::test]
async fn nobody_spends_a_public_applications_budget_for_its_other_users() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_TRUSTED_PROXIES", "127.0.0.1"),
        ("GERBANG_RATE_LIMITS", "token=100, token_client=3, introspect=100, introspect_client=3"),
    ])
    .await;
    let spa = app
        .client_with(&["openid"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true, true, Alg::RS256)
        .await;
    let send = |path: &'static str, from: &'static str| {
        let form = [
            ("client_id", spa.id.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", "junk"),
            ("token", "junk"),
        ];
        http_client().post(app.url(path)).header("x-forwarded-for", from).form(&form).send()
    };
    for _ in 0..3 {
        assert_eq!(send("/token", "10.8.0.1").await.unwrap().status(), 400);
        assert_eq!(send("/revoke", "10.8.0.1").await.unwrap().status(), 200);
    }
    assert_eq!(send("/token", "10.8.0.1").await.unwrap().status(), 429, "the address spent its share");
    assert_eq!(send("/revoke", "10.8.0.1").await.unwrap().status(), 429);
    let res = send("/token", "10.8.0.2").await.unwrap();
    assert_eq!(res.status(), 400, "another user of the application is still served");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(send("/revoke", "10.8.0.2").await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_refused_address_is_served_again_after_retry_after() {
    let app = TestApp::spawn_with(&[("GERBANG_RATE_LIMITS", "token=1/2")]).await;
    let c = app.web_client(&[], &[GrantType::ClientCredentials], true).await;
    let secret = c.secret.clone().unwrap();
    assert_eq!(token_request(&app, &c, &secret, "").await.status(), 200);
    let res = token_request(&app, &c, &secret, "").await;
    assert_eq!(res.status(), 429);
    let wait = retry_after(&res);
    assert!((1..=2).contains(&wait), "{wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(token_request(&app, &c, &secret, "").await.status(), 200);
}

#[tokio::test]
async fn replicas_share_the_address_budget_through_a_shared_cache() {
    let app = TestApp::spawn_with(&[("GERBANG_RATE_LIMITS", "token=2")]).await;
    let other = app.replica().await;
    let c = app.web_client(&[], &[GrantType::ClientCredentials], true).await;
    let secret = c.secret.clone().unwrap();
    for _ in 0..2 {
        assert_eq!(token_request(&app, &c, &secret, "").await.status(), 200);
    }
    assert_eq!(token_request(&app, &c, &secret, "").await.status(), 429);
    let at_replica = token_request(&other, &c, &secret, "").await.status();
    if app.shared_cache() {
        assert_eq!(at_replica, 429, "the budget spent at one replica is spent at all");
    } else {
        assert_eq!(at_replica, 200, "without Redis each replica keeps its own budget");
    }
}

/// With Redis, each replica takes the shared budget a few requests at a time (a lease) instead
/// of one round trip per request; the region-wide limit still holds within one lease per
/// replica. Without Redis each replica counts alone.
#[tokio::test]
async fn leased_budgets_keep_the_shared_limit_within_one_lease_per_replica() {
    // 400 an hour: nothing comes back during the test; a lease is 400 / 40 = 10 requests.
    let app = TestApp::spawn_with(&[("GERBANG_RATE_LIMITS", "token=400/3600")]).await;
    let other = app.replica().await;
    let c = app.web_client(&[], &[GrantType::ClientCredentials], true).await;
    let secret = c.secret.clone().unwrap();
    let mut admitted = 0;
    for i in 0..460 {
        let server = if i % 2 == 0 { &app } else { &other };
        match token_request(server, &c, &secret, "").await.status().as_u16() {
            200 => admitted += 1,
            429 => {}
            s => panic!("status {s}"),
        }
    }
    if app.shared_cache() {
        assert!((400..=400 + 2 * 9).contains(&admitted), "{admitted} admitted for a limit of 400 on two replicas");
    } else {
        assert_eq!(admitted, 460, "each replica's own budget of 400 covers its 230");
    }
}

#[tokio::test]
async fn too_many_or_repeated_parameters_are_refused_before_anything_else() {
    let app = TestApp::spawn().await;
    let http = http_client();
    let token_form = |body: String| {
        http.post(app.url("/token")).header("content-type", "application/x-www-form-urlencoded").body(body)
    };
    let error = |v: serde_json::Value| (v["error"].as_str().unwrap().to_string(), v["error_description"].clone());

    let many: String = (0..65).map(|i| format!("p{i}=&")).collect();
    let res = token_form(format!("{many}grant_type=client_credentials")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(error(res.json().await.unwrap()), ("invalid_request".into(), "more than 64 parameters".into()));

    let res = token_form("grant_type=client_credentials&grant_type=client_credentials".into()).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let expected = ("invalid_request".to_string(), "parameter `grant_type` was given more than once".into());
    assert_eq!(error(res.json().await.unwrap()), expected);

    // A form just under the 64 KB body limit made of distinct names: refused as a whole.
    let mut big = String::new();
    let mut i = 0;
    while big.len() < 65_000 {
        big.push_str(&format!("n{i}=&"));
        i += 1;
    }
    let res = token_form(big).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(error(res.json().await.unwrap()), ("invalid_request".into(), "more than 64 parameters".into()));
    let res = token_form("a=".repeat(40_000)).send().await.unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(error(res.json().await.unwrap()).0, "invalid_request");

    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let start = start_auth(&app.rp(&c).await, &[]);
    let padded: String = (0..64).map(|i| format!("&x{i}=1")).collect();
    let res = http.get(format!("{}{padded}", start.url)).send().await.unwrap();
    assert_eq!(res.status(), 400, "shown, not redirected");
    assert!(res.text().await.unwrap().contains("invalid_request"));
}

#[tokio::test]
async fn an_authorize_flood_stores_a_bounded_number_of_login_flows_and_recovers() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_RATE_LIMITS", "authorize=0"),
        ("GERBANG_MAX_FLOWS_PER_ADDRESS", "5"),
        ("GERBANG_LOGIN_TTL", "10"),
    ])
    .await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let url = start_auth(&app.rp(&c).await, &[]).url;
    let http = http_client();
    let sends = (0..40).map(|_| http.get(&url).send());
    let answers = futures_join_all(sends).await;
    let ok = answers.iter().filter(|r| r.status() == 200).count();
    let refused: Vec<&reqwest::Response> = answers.iter().filter(|r| r.status() == 429).collect();
    assert_eq!((ok, refused.len()), (5, 35), "five login pages, the rest refused");
    let wait = refused.iter().map(|r| retry_after(r)).max().unwrap();
    assert!((1..=10).contains(&wait), "{wait}");
    assert_eq!(app.state.cache.count_prefix("flow:").await.unwrap(), 5, "refused flows are not kept");

    tokio::time::sleep(Duration::from_secs(wait)).await;
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200, "served again once the window has passed");
    assert!(app.state.cache.count_prefix("flow:").await.unwrap() <= 6);
}

/// All futures at once, in order (no extra crate for it).
async fn futures_join_all<F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<reqwest::Response> {
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn a_request_that_stalls_gets_503_when_the_timeout_passes() {
    let app = TestApp::spawn_with(&[("GERBANG_REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // The body is announced but never sent: without a timeout the server waits for ever.
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\n\r\ngrant_type="
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(30), conn.read(&mut buf))
        .await
        .expect("the server answered instead of waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
}
