//! Opening the single sign-on session at the end of a login or step-up, and where the
//! authorization goes from there.

use super::{Browser, Step};
use crate::audit::{self, Event};
use crate::auth::{recovery, session as sso};
use crate::identity::accounts::Account;
use crate::identity::levels;
use crate::oidc::authorize::{self, Flow, Outcome};
use crate::oidc::logout::session_memory;
use crate::state::AppState;
use crate::store::grants;

/// What the login step that opens a session knows already.
#[derive(Debug, Default)]
pub(super) struct Opened {
    /// The account as the login just read it: it is not read again, and its language is written
    /// only when the page's differs.
    pub known: Option<Account>,
    /// The [`password_stamp`](crate::auth::login::password_stamp) of the password this login
    /// checked (or, stepping up, the account's when the step began), read before the check.
    pub stamp: Option<String>,
}

/// Marks a session opened with a recovery code (level 1; the person should enrol again).
pub(super) const RECOVERY_AMR: &str = "x-recovery";

/// A fresh session at every login and step-up, replacing the browser's old one: a cookie
/// planted or stolen before is worthless after it (see [`replace`] for what becomes of the old
/// session's grants). Then the authorization continues.
///
/// A password change ends every listed session, but a login that checked the old password just
/// before could list its session just after and survive it. So once the session is listed, the
/// account's password is read again: if it is no longer the one checked, the change happened
/// meanwhile and this session is ended before anything is made under it. (The changes sweep
/// the list again after their commit, so a session listed before the re-read is ended by them.)
#[allow(clippy::too_many_arguments)]
pub(super) async fn start(
    st: &AppState,
    flow: Flow,
    browser: &Browser<'_>,
    account_id: &str,
    opened: Opened,
    level: u8,
    amr: Vec<String>,
    now: i64,
) -> Step {
    let Opened { known, stamp } = opened;
    let kind = if flow.sid.is_some() { "login.step_up" } else { "login.succeeded" };
    let detail = serde_json::json!({ "level": level, "amr": amr, "client_id": flow.request.client_id });
    audit::record(&st.db, Event::new(kind).actor(account_id).subject(account_id).ip(browser.ip).detail(detail), now)
        .await;
    let acr = levels::acr(level);
    let method = method_of(&amr);
    let ttl = st.config.session_ttl;
    let memory = session_memory(&st.config);
    let created = sso::create(&st.cache, account_id, acr, amr, ttl, now, browser.ip, browser.user_agent, memory).await;
    let (cookie, session, evicted) = match created {
        Ok(s) => s,
        Err(e) => {
            crate::metrics::login(crate::metrics::LoginResult::Error, method, level);
            tracing::error!(error = %e, "could not create a session");
            return Step::Internal;
        }
    };
    // A session pushed out by the 51st login ends like any other: its tokens with it.
    for sid in &evicted {
        match crate::ops::sessions::ended_one(st, account_id, sid, "session_limit", now).await {
            Ok(revoked) => {
                let detail = serde_json::json!({ "sid": sid, "revoked_grants": revoked, "reason": "session_limit" });
                let event = Event::new("session.ended").actor(account_id).subject(account_id).detail(detail);
                audit::record(&st.db, event, now).await;
            }
            // Its fate is remembered, so refresh under it is refused even so.
            Err(e) => tracing::error!(error = %e, "could not revoke an evicted session's grants"),
        }
    }
    if let Some(stamp) = &stamp {
        match still_current(st, account_id, stamp, &session.sid).await {
            Ok(true) => {}
            Ok(false) => {
                crate::metrics::login(crate::metrics::LoginResult::Failure, method, level);
                let detail = serde_json::json!({ "sid": session.sid, "reason": "password_changed" });
                let event = Event::new("session.ended").actor(account_id).subject(account_id).detail(detail);
                audit::record(&st.db, event, now).await;
                return Step::LoginAgain { flow, refusal: super::Refusal::PasswordChanged, username: None };
            }
            Err(e) => {
                crate::metrics::login(crate::metrics::LoginResult::Error, method, level);
                tracing::error!(error = %e, "could not confirm the password a new session was opened with");
                return Step::Internal;
            }
        }
    }
    if let Some(old) = browser.sso_cookie {
        if let Err(e) = replace(st, old, &session, now).await {
            // Refused rather than leaving the old session's grants outside every logout.
            crate::metrics::login(crate::metrics::LoginResult::Error, method, level);
            tracing::error!(error = %e, "could not retire the replaced session");
            return Step::Internal;
        }
    }
    crate::metrics::login(crate::metrics::LoginResult::Success, method, level);
    let stored_locale = known.as_ref().map(|a| a.locale.as_deref().unwrap_or(""));
    if stored_locale != Some(browser.locale) {
        if let Err(e) = crate::store::accounts::set_locale(&st.db, account_id, browser.locale).await {
            tracing::warn!(error = %e, "could not record the person's language");
        }
    }
    crate::ops::notify::signed_in_from(st, account_id, browser.device, browser.user_agent, now).await;
    match authorize::after_login(&st.provider(), flow, &session, known, now).await {
        // After a recovery code the person is asked to enrol a new authenticator before going on.
        Outcome::Redirect(continue_url) if session.amr.iter().any(|a| a == RECOVERY_AMR) => {
            let remaining = recovery::remaining(&st.db, account_id).await.unwrap_or(0);
            Step::SignedInWithRecoveryCode { cookie, continue_url, remaining }
        }
        next => Step::SignedIn { cookie, next },
    }
}

