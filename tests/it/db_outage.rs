//! A database that cannot be reached answers like an unavailable cache: 503 + `Retry-After`
//! (JSON `temporarily_unavailable` on protocol routes, the friendly page elsewhere), never a
//! 500. Here the server's pool is closed under it, which sqlx reports as it reports a database
//! that is down; `replicas::faults` restarts a real PostgreSQL under traffic. Logins that fail
//! because the database is away are not counted against the people retrying them.

use gerbang::config::Secret;
use gerbang::oidc::clients::GrantType;
use gerbang::ops::login::{password_login, LoginError};
use gerbang::state::now;
use gerbang::store::Db;

use crate::common::*;
use crate::factors::{at_second_step, code_now};

fn assert_unavailable(res: &reqwest::Response, what: &str) {
    assert_eq!(res.status(), 503, "{what}");
    let retry = res.headers().get("retry-after").unwrap_or_else(|| panic!("{what}: Retry-After"));
    assert!(retry.to_str().unwrap().parse::<u64>().unwrap() >= 1, "{what}: Retry-After in seconds");
}

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
