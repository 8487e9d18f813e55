//! Processes the integration tests run besides the in-process servers: the `gerbang` binary
//! (one command builder for every test that drives it, and `gerbang serve` as a child), and
//! private `redis-server` and PostgreSQL instances on free ports, each stopped when dropped
//! so a failing test leaves nothing running.

pub mod gerbang;
pub mod postgres;
pub mod redis;

use std::time::Duration;

pub use gerbang::{Gerbang, Serve};
pub use postgres::PgProc;
pub use redis::RedisProc;

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
