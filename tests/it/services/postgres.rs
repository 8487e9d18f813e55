//! A private PostgreSQL server (`initdb` + `pg_ctl` into a temporary directory, on a free port,
//! trust authentication, no fsync), for tests that restart or stop the database under a running
//! server: the shared one is never touched. Run as root (CI), the tools run as the `postgres`
//! user, since `initdb` refuses root.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::free_port;

pub struct PgProc {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` (Debian's layout, where the
/// server tools are not on PATH and `pg_config --bindir` may be missing), else whatever PATH has.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).unwrap_or_default()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

impl PgProc {
    /// A new cluster, started and accepting connections.
    pub async fn start() -> PgProc {
        let dir = tempfile::tempdir().expect("tempdir");
        if is_root() {
            let ok = std::process::Command::new("chown").arg("postgres:").arg(dir.path()).status();
            assert!(ok.is_ok_and(|s| s.success()), "chown of the PostgreSQL directory to the postgres user");
        }
        let pg = PgProc { port: free_port(), bin: bin_dir(), data: dir.path().join("data"), dir };
        let data = pg.data.display().to_string();
        pg.tool("initdb", &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]).await;
        let log = pg.dir.path().join("server.log").display().to_string();
        pg.tool("pg_ctl", &["start", "-w", "-t", "60", "-D", &data, "-l", &log, "-o", &pg.options()]).await;
        // The marker lives in the temporary directory, which dropping removes.
        let runas = if is_root() { "runuser -u postgres -- " } else { "" };
        let stop = format!(
            "{runas}{} stop -m immediate -D {}; rm -rf {}",
            super::shell_quote(&pg.bin.join("pg_ctl")),
            super::shell_quote(&pg.data),
            super::shell_quote(pg.dir.path())
        );
        super::reap_if_left(pg.dir.path().join("running"), &stop);
        pg
    }

    /// Server options: this port, the socket in the temporary directory (not /var/run), TCP on
    /// loopback only, and durability off (a test database).
    fn options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        )
    }

    fn command(&self, tool: &str) -> std::process::Command {
        let path = self.bin.join(tool);
        if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            std::process::Command::new(path)
        }
    }

    async fn tool(&self, tool: &str, args: &[&str]) {
        let mut cmd = tokio::process::Command::from(self.command(tool));
        let out = cmd.args(args).stdin(Stdio::null()).output().await.unwrap_or_else(|e| {
            panic!("these tests need the PostgreSQL server binaries (apt install postgresql): {tool}: {e}")
        });
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}\nserver log: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// `pg_ctl restart -m fast`: every connection is ended, and the call returns once the
    /// server accepts connections again.
    pub async fn restart(&self) {
        let data = self.data.display().to_string();
        // With its log file named again: otherwise the new server writes to pg_ctl's stdout,
        // holding the pipe this call reads to its end open for ever.
        let log = self.dir.path().join("server.log").display().to_string();
        let args = ["restart", "-w", "-t", "60", "-m", "fast", "-D", &data, "-l", &log, "-o", &self.options()];
        self.tool("pg_ctl", &args).await;
        super::wait_listening(self.port, Duration::from_secs(30), "PostgreSQL").await;
    }

    /// `pg_ctl stop -m fast`: every connection is ended and nothing listens on the port until
    /// [`PgProc::start_again`].
    pub async fn stop(&self) {
        let data = self.data.display().to_string();
        self.tool("pg_ctl", &["stop", "-w", "-t", "60", "-m", "fast", "-D", &data]).await;
    }

    /// Starts it again after [`PgProc::stop`]; returns once it accepts connections.
    pub async fn start_again(&self) {
        let data = self.data.display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        self.tool("pg_ctl", &["start", "-w", "-t", "60", "-D", &data, "-l", &log, "-o", &self.options()]).await;
        super::wait_listening(self.port, Duration::from_secs(30), "PostgreSQL").await;
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PgProc {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self.command("pg_ctl").args(["stop", "-w", "-m", "immediate", "-D", &data]).output();
    }
}
