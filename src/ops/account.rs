//! Self-service: what a signed-in person does to their own account from the account page — the
//! overview, passkeys, password, authenticator app, recovery codes and sessions. The person is
//! both the actor and the subject of every audit record written here.

use super::enrolment;
use super::notify::{notify, Factor, Notice};
use crate::audit::{self, Event};
use crate::auth::session::{self, SsoSession};
use crate::auth::throttle::{self, Admission};
use crate::auth::{passkeys, recovery, totp};
use crate::config::Secret;
use crate::identity::accounts::{self, Account, PasswordChangeError, PasswordRule};
use crate::identity::levels;
use crate::ids::{PasskeyId, SessionId};
use crate::state::AppState;
use crate::store::accounts as account_store;
use crate::store::factors as factor_store;
use crate::store::opd as opd_store;
pub use crate::store::passkeys::PasskeyRow;

/// Changing factors needs a recent login, so a session left open on a shared computer cannot be
/// used to take the account over.
pub const RECENT_AUTH_SECONDS: i64 = 600;

/// A person signed in through the single sign-on session, with their active account.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: SsoSession,
    pub account: Account,
}

/// A signed-in person who logged in within [`RECENT_AUTH_SECONDS`]. Only [`SignedIn::recent`]
/// makes one, and every factor change takes one, so none can skip the check.
#[derive(Debug, Clone)]
pub struct Recent(SignedIn);

impl SignedIn {
    /// The person as allowed to change factors; `None` when the login is too old.
    pub fn recent(self, now: i64) -> Option<Recent> {
        recent_enough(self.session.auth_time, now).then_some(Recent(self))
    }

    fn id(&self) -> &str {
        &self.account.id
    }
}

fn recent_enough(auth_time: i64, now: i64) -> bool {
    now - auth_time <= RECENT_AUTH_SECONDS
}

impl std::ops::Deref for Recent {
    type Target = SignedIn;

    fn deref(&self) -> &SignedIn {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfServiceError {
    /// No such passkey or session among the person's own.
    NotFound,
    /// The authenticator's answer, or the first one-time code, was not accepted.
    Refused,
    /// The new password was not taken; the person can try again.
    Password(PasswordRefusal),
    /// An administrator's first factor is enrolled only through a one-time enrolment link.
    EnrolmentLinkRequired,
    /// The enrolment link is unknown, someone else's, used or expired (one answer for all).
    LinkInvalid,
    /// Logged where it happened; the page shows a generic error.
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRefusal {
    /// The new password and its repetition differ.
    Mismatch,
    WrongCurrent,
    Policy(PasswordRule),
    /// Too many wrong current passwords: a stolen session must not become a password oracle.
    TooManyAttempts,
    /// The password hashing queue is full; nothing was checked or counted.
    Busy,
}

impl PasswordRefusal {
    /// Translation key of the explanation on the password page.
    pub fn message_key(self) -> &'static str {
        match self {
            PasswordRefusal::Mismatch => "pw_mismatch",
            PasswordRefusal::WrongCurrent => "pw_wrong_current",
            PasswordRefusal::Policy(rule) => rule.message_key(),
            PasswordRefusal::TooManyAttempts => "err_too_many_attempts",
            PasswordRefusal::Busy => "err_busy",
        }
    }
}

pub(super) fn internal(what: &'static str, e: impl std::fmt::Display) -> SelfServiceError {
    tracing::error!(error = %e, "{what}");
    SelfServiceError::Internal
}

/// Throttle scope of the current-password check on the password page.
const PASSWORD_SCOPE: &str = "pwchange";

async fn clear_password_throttle(st: &AppState, me: &SignedIn) {
    if let Err(e) = throttle::clear(&st.cache, PASSWORD_SCOPE, me.id()).await {
        // A record left behind only makes later mistakes count sooner.
        tracing::warn!(error = %e, "could not clear the password-change throttle");
    }
}

async fn release_password_throttle(st: &AppState, me: &SignedIn, policy: &throttle::Policy, now: i64) {
    if let Err(e) = throttle::release(&st.cache, PASSWORD_SCOPE, me.id(), policy, now).await {
        // The failure is counted already; the key frees itself when its lease runs out.
        tracing::warn!(error = %e, "could not release the password-change throttle");
    }
}

/// Writes the record of a change the person made to their own account.
async fn record(st: &AppState, me: &SignedIn, event: Event, now: i64) {
    audit::record(&st.db, event.actor(me.id()).subject(me.id()), now).await;
}

/// Who the single sign-on cookie belongs to: `None` without a live session or with an account
/// that is no longer active, and also when either cannot be read (the person is sent to the
/// login, which reports what is wrong).
pub async fn signed_in(st: &AppState, sso_cookie: &str, now: i64) -> Option<SignedIn> {
    let session = match session::load(&st.cache, sso_cookie, now).await {
        Ok(s) => s?,
        Err(e) => {
            tracing::warn!(error = %e, "session lookup failed");
            return None;
        }
    };
    let account = match accounts::get(&st.db, &session.account_id).await {
        Ok(a) => a.filter(|a| a.is_active())?,
        Err(e) => {
            tracing::warn!(error = %e, "account lookup failed");
            return None;
        }
    };
    Some(SignedIn { session, account })
}

/// What the account page shows.
#[derive(Debug, Clone)]
pub struct Overview {
    /// The name of the person's OPD unit, when they have one and it can be read.
    pub unit_name: Option<String>,
    /// The security level of the login behind the current session.
    pub level: u8,
    pub totp_enrolled: bool,
    pub recovery_remaining: i64,
    pub passkeys: Vec<PasskeyRow>,
    pub passkeys_enabled: bool,
    /// How the authenticator app was enrolled (`via`, session level), when known.
    pub totp_origin: Option<(Option<String>, Option<i64>)>,
    pub enrolment: Enrolment,
    /// Newest first; empty (with a warning in the log) when the cache cannot be read: the rest
    /// of the page is still worth showing.
    pub sessions: Vec<SsoSession>,
    /// A new e-mail address waiting for its verification link to be followed.
    pub pending_email: Option<String>,
    /// Upstream providers (SIASN, INApas) linked to the account.
    pub upstream_links: Vec<super::upstream::LinkView>,
}

/// Whether this session may add a factor now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolment {
    Allowed,
    /// An administrator's session after a password only: a factor needs an enrolment link.
    NeedsLink,
    /// An enrolment link was redeemed by this session: one factor may be added.
    LinkOpen,
}

impl Enrolment {
    pub fn as_str(self) -> &'static str {
        match self {
            Enrolment::Allowed => "allowed",
            Enrolment::NeedsLink => "needs_link",
            Enrolment::LinkOpen => "link_open",
        }
    }
}

