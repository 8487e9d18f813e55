//! The Redis connection settings (`redis_*` besides `redis_url` and `redis_prefix`): how long a
//! request may wait for Redis, the CA bundle for `rediss://`, and Sentinel.

use std::path::PathBuf;

use super::{ConfigError, Layered, Secret};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Longest wait for a new connection to Redis (or to a Sentinel), in milliseconds.
    pub connect_timeout_ms: u64,
    /// Longest wait for one command's answer, in milliseconds. A request that needs Redis
    /// answers 503 after at most connect + command timeout, never hangs.
    pub command_timeout_ms: u64,
    /// PEM bundle of the CA(s) that signed the Redis (and Sentinel) server certificates, for
    /// `rediss://` with a private CA; without it the system's trust store is used.
    pub ca_file: Option<PathBuf>,
    /// Sentinel addresses (`host:port`); when given, the master is asked of them and
    /// `redis_url` only supplies the scheme, credentials and database number.
    pub sentinels: Vec<String>,
    /// The service name the Sentinels monitor (`sentinel monitor <name> ...`).
    pub sentinel_master: Option<String>,
    /// Password of the Sentinels themselves (`requirepass` in sentinel.conf), if any.
    pub sentinel_password: Option<Secret<String>>,
}

pub(super) fn redis_settings(l: &Layered, url: Option<&str>) -> Result<RedisConfig, ConfigError> {
    if let Some(r) = url {
        if !(r.starts_with("redis://") || r.starts_with("rediss://")) {
            return Err(l.err("redis_url", "must start with redis:// or rediss:// (TLS)"));
        }
    }
    let connect_timeout_ms: u64 = l.parse("redis_connect_timeout_ms", "milliseconds")?;
    if !(50..=30_000).contains(&connect_timeout_ms) {
        return Err(l.err("redis_connect_timeout_ms", "must be 50 to 30000"));
    }
    let command_timeout_ms: u64 = l.parse("redis_command_timeout_ms", "milliseconds")?;
    if !(10..=30_000).contains(&command_timeout_ms) {
        return Err(l.err("redis_command_timeout_ms", "must be 10 to 30000"));
    }
    let ca_file = l.string("redis_ca_file").map(PathBuf::from);
    if let Some(p) = &ca_file {
        if !p.is_file() {
            return Err(l.err("redis_ca_file", format!("no such file: {}", p.display())));
        }
        if url.is_some_and(|u| !u.starts_with("rediss://")) {
            return Err(l.err("redis_ca_file", "only used with a rediss:// redis_url"));
        }
    }
    let sentinels: Vec<String> = l
        .string("redis_sentinels")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for s in &sentinels {
        let port_ok = s.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(l.err("redis_sentinels", format!("expected host:port, got `{s}`")));
        }
    }
    let sentinel_master = l.string("redis_sentinel_master");
    if !sentinels.is_empty() {
        if sentinel_master.is_none() {
            return Err(l.err("redis_sentinel_master", "required with redis_sentinels: the monitored service name"));
        }
        if url.is_none() {
            return Err(l.err(
                "redis_url",
                "required with redis_sentinels (its host is ignored), e.g. redis://:password@sentinel/0",
            ));
        }
    } else if sentinel_master.is_some() {
        return Err(l.err("redis_sentinels", "required with redis_sentinel_master"));
    }
    Ok(RedisConfig {
        connect_timeout_ms,
        command_timeout_ms,
        ca_file,
        sentinels,
        sentinel_master,
        sentinel_password: l.string("redis_sentinel_password").map(Secret::new),
    })
}
