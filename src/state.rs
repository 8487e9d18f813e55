//! Everything a request may need, built once at start-up and shared by reference.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::auth::recovery::RecoveryKey;
use crate::cache::Cache;
use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::crypto::{self, CsrfKey, MasterKey};
use crate::oidc::claims::Subjects;
use crate::oidc::clients::{ClientCache, RedirectPolicy};
use crate::oidc::keys::Keys;
use crate::password::Hasher;
use crate::store::Db;
use crate::theme::Themes;

pub struct AppState {
    pub config: Arc<Config>,
    /// Every request reads the time here (and the cache expires entries by it), so tests can move
    /// it forward.
    pub clock: Clock,
    pub db: Db,
    /// SQLite connections outside the pool for the grant read of every userinfo/introspection.
    pub hot: crate::store::hot::HotReads,
    pub cache: Cache,
    pub keys: Keys,
    pub clients: ClientCache,
    /// The OPD tree and the roles for userinfo, read whole every `directory_cache_seconds`.
    pub directory: crate::identity::directory::Directory,
    /// Tokens issued here since the upkeep last added them to the shared counters.
    pub token_tally: crate::stats::TokenTally,
    /// The roots and intermediates electronic certificates must chain to (`certificate_issuers`);
    /// without anchors binding is not offered.
    pub cert_trust: crate::certs::TrustStore,
    pub hasher: Hasher,
    /// Request rate limits (in-process buckets; Redis ones when the cache is Redis).
    pub limits: crate::limits::Limiter,
    pub themes: Themes,
    /// The SMTP relay, or its absence (`Mailer::configured`).
    pub mailer: crate::mail::Mailer,
    pub csrf: CsrfKey,
    /// Names typed login identifiers in throttle keys and the audit trail without revealing them.
    pub login_ids: crypto::IdHasher,
    pub subjects: Subjects,
    /// Seals second-factor secrets (the same master key that seals signing keys).
    pub sealer: MasterKey,
    pub recovery: RecoveryKey,
    /// None when the issuer's host cannot be a WebAuthn relying party (an IP address).
    pub webauthn: Option<webauthn_rs::Webauthn>,
    pub redirect_policy: RedirectPolicy,
    /// The discovery document, serialized once.
    pub discovery: bytes::Bytes,
    /// Outbound HTTP (upstream providers, back-channel logout): bounded timeouts and no
    /// redirects, so a slow or hostile peer can neither hold a request nor send it elsewhere.
    pub http: reqwest::Client,
    /// The `[[upstream]]` identity providers with their cached discovery documents and keys.
    pub upstreams: crate::federation::Registry,
}

impl AppState {
    /// The parts of the state the protocol layer works with.
    pub fn provider(&self) -> crate::oidc::Provider<'_> {
        crate::oidc::Provider {
            config: &self.config,
            db: &self.db,
            hot: &self.hot,
            cache: &self.cache,
            keys: &self.keys,
            clients: &self.clients,
            subjects: &self.subjects,
            redirect_policy: &self.redirect_policy,
            sealer: &self.sealer,
            signers: self,
            directory: &self.directory,
        }
    }
}

/// The wall clock, for the few places without a state (command-line one-shots, start-up).
pub fn now() -> i64 {
    Clock::system().now()
}

impl AppState {
    /// The server's current time, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Connects storage, applies migrations, opens the signing keys and loads the theme.
    pub async fn init(config: Config) -> anyhow::Result<Arc<AppState>> {
        Self::init_with_clock(config, Clock::system()).await
    }

