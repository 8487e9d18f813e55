//! The `gerbang` binary as tests run it: [`Gerbang`] builds a command whose environment holds
//! only the settings the test gives (never a GERBANG_* variable of the developer's shell or of
//! CI), and [`Serve`] keeps `gerbang serve` running as a child that can be killed and started
//! again, and is killed when dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use gerbang::config::Config;

use crate::common::{http_client, Run};

pub const THEMES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/themes");

pub struct Gerbang {
    cmd: std::process::Command,
}

impl Gerbang {
    /// `gerbang <args>` with the repository's themes and stdin closed.
    pub fn new(args: &[&str]) -> Gerbang {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gerbang"));
        cmd.args(args);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GERBANG_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("GERBANG_THEMES_DIR", THEMES).stdin(Stdio::null());
        Gerbang { cmd }
    }

    /// The settings that reach `c`'s data: its database, data directory (the generated master
    /// key), issuer and themes, and its master key when configured; bootstrap off, as for the
    /// test server. Not its cache: see [`Gerbang::with_cache`].
    pub fn on(self, c: &Config) -> Gerbang {
        let g = self
            .env("GERBANG_BOOTSTRAP", "false")
            .env("GERBANG_DATABASE_URL", c.database_url.expose())
            .env("GERBANG_DATA_DIR", c.data_dir.display().to_string())
            .env("GERBANG_ISSUER", &c.issuer)
            .env("GERBANG_THEMES_DIR", c.themes_dir.display().to_string());
        match &c.master_key {
            Some(k) => g.env("GERBANG_MASTER_KEY", k.expose()),
            None => g,
        }
    }

    /// `c`'s Redis, when it has one, with the same key prefix.
    pub fn with_cache(self, c: &Config) -> Gerbang {
        match &c.redis_url {
            Some(r) => self.env("GERBANG_REDIS_URL", r.expose()).env("GERBANG_REDIS_PREFIX", &c.redis_prefix),
            None => self,
        }
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Gerbang {
        self.cmd.env(key, value);
        self
    }

    pub fn envs<K: AsRef<str>, V: AsRef<std::ffi::OsStr>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Gerbang {
        for (k, v) in pairs {
            self.cmd.env(k.as_ref(), v);
        }
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<std::path::Path>) -> Gerbang {
        self.cmd.current_dir(dir);
        self
    }

    /// The command itself, for what the builder does not cover (stdin, a child).
    pub fn command(self) -> std::process::Command {
        self.cmd
    }

    /// Runs it to the end (blocking: for synchronous tests and one-shot commands).
    pub fn run(mut self) -> Run {
        let out = self.cmd.output().expect("run gerbang");
        Run::from(out)
    }

    /// Runs it to the end without blocking the test's runtime.
    pub async fn output(self) -> Run {
        let out = tokio::process::Command::from(self.cmd).output().await.expect("run gerbang");
        Run::from(out)
    }
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// `gerbang serve` listening on `port`, its log (stderr) in a file and the file's directory its
/// working directory; killed when dropped.
pub struct Serve {
    pub port: u16,
    pub log: PathBuf,
    settings: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
    /// Removed when this test stops the server itself (see `reap_if_left`).
    marker: Option<PathBuf>,
}

impl Serve {
    /// Starts `gerbang serve` with `settings` (which must bind it to `port`) and waits until it
    /// answers `/healthz`.
    pub async fn start(port: u16, settings: Vec<(String, String)>, log: PathBuf) -> Serve {
        let mut s = Serve { port, log, settings, child: None, marker: None };
        s.spawn().await;
        s
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let dir = self.log.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
        let cmd = Gerbang::new(&["serve"]).envs(self.settings.clone()).current_dir(dir).command();
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.stdout(Stdio::null()).stderr(log).kill_on_drop(true);
        let mut child = cmd.spawn().expect("start gerbang serve");
        if let Some(pid) = child.id() {
            let marker = self.log.with_extension(format!("running-{pid}"));
            self.marker = Some(super::reap_if_left(marker, &super::kill_if(pid, "gerbang")));
        }
        let health = format!("{}/healthz", self.base());
        let ready = async {
            loop {
                if let Ok(r) = http_client().get(&health).send().await {
                    if r.status() == 200 {
                        return;
                    }
                }
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("gerbang serve exited ({status}): {}", self.log_text());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(120), ready).await.expect("gerbang serve answers within 120 s");
        self.child = Some(child);
    }

    /// SIGKILL, as the kernel's OOM killer or a lost node would: no graceful shutdown.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
        if let Some(m) = self.marker.take() {
            let _ = std::fs::remove_file(m);
        }
    }

    /// Starts it again (after [`Serve::kill`]) with the same settings and port.
    pub async fn start_again(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // The child itself is killed on drop (`kill_on_drop`).
        if let Some(m) = self.marker.take() {
            let _ = std::fs::remove_file(m);
        }
    }
}
