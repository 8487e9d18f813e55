//! A refresh that meets a Redis outage after its token was spent in the database: it answers
//! 503, and the client's retry (as `Retry-After` tells it) is served, not taken for reuse.

use std::time::Duration;

use gerbang::oidc::clients::GrantType;

use super::*;
use crate::self_service::{refresh, token};

#[tokio::test]
async fn a_refresh_cut_short_by_a_redis_outage_can_be_retried_with_the_same_token() {
    let redis = RedisProc::start(&[]).await;
    let app = app_on(&redis.url(), &[("GERBANG_REDIS_COMMAND_TIMEOUT_MS", "300")]).await;
    let nip = unique_nip();
    app.asn(&nip, "Sri Rahayu").await;
    let c =
        app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true).await;
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["profile"]);
    let callback = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &query(&callback)["code"]),
        ("redirect_uri", &c.redirect_uri),
        ("code_verifier", start.verifier.secret()),
    ];
    let (status, t) = token(&app, &c, &form).await;
    assert_eq!(status, 200, "{t}");
    let rt = t["refresh_token"].as_str().unwrap().to_string();

    // Stopped, not killed: the session it holds is still there when it answers again.
    let pid = redis.child_id().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let res = http_client()
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())])
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let _ = std::process::Command::new("kill").args(["-CONT", &pid]).status();
    let res = res.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "temporarily_unavailable");

    // Redis answers again: the same token is retried until the cache is back.
    let mut retried = None;
    for _ in 0..100 {
        let (status, t) = token(&app, &c, &[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())]).await;
        if status != 503 {
            retried = Some((status, t));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, t) = retried.expect("Redis is back within ten seconds");
    assert_eq!(status, 200, "the retry is served, not taken for reuse: {t}");
    let next = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(refresh(&app, &c, &next).await.map(|_| ()), Ok(()), "the family lives on");
    assert_eq!(refresh(&app, &c, &rt).await, Err("invalid_grant".to_string()), "the retried token is spent now");
}
