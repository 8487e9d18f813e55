//! The Redis cache backend. Every command is bounded: a connection attempt by
//! `redis_connect_timeout_ms`, an answer by `redis_command_timeout_ms`, and the whole call by an
//! outer timeout of both, so a Redis that is gone, or a network that drops packets, costs a
//! request at most that long and then an [`CacheError::Unavailable`]. After a failure, commands
//! fail at once for a short cool-off (one connect timeout) instead of each waiting again; the
//! first command after it tries Redis again, so service resumes within seconds of its return.
//!
//! The connection is a `ConnectionManager` (one multiplexed connection) reached directly
//! (`redis://`, `rediss://`) or through Sentinel. The library re-establishes it only after
//! errors it takes for fatal (refused, reset); a connection that goes silent (a firewall drops
//! its state) or still reaches a primary turned read-only (a failover by DNS) it keeps for
//! ever. So after any failure a new connection is made in the background, to the address
//! again or to the master Sentinel names now, and replaces the old one once it works.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, ClientTlsConfig, ConnectionAddr, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError, TlsCertificates,
};

use super::CacheError;
use super::RedisConfig;
use crate::clock::Clock;

/// Connection attempts at start-up before giving up (Redis may start a moment after us).
const START_ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct RedisCache {
    pub(super) inner: Arc<Inner>,
    pub(super) prefix: String,
    pub(super) clock: Clock,
    /// This process's name among those sharing the Redis (see `liveness`).
    pub(super) instance: u64,
}

pub(super) struct Inner {
    conn: RwLock<ConnectionManager>,
    route: Route,
    manager: ConnectionManagerConfig,
    connect_timeout: Duration,
    /// The outer bound of one command: a reconnect plus an answer.
    pub(super) budget: Duration,
    health: Health,
    /// A new connection is being made (one at a time).
    resolving: AtomicBool,
}

/// How a connection is reached: the configured address, or the master Sentinel names.
enum Route {
    Direct(Client),
    Sentinel(Vec<tokio::sync::Mutex<SentinelClient>>),
}

impl Route {
    async fn client(&self, connect_timeout: Duration) -> Result<Client, CacheError> {
        match self {
            Route::Direct(c) => Ok(c.clone()),
            Route::Sentinel(s) => master_from(s, connect_timeout).await,
        }
    }
}

/// Whether Redis failed recently: commands fail fast until `down_until`, and the outage is
/// logged once when it starts and once when it ends, not for every request.
struct Health {
    base: Instant,
    down_until_ms: AtomicU64,
    down: AtomicBool,
    cool_off_ms: u64,
}

impl Health {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn cooling_off(&self) -> bool {
        self.now_ms() < self.down_until_ms.load(Ordering::Relaxed)
    }

    fn failed(&self, cause: String) -> CacheError {
        self.down_until_ms.store(self.now_ms().saturating_add(self.cool_off_ms), Ordering::Relaxed);
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::error!(error = %cause, "Redis is unavailable: requests that need it answer 503 until it returns");
        }
        CacheError::Unavailable(cause)
    }

    fn answered(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again");
        }
    }
}

/// Errors that mean "Redis cannot serve now" rather than a bug or bad data: I/O (refused,
/// dropped, timed out), a connection the library would replace (including a failed
/// authentication), a server still loading its data, and a master demoted to a read-only
/// replica by a failover.
fn unavailable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::ReadOnly | ErrorKind::BusyLoadingError | ErrorKind::MasterDown | ErrorKind::TryAgain
        )
}

/// What `rediss://` needs beyond the system's trust store: the private CA and the client
/// certificate, read from their files (for both Redis and the Sentinels). `None`: nothing.
fn tls_certificates(cfg: &RedisConfig) -> Result<Option<TlsCertificates>, CacheError> {
    let read = |setting: &str, path: &Path| {
        std::fs::read(path).map_err(|e| CacheError::Setup(format!("cannot read {setting} {}: {e}", path.display())))
    };
    let root_cert = cfg.ca_file.as_deref().map(|p| read("redis_ca_file", p)).transpose()?;
    let client_tls = match &cfg.client_cert {
        Some(c) => Some(ClientTlsConfig {
            client_cert: read("redis_client_cert_file", &c.cert_file)?,
            client_key: read("redis_client_key_file", &c.key_file)?,
        }),
        None => None,
    };
    if root_cert.is_none() && client_tls.is_none() {
        return Ok(None);
    }
    Ok(Some(TlsCertificates { client_tls, root_cert }))
}

/// A client for a direct (non-Sentinel) connection. Builds nothing over the network, so an
/// error is in the settings and trying again cannot help.
fn direct_client(url: &str, cfg: &RedisConfig) -> Result<Client, CacheError> {
    match tls_certificates(cfg)? {
        Some(certs) => Client::build_with_tls(url.into_connection_info()?, certs).map_err(|e| {
            CacheError::Setup(format!(
                "the TLS files (redis_ca_file, redis_client_cert_file, redis_client_key_file) cannot be used: {e}"
            ))
        }),
        None => Client::open(url).map_err(CacheError::from),
    }
}