pub async fn overview(st: &AppState, me: &SignedIn, now: i64) -> Result<Overview, SelfServiceError> {
    let unit_name = match &me.account.opd_id {
        Some(id) => opd_store::get(&st.db, id).await.ok().flatten().map(|o| o.name),
        None => None,
    };
    let factors_unread = |e| internal("second factors could not be read", e);
    let totp_enrolled = totp::is_enrolled(&st.db, me.id()).await.map_err(factors_unread)?;
    let recovery_remaining = recovery::remaining(&st.db, me.id()).await.map_err(factors_unread)?;
    let passkeys = passkeys::list(&st.db, me.id()).await.map_err(|e| internal("passkeys could not be read", e))?;
    let sessions = sessions(st, me, now).await.unwrap_or_default();
    let totp_origin = crate::store::enrolment::totp_origin(&st.db, me.id()).await.map_err(factors_unread)?;
    let enrolment = match enrolment::route(st, me, now).await {
        Ok(enrolment::Route::Link(_)) => Enrolment::LinkOpen,
        Ok(enrolment::Route::Session(_)) => Enrolment::Allowed,
        Err(SelfServiceError::EnrolmentLinkRequired) => Enrolment::NeedsLink,
        Err(e) => return Err(e),
    };
    Ok(Overview {
        totp_origin,
        enrolment,
        unit_name,
        level: levels::from_acr(&me.session.acr).unwrap_or(1),
        totp_enrolled,
        recovery_remaining,
        passkeys,
        passkeys_enabled: st.webauthn.is_some(),
        sessions,
        pending_email: super::contact::view(st, me, now).await.map_err(|_| SelfServiceError::Internal)?.pending,
        upstream_links: super::upstream::links_of(st, me.id()).await.map_err(|e| internal("links unreadable", e))?,
    })
}

/// The person's live sessions, newest first.
pub async fn sessions(st: &AppState, me: &SignedIn, now: i64) -> Result<Vec<SsoSession>, SelfServiceError> {
    session::list_for_account(&st.cache, me.id(), now).await.map_err(|e| {
        tracing::warn!(error = %e, "session list unavailable");
        SelfServiceError::Internal
    })
}

