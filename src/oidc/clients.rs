//! Registered applications: registration rules, a short-lived in-memory copy for the token
//! endpoint's hot path, and client authentication (RFC 6749 §2.3).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use super::category::Category;
use super::keys::Alg;
use super::{ErrorCode, OAuthError};
use crate::config::Secret;
use crate::crypto;
use crate::identity::accounts::AccountKind;
use crate::store::clients::{self as store, ClientRow};
use crate::store::{Db, StoreError};

pub use super::redirects::{check_redirect_uri, RedirectPolicy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
    pub fn parse(s: &str) -> Option<GrantType> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    secret_hash: Option<String>,
    pub public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub token_alg: Alg,
    pub category: Category,
    pub owner_opd_id: Option<String>,
    pub account_types: Vec<AccountKind>,
    /// A person needs at least one of these roles (the application's own or global).
    pub required_roles: Vec<String>,
    /// Minimum security level (1–4) a login must reach for this application.
    pub min_level: u8,
    /// May use loopback redirect URIs (a developer's machine).
    pub development: bool,
    /// Sees a per-application subject instead of the account id.
    pub pairwise: bool,
    /// Disabled by an administrator: no logins, no tokens.
    pub disabled: bool,
    /// Admits citizens only once an officer verified their identity; civil servants unaffected.
    pub require_verified: bool,
    /// Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// The application needs `sid` in every logout token.
    pub backchannel_logout_session_required: bool,
}