/// One client per Sentinel, so that each is asked with a timeout of its own (see
/// [`master_from`]).
fn sentinel_clients(url: &str, cfg: &RedisConfig) -> Result<Vec<tokio::sync::Mutex<SentinelClient>>, CacheError> {
    let tls = url.starts_with("rediss://");
    let addrs: Vec<ConnectionAddr> = cfg
        .sentinels
        .iter()
        .filter_map(|s| {
            let (host, port) = s.rsplit_once(':')?;
            let (host, port) = (host.to_string(), port.parse().ok()?);
            Some(if tls {
                ConnectionAddr::TcpTls { host, port, insecure: false, tls_params: None }
            } else {
                ConnectionAddr::Tcp(host, port)
            })
        })
        .collect();
    if addrs.is_empty() {
        return Err(CacheError::Setup("redis_sentinels names no Sentinel as host:port".into()));
    }
    addrs.into_iter().map(|a| sentinel_client(url, cfg, a).map(tokio::sync::Mutex::new)).collect()
}

fn sentinel_client(url: &str, cfg: &RedisConfig, addr: ConnectionAddr) -> Result<SentinelClient, CacheError> {
    let info = url.into_connection_info()?;
    let tls = url.starts_with("rediss://");
    let master = cfg.sentinel_master.clone().unwrap_or_default();
    let mut b =
        SentinelClientBuilder::new([addr], master, SentinelServerType::Master)?.set_client_to_redis_db(info.redis.db);
    if let Some(u) = info.redis.username {
        b = b.set_client_to_redis_username(u);
    }
    if let Some(p) = info.redis.password {
        b = b.set_client_to_redis_password(p);
    }
    if let Some(p) = &cfg.sentinel_password {
        b = b.set_client_to_sentinel_password(p.expose().clone());
    }
    if tls {
        b = b
            .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
        if let Some(c) = tls_certificates(cfg)? {
            b = b.set_client_to_redis_certificates(c.clone()).set_client_to_sentinel_certificates(c);
        }
    }
    Ok(b.build()?)
}

