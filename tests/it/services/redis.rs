//! A private `redis-server` (or Sentinel) on a free port, killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, wait_listening};

pub struct RedisProc {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
    /// Removed when this test stops the server itself (see `reap_if_left`).
    marker: Option<PathBuf>,
    pub dir: tempfile::TempDir,
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
        let mut p = RedisProc { port, args, child: None, marker: None, dir };
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
        let marker = self.dir.path().join(format!("running-{}", child.id()));
        self.marker = Some(super::reap_if_left(marker, &super::kill_if(child.id(), "redis-server")));
        self.child = Some(child);
        wait_listening(self.port, Duration::from_secs(20), "redis-server").await;
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(m) = self.marker.take() {
            let _ = std::fs::remove_file(m);
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Starts it again after [`RedisProc::kill`], empty.
    pub async fn start_again(&mut self) {
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