impl Client {
    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }
    pub fn allows_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
    /// Exact string comparison, as RFC 9700 §2.1 requires: no prefix or pattern matching.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    pub fn from_row(r: ClientRow) -> Result<Client, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("client {}: {what}", r.id));
        let redirect_uris: Vec<String> =
            serde_json::from_str(&r.redirect_uris).map_err(|_| corrupt("redirect_uris"))?;
        let post_logout_redirect_uris: Vec<String> =
            serde_json::from_str(&r.post_logout_redirect_uris).map_err(|_| corrupt("post_logout_redirect_uris"))?;
        let grant_types = r.grant_types.split(' ').filter_map(GrantType::parse).collect();
        let token_alg = Alg::parse(&r.token_alg).ok_or_else(|| corrupt("token_alg"))?;
        let min_level =
            u8::try_from(r.min_level).ok().filter(|l| (1..=4).contains(l)).ok_or_else(|| corrupt("min_level"))?;
        let category = Category::parse(&r.category).ok_or_else(|| corrupt("category"))?;
        Ok(Client {
            category,
            owner_opd_id: r.owner_opd_id,
            account_types: r.account_types.split(' ').filter_map(AccountKind::parse).collect(),
            required_roles: r.required_roles.split(' ').filter(|s| !s.is_empty()).map(String::from).collect(),
            min_level,
            development: r.development,
            pairwise: r.subject_type == "pairwise",
            disabled: r.disabled,
            require_verified: r.require_verified,
            backchannel_logout_uri: r.backchannel_logout_uri,
            backchannel_logout_session_required: r.backchannel_logout_session_required,
            scopes: r.scopes.split(' ').filter(|s| !s.is_empty()).map(String::from).collect(),
            id: r.id,
            name: r.name,
            secret_hash: r.secret_hash,
            public: r.public_client,
            first_party: r.first_party,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            token_alg,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewClient {
    /// Chosen by the caller (e.g. `simpeg`); generated when absent.
    pub id: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub scopes: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub token_alg: Alg,
    pub category: Category,
    pub owner_opd_id: Option<String>,
    pub account_types: Vec<AccountKind>,
    pub required_roles: Vec<String>,
    pub min_level: u8,
    pub development: bool,
    pub pairwise: bool,
    pub require_verified: bool,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

impl NewClient {
    /// A first-party web application with the defaults: category `umum`, both account types,
    /// no required role, level 1.
    pub fn web(name: &str, redirect_uris: Vec<String>, scopes: Vec<String>, grant_types: Vec<GrantType>) -> NewClient {
        NewClient {
            id: None,
            name: name.into(),
            redirect_uris,
            post_logout_redirect_uris: vec![],
            public: false,
            first_party: true,
            scopes,
            grant_types,
            token_alg: Alg::RS256,
            category: Category::Umum,
            owner_opd_id: None,
            account_types: vec![AccountKind::Asn, AccountKind::Citizen],
            required_roles: vec![],
            min_level: 1,
            development: false,
            pairwise: false,
            require_verified: false,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid {field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("an application with this id already exists")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => ClientError::Conflict,
            other => ClientError::Store(other),
        }
    }
}

pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> ClientError {
    ClientError::Invalid { field, message: message.into() }
}

/// Registers an application. A confidential client gets a fresh 256-bit secret, returned once
/// and stored only as its SHA-256.
/// Checks a registration (name, grants, redirect URIs against the region's policy, scopes,
/// level, roles) without storing anything; returns the cleaned name and scopes.
pub fn validate(new: &NewClient, policy: &RedirectPolicy) -> Result<(String, Vec<String>), ClientError> {
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(invalid("name", "must be 1 to 200 characters"));
    }
    if new.grant_types.is_empty() {
        return Err(invalid("grant", "at least one grant type is required"));
    }
    let uses_browser = new.grant_types.contains(&GrantType::AuthorizationCode);
    if uses_browser && new.redirect_uris.is_empty() {
        return Err(invalid("redirect_uri", "the authorization_code grant needs at least one redirect URI"));
    }
    if new.public && new.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(invalid("grant", "a public client cannot use client_credentials"));
    }
    if new.grant_types.contains(&GrantType::RefreshToken) && !uses_browser {
        return Err(invalid("grant", "refresh_token requires authorization_code"));
    }
    for u in &new.redirect_uris {
        check_redirect_uri("redirect_uri", u, new.development, policy)?;
    }
    for u in &new.post_logout_redirect_uris {
        check_redirect_uri("post_logout_redirect_uri", u, new.development, policy)?;
    }
    if let Some(u) = &new.backchannel_logout_uri {
        check_redirect_uri("backchannel_logout_uri", u, new.development, policy)?;
    } else if new.backchannel_logout_session_required {
        return Err(invalid("backchannel_logout_session_required", "needs a backchannel_logout_uri"));
    }
    let scope_text = new.scopes.join(" ");
    let scopes = super::parse_scope(&scope_text).map_err(|e| invalid("scope", e.description.to_string()))?;
    if !(1..=4).contains(&new.min_level) {
        return Err(invalid("min_level", "must be 1, 2, 3 or 4"));
    }
    if new.account_types.is_empty() {
        return Err(invalid("account_types", "at least one of asn, citizen"));
    }
    if let Some(bad) = new.required_roles.iter().find(|r| !crate::identity::roles::valid_name(r)) {
        return Err(invalid("required_role", format!("`{bad}` is not a valid role name")));
    }
    Ok((name, scopes))
}

pub async fn register(
    db: &Db,
    policy: &RedirectPolicy,
    new: NewClient,
    now: i64,
) -> Result<(Client, Option<Secret<String>>), ClientError> {
    let (row, secret) = prepare(new, policy, now)?;
    store::insert(db, &row).await?;
    Ok((Client::from_row(row)?, secret))
}

/// A checked registration ready to be stored (with its secret, shown once), for callers that
/// store it inside a transaction of their own.
pub fn prepare(
    new: NewClient,
    policy: &RedirectPolicy,
    now: i64,
) -> Result<(ClientRow, Option<Secret<String>>), ClientError> {
    let (name, scopes) = validate(&new, policy)?;
    let id = match new.id.clone() {
        Some(id) => {
            if !crate::ids::valid_client_id(&id) {
                return Err(invalid("id", "use 1 to 64 letters, digits, `-`, `_` or `.`"));
            }
            id
        }
        None => format!("app-{}", crypto::random_token(12).map_err(|e| invalid("id", e.to_string()))?),
    };
    let secret =
        if new.public { None } else { Some(crypto::random_token(32).map_err(|e| invalid("secret", e.to_string()))?) };
    let mut grant_types: Vec<&str> = new.grant_types.iter().map(|g| g.as_str()).collect();
    grant_types.dedup();
    let row = ClientRow {
        id,
        name,
        secret_hash: secret.as_ref().map(|s| crypto::sha256_hex(s.as_bytes())),
        public_client: new.public,
        first_party: new.first_party,
        redirect_uris: serde_json::to_string(&new.redirect_uris).map_err(|e| invalid("redirect_uri", e.to_string()))?,
        post_logout_redirect_uris: serde_json::to_string(&new.post_logout_redirect_uris)
            .map_err(|e| invalid("post_logout_redirect_uri", e.to_string()))?,
        scopes: scopes.join(" "),
        grant_types: grant_types.join(" "),
        token_alg: new.token_alg.as_str().into(),
        created_at: now,
        updated_at: now,
        category: new.category.as_str().into(),
        owner_opd_id: new.owner_opd_id.clone(),
        account_types: new.account_types.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" "),
        required_roles: new.required_roles.join(" "),
        min_level: i64::from(new.min_level),
        development: new.development,
        subject_type: if new.pairwise { "pairwise".into() } else { "public".into() },
        disabled: false,
        require_verified: new.require_verified,
        backchannel_logout_uri: new.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: new.backchannel_logout_session_required,
    };
    Ok((row, secret.map(Secret::new)))
}

/// How the client presented its credentials at the token, introspection or revocation endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Post,
    None,
}