/// The current master's client, as the first Sentinel to answer reports it, within the
/// connect timeout. Every Sentinel is asked at once, each on its own: asked in turn over one
/// connection walk (the library's way), a Sentinel that accepts connections but never answers (a
/// host gone dark) held up every lookup for the whole timeout before the next one was tried.
async fn master_from(
    sentinels: &[tokio::sync::Mutex<SentinelClient>],
    timeout: Duration,
) -> Result<Client, CacheError> {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let mut asks: FuturesUnordered<_> = sentinels
        .iter()
        .map(|sentinel| async move {
            let mut s = sentinel.lock().await;
            match tokio::time::timeout(timeout, s.async_get_client()).await {
                Ok(r) => r.map_err(CacheError::from),
                Err(_) => Err(CacheError::Unavailable("no Sentinel answered in time".into())),
            }
        })
        .collect();
    let mut last = CacheError::Unavailable("no Sentinel is configured".into());
    while let Some(answer) = asks.next().await {
        match answer {
            Ok(client) => return Ok(client),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn manager(
    client: Client,
    config: ConnectionManagerConfig,
    budget: Duration,
) -> Result<ConnectionManager, CacheError> {
    match tokio::time::timeout(budget, ConnectionManager::new_with_config(client, config)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(CacheError::Unavailable("connecting timed out".into())),
    }
}

impl RedisCache {
    /// Connects, trying [`START_ATTEMPTS`] times a second apart: a Redis that is still down
    /// after that stops the start with the error (a replica without its shared state would
    /// answer wrongly), while one that dies later only makes requests answer 503.
    pub(super) async fn connect(
        url: &str,
        prefix: &str,
        cfg: &RedisConfig,
        clock: Clock,
    ) -> Result<RedisCache, CacheError> {
        if url.starts_with("rediss://") {
            // Already installed (by an earlier connect, or a test) is fine: any one provider.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let connect_timeout = Duration::from_millis(cfg.connect_timeout_ms);
        let command_timeout = Duration::from_millis(cfg.command_timeout_ms);
        // One connection attempt per reconnect: the cool-off paces the attempts, and the
        // library's default backoff (seconds, growing) is what kept requests waiting minutes.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(connect_timeout)
            .set_response_timeout(command_timeout)
            .set_number_of_retries(0)
            .set_factor(1)
            .set_max_delay(cfg.connect_timeout_ms);
        let budget = connect_timeout + command_timeout;
        let route = if cfg.sentinels.is_empty() {
            Route::Direct(direct_client(url, cfg)?)
        } else {
            Route::Sentinel(sentinel_clients(url, cfg)?)
        };
        let mut attempt = 1;
        let conn = loop {
            let conn = match route.client(connect_timeout).await {
                Ok(c) => manager(c, manager_config.clone(), budget).await,
                Err(e) => Err(e),
            };
            match conn {
                Ok(c) => break c,
                Err(e @ CacheError::Setup(_)) => return Err(e),
                Err(e) if attempt >= START_ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "Redis not reachable yet; trying again");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let health = Health {
            base: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            down: AtomicBool::new(false),
            cool_off_ms: cfg.connect_timeout_ms,
        };
        let inner = Inner {
            conn: RwLock::new(conn),
            route,
            manager: manager_config,
            connect_timeout,
            budget,
            health,
            resolving: AtomicBool::new(false),
        };
        let cache = RedisCache {
            inner: Arc::new(inner),
            prefix: prefix.to_string(),
            clock,
            instance: super::liveness::new_instance(),
        };
        cache.start_beating().await;
        Ok(cache)
    }

    pub(super) fn conn(&self) -> ConnectionManager {
        // A poisoned lock only means a panic while swapping in a new connection; the old one
        // is still a valid manager.
        self.inner.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs one command within the budget. `record` marks the request as having met an outage
    /// (see [`super::outage`]); the rate limiter, which lets requests through when Redis fails,
    /// passes false.
    pub(super) async fn run<T: FromRedisValue + Send>(&self, cmd: &redis::Cmd, record: bool) -> Result<T, CacheError> {
        let result = self.attempt(cmd).await;
        if let Err(e) = &result {
            // Every Redis failure passes here: the one place `gerbang_cache_errors_total` counts.
            crate::metrics::cache_error(if e.is_unavailable() { "unavailable" } else { "other" });
        }
        if record && matches!(result, Err(CacheError::Unavailable(_))) {
            super::outage::record();
        }
        result
    }

    async fn attempt<T: FromRedisValue + Send>(&self, cmd: &redis::Cmd) -> Result<T, CacheError> {
        let h = &self.inner.health;
        if h.cooling_off() {
            return Err(CacheError::Unavailable("Redis failed moments ago".into()));
        }
        let deadline = tokio::time::Instant::now() + self.inner.budget;
        let mut retried = false;
        loop {
            let mut conn = self.conn();
            match tokio::time::timeout_at(deadline, cmd.query_async::<T>(&mut conn)).await {
                Ok(Ok(v)) => {
                    h.answered();
                    return Ok(v);
                }
                // A refusal may be the manager's last (failed) reconnect, made while Redis was
                // still down; the refusal made it start a new one, which a second try within the
                // same budget waits for. Refused means never sent, so nothing runs twice.
                Ok(Err(e)) if e.is_connection_refusal() && !retried => retried = true,
                Ok(Err(e)) if unavailable(&e) => {
                    self.reconnect();
                    return Err(h.failed(e.to_string()));
                }
                Ok(Err(e)) => return Err(CacheError::Redis(e)),
                Err(_) => {
                    self.reconnect();
                    return Err(h.failed(format!("no answer within {} ms", self.inner.budget.as_millis())));
                }
            }
        }
    }

    /// Makes a new connection in the background (asking Sentinel, if used, which server is the
    /// master now) and puts it in place of the current one once it works; requests meanwhile
    /// fail fast. The current one is kept if no new one can be made: the library may still
    /// bring it back.
    fn reconnect(&self) {
        if self.inner.resolving.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let found = match inner.route.client(inner.connect_timeout).await {
                Ok(client) => manager(client, inner.manager.clone(), inner.budget).await,
                Err(e) => Err(e),
            };
            match found {
                Ok(conn) => *inner.conn.write().unwrap_or_else(|p| p.into_inner()) = conn,
                Err(e) => tracing::debug!(error = %e, "no new Redis connection yet"),
            }
            inner.resolving.store(false, Ordering::Release);
        });
    }

    pub(super) fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    pub(super) fn shift_ms(&self) -> i64 {
        self.clock.shift_ms()
    }

    /// The TTL to give Redis: at least a second as before (Redis refuses 0), plus the clock's
    /// shift (see the scripts' comment).
    pub(super) fn ttl_ms(&self, ttl: Duration) -> i64 {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1000);
        ms.saturating_add(self.clock.shift_ms())
    }

    /// A script call on one key, with the clock's shift as ARGV[1].
    pub(super) fn script(&self, script: &'static str, key: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(1).arg(self.key(key)).arg(self.clock.shift_ms());
        cmd
    }

    /// A script call on several keys, with the clock's shift as ARGV[1]. All keys live on the one
    /// Redis (or Sentinel-managed master) Gerbang uses; there is no Redis Cluster to split them.
    pub(super) fn script_keys(&self, script: &'static str, keys: &[&str]) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len());
        for k in keys {
            cmd.arg(self.key(k));
        }
        cmd.arg(self.clock.shift_ms());
        cmd
    }

    /// One request against a GCRA bucket kept in Redis: `None` when admitted, else how long
    /// until it would be. Not recorded as an outage: the limiter lets requests through when
    /// Redis fails, and the steps that truly need Redis record it themselves.
    pub async fn gcra(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
        cost: u32,
    ) -> Result<Option<Duration>, CacheError> {
        let interval_ms = (interval.as_millis() as u64).max(1);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(super::scripts::GCRA_SCRIPT).arg(1).arg(self.key(key)).arg(interval_ms).arg(burst).arg(cost.max(1));
        let wait: u64 = self.run(&cmd, false).await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }
}
