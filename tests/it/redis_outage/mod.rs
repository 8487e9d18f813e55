//! Redis outage, TLS and Sentinel: each test runs its own `redis-server` processes on free
//! ports, so they need no shared Redis and run in the plain `cargo test` too. Without the
//! `redis-server` binary they fail, saying so.

mod outage;
mod sentinel;
mod tls;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// A private `redis-server` (or Sentinel), killed when dropped.
pub struct RedisProc {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
    pub dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("addr").port()
}

impl RedisProc {
    /// A throwaway Redis on a free port: no persistence, local only.
    pub async fn start(extra: &[&str]) -> RedisProc {
        let port = free_port();
        let mut args: Vec<String> =
            ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::run(port, args).await
    }

    /// `redis-server` with `args` (which make it listen on `port`), started and awaited.
    pub async fn run(port: u16, args: Vec<String>) -> RedisProc {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut p = RedisProc { port, args, child: None, dir };
        p.spawn().await;
        p
    }

    pub fn config_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write redis config");
        path
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("these tests need the `redis-server` binary on PATH (apt install redis-server): {e}")
            });
        self.child = Some(child);
        wait_listening(self.port).await;
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    pub fn child_id(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_listening(port: u16) {
    let ready = async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), ready).await.expect("redis-server listening within 20 s");
}

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
