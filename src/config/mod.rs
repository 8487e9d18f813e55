//! Layered configuration: built-in defaults, then `gerbang.toml`, then `GERBANG_*` environment
//! variables, each setting also readable from a file named by `GERBANG_<NAME>_FILE` (Kubernetes
//! secrets). Invalid settings stop start-up with an error naming the setting.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub mod certs;
pub mod keys;
pub mod metrics;
pub mod redis;
mod smtp;
pub mod upstream;

use smtp::smtp_settings;
pub use smtp::{SmtpConfig, SmtpSecurity};

pub use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Issuer identifier, without a trailing slash.
    pub issuer: String,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// May contain a password, hence secret.
    pub database_url: Secret<String>,
    pub redis_url: Option<Secret<String>>,
    /// Prefix of every Redis key, so environments can share one Redis.
    pub redis_prefix: String,
    /// Timeouts, TLS trust, client certificate and Sentinel for the Redis connection.
    pub redis: redis::RedisConfig,
    /// Base64 of 32 bytes; encrypts private signing keys at rest.
    pub master_key: Option<Secret<String>>,
    pub themes_dir: PathBuf,
    pub theme: String,
    pub default_locale: String,
    pub log: String,
    pub log_format: LogFormat,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub code_ttl: i64,
    pub session_ttl: i64,
    pub login_ttl: i64,
    pub max_body_bytes: usize,
    pub db_max_connections: u32,
    /// SQLite connections kept outside the pool for the grant read of userinfo and
    /// introspection (`store::hot`); 0: every read through the pool.
    pub sqlite_read_connections: usize,
    /// Create the first admin account and a demo application on first start.
    pub bootstrap: bool,
    /// Maximum number of password hashes computed at once (each takes 19 MiB).
    pub max_concurrent_hashes: usize,
    /// Password checks allowed to wait for a hash beyond those running; more get a 503.
    pub hash_queue: usize,
    pub login_max_failures: u64,
    pub login_lockout_seconds: i64,
    /// How long a server keeps a registered application in memory before reading it again.
    pub client_cache_seconds: u64,
    /// How long a server keeps the OPD tree and the roles (not anyone's own) in memory for
    /// userinfo; 0 reads them on every request.
    pub directory_cache_seconds: u64,
    /// Reverse proxies (ingress controllers) whose `X-Forwarded-For` is believed; without it
    /// every login behind an ingress would share the ingress's address for throttling.
    pub trusted_proxies: Vec<Cidr>,
    /// Domains applications' redirect URIs must lie under, e.g. `jemberkab.go.id` and
    /// `*.jemberkab.go.id`. Empty: any HTTPS host, which a non-local issuer must ask for
    /// explicitly with `redirect_domains = "*"` (a warning is logged at start-up).
    pub redirect_domains: Vec<String>,
    /// With `bootstrap` and a local issuer: also load the demonstration region (OPD tree,
    /// roles, accounts).
    pub demo: bool,
    /// Security level an administrator's token must carry for the admin API (3: a passkey).
    pub admin_min_level: u8,
    /// Audit records older than this are removed (0: kept for ever).
    pub audit_retention_days: i64,
    /// The region's offset from UTC in minutes (420 WIB, 480 WITA, 540 WIT): where the
    /// dashboard's days begin and end.
    pub utc_offset_minutes: i32,
    /// Electronic certificates: trust anchors, revocation checks, monitoring, notices.
    pub certs: certs::CertConfig,
    /// Prometheus `/metrics`: its own listener and/or a bearer token on the main port.
    pub metrics: metrics::MetricsConfig,
    /// Signing-key lifecycle and master-key rotation.
    pub keys: keys::KeyConfig,
    /// Requests per address (and per application) on the exposed endpoints; see `limits`.
    pub rate_limits: crate::limits::RateLimits,
    /// Login flows one address may start per `login_ttl` (each is kept until it expires).
    pub max_flows_per_address: u64,
    /// A request still unanswered after this many seconds gets 503.
    pub request_timeout_seconds: u64,
    /// Outgoing e-mail; `None` when `smtp_host` is not set (flows that need mail say so).
    pub smtp: Option<SmtpConfig>,
    /// The `From:` of every message, e.g. `SSO Pemkab Jember <sso@jemberkab.go.id>`.
    pub mail_from: String,
    /// Whether citizens may create their own accounts at `/register`.
    pub citizen_registration: bool,
    /// Where a citizen gets their identity verified (a counter's name, address, hours): shown on
    /// the page of an application that admits verified citizens only. Empty: a generic text.
    pub verification_counter_info: String,
    pub upstreams: Vec<upstream::Upstream>,
}

