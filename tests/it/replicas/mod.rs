//! Several replicas under faults (issue 14, item 5): three `gerbang serve` processes on one
//! private PostgreSQL and one private Redis, each on its own port, behind a round-robin proxy
//! whose URL is the issuer. `cycle` runs a login across the replicas (logout, key rotation and
//! throttling seen by all); `faults` keeps traffic running while a replica is killed, Redis is
//! restarted and PostgreSQL is restarted (then restarted again with the replicas idle), counts
//! what the clients saw by the phase each request was sent in, and tries every refresh token
//! they received again after each fault.
//!
//! They need the PostgreSQL server binaries (`initdb`, `pg_ctl`) and `redis-server`, so they are
//! ignored in the plain `cargo test`; `.ci/run` step 2d runs them.

mod cycle;
mod faults;
mod flow;
mod proxy;
mod traffic;

use std::sync::Arc;

use gerbang::oidc::clients::GrantType;

use crate::common::*;
use crate::services::{free_port, PgProc, RedisProc, Serve};
use flow::{Site, Tally};
use proxy::Proxy;

/// One master key for every replica (base64 of 32 bytes): they open the same sealed keys.
const MASTER_KEY: &str = "UkVQTElLQS1SRVBMSUtBLVJFUExJS0EtUkVQTElLQS0=";

pub const REPLICAS: usize = 3;

/// The services and replicas of one test, stopped in this order when dropped: the proxy, the
/// replicas, then Redis and PostgreSQL.
pub struct Cluster {
    pub proxy: Proxy,
    pub replicas: Vec<Serve>,
    /// An in-process state on the same database and cache (its own server is never used): makes
    /// the accounts and applications, and reads the audit trail. Its `base` is the proxy's.
    pub seed: TestApp,
    pub redis: RedisProc,
    pub pg: PgProc,
    /// Every replica's settings but its port and data directory.
    pub settings: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let pg = PgProc::start().await;
        let redis = RedisProc::start(&[]).await;
        let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
        let proxy = Proxy::start(&ports).await;
        let settings: Vec<(String, String)> = [
            ("GERBANG_ISSUER", proxy.url()),
            ("GERBANG_DATABASE_URL", pg.url()),
            ("GERBANG_REDIS_URL", redis.url()),
            ("GERBANG_REDIS_PREFIX", "gerbang:".into()),
            ("GERBANG_MASTER_KEY", MASTER_KEY.into()),
            ("GERBANG_BOOTSTRAP", "false".into()),
            // The shortest publish delay the settings allow: a rotated key signs a minute later.
            ("GERBANG_SIGNING_KEY_PUBLISH_MINUTES", "1".into()),
            ("GERBANG_JWKS_MAX_AGE_SECONDS", "0".into()),
            // Every request comes from 127.0.0.1 through the proxy: per-address budgets would
            // measure the test, not the replicas.
            ("GERBANG_RATE_LIMITS", "off".into()),
            ("GERBANG_MAX_FLOWS_PER_ADDRESS", "0".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // Runs the migrations and makes the signing keys before any replica starts.
        let mut seed = TestApp::spawn_with(&pairs).await;
        seed.base = proxy.url();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut replicas = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let data = dir.path().join(format!("replica-{i}"));
            std::fs::create_dir_all(&data).expect("data dir");
            let mut own = settings.clone();
            own.push(("GERBANG_BIND".into(), format!("127.0.0.1:{port}")));
            own.push(("GERBANG_DATA_DIR".into(), data.display().to_string()));
            own.push(("GERBANG_LOG".into(), "warn".into()));
            replicas.push(Serve::start(*port, own, dir.path().join(format!("replica-{i}.log"))).await);
        }
        Cluster { proxy, replicas, seed, redis, pg, settings, dir }
    }

    /// An application with the code and refresh grants, its relying party discovered through
    /// the proxy, answers tallied by `tally`.
    pub async fn site(&self, tally: Tally) -> Site {
        let grants = [GrantType::AuthorizationCode, GrantType::RefreshToken];
        let client = self.seed.web_client(&["openid", "profile"], &grants, true).await;
        let rp = self.seed.rp(&client).await;
        Site { base: self.proxy.url(), client, rp, tally }
    }

    /// A civil servant with the test password; returns the NIP.
    pub async fn person(&self, name: &str) -> String {
        let nip = unique_nip();
        self.seed.asn(&nip, name).await;
        nip
    }

    /// Every replica's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (i, r) in self.replicas.iter().enumerate() {
            let text = r.log_text();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("--- replica {i} (last {} lines)\n", tail.len()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    pub fn scratch(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// A shared counter map, as the tests' tallies keep them.
pub type Counts<K> = Arc<std::sync::Mutex<std::collections::BTreeMap<K, u64>>>;
