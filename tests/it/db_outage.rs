//! A database that cannot be reached answers like an unavailable cache: 503 + `Retry-After`
//! (JSON `temporarily_unavailable` on protocol routes, the friendly page elsewhere), never a
//! 500. Here the server's pool is closed under it, which sqlx reports as it reports a database
//! that is down; `replicas::faults` restarts a real PostgreSQL under traffic.

use gerbang::oidc::clients::GrantType;
use gerbang::store::Db;

use crate::common::*;

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
