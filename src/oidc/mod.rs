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
pub mod keys;
pub mod logout;
pub mod registration;
pub mod token;

use std::borrow::Cow;

use crate::cache::Cache;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::store::Db;

/// What the protocol works with: borrowed from the application state by the operations in
/// `ops`, so nothing here holds (or can reach) the whole state.
#[derive(Clone, Copy)]
pub struct Provider<'a> {
    pub config: &'a Config,
    pub db: &'a Db,
    pub cache: &'a Cache,
    pub keys: &'a keys::Keys,
    pub clients: &'a clients::ClientCache,
    pub subjects: &'a claims::Subjects,
    pub redirect_policy: &'a clients::RedirectPolicy,
    /// Seals approved applications' secrets until their requester fetches them.
    pub sealer: &'a MasterKey,
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
        }
    }

    /// Every code, for recognising one that came back from outside (anything else is replaced
    /// before it is logged or shown).
    pub const ALL: [ErrorCode; 19] = [
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
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError { code, description: description.into() }
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
    pub fn server(cause: impl std::fmt::Display) -> Self {
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
/// are granted only to applications registered for them (UU 27/2022 on personal data).
pub const USER_SCOPES: &[&str] =
    &["openid", "profile", "nip", "nik", "opd", "roles", "asn_profile", "citizen_profile", "offline_access"];

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

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}
