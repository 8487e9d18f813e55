//! The Redis connection settings the cache is built with (`redis_*` besides `redis_url` and
//! `redis_prefix`), read and validated by `config::redis`.

use std::path::PathBuf;

use crate::secret::Secret;

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
    /// Client certificate and key presented to Redis (and the Sentinels) when they require
    /// one (`tls-auth-clients yes`).
    pub client_cert: Option<RedisClientCert>,
    /// Sentinel addresses (`host:port`); when given, the master is asked of them and
    /// `redis_url` only supplies the scheme, credentials and database number.
    pub sentinels: Vec<String>,
    /// The service name the Sentinels monitor (`sentinel monitor <name> ...`).
    pub sentinel_master: Option<String>,
    /// Password of the Sentinels themselves (`requirepass` in sentinel.conf), if any.
    pub sentinel_password: Option<Secret<String>>,
}

/// PEM files of a client certificate (with any intermediates after it) and its private key,
/// checked to parse and to match when the settings were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisClientCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}
