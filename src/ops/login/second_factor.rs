//! The second step of a login, or the step-up of an existing session: a passkey (level 3), a
//! code from the authenticator app (level 2) or a recovery code (level 1, and the code is
//! spent). Fails closed: an attempt the throttle cannot count is not judged.

use webauthn_rs::prelude::PublicKeyCredential;

use super::session::{self, RECOVERY_AMR};
use super::{limits, record_possible_clone, Browser, Refusal, Step};
use crate::audit::{self, Event};
use crate::auth::passkeys::{self, PasskeyError};
use crate::auth::throttle::{self, Admission};
use crate::auth::{recovery, session as sso, totp, Factors};
use crate::metrics::{self, LoginResult};
use crate::oidc::authorize::Flow;
use crate::state::AppState;

/// What the person offers as the second factor.
#[derive(Debug)]
pub enum Proof {
    /// A code from the authenticator app.
    Code(String),
    RecoveryCode(String),
    /// The authenticator's answer; `None` when it could not be read.
    Passkey(Option<Box<PublicKeyCredential>>),
}

impl Proof {
    /// The metrics' method label and the level the proof would reach.
    fn kind(&self) -> (metrics::Method, u8) {
        match self {
            Proof::Code(_) => ("otp", 2),
            Proof::RecoveryCode(_) => ("recovery_code", 1),
            Proof::Passkey(_) => ("passkey", 3),
        }
    }
}

const SCOPE: &str = "otp";

/// Wrong codes (one-time or recovery) an account may take in [`DAY`], whatever the short-term
/// lock allows: the short lock alone lets someone who knows the password guess a code again
/// after every pause, about 1,400 times a day. 20 a day keeps the odds of guessing a six-digit code within
/// the accepted steps near 2 % a year (NIST SP 800-63B caps consecutive failures at 100).
pub const DAILY_FAILURES: u64 = 20;
const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// At this many failures in the day the person is told: whoever is guessing knows the password.
const NOTIFY_AT: u64 = 5;

/// The cache key counting an account's wrong second factors over [`DAY`]. A new password (reset
/// or change) clears it: the guesser no longer has the first factor.
pub fn daily_key(account_id: &str) -> String {
    format!("second-factor-failures:{account_id}")
}

pub async fn second_factor(st: &AppState, flow: Flow, browser: &Browser<'_>, proof: Proof, now: i64) -> Step {
    let Some(account_id) = flow.pending_account.clone() else { return Step::Expired };
    let (method, proof_level) = proof.kind();
    // The password the session to open rests on: the one the first step checked, or, stepping
    // up, the account's now, read before the session it rests on is (see `session::start`).
    let stamp = match &flow.sid {
        None => flow.pending_stamp.clone(),
        Some(_) => match crate::auth::login::current_password_stamp(&st.db, &account_id).await {
            Ok(Some(s)) => Some(s),
            Ok(None) => return Step::Expired,
            Err(e) => {
                metrics::login(LoginResult::Error, method, proof_level);
                tracing::error!(error = %e, "account lookup failed");
                return Step::Internal;
            }
        },
    };
    // Stepping up an existing session: it must still be the one the flow started from.
    if let Some(sid) = &flow.sid {
        let current = match browser.sso_cookie {
            Some(c) => sso::load(&st.cache, c, now).await.ok().flatten(),
            None => None,
        };
        if !current.is_some_and(|s| &s.sid == sid && s.account_id == account_id) {
            return Step::Expired;
        }
    }
    let factors = match Factors::of(&st.db, &account_id).await {
        Ok(f) => f,
        Err(e) => {
            metrics::login(LoginResult::Error, method, proof_level);
            tracing::error!(error = %e, "factor lookup failed");
            return Step::Internal;
        }
    };
    // One reservation per attempt, taken before the proof is looked at: of parallel attempts
    // (on any replica) one is judged at a time, and no more than the policy allows in all.
    let policy = limits(st).per_account();
    // Codes can be guessed; a passkey cannot (a failed or cancelled ceremony is no guess), so
    // the day's cap neither counts nor stops passkeys: the owner's still works.
    let guessable = !matches!(proof, Proof::Passkey(_));
    match if guessable { st.cache.peek_count(&daily_key(&account_id)).await } else { Ok(0) } {
        Ok(n) if n >= DAILY_FAILURES => {
            metrics::login(LoginResult::Throttled, method, proof_level);
            return Step::SecondFactorAgain { flow, factors, refusal: Refusal::TooManyAttempts };
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, account = %account_id, "second-factor attempt refused: the daily count cannot be read");
            return Step::Internal;
        }
    }
    let reserved = match throttle::reserve(&st.cache, SCOPE, &account_id, &policy, now).await {
        Ok(Admission::Admitted(r)) => r,
        Ok(Admission::Refused(_)) => {
            metrics::login(LoginResult::Throttled, method, proof_level);
            return Step::SecondFactorAgain { flow, factors, refusal: Refusal::TooManyAttempts };
        }
        Err(e) => {
            tracing::error!(error = %e, account = %account_id, "second-factor attempt refused: the throttle cannot count it");
            return Step::Internal;
        }
    };
    let hold = throttle::Hold::new(&st.cache, SCOPE, &account_id, &reserved, &policy, now);
    let level = match verify(st, &flow, &account_id, proof, browser.ip, now).await {
        Ok(Some(level)) => level,
        Ok(None) => {
            metrics::login(LoginResult::Failure, method, proof_level);
            release(st, &account_id, &policy, now).await;
            audit::record(&st.db, Event::new("second_factor.failed").subject(&account_id).ip(browser.ip), now).await;
            hold.settled();
            if guessable {
                count_daily(st, &account_id, now).await;
            }
            return Step::SecondFactorAgain { flow, factors, refusal: Refusal::InvalidCode };
        }
        Err(CheckError::Unjudged(e)) => {
            // No proof was compared, so no verdict was given and none is counted (as a password
            // login the database could not judge): retries during a database restart lock nobody
            // out of their second step.
            metrics::login(LoginResult::Error, method, proof_level);
            if let Err(e) = throttle::unjudged(&st.cache, SCOPE, &account_id, &reserved, &policy, now).await {
                tracing::warn!(error = %e, "could not take back an unjudged second-factor attempt");
            }
            tracing::error!(error = %e, "second factor could not be checked");
            hold.settled();
            return Step::Internal;
        }
        Err(CheckError::Failed(e)) => {
            // The proof may have been judged (a code matched, its step not yet spent): counted.
            metrics::login(LoginResult::Error, method, proof_level);
            release(st, &account_id, &policy, now).await;
            tracing::error!(error = %e, "second factor check failed");
            hold.settled();
            return Step::Internal;
        }
    };
    if let Err(e) = throttle::clear(&st.cache, SCOPE, &account_id).await {
        // The failure counted in advance stays; it can only make later failures count sooner.
        tracing::warn!(error = %e, "could not clear the second-factor throttle");
    }
    hold.settled();
    let first = flow.first_factor.clone().unwrap_or_else(|| "pwd".into());
    let amr: Vec<String> = match level {
        3 => vec![first, crate::auth::passkeys::AMR.into()],
        2 => vec![first, "otp".into(), "mfa".into()],
        // RFC 8176 has no value for recovery codes; "kba"-like one-off secrets are closest
        // to a "pwd" second use, so the session records only the password plus our marker.
        _ => vec![first, RECOVERY_AMR.into()],
    };
    tracing::info!(account = %account_id, level, "second factor accepted");
    if level == 1 {
        let event = Event::new("recovery_code.used").actor(&account_id).subject(&account_id).ip(browser.ip);
        audit::record(&st.db, event, now).await;
    }
    let opened = session::Opened { known: None, stamp };
    session::start(st, flow, browser, &account_id, opened, level, amr, now).await
}