#[derive(Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<Secret<String>>,
    pub method: AuthMethod,
}

/// Keeps recently used clients in memory so the token endpoint does not read the database on
/// every request. Changes made elsewhere are seen after `ttl` at most.
pub struct ClientCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Arc<Client>, Instant)>>,
}

impl ClientCache {
    pub fn new(ttl: Duration) -> Self {
        ClientCache { ttl, entries: RwLock::new(HashMap::new()) }
    }

    pub async fn get(&self, db: &Db, id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        if id.is_empty() || id.len() > 128 {
            return Ok(None);
        }
        if let Some((c, at)) = self.entries.read().unwrap_or_else(|p| p.into_inner()).get(id) {
            if at.elapsed() < self.ttl {
                return Ok(Some(c.clone()));
            }
        }
        let Some(row) = store::get(db, id).await? else { return Ok(None) };
        let client = Arc::new(Client::from_row(row)?);
        if !self.ttl.is_zero() {
            let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(id.to_string(), (client.clone(), Instant::now()));
        }
        Ok(Some(client))
    }

    pub fn forget(&self, id: &str) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Authenticates a client. Confidential clients must present their secret; public clients
    /// present only their id (and are bound to PKCE elsewhere).
    pub async fn authenticate(&self, db: &Db, creds: &ClientCredentials) -> Result<Arc<Client>, OAuthError> {
        let unknown = || OAuthError::invalid_client("client authentication failed");
        let client = self.get(db, &creds.client_id).await.map_err(OAuthError::server)?.ok_or_else(unknown)?;
        let disabled = || OAuthError::invalid_client("the application is disabled");
        if client.public {
            if creds.method != AuthMethod::None {
                return Err(OAuthError::invalid_client("a public client must not send a client secret"));
            }
            return if client.disabled { Err(disabled()) } else { Ok(client) };
        }
        let (Some(secret), Some(stored)) = (&creds.secret, &client.secret_hash) else {
            return Err(OAuthError::invalid_client("client authentication required"));
        };
        let presented = crypto::sha256_hex(secret.expose().as_bytes());
        if !crypto::constant_time_eq(presented.as_bytes(), stored.as_bytes()) {
            return Err(unknown());
        }
        // Said only to the application itself: a guess at its id learns nothing of its state.
        if client.disabled {
            return Err(disabled());
        }
        Ok(client)
    }
}

pub fn require_grant(client: &Client, g: GrantType) -> Result<(), OAuthError> {
    if client.allows_grant(g) {
        Ok(())
    } else {
        Err(OAuthError::new(ErrorCode::UnauthorizedClient, format!("this client may not use the {} grant", g.as_str())))
    }
}

/// Every registered application, in one query (for administrators).
pub async fn list(db: &Db) -> Result<Vec<Client>, StoreError> {
    store::list(db).await?.into_iter().map(Client::from_row).collect()
}

/// A new secret for a confidential client; the old one stops working (on other replicas within
/// `client_cache_seconds`). Returns the secret, shown once.
pub async fn rotate_secret(
    db: &Db,
    cache: &ClientCache,
    id: &str,
    now: i64,
) -> Result<Option<Secret<String>>, ClientError> {
    let secret = crypto::random_token(32).map_err(|e| invalid("secret", e.to_string()))?;
    if !store::set_secret_hash(db, id, &crypto::sha256_hex(secret.as_bytes()), now).await? {
        return Ok(None);
    }
    cache.forget(id);
    Ok(Some(Secret::new(secret)))
}

/// Disables (revoking every grant) or enables an application.
pub async fn set_disabled(
    db: &Db,
    cache: &ClientCache,
    id: &str,
    disabled: bool,
    now: i64,
) -> Result<bool, ClientError> {
    let found = store::set_disabled(db, id, disabled, now).await?;
    if found && disabled {
        crate::store::grants::revoke_grants_of_client(db, id, now).await?;
    }
    cache.forget(id);
    Ok(found)
}

