//! Redis dies under a running server: the flows that need it answer 503 + `Retry-After` at
//! once (never a hang, never a 500), and a new flow succeeds within seconds of its return.

use std::time::{Duration, Instant};

use gerbang::oidc::clients::GrantType;

use super::*;

/// How long the test waits for any answer at all: a hang (the old behaviour: minutes) ends there.
const HANG: Duration = Duration::from_secs(10);
/// The longest a request may take to answer 503 once Redis is gone. Issue 14 asks for "a second
/// or two"; the connect (1 s) and command (0.5 s) timeouts bound it at 1.5 s, and 3 s leaves room
/// for a loaded 2-core CI machine.
const PROMPT: Duration = Duration::from_secs(3);
/// The longest from Redis's return (or its process resuming) to a new flow's first success.
const RESUME: Duration = Duration::from_secs(5);

/// A 503 answer that came `took` after its request was sent, within [`PROMPT`].
fn assert_prompt(res: &reqwest::Response, took: Duration, what: &str) {
    assert_unavailable(res, what);
    assert!(took <= PROMPT, "{what}: 503 after {took:?}, more than {PROMPT:?}");
}

fn assert_unavailable(res: &reqwest::Response, what: &str) {
    assert_eq!(res.status(), 503, "{what}: 503 while Redis is down");
    let retry = res.headers().get("retry-after").unwrap_or_else(|| panic!("{what}: Retry-After"));
    assert!(retry.to_str().unwrap().parse::<u64>().unwrap() >= 1, "{what}: Retry-After in seconds");
}

#[tokio::test]
async fn redis_outage_answers_503_and_service_resumes() {
    let mut redis = RedisProc::start(&[]).await;
    let app = app_on(&redis.url(), &[]).await;
    let nip = unique_nip();
    app.asn(&nip, "Dewi Lestari").await;
    let c = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;

    // Before the outage: a code waiting to be redeemed, and a login page waiting for a password.
    let first = start_auth(&rp, &["profile"]);
    let callback = login(&app, &browser(), &first.url, &nip, PASSWORD).await;
    let code = query(&callback)["code"].clone();
    let b = browser();
    let pending = start_auth(&rp, &["profile"]);
    let res = b.get(&pending.url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();

    redis.kill();

    let t = Instant::now();
    let res = tokio::time::timeout(HANG, b.get(&start_auth(&rp, &["profile"]).url).send())
        .await
        .expect("GET /authorize answers, not hangs")
        .unwrap();
    let authorize = t.elapsed();
    assert_prompt(&res, authorize, "GET /authorize");
    let page = res.text().await.unwrap();
    assert!(page.contains("temporarily_unavailable"), "the friendly page names the code: {page}");

    let t = Instant::now();
    let res = tokio::time::timeout(
        HANG,
        http_client()
            .post(app.url("/token"))
            .basic_auth(&c.id, c.secret.as_deref())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", c.redirect_uri.as_str()),
                ("code_verifier", first.verifier.secret().as_str()),
            ])
            .send(),
    )
    .await
    .expect("POST /token answers, not hangs")
    .unwrap();
    let token = t.elapsed();
    assert_prompt(&res, token, "POST /token");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    let t = Instant::now();
    let res = tokio::time::timeout(
        HANG,
        b.post(app.url("/login"))
            .form(&[
                ("login_id", hidden(&html, "login_id")),
                ("csrf", hidden(&html, "csrf")),
                ("username", nip.clone()),
                ("password", PASSWORD.to_string()),
            ])
            .send(),
    )
    .await
    .expect("POST /login answers, not hangs")
    .unwrap();
    let password = t.elapsed();
    assert_prompt(&res, password, "POST /login");

    // Readiness says why.
    let t = Instant::now();
    let res = tokio::time::timeout(HANG, http_client().get(app.url("/readyz")).send()).await.expect("readyz").unwrap();
    let took = t.elapsed();
    assert_eq!(res.status(), 503);
    assert!(took <= PROMPT, "GET /readyz: 503 after {took:?}, more than {PROMPT:?}");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["cache"], "unavailable");

    redis.restart().await;
    let back = Instant::now();
    // Service resumes within seconds: poll for a login page (a flow stored in Redis again).
    let resumed = async {
        loop {
            let res = browser().get(&start_auth(&rp, &["profile"]).url).send().await.unwrap();
            if res.status() == 200 {
                return;
            }
            assert_eq!(res.status(), 503, "only 503 while Redis comes back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(HANG, resumed).await.expect("service resumes within seconds of Redis's return");
    let resumed = back.elapsed();
    eprintln!("redis outage: 503 to authorize after {authorize:?}, token {token:?}, login {password:?}; resumed {resumed:?} after restart");
    assert!(resumed <= RESUME, "a new flow succeeded {resumed:?} after Redis was back, more than {RESUME:?}");
    // A whole new flow, code and tokens, on the restarted (empty) Redis.
    let again = start_auth(&rp, &["profile"]);
    let callback = login(&app, &browser(), &again.url, &nip, PASSWORD).await;
    let tokens = redeem(&rp, &callback, again.verifier).await;
    use openidconnect::TokenResponse;
    assert!(tokens.id_token().is_some());
}

/// A Redis that accepts connections but never answers (a stopped process, a dropped network)
/// costs a request at most the connect + command timeouts, then 503.
#[tokio::test]
async fn unresponsive_redis_times_out_to_503() {
    let redis = RedisProc::start(&[]).await;
    let app = app_on(&redis.url(), &[("GERBANG_REDIS_COMMAND_TIMEOUT_MS", "300")]).await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let pid = redis.child_id();
    // SIGSTOP: the socket stays open, nothing answers.
    assert!(std::process::Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
    let t = Instant::now();
    let res = tokio::time::timeout(HANG, browser().get(&start_auth(&rp, &["openid"]).url).send())
        .await
        .expect("answers, not hangs")
        .unwrap();
    let took = t.elapsed();
    let _ = std::process::Command::new("kill").args(["-CONT", &pid.to_string()]).status();
    let back = Instant::now();
    assert_prompt(&res, took, "GET /authorize with Redis stopped");
    // Resumes once it answers again.
    let resumed = async {
        while browser().get(&start_auth(&rp, &["openid"]).url).send().await.unwrap().status() != 200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(HANG, resumed).await.expect("resumes");
    let resumed = back.elapsed();
    eprintln!("unresponsive redis: 503 after {took:?}; resumed {resumed:?} after it was let go on");
    assert!(resumed <= RESUME, "a new flow succeeded {resumed:?} after Redis went on, more than {RESUME:?}");
}