/// Ends a judged attempt's hold on the account; its failure stays counted.
async fn release(st: &AppState, account_id: &str, policy: &throttle::Policy, now: i64) {
    if let Err(e) = throttle::release(&st.cache, SCOPE, account_id, policy, now).await {
        // The key frees itself when the lease runs out.
        tracing::warn!(error = %e, "could not release the second-factor throttle");
    }
}

/// Why a proof could not be checked.
enum CheckError {
    /// Before the proof was compared with anything (the authenticator's secret could not be read).
    Unjudged(String),
    /// Anywhere else, possibly after the proof was found right or wrong.
    Failed(String),
}

/// The level the proof reaches, `None` when it is refused.
async fn verify(
    st: &AppState,
    flow: &Flow,
    account_id: &str,
    proof: Proof,
    ip: &str,
    now: i64,
) -> Result<Option<u8>, CheckError> {
    let failed = |e: &dyn std::fmt::Display| CheckError::Failed(e.to_string());
    match proof {
        Proof::Passkey(None) => Ok(None),
        Proof::Passkey(Some(cred)) => {
            let wa = st.webauthn.as_ref();
            match passkeys::finish_authentication(wa, &st.cache, &st.db, account_id, &flow.id, &cred, now).await {
                Ok(()) => Ok(Some(3)),
                Err(PasskeyError::Store(e)) => Err(failed(&e)),
                Err(PasskeyError::Internal(e)) => Err(CheckError::Failed(e)),
                // The ceremony was not read, so the answer was never compared: taken back.
                Err(PasskeyError::Cache(e)) => Err(CheckError::Unjudged(e.to_string())),
                Err(e) => {
                    record_possible_clone(st, &e, ip, now).await;
                    tracing::info!(account = %account_id, error = %e, "passkey refused");
                    Ok(None)
                }
            }
        }
        // One statement compares and spends the code: an error there may come after either.
        Proof::RecoveryCode(code) => recovery::redeem(&st.db, &st.recovery, account_id, &code, now)
            .await
            .map(|ok| ok.then_some(1))
            .map_err(|e| failed(&e)),
        Proof::Code(code) => match totp::verify(&st.db, &st.sealer, account_id, &code, now).await {
            Ok(ok) => Ok(ok.then_some(2)),
            Err(e @ totp::TotpError::Unread(_)) => Err(CheckError::Unjudged(e.to_string())),
            Err(e) => Err(failed(&e)),
        },
    }
}

/// Counts a wrong second factor towards the day's cap, and tells the person once, at
/// [`NOTIFY_AT`], that someone with their password is trying codes.
async fn count_daily(st: &AppState, account_id: &str, now: i64) {
    match st.cache.incr(&daily_key(account_id), DAY).await {
        Ok(NOTIFY_AT) => match crate::identity::accounts::get(&st.db, account_id).await {
            Ok(Some(a)) => {
                crate::ops::notify::notify(st, &a, crate::ops::notify::Notice::SecondFactorGuessed, now).await
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the account for a second-factor notice"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "a wrong second factor was not counted towards the day's cap"),
    }
}
