//! Processes the integration tests run besides the in-process servers: the `gerbang` binary
//! (one command builder for every test that drives it, and `gerbang serve` as a child), and
//! private `redis-server` and PostgreSQL instances on free ports, each stopped when dropped
//! so a failing test leaves nothing running, and stopped by a watcher when the test process was
//! killed before it could drop them.

pub mod gerbang;
pub mod postgres;
pub mod redis;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub use gerbang::{Gerbang, Serve};
pub use postgres::PgProc;
pub use redis::RedisProc;

/// Arranges for `cleanup` (a shell command) to run once this test process is gone, if `marker`
/// (created here) still exists then. The owner removes the marker when it stops the service
/// itself; a test process killed by a signal never runs its `Drop`s, and a PostgreSQL started
/// through `pg_ctl` or an orphaned `redis-server` would run on. The watcher is a `sh` loop in a
/// session of its own, so a signal to the test's process group does not take it too.
pub fn reap_if_left(marker: PathBuf, cleanup: &str) -> PathBuf {
    if std::fs::write(&marker, b"").is_err() {
        return marker;
    }
    let m = shell_quote(&marker);
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; if [ -f {m} ]; then {cleanup}; rm -f {m}; fi",
        pid = std::process::id()
    );
    let spawned = std::process::Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("no watcher for {}: {e}", marker.display());
    }
    marker
}

/// Kills `pid` with SIGKILL if it is still the program named `program` (its pid not reused).
pub fn kill_if(pid: u32, program: &str) -> String {
    format!("grep -q {program} /proc/{pid}/cmdline 2>/dev/null && kill -9 {pid}")
}

pub fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// A port nothing listens on right now (the listener is closed again at once).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("addr").port()
}

/// Waits until something accepts connections on `port` (at most `limit`), naming `what` if not.
pub async fn wait_listening(port: u16, limit: Duration, what: &str) {
    let ready = async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(limit, ready).await.unwrap_or_else(|_| panic!("{what} listening on {port} within {limit:?}"));
}
