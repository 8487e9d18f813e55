//! Redis outage, TLS and Sentinel: each test runs its own `redis-server` processes on free
//! ports, so they need no shared Redis and run in the plain `cargo test` too. Without the
//! `redis-server` binary they fail, saying so.

mod outage;
mod refresh;
mod sentinel;
mod stall;
mod tls;

use std::path::{Path, PathBuf};

use crate::common::*;
use crate::services::{free_port, RedisProc};

/// A server whose cache is the Redis at `url`, with `extra` settings.
pub async fn app_on(url: &str, extra: &[(&str, &str)]) -> TestApp {
    let prefix = format!("t-{}:", uuid::Uuid::new_v4().simple());
    let mut settings = vec![("GERBANG_REDIS_URL", url), ("GERBANG_REDIS_PREFIX", prefix.as_str())];
    settings.extend_from_slice(extra);
    let app = TestApp::spawn_with(&settings).await;
    assert_eq!(app.state.cache.kind(), "redis");
    app
}

/// A full password login and code redemption on `app`: the cache works end to end.
pub async fn full_login(app: &TestApp) {
    let nip = unique_nip();
    app.asn(&nip, "Rina Uji").await;
    let c = app.web_client(&["openid", "profile"], &[gerbang::oidc::clients::GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["profile"]);
    let callback = login(app, &browser(), &start.url, &nip, PASSWORD).await;
    assert!(callback.starts_with(&c.redirect_uri), "back at the application: {callback}");
    let tokens = redeem(&rp, &callback, start.verifier).await;
    use openidconnect::TokenResponse;
    assert!(tokens.id_token().is_some());
}

/// Keys under this app's prefix in the Redis at `port` (to see the data really went there).
pub async fn keys_in(port: u16, app: &TestApp) -> usize {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("client");
    let mut c = client.get_multiplexed_async_connection().await.expect("connect");
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", app.state.config.redis_prefix)).query_async(&mut c).await.expect("KEYS");
    keys.len()
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}