/// Changes to an application's settings; absent fields stay as they are.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct ClientEdit {
    pub name: Option<String>,
    pub category: Option<Category>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub min_level: Option<u8>,
    pub required_roles: Option<Vec<String>>,
    /// Admit citizens only once their identity was verified at a counter.
    pub require_verified: Option<bool>,
    /// The owning OPD unit's id; an empty string removes the owner.
    pub owner_opd_id: Option<String>,
    /// Where logout tokens go (Back-Channel Logout 1.0); an empty string removes it.
    pub backchannel_logout_uri: Option<String>,
    /// Whether every logout token must carry `sid`.
    pub backchannel_logout_session_required: Option<bool>,
}

impl Client {
    /// The registration this client would have, for validating an edit with the same rules.
    fn as_new(&self) -> NewClient {
        NewClient {
            id: Some(self.id.clone()),
            name: self.name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            public: self.public,
            first_party: self.first_party,
            scopes: self.scopes.clone(),
            grant_types: self.grant_types.clone(),
            token_alg: self.token_alg,
            category: self.category,
            owner_opd_id: self.owner_opd_id.clone(),
            account_types: self.account_types.clone(),
            required_roles: self.required_roles.clone(),
            min_level: self.min_level,
            development: self.development,
            pairwise: self.pairwise,
            require_verified: self.require_verified,
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: self.backchannel_logout_session_required,
        }
    }
}

/// Applies an edit after checking it with the registration rules (redirect URIs inside the
/// region, known scopes, level 1–4). Returns the client as it is now.
pub async fn update(
    db: &Db,
    cache: &ClientCache,
    policy: &RedirectPolicy,
    current: &Client,
    edit: ClientEdit,
    now: i64,
) -> Result<Client, ClientError> {
    let mut n = current.as_new();
    if let Some(v) = edit.name {
        n.name = v;
    }
    if let Some(v) = edit.category {
        n.category = v;
    }
    if let Some(v) = edit.redirect_uris {
        n.redirect_uris = v;
    }
    if let Some(v) = edit.post_logout_redirect_uris {
        n.post_logout_redirect_uris = v;
    }
    if let Some(v) = edit.scopes {
        n.scopes = v;
    }
    if let Some(v) = edit.min_level {
        n.min_level = v;
    }
    if let Some(v) = edit.required_roles {
        n.required_roles = v;
    }
    if let Some(v) = edit.owner_opd_id {
        n.owner_opd_id = Some(v).filter(|s| !s.is_empty());
    }
    if let Some(v) = edit.require_verified {
        n.require_verified = v;
    }
    if let Some(v) = edit.backchannel_logout_uri {
        n.backchannel_logout_uri = Some(v).filter(|s| !s.is_empty());
        // Removing the URI removes what only made sense with it, unless the edit says otherwise.
        if n.backchannel_logout_uri.is_none() && edit.backchannel_logout_session_required.is_none() {
            n.backchannel_logout_session_required = false;
        }
    }
    if let Some(v) = edit.backchannel_logout_session_required {
        n.backchannel_logout_session_required = v;
    }
    let (name, scopes) = validate(&n, policy)?;
    let mut row = store::get(db, &current.id).await?.ok_or_else(|| invalid("id", "no such application"))?;
    row.name = name;
    row.redirect_uris = serde_json::to_string(&n.redirect_uris).map_err(|e| invalid("redirect_uri", e.to_string()))?;
    row.post_logout_redirect_uris = serde_json::to_string(&n.post_logout_redirect_uris)
        .map_err(|e| invalid("post_logout_redirect_uri", e.to_string()))?;
    row.scopes = scopes.join(" ");
    row.category = n.category.as_str().into();
    row.owner_opd_id = n.owner_opd_id;
    row.required_roles = n.required_roles.join(" ");
    row.min_level = i64::from(n.min_level);
    row.require_verified = n.require_verified;
    row.backchannel_logout_uri = n.backchannel_logout_uri;
    row.backchannel_logout_session_required = n.backchannel_logout_session_required;
    row.updated_at = now;
    store::update_settings(db, &row).await?;
    cache.forget(&current.id);
    Ok(Client::from_row(row)?)
}

#[cfg(test)]
#[path = "clients_tests.rs"]
mod tests;
