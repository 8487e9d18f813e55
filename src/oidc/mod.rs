//! The OpenID Connect / OAuth 2 protocol: authorization requests, codes, tokens, introspection,
//! revocation, logout and discovery. Nothing here knows about HTTP frameworks; callers pass in
//! parsed parameters and the current time and get back protocol outcomes.

pub mod access;
pub mod auth_request;
pub mod authorize;
pub mod category;
pub mod claims;
pub mod clients;
pub mod discovery;
pub mod internal_clients;
pub mod introspect;
pub mod key_lifecycle;
pub mod keys;
pub mod logout;
pub mod logout_token;
pub mod redirects;
pub mod registration;
pub mod signer_gate;
pub mod token;
mod verified;

use std::borrow::Cow;

use crate::cache::Cache;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::store::certs::CertRow;
use crate::store::{Db, StoreError};

/// What the protocol works with: borrowed from the application state by the operations in
/// `ops`, so nothing here holds (or can reach) the whole state.
#[derive(Clone, Copy)]
pub struct Provider<'a> {
    pub config: &'a Config,
    pub db: &'a Db,
    /// Where the grant behind an access token is read (see `store::hot`).
    pub hot: &'a crate::store::hot::HotReads,
    pub cache: &'a Cache,
    pub keys: &'a keys::Keys,
    pub clients: &'a clients::ClientCache,
    pub subjects: &'a claims::Subjects,
    pub redirect_policy: &'a clients::RedirectPolicy,
    /// Seals approved applications' secrets until their requester fetches them.
    pub sealer: &'a MasterKey,
    /// Who holds a signer binding now (level 4, the `signer` role and the `cert` claim).
    pub signers: &'a dyn Signers,
    /// The OPD tree and the roles, shared by everyone, kept for a moment (userinfo).
    pub directory: &'a crate::identity::directory::Directory,
}

/// The answer of [`Signers::signer`].
pub type SignerFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<CertRow>, StoreError>> + Send + 'a>>;

/// Whether an account is a transaction signer at `now`: its signer binding, or `None`. The
/// application layer answers (it may first bring the binding's revocation check up to date),
/// so the protocol code asks at each use and an expiry or revocation counts at once.
pub trait Signers: Sync {
    fn signer<'a>(&'a self, account_id: &'a str, now: i64) -> SignerFuture<'a>;
}

/// The error codes of RFC 6749 §4.1.2.1/§5.2, RFC 6750 §3.1 and OpenID Connect Core §3.1.2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    InsufficientScope,
    UnsupportedTokenType,
    UnmetAuthenticationRequirements,
    /// Not an RFC 6749 code: sent with HTTP 429 and `Retry-After` when a rate limit is reached
    /// (`slow_down` belongs to the device flow, `temporarily_unavailable` to the whole server).
    TooManyRequests,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            ErrorCode::TooManyRequests => "too_many_requests",
        }
    }

    /// Every code, for recognising one that came back from outside (anything else is replaced
    /// before it is logged or shown).
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidClient,
        ErrorCode::InvalidGrant,
        ErrorCode::UnauthorizedClient,
        ErrorCode::UnsupportedGrantType,
        ErrorCode::InvalidScope,
        ErrorCode::AccessDenied,
        ErrorCode::UnsupportedResponseType,
        ErrorCode::ServerError,
        ErrorCode::TemporarilyUnavailable,
        ErrorCode::LoginRequired,
        ErrorCode::ConsentRequired,
        ErrorCode::InteractionRequired,
        ErrorCode::RequestNotSupported,
        ErrorCode::RequestUriNotSupported,
        ErrorCode::InvalidToken,
        ErrorCode::InsufficientScope,
        ErrorCode::UnsupportedTokenType,
        ErrorCode::UnmetAuthenticationRequirements,
        ErrorCode::TooManyRequests,
    ];

    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A protocol error as sent to the client: code plus a human-readable description that never