/// Whether the account's password is still the one with `stamp`; if not, ends the session
/// `sid` just opened with it (nothing was made under it yet). On an error the session is ended
/// too: better a person asked to sign in again than a session that may have outlived a change.
async fn still_current(st: &AppState, account_id: &str, stamp: &str, sid: &str) -> Result<bool, String> {
    let now_stamp = crate::auth::login::current_password_stamp(&st.db, account_id).await;
    if let Ok(Some(current)) = &now_stamp {
        if crate::crypto::constant_time_eq(current.as_bytes(), stamp.as_bytes()) {
            return Ok(true);
        }
    }
    let memory = session_memory(&st.config);
    sso::end_by_sid(&st.cache, account_id, sid, memory).await.map_err(|e| e.to_string())?;
    now_stamp.map(|_| false).map_err(|e| e.to_string())
}

/// The factor that completed a login, from the session's `amr`, for the metrics' method label.
fn method_of(amr: &[String]) -> crate::metrics::Method {
    let has = |v: &str| amr.iter().any(|a| a == v);
    if has(RECOVERY_AMR) {
        "recovery_code"
    } else if has(crate::auth::passkeys::AMR) && !has("otp") {
        "passkey"
    } else if has("otp") {
        "otp"
    } else if has(super::UPSTREAM_AMR) {
        "upstream"
    } else {
        "password"
    }
}

/// Retires the browser's earlier session now that `new` replaces it. The same person's grants
/// carry over to the new session, so the next logout ends them as well; when someone else logged
/// in (a shared computer), the earlier person's session ends with its grants.
async fn replace(st: &AppState, old_cookie: &str, new: &sso::SsoSession, now: i64) -> Result<(), String> {
    let memory = session_memory(&st.config);
    let replaced = sso::replace(&st.cache, old_cookie, new, now, memory).await.map_err(|e| e.to_string())?;
    let moved = match &replaced {
        None => return Ok(()),
        Some(sso::Replaced::Continued(old)) => {
            grants::move_grants_of_account_session(&st.db, &old.account_id, &old.sid, &new.sid).await
        }
        Some(sso::Replaced::Ended(old)) => {
            crate::ops::sessions::ended_one(st, &old.account_id, &old.sid, "another_login", now).await
        }
    };
    let n = moved.map_err(|e| e.to_string())?;
    if let Some(sso::Replaced::Ended(old)) = replaced {
        let detail = serde_json::json!({ "sid": old.sid, "revoked_grants": n, "reason": "another_login" });
        let event = Event::new("session.ended").actor(&new.account_id).subject(&old.account_id).detail(detail);
        audit::record(&st.db, event, now).await;
    }
    Ok(())
}
