//! The Redis connection settings (`redis_*` besides `redis_url` and `redis_prefix`): how long a
//! request may wait for Redis, the CA bundle for `rediss://`, and Sentinel.

use std::path::PathBuf;

use super::{ConfigError, Layered, Secret};
// Defined by the cache, which reads it; built here from the layered settings.
pub use crate::cache::RedisConfig;

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