/// An address range such as `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{setting}` ({source_name}): {message}")]
pub struct ConfigError {
    pub setting: String,
    pub source_name: String,
    pub message: String,
}

/// Every setting, its default, and whether it may be given in TOML/env at all.
const SETTINGS: &[(&str, Option<&str>)] = &[
    ("issuer", None),
    ("bind", Some("127.0.0.1:8080")),
    ("data_dir", Some("./data")),
    ("database_url", None),
    ("redis_url", None),
    ("redis_prefix", Some("gerbang:")),
    ("redis_connect_timeout_ms", Some("1000")),
    ("redis_command_timeout_ms", Some("500")),
    ("redis_ca_file", None),
    ("redis_client_cert_file", None),
    ("redis_client_key_file", None),
    ("redis_sentinels", Some("")),
    ("redis_sentinel_master", None),
    ("redis_sentinel_password", None),
    ("master_key", None),
    ("master_key_previous", None),
    ("master_key_next", None),
    ("signing_key_rotation_days", Some("90")),
    ("signing_key_publish_minutes", Some("1440")),
    ("jwks_max_age_seconds", Some("3600")),
    ("themes_dir", Some("./themes")),
    ("theme", Some("default")),
    ("default_locale", Some("id")),
    ("log", Some("info")),
    ("log_format", Some("text")),
    ("access_token_ttl", Some("600")),
    ("id_token_ttl", Some("600")),
    ("refresh_token_ttl", Some("1209600")),
    ("code_ttl", Some("60")),
    ("session_ttl", Some("28800")),
    ("login_ttl", Some("900")),
    ("max_body_bytes", Some("65536")),
    ("db_max_connections", Some("10")),
    ("sqlite_read_connections", Some("2")),
    ("bootstrap", Some("true")),
    ("max_concurrent_hashes", Some("4")),
    ("hash_queue", Some("64")),
    ("login_max_failures", Some("5")),
    ("login_lockout_seconds", Some("300")),
    ("client_cache_seconds", Some("10")),
    ("directory_cache_seconds", Some("2")),
    ("trusted_proxies", Some("")),
    ("redirect_domains", Some("")),
    ("demo", Some("true")),
    ("admin_min_level", Some("3")),
    ("audit_retention_days", Some("0")),
    ("utc_offset_minutes", Some("420")),
    ("certificate_issuers", None),
    ("certificate_crls", None),
    ("certificate_warn_days", Some("30")),
    ("certificate_ocsp_timeout_ms", Some("2000")),
    ("certificate_recheck_hours", Some("24")),
    ("certificate_webhook_url", None),
    ("certificate_bsre_url", None),
    ("certificate_bsre_username", None),
    ("certificate_bsre_password", None),
    ("rate_limits", Some("")),
    ("max_flows_per_address", Some("1000")),
    ("request_timeout_seconds", Some("15")),
    ("smtp_host", None),
    ("smtp_port", None),
    ("smtp_security", Some("starttls")),
    ("smtp_username", None),
    ("smtp_password", None),
    ("mail_from", None),
    ("citizen_registration", Some("false")),
    ("verification_counter_info", Some("")),
    ("upstream", None),
    ("metrics_listen", None),
    ("metrics_token", None),
    ("metrics_audit_verify_hours", Some("6")),
];

struct Layered {
    values: BTreeMap<String, (String, String)>,
}

