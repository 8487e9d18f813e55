//! The application layer: one function per use case, shared by every face (OIDC endpoints,
//! account page, console, admin API, CLI). It alone holds the whole state, checks the
//! principal's powers and writes audit records; below it are the domain modules and `store`.

pub mod account;
pub mod accounts;
pub mod applications;
pub mod audit;
pub mod backchannel;
pub mod backup;
pub mod bootstrap;
pub mod certificates;
pub mod connected;
pub mod console;
pub mod contact;
pub mod enrolment;
pub mod forgot;
pub mod import;
pub mod keys;
pub mod limits;
pub mod login;
pub mod master_key;
pub mod metrics;
pub mod notify;
pub mod oauth;
pub mod principal;
pub mod registration;
pub mod relying_party;
pub mod requests;
pub mod reset;
pub mod roles;
pub mod scim;
pub mod sessions;
pub mod stats;
pub mod units;
pub mod upkeep;
pub mod upstream;
pub mod verification;

pub use principal::{Operator, Principal};

use crate::identity::accounts::{self as account_domain, AccountError};
use crate::identity::admin::Admin;
use crate::ids::GrantId;
use crate::oidc::clients::ClientError;
use crate::oidc::internal_clients::CONSOLE_CLIENT_ID;
use crate::oidc::introspect::check_access_token;
use crate::oidc::registration::WorkflowError;
use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No valid token or session: log in again.
    Unauthenticated(String),
    /// Logged in, but the login was not strong enough for administration.
    NeedsLevel(u8),
    Forbidden(String),
    NotFound(&'static str),
    Conflict(String),
    /// The request's content is wrong; the text names the field.
    Invalid(String),
    /// Once-only data that was already handed out.
    Gone(String),
    /// Logged where it happened; callers show a generic message.
    Internal,
}

impl AdminError {
    /// The explanation for the person, without internals.
    pub fn detail(&self) -> String {
        match self {
            AdminError::Unauthenticated(d)
            | AdminError::Forbidden(d)
            | AdminError::Conflict(d)
            | AdminError::Invalid(d)
            | AdminError::Gone(d) => d.clone(),
            AdminError::NeedsLevel(l) => format!("security level {l} is required"),
            AdminError::NotFound(what) => format!("no such {what}"),
            AdminError::Internal => "the server could not complete the request".into(),
        }
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> AdminError {
    tracing::error!(error = %e, "administrative operation failed");
    AdminError::Internal
}

pub(crate) fn forbidden(s: &str) -> AdminError {
    AdminError::Forbidden(s.to_string())
}

impl From<crate::store::StoreError> for AdminError {
    fn from(e: crate::store::StoreError) -> Self {
        internal(e)
    }
}

impl From<ClientError> for AdminError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid { field, message } => AdminError::Invalid(format!("{field}: {message}")),
            ClientError::Conflict => AdminError::Conflict("an application with this id exists".into()),
            other => internal(other),
        }
    }
}

impl From<WorkflowError> for AdminError {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::Invalid(c) => c.into(),
            WorkflowError::NoUnit => forbidden("you belong to no OPD unit"),
            WorkflowError::NotFound => AdminError::NotFound("request"),
            WorkflowError::AlreadyDecided => AdminError::Conflict("the request was already decided".into()),
            WorkflowError::ReasonRequired => AdminError::Invalid("reason: a rejection needs a reason".into()),
            WorkflowError::AlreadyFetched => {
                AdminError::Gone("the credentials were already fetched; ask Diskominfo to rotate the secret".into())
            }
            WorkflowError::NotRequester => forbidden("only the requester may fetch the credentials"),
            WorkflowError::NotApproved => AdminError::Conflict("the request is not approved".into()),
            e => internal(e),
        }
    }
}

impl From<AccountError> for AdminError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Conflict(field) => {
                AdminError::Conflict(format!("an account with this {field} already exists"))
            }
            AccountError::LastAdmin => AdminError::Conflict(e.to_string()),
            AccountError::Store(s) => internal(s),
            AccountError::Hash(h) => internal(h),
            other => AdminError::Invalid(other.to_string()),
        }
    }
}

/// Who is calling, from an access token the console was given. Revoked, expired and foreign
/// tokens are refused; roles are read live, so a removed role stops working at once.
pub async fn authenticate(st: &AppState, token: &str, now: i64) -> Result<Principal, AdminError> {
    let unauthenticated = |d: &str| AdminError::Unauthenticated(d.to_string());
    let (claims, grant) = check_access_token(&st.provider(), token, now)
        .await
        .map_err(|_| unauthenticated("the access token is invalid, expired or revoked"))?;
    let grant = grant.ok_or_else(|| forbidden("a person's token is required, not an application's"))?;
    if claims.client_id != CONSOLE_CLIENT_ID {
        return Err(forbidden("the token was not issued to the admin console"));
    }
    if claims.security_level.unwrap_or(1) < st.config.admin_min_level {
        return Err(AdminError::NeedsLevel(st.config.admin_min_level));
    }
    let account = account_domain::get(&st.db, &grant.account_id).await?.filter(|a| a.is_active());
    let account = account.ok_or_else(|| unauthenticated("the account is not active"))?;
    let admin = Admin::load(&st.db, account).await?.ok_or_else(|| forbidden("no administrative role"))?;
    Ok(Principal::Person(admin))
}

/// Who is using the console: its session holds the grant the console's login created. The
/// grant must be unrevoked, the browser's single sign-on session that made it still alive
/// (`live_sid`), the login strong enough, the account active and an admin role held now. So
/// logging out, a revoked grant or a removed role ends console access at once, while an admin
/// at work is not sent through the login every time an access token would expire.
pub async fn authenticate_grant(
    st: &AppState,
    grant_id: &GrantId,
    live_sid: Option<&str>,
    now: i64,
) -> Result<Principal, AdminError> {
    let ended = || AdminError::Unauthenticated("the console session ended".into());
    let grant = crate::store::grants::get_grant(&st.db, grant_id.as_str()).await?.ok_or_else(ended)?;
    if grant.revoked_at.is_some()
        || grant.expires_at <= now
        || grant.client_id != CONSOLE_CLIENT_ID
        || live_sid != Some(grant.sid.as_str())
    {
        return Err(ended());
    }
    if crate::identity::levels::from_acr(&grant.acr).unwrap_or(1) < st.config.admin_min_level {
        return Err(AdminError::NeedsLevel(st.config.admin_min_level));
    }
    let account = account_domain::get(&st.db, &grant.account_id).await?.filter(|a| a.is_active()).ok_or_else(ended)?;
    let admin = Admin::load(&st.db, account).await?.ok_or_else(|| forbidden("no administrative role"))?;
    Ok(Principal::Person(admin))
}
