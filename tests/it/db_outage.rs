//! A database that cannot be reached answers like an unavailable cache: 503 + `Retry-After`
//! (JSON `temporarily_unavailable` on protocol routes, the friendly page elsewhere), never a
//! 500. Logins that fail because the database is away are not counted against the people
//! retrying them.
//!
//! Two ways to lose the database: the first test closes the server's pool, which makes every
//! query fail at once with `PoolClosed` (classed as unavailable like a connection error): a
//! quick check, on either database, of the form of the answers. It says nothing about what a
//! real outage costs, nor about the pool afterwards (a closed pool never comes back). For that,
//! [`a_postgresql_restart_or_stop_costs_no_request_once_it_is_back`] stops and restarts a
//! PostgreSQL of its own under the server (ignored by default: it needs `initdb` and `pg_ctl`),
//! and `replicas::faults` restarts one under traffic to three replicas.

use std::time::{Duration, Instant};

use gerbang::config::Secret;
use gerbang::oidc::clients::GrantType;
use gerbang::ops::login::{password_login, LoginError};
use gerbang::state::now;
use gerbang::store::Db;
use openidconnect::OAuth2TokenResponse;

use crate::common::*;
use crate::factors::{at_second_step, code_now};
use crate::services::PgProc;

fn assert_unavailable(res: &reqwest::Response, what: &str) {
    assert_eq!(res.status(), 503, "{what}");
    let retry = res.headers().get("retry-after").unwrap_or_else(|| panic!("{what}: Retry-After"));
    assert!(retry.to_str().unwrap().parse::<u64>().unwrap() >= 1, "{what}: Retry-After in seconds");
}

/// The pool closed under the server (see the module's note: the form of the answers only).
#[tokio::test]
async fn an_unreachable_database_answers_503_with_retry_after() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true).await;
    let rp = app.rp(&c).await;
    match &app.state.db {
        Db::Sqlite(p) => p.close().await,
        Db::Postgres(p) => p.close().await,
    }

    let res = browser().get(start_auth(&rp, &["openid"]).url).send().await.unwrap();
    assert_unavailable(&res, "GET /authorize");
    assert!(res.text().await.unwrap().contains("temporarily_unavailable"), "the friendly page names the code");

    let res = http_client()
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "tidak-ada")])
        .send()
        .await
        .unwrap();
    assert_unavailable(&res, "POST /token");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "temporarily_unavailable");

    let res = http_client().get(app.url("/readyz")).send().await.unwrap();
    assert_unavailable(&res, "GET /readyz");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["database"], "unavailable");
}

/// Longest wait for any answer: a request that hangs fails here rather than the test hanging.
const HANG: Duration = Duration::from_secs(15);
/// The longest a request that needs a stopped database may take to answer 503. The pool gives
/// up on a connection after 2 s (`store::ACQUIRE_TIMEOUT`); the rest is a margin for a loaded
/// 2-core CI machine.
const PROMPT: Duration = Duration::from_secs(4);
/// The longest from the database's return to the first request it serves again.
const RESUME: Duration = Duration::from_secs(5);

async fn timed(req: reqwest::RequestBuilder, what: &str) -> (reqwest::Response, Duration) {
    let t = Instant::now();
    let res = tokio::time::timeout(HANG, req.send()).await.unwrap_or_else(|_| panic!("{what}: no answer in {HANG:?}"));
    (res.unwrap_or_else(|e| panic!("{what}: {e}")), t.elapsed())
}

fn refresh_request(app: &TestApp, c: &TestClient, token: &str) -> reqwest::RequestBuilder {
    http_client()
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
}