/// Creation options for a new passkey, for the browser's WebAuthn call.
pub async fn passkey_options(st: &AppState, me: &Recent, now: i64) -> Result<serde_json::Value, SelfServiceError> {
    enrolment::route(st, me, now).await?;
    let a = &me.account;
    // The person's name, never their NIP or NIK: passkeys sync to device and cloud accounts
    // outside the region's control.
    passkeys::start_registration(st.webauthn.as_ref(), &st.cache, &st.db, &a.id, &a.name, &a.name)
        .await
        .map_err(|e| internal("passkey registration options failed", e))
}

/// Stores the passkey the browser created (`credential`: its JSON answer) under `name`.
pub async fn add_passkey(
    st: &AppState,
    me: &Recent,
    name: &str,
    credential: &str,
    now: i64,
) -> Result<(), SelfServiceError> {
    let cred = serde_json::from_str::<webauthn_rs::prelude::RegisterPublicKeyCredential>(credential)
        .map_err(|_| SelfServiceError::Refused)?;
    let route = enrolment::route(st, me, now).await?;
    enrolment::claim(st, &route, now).await?;
    match passkeys::finish_registration(st.webauthn.as_ref(), &st.cache, &st.db, me.id(), name, &cred, now).await {
        Ok(row) => {
            tracing::info!(account = %me.id(), passkey = %row.id, "passkey registered");
            enrolment::enrolled(st, me, &route, enrolment::Factor::Passkey(&row.id)).await;
            record(st, me, Event::new("passkey.registered").detail(enrolment::detail(me, &route)), now).await;
            notify(st, &me.account, Notice::FactorAdded(Factor::Passkey), now).await;
            Ok(())
        }
        Err(e) => {
            enrolment::release(st, &route).await;
            match e {
                passkeys::PasskeyError::Store(e) => Err(internal("passkey registration failed", e)),
                passkeys::PasskeyError::Cache(e) => Err(internal("passkey registration failed", e)),
                e => {
                    tracing::info!(error = %e, "passkey registration refused");
                    Err(SelfServiceError::Refused)
                }
            }
        }
    }
}

pub async fn remove_passkey(st: &AppState, me: &Recent, id: &PasskeyId, now: i64) -> Result<(), SelfServiceError> {
    match passkeys::remove(&st.db, me.id(), id.as_str()).await {
        Ok(true) => {
            tracing::info!(account = %me.id(), passkey = %id, "passkey removed");
            record(st, me, Event::new("passkey.removed"), now).await;
            notify(st, &me.account, Notice::FactorRemoved(Factor::Passkey), now).await;
            Ok(())
        }
        Ok(false) => Err(SelfServiceError::NotFound),
        Err(e) => Err(internal("passkey removal failed", e)),
    }
}