impl Layered {
    fn get(&self, key: &str) -> Option<&(String, String)> {
        self.values.get(key)
    }

    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let source_name = self.get(key).map(|(_, s)| s.clone()).unwrap_or_else(|| "default".into());
        ConfigError { setting: key.into(), source_name, message: message.into() }
    }

    fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(|(v, _)| v.clone()).filter(|v| !v.is_empty())
    }

    fn parse<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<T, ConfigError> {
        let raw = self.string(key).ok_or_else(|| self.err(key, "missing value"))?;
        raw.trim().parse::<T>().map_err(|_| self.err(key, format!("expected {what}, got `{raw}`")))
    }

    fn positive(&self, key: &str) -> Result<i64, ConfigError> {
        let v: i64 = self.parse(key, "a number of seconds")?;
        if v <= 0 {
            return Err(self.err(key, "must be greater than zero"));
        }
        Ok(v)
    }

    fn boolean(&self, key: &str) -> Result<bool, ConfigError> {
        match self.string(key).unwrap_or_default().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            other => Err(self.err(key, format!("expected true or false, got `{other}`"))),
        }
    }
}

impl Config {
    /// Load from the process environment and `GERBANG_CONFIG` (or `./gerbang.toml` if present).
    pub fn from_env() -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let file = env
            .get("GERBANG_CONFIG")
            .map(PathBuf::from)
            .or_else(|| Some(PathBuf::from("gerbang.toml")).filter(|p| p.exists()));
        Config::load(file.as_deref(), &env)
    }

    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut values: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (key, default) in SETTINGS {
            if let Some(d) = default {
                values.insert((*key).into(), ((*d).into(), "default".into()));
            }
        }
        if let Some(path) = file {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                setting: "config file".into(),
                source_name: name.clone(),
                message: format!("cannot read: {e}"),
            })?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
                setting: "config file".into(),
                source_name: name.clone(),
                message: e.message().to_string(),
            })?;
            for (k, v) in table {
                // `x_file` reads setting `x` from a file, except for a setting whose own name ends
                // in `_file` (a path, like `redis_ca_file` or `redis_client_key_file`), which is taken as it is.
                let (key, from_file) = match k.strip_suffix("_file") {
                    Some(base) if !SETTINGS.iter().any(|(s, _)| *s == k) => (base.to_string(), true),
                    _ => (k.clone(), false),
                };
                if !SETTINGS.iter().any(|(s, _)| *s == key) {
                    return Err(ConfigError { setting: k, source_name: name, message: "unknown setting".into() });
                }
                let text = match v {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Array(a) if key == "upstream" => toml::Value::Array(a).to_string(),
                    _ => {
                        return Err(ConfigError {
                            setting: k,
                            source_name: name,
                            message: "expected a string, number or boolean".into(),
                        })
                    }
                };
                let value = if from_file { read_secret_file(&key, &name, &text)? } else { text };
                values.insert(key, (value, name.clone()));
            }
        }
        for (key, _) in SETTINGS {
            let var = format!("GERBANG_{}", key.to_ascii_uppercase());
            let file_var = format!("{var}_FILE");
            if let Some(path) = env.get(&file_var) {
                let value = read_secret_file(key, &file_var, path)?;
                values.insert((*key).into(), (value, file_var));
            } else if let Some(v) = env.get(&var) {
                values.insert((*key).into(), (v.clone(), var));
            }
        }
        Config::from_layers(Layered { values })
    }

    fn from_layers(l: Layered) -> Result<Config, ConfigError> {
        let bind: SocketAddr = l.parse("bind", "an address like 127.0.0.1:8080")?;
        // A loopback default issuer is `localhost`: browsers refuse passkeys for IP addresses.
        let issuer_raw = l.string("issuer").unwrap_or_else(|| {
            let host = if bind.ip().is_unspecified() || bind.ip().is_loopback() {
                "localhost".to_string()
            } else {
                bind.ip().to_string()
            };
            let host = if bind.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
            format!("http://{host}:{}", bind.port())
        });
        let issuer = validate_issuer(&issuer_raw).map_err(|m| l.err("issuer", m))?;
        let data_dir = PathBuf::from(l.string("data_dir").unwrap_or_else(|| "./data".into()));
        let database_url = match l.string("database_url") {
            Some(u) => u,
            None => format!("sqlite://{}/gerbang.db", data_dir.display()),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(l.err("database_url", "must start with sqlite:, postgres:// or postgresql://"));
        }
        let redis_url = l.string("redis_url");
        let redis = redis::redis_settings(&l, redis_url.as_deref())?;
        let master_key = l.string("master_key");
        if let Some(k) = &master_key {
            crate::crypto::decode_master_key(k).map_err(|m| l.err("master_key", m))?;
        }
        let default_locale = l.string("default_locale").unwrap_or_else(|| "id".into());
        if !matches!(default_locale.as_str(), "id" | "en") {
            return Err(l.err("default_locale", "must be `id` or `en`"));
        }
        let log_format = match l.string("log_format").as_deref() {
            Some("text") | None => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(l.err("log_format", format!("must be `text` or `json`, got `{other}`"))),
        };
        let theme = l.string("theme").unwrap_or_else(|| "default".into());
        if theme.is_empty() || !theme.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(l.err("theme", "must be a plain directory name (letters, digits, - and _)"));
        }
        let max_body_bytes: usize = l.parse("max_body_bytes", "a number of bytes")?;
        if max_body_bytes < 1024 {
            return Err(l.err("max_body_bytes", "must be at least 1024"));
        }
        let max_concurrent_hashes: usize = l.parse("max_concurrent_hashes", "a number")?;
        if max_concurrent_hashes == 0 {
            return Err(l.err("max_concurrent_hashes", "must be at least 1"));
        }
        let db_max_connections: u32 = l.parse("db_max_connections", "a number")?;
        if db_max_connections == 0 {
            return Err(l.err("db_max_connections", "must be at least 1"));
        }
        // Each one is a thread of its own; past a few per core they only add switching.
        let sqlite_read_connections: usize = l.parse("sqlite_read_connections", "a number")?;
        if sqlite_read_connections > 16 {
            return Err(l.err("sqlite_read_connections", "must be at most 16"));
        }
        let mut trusted_proxies = Vec::new();
        for part in l.string("trusted_proxies").unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty())
        {
            let c = Cidr::parse(part).ok_or_else(|| {
                l.err("trusted_proxies", format!("`{part}` is not an address or range like 10.0.0.0/8"))
            })?;
            trusted_proxies.push(c);
        }
        let mut redirect_domains = Vec::new();
        let domains_raw = l.string("redirect_domains").unwrap_or_default();
        let any_domain = domains_raw.trim() == "*";
        for part in domains_raw.split(',').map(str::trim).filter(|p| !p.is_empty() && !any_domain) {
            if part == "*" {
                return Err(l.err("redirect_domains", "`*` (any host) must stand alone, not in a list of domains"));
            }
            let host = part.strip_prefix("*.").unwrap_or(part);
            let ok = !host.is_empty()
                && host.contains('.')
                && host
                    .split('.')
                    .all(|lbl| !lbl.is_empty() && lbl.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            if !ok {
                return Err(l.err(
                    "redirect_domains",
                    format!("`{part}` is not a domain like jemberkab.go.id or *.jemberkab.go.id"),
                ));
            }
            redirect_domains.push(part.to_ascii_lowercase());
        }
        // Any HTTPS host may receive codes when the list is empty: on a public issuer that has to
        // be a decision, not the default.
        if redirect_domains.is_empty() && !any_domain && !is_local_issuer(&issuer) {
            return Err(l.err(
                "redirect_domains",
                "must name the region's domains (e.g. \"jemberkab.go.id, *.jemberkab.go.id\") when the issuer is \
                 not localhost; set it to \"*\" to allow any HTTPS host explicitly",
            ));
        }
        let smtp = smtp_settings(&l)?;
        let mail_from = match l.string("mail_from") {
            Some(m) => m,
            None => {
                // An address literal is no mail domain: a local issuer on 127.0.0.1 sends as localhost.
                let host = url::Url::parse(&issuer).ok().and_then(|u| match u.host() {
                    Some(url::Host::Domain(d)) => Some(d.to_string()),
                    _ => None,
                });
                format!("Gerbang <noreply@{}>", host.unwrap_or_else(|| "localhost".into()))
            }
        };
        if lettre::message::Mailbox::from_str(&mail_from).is_err() {
            return Err(l.err("mail_from", "must be an address like `SSO Pemkab <sso@jemberkab.go.id>`"));
        }
        Ok(Config {
            upstreams: upstream::parse(&l)?,
            smtp,
            mail_from,
            citizen_registration: l.boolean("citizen_registration")?,
            verification_counter_info: l.string("verification_counter_info").unwrap_or_default(),
            rate_limits: crate::limits::RateLimits::parse(&l.string("rate_limits").unwrap_or_default())
                .map_err(|m| l.err("rate_limits", m))?,
            max_flows_per_address: l.parse("max_flows_per_address", "a number (0: no limit)")?,
            request_timeout_seconds: l.positive("request_timeout_seconds")? as u64,
            redirect_domains,
            demo: l.boolean("demo")?,
            audit_retention_days: {
                let v: i64 = l.parse("audit_retention_days", "a number of days")?;
                if v < 0 {
                    return Err(l.err("audit_retention_days", "must be 0 (keep for ever) or more"));
                }
                v
            },
            utc_offset_minutes: {
                let v: i32 = l.parse("utc_offset_minutes", "a number of minutes east of UTC")?;
                if !(-720..=840).contains(&v) {
                    return Err(l.err(
                        "utc_offset_minutes",
                        "must be between -720 and 840 (UTC-12:00 to UTC+14:00); 420 is WIB",
                    ));
                }
                v
            },
            admin_min_level: {
                let v: u8 = l.parse("admin_min_level", "a level 1 to 4")?;
                if !(1..=4).contains(&v) {
                    return Err(l.err("admin_min_level", "must be 1, 2, 3 or 4"));
                }
                v
            },
            trusted_proxies,
            issuer,
            bind,
            data_dir,
            database_url: Secret::new(database_url),
            redis_url: redis_url.map(Secret::new),
            redis_prefix: l.string("redis_prefix").unwrap_or_else(|| "gerbang:".into()),
            redis,
            certs: certs::cert_settings(&l)?,
            metrics: metrics::metrics_settings(&l)?,
            keys: keys::key_settings(&l)?,
            master_key: master_key.map(Secret::new),
            themes_dir: PathBuf::from(l.string("themes_dir").unwrap_or_else(|| "./themes".into())),
            theme,
            default_locale,
            log: l.string("log").unwrap_or_else(|| "info".into()),
            log_format,
            access_token_ttl: l.positive("access_token_ttl")?,
            id_token_ttl: l.positive("id_token_ttl")?,
            refresh_token_ttl: l.positive("refresh_token_ttl")?,
            code_ttl: l.positive("code_ttl")?,
            session_ttl: l.positive("session_ttl")?,
            login_ttl: l.positive("login_ttl")?,
            max_body_bytes,
            db_max_connections,
            sqlite_read_connections,
            bootstrap: l.boolean("bootstrap")?,
            max_concurrent_hashes,
            hash_queue: l.parse("hash_queue", "a number")?,
            login_max_failures: l.parse("login_max_failures", "a number")?,
            login_lockout_seconds: l.positive("login_lockout_seconds")?,
            client_cache_seconds: l.parse("client_cache_seconds", "a number of seconds")?,
            directory_cache_seconds: l.parse("directory_cache_seconds", "a number of seconds")?,
        })
    }

    /// Cookies get `Secure` and the `__Host-` prefix only when the issuer is served over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// Whether the issuer is this machine (localhost, 127.0.0.1 or [::1]): only then may demo
    /// data with printed passwords exist.
    pub fn local_issuer(&self) -> bool {
        is_local_issuer(&self.issuer)
    }
}

fn is_local_issuer(issuer: &str) -> bool {
    url::Url::parse(issuer)
        .map(|u| matches!(u.host_str(), Some("localhost") | Some("127.0.0.1") | Some("[::1]")))
        .unwrap_or(false)
}

fn read_secret_file(key: &str, source: &str, path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map(|s| s.trim_end_matches(['\n', '\r']).to_string()).map_err(|e| ConfigError {
        setting: key.into(),
        source_name: source.into(),
        message: format!("cannot read file `{path}`: {e}"),
    })
}

fn validate_issuer(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let local = matches!(url.host_str(), Some("localhost") | Some("127.0.0.1") | Some("[::1]"));
            if !local {
                return Err("must use https:// (http:// is allowed only for localhost)".into());
            }
        }
        _ => return Err("must start with https://".into()),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not contain a query or fragment (OpenID Connect Discovery 1.0 §3)".into());
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests;
