//! The login flow of an authorization request: password (throttled), second factor or passkey,
//! step-up of an existing session, the single sign-on session, consent and the code. Each step
//! takes what the browser sent, already parsed, and `now`; it writes the audit records and
//! returns a [`Step`] for the face to render.

mod second_factor;
mod session;

pub use second_factor::{daily_key as second_factor_daily_key, second_factor, Proof, DAILY_FAILURES};

use webauthn_rs::prelude::PublicKeyCredential;

use crate::audit::{self, Event};
use crate::auth::login::{Limits, LoginFailure, PasswordCheck, PasswordVerdict};
use crate::auth::passkeys::{self, PasskeyError};
use crate::auth::{session as sso, Factors};
use crate::config::Secret;
use crate::identity::accounts::{self, Account};
use crate::identity::levels;
use crate::metrics::{self, LoginResult};
use crate::oidc::authorize::{self, Flow, FlowError, Outcome};
use crate::password::HashError;
use crate::state::AppState;

/// Why an attempt was refused; the face explains it on the page the person is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidCredentials,
    TooManyAttempts,
    AccountDisabled,
    InvalidCode,
    Passkey,
    /// The password hashing queue is full: try again in a moment (nothing was counted).
    Busy,
    /// The account's password changed between the check of the old one and the session it
    /// opened (see `session::start`): the session was ended at once.
    PasswordChanged,
}

/// The browser a step comes from.
#[derive(Debug, Clone, Copy)]
pub struct Browser<'a> {
    pub ip: &'a str,
    pub user_agent: &'a str,
    /// The single sign-on cookie it holds, if any.
    pub sso_cookie: Option<&'a str>,
    /// The page language (`id` or `en`), kept as the person's language for their e-mail.
    pub locale: &'a str,
    /// The browser's long-lived device cookie (new when it had none), to tell a sign-in from a
    /// device not seen before.
    pub device: &'a str,
}

#[derive(Debug)]
pub enum Step {
    /// The authorization goes on or ends as the protocol decided: second factor, consent, the
    /// redirect with a code, a denial.
    Authorize(Outcome),
    /// The login page again, saying why; `username` fills the form again.
    LoginAgain { flow: Flow, refusal: Refusal, username: Option<String> },
    /// The second-factor page again, saying why.
    SecondFactorAgain { flow: Flow, factors: Factors, refusal: Refusal },
    /// Logged in: the browser gets this new single sign-on cookie, then `next`.
    SignedIn { cookie: String, next: Outcome },
    /// Logged in with a recovery code: the new cookie, then a notice urging a new
    /// authenticator before going on to the application at `continue_url`.
    SignedInWithRecoveryCode { cookie: String, continue_url: String, remaining: i64 },
    /// The login flow ended, or the session it was stepping up is gone.
    Expired,
    /// Logged where it happened; the person sees a generic error.
    Internal,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    InvalidCredentials,
    /// Locked or asked to wait; the seconds until the next attempt may be judged.
    TooManyAttempts {
        retry_after: i64,
    },
    AccountDisabled,
    /// The password hashing queue is full; the attempt was neither judged nor counted.
    Busy,
    Internal,
}

/// Why passkey request options cannot be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsError {
    /// No second factor is due in this flow.
    Expired,
    /// The account has no passkey.
    NoPasskey,
    Internal,
}

pub(crate) fn limits(st: &AppState) -> Limits {
    Limits {
        max_failures: st.config.login_max_failures,
        lockout_seconds: st.config.login_lockout_seconds,
        lease_seconds: crate::auth::throttle::lease_after(st.config.request_timeout_seconds),
    }
}

/// The flow a form was posted in; it must have been started by this browser.
pub async fn open_flow(st: &AppState, login_id: &str, browser_id: &str) -> Result<Flow, FlowError> {
    authorize::load_flow(&st.provider(), login_id, browser_id).await
}