    /// [`AppState::init`] with a given clock (tests pass one they can move forward).
    pub async fn init_with_clock(config: Config, clock: Clock) -> anyhow::Result<Arc<AppState>> {
        let now = || clock.now();
        if config.metrics.enabled() {
            crate::metrics::install();
        }
        let db = Db::connect(config.database_url.expose(), config.db_max_connections)
            .await
            .with_context(|| format!("cannot open the database ({})", redact_url(config.database_url.expose())))?;
        db.migrate().await.context("cannot apply database migrations")?;
        let cache = match &config.redis_url {
            Some(url) => Cache::redis(url.expose(), &config.redis_prefix, &config.redis, clock.clone())
                .await
                .with_context(|| format!("cannot connect to Redis ({})", redact_url(url.expose())))?,
            None => Cache::memory(clock.clone()),
        };
        let redirect_policy = RedirectPolicy::from_config(&config);
        let webauthn = match crate::auth::passkeys::build(&config.issuer) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, issuer = %config.issuer, "passkeys are disabled: browsers need a domain name (e.g. localhost), not an IP address, as the issuer's host");
                None
            }
        };
        if config.redirect_domains.is_empty() {
            tracing::warn!("redirect_domains is empty: applications may register any HTTPS redirect URI; set it to the region's domains");
        }
        let master_bytes = load_master_key(&config)?;
        let (sealer, previous_bytes) = sealer_of(&config, master_bytes)?;
        let policy = crate::oidc::keys::KeyPolicy::from_config(&config);
        let keys = Keys::load(&db, sealer.clone(), policy, clock.clone()).await.context("cannot load signing keys")?;
        // Derived keys come from the root secret, not the master key itself, so that rotating
        // the master key changes none of them (see `crate::master_key`).
        let root = crate::master_key::root_secret(&db, &sealer, &master_bytes, previous_bytes.as_ref(), now())
            .await
            .context("cannot open the root secret")?;
        let csrf = CsrfKey::new(crypto::derive_key(&root, "gerbang csrf v1"));
        let login_ids = crypto::IdHasher::new(crypto::derive_key(&root, "gerbang login id v1"));
        let subjects = Subjects::new(crypto::derive_key(&root, "gerbang pairwise v1"));
        let recovery = RecoveryKey::new(crypto::derive_key(&root, "gerbang recovery v1"));
        // After the signing keys, so a wrong master key stops before it touches the trail. A
        // damaged trail (its head row deleted) does not keep the region's logins down: appends
        // then fail and are logged, and `gerbang audit verify` says why.
        if let Err(e) = crate::audit::open(&db, crate::audit::ChainKey::derive(&root), now()).await {
            tracing::error!(error = %e, "the audit trail could not be opened; events will not be recorded");
        }
        let cert_trust = match &config.certs.issuers {
            Some(path) => {
                let trust = crate::certs::TrustStore::load(path)?;
                tracing::info!(authorities = ?trust.names(), "electronic certificates must chain to these authorities");
                trust
            }
            None => {
                tracing::info!("certificate binding is not offered: certificate_issuers is not set");
                crate::certs::TrustStore::empty()
            }
        };
        let themes = Themes::load(&config.themes_dir, &config.theme).context("cannot load the theme")?;
        let mailer = crate::mail::Mailer::from_config(&config).context("cannot set up e-mail")?;
        if mailer.configured() {
            tracing::info!("e-mail is sent through the configured SMTP relay");
        } else {
            tracing::info!("e-mail is not configured (smtp_host): reset links are shown to administrators instead");
        }
        let discovery = bytes::Bytes::from(crate::oidc::discovery::document(&config).to_string());
        let http = outbound_http().context("cannot set up the outbound HTTP client")?;
        let upstreams = crate::federation::Registry::new(&config.upstreams)?;
        let hot = crate::store::hot::HotReads::open(&db, config.sqlite_read_connections).await;
        let state = Arc::new(AppState {
            clients: ClientCache::new(Duration::from_secs(config.client_cache_seconds)),
            directory: crate::identity::directory::Directory::new(Duration::from_secs(config.directory_cache_seconds)),
            token_tally: crate::stats::TokenTally::default(),
            cert_trust,
            hasher: Hasher::new(config.max_concurrent_hashes, config.hash_queue),
            limits: crate::limits::Limiter::new(&config.rate_limits),
            config: Arc::new(config),
            clock: clock.clone(),
            db,
            hot,
            cache,
            keys,
            themes,
            mailer,
            csrf,
            login_ids,
            subjects,
            sealer,
            recovery,
            webauthn,
            redirect_policy,
            discovery,
            http,
            upstreams,
        });
        crate::oidc::internal_clients::ensure(
            &state.db,
            &state.clients,
            &state.redirect_policy,
            &state.config.issuer,
            now(),
        )
        .await
        .context("cannot register the built-in account client")?;
        Ok(state)
    }
}

/// The one outbound HTTP client: connection pooling shared by every peer.
pub fn outbound_http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gerbang/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The configured master key, or one generated into the data directory on first start.
pub fn load_master_key(config: &Config) -> anyhow::Result<[u8; 32]> {
    if let Some(k) = &config.master_key {
        let bytes =
            crypto::decode_master_key(k.expose()).map_err(|m| anyhow::anyhow!("invalid setting `master_key`: {m}"))?;
        return Ok(bytes);
    }
    let path = config.data_dir.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let bytes = crypto::decode_master_key(&text).map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))?;
        return Ok(bytes);
    }
    let bytes: [u8; 32] = crypto::random_bytes()?;
    write_private_file(&path, &crypto::encode_master_key(&bytes))?;
    tracing::warn!(
        path = %path.display(),
        "no master key configured: generated one into the data directory; set GERBANG_MASTER_KEY_FILE in production and back it up apart from the database"
    );
    Ok(bytes)
}

/// `master_key_previous` or `master_key_next` (named by `setting`), set while a master-key
/// rotation is under way.
/// The master key with the rotation's other keys as configured (`master_key_previous`,
/// `master_key_next`): what seals and opens stored secrets. Also returns the previous key's bytes.
pub fn sealer_of(config: &Config, master_bytes: [u8; 32]) -> anyhow::Result<(MasterKey, Option<[u8; 32]>)> {
    let previous_bytes = load_optional_master_key(&config.keys.master_key_previous, "master_key_previous")?;
    let next_bytes = load_optional_master_key(&config.keys.master_key_next, "master_key_next")?;
    let mut master = MasterKey::new(master_bytes);
    if let Some(p) = previous_bytes {
        master = master.with_previous(p);
    }
    if let Some(n) = next_bytes {
        master = master.with_next(n);
    }
    Ok((master, previous_bytes))
}

/// The audit chain's key exactly as a server on this database derives it, for commands that
/// write to the trail without starting one (`backup`, `restore`). It comes from the root secret,
/// not from the master key: the two differ for good once the master key has been rotated, and a
/// record keyed with the master key itself would break the chain there.
pub async fn audit_chain_key(
    config: &Config,
    db: &Db,
    master_bytes: [u8; 32],
) -> anyhow::Result<crate::audit::ChainKey> {
    let (sealer, previous_bytes) = sealer_of(config, master_bytes)?;
    let root = crate::master_key::root_secret(db, &sealer, &master_bytes, previous_bytes.as_ref(), now())
        .await
        .context("cannot open the root secret")?;
    Ok(crate::audit::ChainKey::derive(&root))
}

pub fn load_optional_master_key(key: &Option<Secret<String>>, setting: &str) -> anyhow::Result<Option<[u8; 32]>> {
    match key {
        Some(k) => crypto::decode_master_key(k.expose())
            .map(Some)
            .map_err(|m| anyhow::anyhow!("invalid setting `{setting}`: {m}")),
        None => Ok(None),
    }
}

fn write_private_file(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut f, content.as_bytes())?;
    Ok(())
}

/// Drops a password from a connection URL before it is shown in an error.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "unparseable URL".into(),
    }
}