/// `rounds` times, one request at a time: a refresh (rotating `rt`), userinfo with its access
/// token, readiness. Returns the requests that did not succeed.
async fn every_request(app: &TestApp, c: &TestClient, rt: &mut String, rounds: usize) -> Vec<String> {
    let mut failed = Vec::new();
    for i in 0..rounds {
        let (res, _) = timed(refresh_request(app, c, rt), "refresh").await;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        if status != 200 {
            failed.push(format!("round {i}: refresh {status} {body}"));
            continue;
        }
        *rt = body["refresh_token"].as_str().expect("refresh token").to_string();
        let access = body["access_token"].as_str().expect("access token");
        let (res, _) = timed(http_client().get(app.url("/userinfo")).bearer_auth(access), "userinfo").await;
        if res.status() != 200 {
            failed.push(format!("round {i}: userinfo {}", res.status()));
        }
        let (res, _) = timed(http_client().get(app.url("/readyz")), "readyz").await;
        if res.status() != 200 {
            failed.push(format!("round {i}: readyz {} {}", res.status(), res.text().await.unwrap_or_default()));
        }
    }
    failed
}

/// Readiness asked `n` times at once: the pool opens up to `n` connections, which stay in it.
async fn fill_pool(app: &TestApp, n: usize) {
    let mut tasks = Vec::new();
    for _ in 0..n {
        tasks.push(tokio::spawn(http_client().get(app.url("/readyz")).send()));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("readyz").status(), 200, "ready before the fault");
    }
}