/// contains internal details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    /// Seconds to wait before trying again (`too_many_requests`).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError { code, description: description.into(), retry_after: None }
    }
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(ErrorCode::TooManyRequests, "too many requests; try again after Retry-After seconds");
        e.retry_after = Some(retry_after);
        e
    }
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    /// Logs the cause and returns a generic `server_error`: internals never reach the client.
    /// When the request met an unavailable cache or database, `temporarily_unavailable` with
    /// `Retry-After` instead (RFC 6749 §4.1.2.1, §5.2): the outage is logged by the cache itself
    /// and counted in `gerbang_database_errors_total`, and readiness reports it.
    pub fn server(cause: impl std::fmt::Display) -> Self {
        if crate::cache::outage::seen() {
            tracing::debug!(error = %cause, "cache or database unavailable");
            let mut e =
                Self::new(ErrorCode::TemporarilyUnavailable, "the service is briefly unavailable; try again later");
            e.retry_after = Some(crate::cache::RETRY_AFTER_SECONDS);
            return e;
        }
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::ServerError, "the server could not complete the request")
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

/// Scopes the provider understands for people; `nip` and `nik` release personal identifiers and
/// are granted only to applications registered for them (UU 27/2022 on personal data); `signer`
/// releases the `cert` claim of a person's signer binding.
pub const USER_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "phone",
    "nip",
    "nik",
    "opd",
    "roles",
    "asn_profile",
    "citizen_profile",
    "signer",
    "offline_access",
];

/// `scope` strings: space-separated tokens of visible ASCII minus `"` and `\` (RFC 6749 §3.3).
pub fn parse_scope(s: &str) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for tok in s.split(' ').filter(|t| !t.is_empty()) {
        if tok.len() > 128
            || !tok.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "scope contains invalid characters"));
        }
        if !out.iter().any(|t| t == tok) {
            out.push(tok.to_string());
        }
    }
    if out.len() > 50 {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "too many scopes"));
    }
    Ok(out)
}

/// More parameters than any protocol request has; a request with more is refused before it is
/// looked at further.
pub const MAX_PARAMS: usize = 64;

/// Refuses too many parameters, and repeated ones (RFC 6749 §3.2). Linear: each name is
/// hashed once, so a large form costs no more than reading it.
pub fn check_params(params: &[(String, String)]) -> Result<(), OAuthError> {
    if params.len() > MAX_PARAMS {
        return Err(OAuthError::invalid_request(format!("more than {MAX_PARAMS} parameters")));
    }
    match first_repeated(params.iter().map(|(k, _)| k.as_str())) {
        Some(k) => Err(OAuthError::invalid_request(format!(
            "parameter `{}` was given more than once",
            k.chars().take(40).collect::<String>()
        ))),
        None => Ok(()),
    }
}

/// The first item seen a second time.
fn first_repeated<K: std::hash::Hash + Eq + Copy>(items: impl IntoIterator<Item = K>) -> Option<K> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().find(|k| !seen.insert(*k))
}

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A name that counts how often it is compared.
    #[derive(Clone, Copy)]
    struct Counted<'a>(&'a str, &'a AtomicUsize);

    impl PartialEq for Counted<'_> {
        fn eq(&self, other: &Self) -> bool {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0 == other.0
        }
    }
    impl Eq for Counted<'_> {}
    impl std::hash::Hash for Counted<'_> {
        fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
            self.0.hash(h)
        }
    }

    #[test]
    fn the_repeat_check_compares_each_name_a_bounded_number_of_times() {
        // A 64 KB form holds about 16,000 names; comparing every pair would be 128 million
        // comparisons (what made such a form cost 0.3 s).
        let n = 16_000;
        let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let compared = AtomicUsize::new(0);
        assert!(first_repeated(names.iter().map(|s| Counted(s, &compared))).is_none());
        assert!(compared.load(Ordering::Relaxed) < n, "{} comparisons", compared.load(Ordering::Relaxed));
        let with_repeat = ["a", "b", "c", "b", "a"];
        assert_eq!(first_repeated(with_repeat), Some("b"));
    }

    #[test]
    fn parameters_are_capped_and_repeats_refused() {
        let params = |n: usize| (0..n).map(|i| (format!("p{i}"), String::new())).collect::<Vec<_>>();
        assert!(check_params(&params(MAX_PARAMS)).is_ok());
        let e = check_params(&params(MAX_PARAMS + 1)).unwrap_err();
        assert_eq!((e.code, e.description.as_ref()), (ErrorCode::InvalidRequest, "more than 64 parameters"));
        let mut p = params(3);
        p.push(("p1".into(), "x".into()));
        assert_eq!(check_params(&p).unwrap_err().description, "parameter `p1` was given more than once");
    }
}
