//! Opening the single sign-on session at the end of a login or step-up, and where the
//! authorization goes from there.

use super::{Browser, Step};
use crate::audit::{self, Event};
use crate::auth::{recovery, session as sso};
use crate::identity::levels;
use crate::oidc::authorize::{self, Flow, Outcome};
use crate::state::AppState;

/// Marks a session opened with a recovery code (level 1; the person should enrol again).
pub(super) const RECOVERY_AMR: &str = "x-recovery";

/// A fresh session at every login and step-up, replacing the browser's old one: a cookie
/// planted or stolen before is worthless after it. Then the authorization continues.
pub(super) async fn start(
    st: &AppState,
    flow: Flow,
    browser: &Browser<'_>,
    account_id: &str,
    level: u8,
    amr: Vec<String>,
    now: i64,
) -> Step {
    let kind = if flow.sid.is_some() { "login.step_up" } else { "login.succeeded" };
    let detail = serde_json::json!({ "level": level, "amr": amr, "client_id": flow.request.client_id });
    audit::record(&st.db, Event::new(kind).actor(account_id).subject(account_id).ip(browser.ip).detail(detail), now)
        .await;
    if let Some(old) = browser.sso_cookie {
        if let Err(e) = sso::end(&st.cache, old).await {
            tracing::warn!(error = %e, "could not end the replaced session");
        }
    }
    let acr = levels::acr(level);
    let ttl = st.config.session_ttl;
    let (cookie, session) =
        match sso::create(&st.cache, account_id, acr, amr, ttl, now, browser.ip, browser.user_agent).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "could not create a session");
                return Step::Internal;
            }
        };
    match authorize::after_login(&st.provider(), flow, &session, now).await {
        // After a recovery code the person is asked to enrol a new authenticator before going on.
        Outcome::Redirect(continue_url) if session.amr.iter().any(|a| a == RECOVERY_AMR) => {
            let remaining = recovery::remaining(&st.db, account_id).await.unwrap_or(0);
            Step::SignedInWithRecoveryCode { cookie, continue_url, remaining }
        }
        next => Step::SignedIn { cookie, next },
    }
}