/// A PostgreSQL of its own under the server. Restarted: once the connections it cut have sat in
/// the pool for 2 s (a quiet replica at night), every request succeeds; before the fix each of
/// those connections was handed out unchecked and failed one request with a 503, however long
/// after. Stopped for 3 s: every request that needs it answers 503 + `Retry-After` within
/// [`PROMPT`] (the pool gave up only after 10 s before), and it is served again within
/// [`RESUME`] of the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the PostgreSQL server binaries (initdb, pg_ctl); .ci/run step 2d runs it"]
async fn a_postgresql_restart_or_stop_costs_no_request_once_it_is_back() {
    let pg = PgProc::start().await;
    let url = pg.url();
    let app = TestApp::spawn_with(&[("GERBANG_DATABASE_URL", url.as_str())]).await;
    assert_eq!(app.state.db.kind(), "postgres");
    let nip = unique_nip();
    app.asn(&nip, "Sabar Menunggu").await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true).await;
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["openid"]);
    let callback = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let tokens = redeem(&rp, &callback, start.verifier).await;
    let mut rt = tokens.refresh_token().expect("refresh token").secret().clone();

    // Restarted; then nothing is asked for 2 s (longer than a connection may sit unchecked).
    fill_pool(&app, 8).await;
    pg.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let failed = every_request(&app, &c, &mut rt, 12).await;
    assert!(failed.is_empty(), "requests failed 2 s after a PostgreSQL restart: {failed:#?}");

    // Stopped for 3 s: each request answers 503 + Retry-After promptly.
    fill_pool(&app, 8).await;
    pg.stop().await;
    let stopped = Instant::now();
    // (request, status, Retry-After, OAuth error, time to answer)
    let mut answers = Vec::new();
    while stopped.elapsed() < Duration::from_secs(3) {
        for (what, req) in
            [("refresh", refresh_request(&app, &c, &rt)), ("readyz", http_client().get(app.url("/readyz")))]
        {
            let (res, took) = timed(req, what).await;
            let status = res.status().as_u16();
            let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            answers.push((what, status, retry, body["error"].as_str().unwrap_or_default().to_string(), took));
        }
    }
    pg.start_again().await;
    let back = Instant::now();
    let resumed = loop {
        let (res, _) = timed(http_client().get(app.url("/readyz")), "readyz after the start").await;
        if res.status() == 200 {
            break back.elapsed();
        }
        assert!(back.elapsed() < Duration::from_secs(30), "not ready 30 s after PostgreSQL started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failed = every_request(&app, &c, &mut rt, 4).await;
    eprintln!("PostgreSQL stopped: {answers:?}; ready again {resumed:?} after its start");
    assert!(answers.len() >= 2, "requests were sent while it was stopped");
    for (what, status, retry, error, took) in &answers {
        assert_eq!(*status, 503, "{what} while stopped: {answers:?}");
        assert!(retry.is_some_and(|s| s >= 1), "{what} while stopped: Retry-After in seconds: {answers:?}");
        assert!(*what != "refresh" || error == "temporarily_unavailable", "{what}: the OAuth error: {answers:?}");
        assert!(*took <= PROMPT, "{what} while stopped: 503 after {took:?}, more than {PROMPT:?}: {answers:?}");
    }
    assert!(resumed <= RESUME, "served again {resumed:?} after PostgreSQL started, more than {RESUME:?}");
    assert!(failed.is_empty(), "requests failed once PostgreSQL was back: {failed:#?}");
}

async fn execute(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A login whose account cannot be read gets an error and no verdict, so it is not counted
/// (`throttle::unjudged`): twice the failures that lock an account, retried while the accounts
/// are out of reach, leave the person free to sign in once they are back. Counted, as before,
/// they locked out everyone signing in during a database restart (seen in `replicas::faults`).
#[tokio::test]
async fn logins_the_database_could_not_judge_lock_nobody_out() {
    let app = TestApp::spawn().await;
    let st = &app.state;
    let nip = unique_nip();
    let account = app.asn(&nip, "Masuk Saat Gangguan").await;
    let right = Secret::new(PASSWORD.to_string());
    let t = now();
    // Every lookup of an account fails, as it does while the database restarts.
    execute(&st.db, "ALTER TABLE accounts RENAME TO accounts_away").await;
    let attempts = 2 * st.config.login_max_failures + 2;
    for i in 0..attempts {
        let res = password_login(st, &nip, &right, "10.40.0.1", t + i as i64).await;
        assert_eq!(res.map(|_| ()), Err(LoginError::Internal), "attempt {i} of {attempts}");
    }
    execute(&st.db, "ALTER TABLE accounts_away RENAME TO accounts").await;
    let res = password_login(st, &nip, &right, "10.40.0.1", t + attempts as i64).await;
    assert_eq!(res.map(|(a, _)| a.id), Ok(account.id), "signed in at once");
}

/// The same for a one-time code: while the authenticator's secret cannot be read, no code is
/// compared with anything, so the attempts are taken back, and the right code is accepted once
/// the database answers again. (Counted, twelve retries locked the second step for the lockout
/// time.) Recovery codes and passkeys whose credentials could not be read stay counted: their
/// errors can come after the proof was compared. (A passkey ceremony that could not be read is
/// taken back: `level4`.)
#[tokio::test]
async fn one_time_codes_the_database_could_not_judge_lock_nobody_out() {
    let app = TestApp::spawn().await;
    let st = &app.state;
    let nip = unique_nip();
    let account = app.asn(&nip, "Kode Saat Gangguan").await;
    let (secret, b, html) = at_second_step(&app, &nip, &account.id).await;
    let post = |code: String| {
        let form = [("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf")), ("code", code)];
        b.post(app.url("/login/otp")).form(&form).send()
    };
    // The secret's column is out of reach; the factor list (read before the throttle) is not.
    execute(&st.db, "ALTER TABLE totp_factors RENAME COLUMN secret TO secret_away").await;
    let attempts = 2 * st.config.login_max_failures + 2;
    for i in 0..attempts {
        let res = post(code_now(&secret, 0)).await.unwrap();
        assert_eq!(res.status(), 500, "attempt {i} of {attempts}");
        assert!(res.headers().get("set-cookie").is_none(), "attempt {i}: no session");
    }
    execute(&st.db, "ALTER TABLE totp_factors RENAME COLUMN secret_away TO secret").await;
    let res = post(code_now(&secret, 0)).await.unwrap();
    assert_eq!(res.status(), 303, "accepted at once, not locked");
    assert!(location(&res).contains("code="), "{}", location(&res));
}