/// Checks a password with the throttles and records the outcome in the audit trail.
pub async fn password_login(
    st: &AppState,
    login: &str,
    password: &Secret<String>,
    ip: &str,
    now: i64,
) -> Result<(Account, String), LoginError> {
    let check =
        PasswordCheck { db: &st.db, cache: &st.cache, hasher: &st.hasher, limits: limits(st), ids: &st.login_ids };
    let verdict = match check.check(login, password, ip, now).await {
        Ok(v) => v,
        Err(LoginFailure::Hash(HashError::Busy)) => {
            metrics::login(LoginResult::Busy, "password", 1);
            tracing::warn!(ip = %ip, "login turned away: the password hashing queue is full");
            return Err(LoginError::Busy);
        }
        Err(e) => {
            metrics::login(LoginResult::Error, "password", 1);
            tracing::error!(error = %e, "login failed internally");
            return Err(LoginError::Internal);
        }
    };
    match verdict {
        PasswordVerdict::Accepted(account, stamp) => Ok((account, stamp)),
        PasswordVerdict::Throttled { login_key, retry_after } => {
            metrics::login(LoginResult::Throttled, "password", 1);
            if record_throttled(st, &login_key, ip, now).await {
                // Once per window, like the record: the person hears that someone is guessing.
                crate::ops::notify::locked(st, login, now).await;
            }
            Err(LoginError::TooManyAttempts { retry_after })
        }
        PasswordVerdict::Inactive(account) => {
            metrics::login(LoginResult::Failure, "password", 1);
            audit::record(&st.db, Event::new("login.refused_inactive").subject(&account.id).ip(ip), now).await;
            Err(LoginError::InvalidCredentials)
        }
        PasswordVerdict::Rejected { subject, locked_until } => {
            metrics::login(LoginResult::Failure, "password", 1);
            audit::record(&st.db, Event::new("login.failed").subject(&subject).ip(ip), now).await;
            if let Some(until) = locked_until {
                metrics::lockout();
                let detail = serde_json::json!({ "until": until });
                audit::record(&st.db, Event::new("login.locked").subject(&subject).ip(ip).detail(detail), now).await;
            }
            Err(LoginError::InvalidCredentials)
        }
        PasswordVerdict::Oversized => {
            metrics::login(LoginResult::Failure, "password", 1);
            Err(LoginError::InvalidCredentials)
        }
    }
}

/// One `login.throttled` record per identifier per window, not one per refused attempt: an attack
/// refused by the throttle must not turn into a stream of audit writes (each one takes the audit
/// chain's lock). The rest of the window's refusals are only logged. True when this one was
/// recorded.
async fn record_throttled(st: &AppState, login_key: &str, ip: &str, now: i64) -> bool {
    let window = st.config.login_lockout_seconds.max(1);
    let slot = now.div_euclid(window);
    let ttl = std::time::Duration::from_secs(2 * window as u64);
    match st.cache.count_below(&format!("audit-throttled:{slot}:{login_key}"), 1, ttl).await {
        Ok(None) => {
            tracing::debug!(ip = %ip, "refused login attempt (recorded once this window)");
            return false;
        }
        Ok(Some(_)) => {}
        // Better a record too many than none.
        Err(e) => tracing::warn!(error = %e, "could not tell whether this window's throttling is recorded"),
    }
    let detail = serde_json::json!({ "window_start": slot * window, "window_seconds": window });
    audit::record(&st.db, Event::new("login.throttled").subject(login_key).ip(ip).detail(detail), now).await;
    true
}

/// The login form: with a second factor enrolled the password is only the first step, and no
/// session exists until the second one succeeds.
pub async fn password(
    st: &AppState,
    flow: Flow,
    browser: &Browser<'_>,
    username: &str,
    password: &Secret<String>,
    now: i64,
) -> Step {
    let (account, stamp) = match password_login(st, username, password, browser.ip, now).await {
        Ok(a) => a,
        Err(e) => {
            let refusal = match e {
                LoginError::InvalidCredentials => Refusal::InvalidCredentials,
                LoginError::TooManyAttempts { .. } => Refusal::TooManyAttempts,
                LoginError::AccountDisabled => Refusal::AccountDisabled,
                LoginError::Busy => Refusal::Busy,
                LoginError::Internal => return Step::Internal,
            };
            return Step::LoginAgain { flow, refusal, username: Some(username.to_string()) };
        }
    };
    let factors = match Factors::of(&st.db, &account.id).await {
        Ok(f) => f,
        Err(e) => {
            metrics::login(LoginResult::Error, "password", 1);
            tracing::error!(error = %e, "factor lookup failed");
            return Step::Internal;
        }
    };
    if factors.any() {
        if factors.reachable() < levels::login_level(flow.required_level) {
            return Step::Authorize(authorize::deny_level(&st.provider(), &flow).await);
        }
        let mut flow = flow;
        flow.pending_account = Some(account.id.clone());
        flow.pending_stamp = Some(stamp);
        flow.sid = None;
        // The password is the first factor now, even where the flow went upstream before.
        flow.first_factor = None;
        if let Err(e) = authorize::save_flow(&st.provider(), &flow).await {
            metrics::login(LoginResult::Error, "password", 1);
            tracing::error!(error = %e, "could not save the login flow");
            return Step::Internal;
        }
        return Step::Authorize(Outcome::SecondFactor(flow, factors));
    }
    tracing::info!(account = %account.id, "login succeeded");
    let id = account.id.clone();
    let opened = session::Opened { known: Some(account), stamp: Some(stamp) };
    session::start(st, flow, browser, &id, opened, 1, vec!["pwd".into()], now).await
}