/// The person's own password change: the current one, then the new one twice. Whoever else
/// knew the old password is shut out: the person's other sessions end, and every grant not made
/// under the session in use is revoked (the other devices' and any that outlived its session).
pub async fn change_password(
    st: &AppState,
    me: &SignedIn,
    current: &Secret<String>,
    new: &Secret<String>,
    repeat: &Secret<String>,
    now: i64,
) -> Result<(), SelfServiceError> {
    if new.expose() != repeat.expose() {
        return Err(SelfServiceError::Password(PasswordRefusal::Mismatch));
    }
    // A place in the hashing queue first, so a full queue turns the attempt away uncounted; then
    // one reservation, counted before the current password is checked (fail closed).
    let slot = st.hasher.admit().map_err(|_| SelfServiceError::Password(PasswordRefusal::Busy))?;
    let policy = crate::ops::login::limits(st).per_account();
    let hold = match throttle::reserve(&st.cache, PASSWORD_SCOPE, me.id(), &policy, now).await {
        Ok(Admission::Admitted(r)) => throttle::Hold::new(&st.cache, PASSWORD_SCOPE, me.id(), &r, &policy, now),
        Ok(Admission::Refused(_)) => return Err(SelfServiceError::Password(PasswordRefusal::TooManyAttempts)),
        Err(e) => return Err(internal("the password check cannot be counted", e)),
    };
    let hash = match accounts::new_password_hash(&st.db, &st.hasher, slot, me.id(), current, new).await {
        Ok(h) => h,
        Err(PasswordChangeError::WrongCurrent) => {
            release_password_throttle(st, me, &policy, now).await;
            hold.settled();
            record(st, me, Event::new("password.change_failed"), now).await;
            return Err(SelfServiceError::Password(PasswordRefusal::WrongCurrent));
        }
        Err(PasswordChangeError::Policy(rule)) => {
            clear_password_throttle(st, me).await;
            hold.settled();
            return Err(SelfServiceError::Password(PasswordRefusal::Policy(rule)));
        }
        Err(PasswordChangeError::Internal(e)) => {
            release_password_throttle(st, me, &policy, now).await;
            hold.settled();
            return Err(internal("password change failed", e));
        }
    };
    clear_password_throttle(st, me).await;
    hold.settled();
    // The sessions live in the cache, outside the transaction, so they end first: should the
    // change then fail, the other devices are merely signed out, never left in with the new
    // password set.
    let sid = &me.session.sid;
    let memory = crate::oidc::logout::session_memory(&st.config);
    let ended = session::end_all_but(&st.cache, me.id(), sid, now, memory)
        .await
        .map_err(|e| internal("the other sessions could not be ended", e))?;
    let written = async {
        let mut tx = st.db.begin().await?;
        account_store::set_password_hash(&mut tx, me.id(), &hash, now).await?;
        let ending = crate::store::logout::Ending::AllBut(sid);
        let (revoked, _) =
            crate::store::logout::revoke_and_enqueue(&mut tx, me.id(), ending, "password_changed", now).await?;
        // An open reset link would set the password again: it closes with the change.
        crate::auth::links::close_password_links(&mut tx, me.id(), now).await?;
        tx.commit().await?;
        Ok::<_, crate::store::StoreError>(revoked)
    };
    let revoked = written.await.map_err(|e| internal("password change failed", e))?;
    // A login that checked the old password and listed its session between the sweep above and
    // the commit was missed by both: one more sweep, now that the old password is gone. (A login
    // listed after this sweep sees the new password when it re-reads it, and is refused.)
    let swept = async {
        session::end_all_but(&st.cache, me.id(), sid, now, memory).await.map_err(|e| e.to_string())?;
        let ending = crate::store::logout::Ending::AllBut(sid);
        crate::store::logout::revoke_and_enqueue_now(&st.db, me.id(), ending, "password_changed", now)
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(e) = swept.await {
        tracing::warn!(error = %e, "the second sweep of sessions after a password change failed");
    }
    super::backchannel::wake();
    let guessed = super::login::second_factor_daily_key(me.id());
    if let Err(e) = st.cache.delete(&guessed).await {
        tracing::warn!(error = %e, "the day's count of wrong second factors could not be cleared");
    }
    tracing::info!(account = %me.id(), sessions_ended = ended.len(), revoked_grants = revoked, "password changed");
    let detail = serde_json::json!({ "sessions_ended": ended.len(), "revoked_grants": revoked });
    record(st, me, Event::new("password.changed").detail(detail), now).await;
    notify(st, &me.account, Notice::PasswordChanged, now).await;
    Ok(())
}

/// Enrolling an authenticator app: the secret to scan, the same on every showing in this
/// session while the enrolment is pending (see `totp::PENDING_SECONDS`); never one shown to
/// another session. `None` when one is enrolled already (it is removed first, on purpose).
pub async fn start_totp(st: &AppState, me: &Recent, now: i64) -> Result<Option<totp::Enrolment>, SelfServiceError> {
    if totp::is_enrolled(&st.db, me.id()).await.map_err(|e| internal("second factors could not be read", e))? {
        return Ok(None);
    }
    enrolment::route(st, me, now).await?;
    // As for passkeys: authenticator apps back their entries up to cloud accounts.
    let label = me.account.name.clone();
    let to = totp::ShownTo { cache: &st.cache, sid: &me.session.sid };
    match totp::start_enrolment_for(&st.db, &st.sealer, me.id(), to, &label, "Gerbang", now).await {
        Ok(e) => Ok(Some(e)),
        // Confirmed from another tab a moment ago.
        Err(totp::TotpError::Enrolled) => Ok(None),
        Err(e) => Err(internal("TOTP enrolment could not start", e)),
    }
}

/// Confirms the enrolment with a first code. The first authenticator comes with recovery codes,
/// returned here to be shown once; `None` when the person still has codes.
pub async fn confirm_totp(
    st: &AppState,
    me: &Recent,
    code: &str,
    now: i64,
) -> Result<Option<Vec<String>>, SelfServiceError> {
    let route = enrolment::route(st, me, now).await?;
    enrolment::claim(st, &route, now).await?;
    let to = totp::ShownTo { cache: &st.cache, sid: &me.session.sid };
    let confirmed = totp::confirm_enrolment_for(&st.db, &st.sealer, me.id(), to, code, now).await;
    if !matches!(confirmed, Ok(true)) {
        enrolment::release(st, &route).await;
    }
    match confirmed {
        Ok(true) => {}
        Ok(false) => return Err(SelfServiceError::Refused),
        Err(e) => return Err(internal("TOTP confirmation failed", e)),
    }
    tracing::info!(account = %me.id(), "authenticator app enrolled");
    enrolment::enrolled(st, me, &route, enrolment::Factor::Totp).await;
    record(st, me, Event::new("totp.enrolled").detail(enrolment::detail(me, &route)), now).await;
    notify(st, &me.account, Notice::FactorAdded(Factor::AuthenticatorApp), now).await;
    match recovery::remaining(&st.db, me.id()).await {
        Ok(0) => generate_recovery_codes(st, me, now).await.map(Some),
        Ok(_) => Ok(None),
        Err(e) => Err(internal("recovery codes could not be counted", e)),
    }
}

/// Removes the authenticator app and, with it, the recovery codes that stood in for it, in one
/// transaction: never one without the other.
pub async fn remove_totp(st: &AppState, me: &Recent, now: i64) -> Result<(), SelfServiceError> {
    let removed = async {
        let mut tx = st.db.begin().await?;
        factor_store::delete_totp(&mut tx, me.id()).await?;
        factor_store::delete_recovery_codes(&mut tx, me.id()).await?;
        tx.commit().await
    };
    removed.await.map_err(|e| internal("authenticator app removal failed", e))?;
    tracing::info!(account = %me.id(), "authenticator app removed");
    record(st, me, Event::new("totp.removed"), now).await;
    notify(st, &me.account, Notice::FactorRemoved(Factor::AuthenticatorApp), now).await;
    Ok(())
}

/// A new set of recovery codes, replacing the old one; returned to be shown once.
pub async fn new_recovery_codes(st: &AppState, me: &Recent, now: i64) -> Result<Vec<String>, SelfServiceError> {
    // Codes stand in for a factor at login, so they are enrolled on the same terms.
    enrolment::route(st, me, now).await?;
    let codes = generate_recovery_codes(st, me, now).await?;
    // Only a renewal is told: the first codes come with the authenticator, told as that.
    notify(st, &me.account, Notice::FactorAdded(Factor::RecoveryCodes), now).await;
    Ok(codes)
}

async fn generate_recovery_codes(st: &AppState, me: &Recent, now: i64) -> Result<Vec<String>, SelfServiceError> {
    let codes = recovery::generate(&st.db, &st.recovery, me.id(), now)
        .await
        .map_err(|e| internal("recovery code generation failed", e))?;
    record(st, me, Event::new("recovery_codes.generated"), now).await;
    Ok(codes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnded {
    /// The session the person is using now: their browser is signed out.
    This,
    Other,
}

/// Ends one of the person's own sessions by its public id, and revokes the grants made under it
/// so the applications it signed in to cannot go on refreshing their tokens.
pub async fn end_session(
    st: &AppState,
    me: &SignedIn,
    sid: &SessionId,
    now: i64,
) -> Result<SessionEnded, SelfServiceError> {
    let sid = sid.as_str();
    let unreadable = |e| internal("session could not be ended", e);
    if !session::has_sid(&st.cache, me.id(), sid).await.map_err(unreadable)? {
        return Err(SelfServiceError::NotFound);
    }
    // Revoked first: should ending the session then fail, the person can try again.
    let revoked = super::sessions::ended_one(st, me.id(), sid, "session_ended", now)
        .await
        .map_err(|e| internal("the session's grants could not be revoked", e))?;
    let memory = crate::oidc::logout::session_memory(&st.config);
    session::end_by_sid(&st.cache, me.id(), sid, memory).await.map_err(unreadable)?;
    let detail = serde_json::json!({ "sid": sid, "revoked_grants": revoked });
    record(st, me, Event::new("session.ended").detail(detail), now).await;
    Ok(if sid == me.session.sid { SessionEnded::This } else { SessionEnded::Other })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_changes_need_a_login_within_ten_minutes() {
        let t = 1_000_000;
        assert!(recent_enough(t - RECENT_AUTH_SECONDS, t), "exactly ten minutes ago: still recent");
        assert!(!recent_enough(t - RECENT_AUTH_SECONDS - 1, t));
        assert!(recent_enough(t + 5, t), "a replica's clock a little behind");
    }
}