/// Passwordless login with a discoverable passkey and user verification: level 3 at once.
/// `credential` is `None` when the browser's answer could not be read.
pub async fn passkey(
    st: &AppState,
    flow: Flow,
    browser: &Browser<'_>,
    credential: Option<&PublicKeyCredential>,
    now: i64,
) -> Step {
    let refused = |flow| {
        metrics::login(LoginResult::Failure, "passkey", 3);
        Step::LoginAgain { flow, refusal: Refusal::Passkey, username: None }
    };
    let Some(credential) = credential else { return refused(flow) };
    let account_id =
        match passkeys::finish_discoverable(st.webauthn.as_ref(), &st.cache, &st.db, &flow.id, credential, now).await {
            Ok(a) => a,
            Err(e @ (PasskeyError::Store(_) | PasskeyError::Cache(_))) => {
                metrics::login(LoginResult::Error, "passkey", 3);
                tracing::error!(error = %e, "passkey login failed");
                return Step::Internal;
            }
            Err(e) => {
                record_possible_clone(st, &e, browser.ip, now).await;
                tracing::info!(error = %e, "passkey login refused");
                return refused(flow);
            }
        };
    match accounts::get(&st.db, &account_id).await {
        Ok(Some(a)) if a.is_active() => {}
        Ok(_) => {
            metrics::login(LoginResult::Failure, "passkey", 3);
            return Step::LoginAgain { flow, refusal: Refusal::AccountDisabled, username: None };
        }
        Err(e) => {
            metrics::login(LoginResult::Error, "passkey", 3);
            tracing::error!(error = %e, "account lookup failed");
            return Step::Internal;
        }
    }
    tracing::info!(account = %account_id, "passwordless login succeeded");
    let amr = vec![crate::auth::passkeys::AMR.into()];
    session::start(st, flow, browser, &account_id, session::Opened::default(), 3, amr, now).await
}

/// A possibly cloned authenticator is a security event administrators must see, not only a
/// log line.
async fn record_possible_clone(st: &AppState, err: &PasskeyError, ip: &str, now: i64) {
    if let PasskeyError::PossibleClone { account_id } = err {
        audit::record(&st.db, Event::new("passkey.possible_clone").subject(account_id).ip(ip), now).await;
    }
}

/// The person's answer on the consent page.
pub async fn consent(st: &AppState, flow: Flow, sso_cookie: Option<&str>, allow: bool, now: i64) -> Outcome {
    let session = match sso_cookie {
        Some(c) => sso::load(&st.cache, c, now).await.ok().flatten(),
        None => None,
    };
    authorize::consent(&st.provider(), flow, session.as_ref(), allow, now).await
}

/// Request options for passwordless login from the login page (any passkey of this site).
pub async fn passkey_options(st: &AppState, flow: &Flow) -> Result<serde_json::Value, OptionsError> {
    passkeys::start_discoverable(st.webauthn.as_ref(), &st.cache, &flow.id).await.map_err(|e| {
        tracing::error!(error = %e, "passkey options failed");
        OptionsError::Internal
    })
}

/// Request options for a passkey as the second step (after the password, or stepping up).
pub async fn passkey_factor_options(st: &AppState, flow: &Flow) -> Result<serde_json::Value, OptionsError> {
    let Some(account_id) = flow.pending_account.as_deref() else { return Err(OptionsError::Expired) };
    match passkeys::start_authentication(st.webauthn.as_ref(), &st.cache, &st.db, account_id, &flow.id).await {
        Ok(v) => Ok(v),
        Err(PasskeyError::UnknownCredential) => Err(OptionsError::NoPasskey),
        Err(e) => {
            tracing::error!(error = %e, "passkey options failed");
            Err(OptionsError::Internal)
        }
    }
}

/// Marks a session opened by a login at an upstream provider (RFC 8176 has no value for it).
pub const UPSTREAM_AMR: &str = "x-upstream";

/// A verified login at an upstream provider giving `level`. When the request needs more, the
/// person's own factors here step it up (no session until they do), as after a password. A
/// level-1 upstream login is worth a password, so a person who enrolled a second factor is asked
/// for it as after their password: the upstream never becomes a way around it.
pub async fn federated(
    st: &AppState,
    flow: Flow,
    browser: &Browser<'_>,
    account_id: &str,
    level: u8,
    now: i64,
) -> Step {
    let factors = match Factors::of(&st.db, account_id).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "factor lookup failed");
            return Step::Internal;
        }
    };
    if level < levels::login_level(flow.required_level) || (level <= 1 && factors.any()) {
        if factors.reachable() < levels::login_level(flow.required_level) {
            return Step::Authorize(authorize::deny_level(&st.provider(), &flow).await);
        }
        let mut flow = flow;
        flow.pending_account = Some(account_id.to_string());
        flow.pending_stamp = None;
        flow.sid = None;
        flow.first_factor = Some(UPSTREAM_AMR.into());
        if let Err(e) = authorize::save_flow(&st.provider(), &flow).await {
            metrics::login(LoginResult::Error, "password", 1);
            tracing::error!(error = %e, "could not save the login flow");
            return Step::Internal;
        }
        return Step::Authorize(Outcome::SecondFactor(flow, factors));
    }
    session::start(st, flow, browser, account_id, session::Opened::default(), level, vec![UPSTREAM_AMR.into()], now)
        .await
}
