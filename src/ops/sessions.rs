//! Ending a person's single sign-on sessions together with what was made under them: grants
//! (refresh tokens included) revoked and a back-channel logout token owed to every application
//! that registered a `backchannel_logout_uri`. One place, so suspension, dismissal, SCIM
//! deactivation and bulk import all end sessions the same way.

use crate::auth::session;
use crate::state::AppState;
use crate::store::logout::{self as outbox, Ending};

/// What [`end_all`] ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    /// Live single sign-on sessions ended.
    pub sessions: usize,
    /// Grants revoked (each with its refresh tokens).
    pub revoked_grants: u64,
    /// Logout tokens queued for applications.
    pub logout_tokens: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EndError {
    #[error(transparent)]
    Session(#[from] session::SessionError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Ends every session of the account at once, revokes all its grants and queues a logout token
/// per application and session, with `reason` (e.g. `account_suspended`) kept on each. The
/// caller writes its own audit record (it knows why); this one records nothing itself. Safe to
/// call again: what already ended is not ended or announced twice.
///
/// The sessions live in the cache, outside any transaction, so they end first; the grants are
/// then revoked and the notices written in one transaction. A failure after the first step
/// leaves the person signed out, and calling again finishes the rest.
pub async fn end_all(st: &AppState, account_id: &str, reason: &str, now: i64) -> Result<Ended, EndError> {
    let memory = crate::oidc::logout::session_memory(&st.config);
    let ended = session::end_all_but(&st.cache, account_id, "", now, memory).await?;
    let (revoked_grants, logout_tokens) =
        outbox::revoke_and_enqueue_now(&st.db, account_id, Ending::All, reason, now).await?;
    if logout_tokens > 0 {
        super::backchannel::wake();
    }
    Ok(Ended { sessions: ended.len(), revoked_grants, logout_tokens })
}

/// Revokes the grants of one of the account's sessions that just ended (in the cache) and
/// queues its logout tokens. Returns the grants revoked.
pub async fn ended_one(
    st: &AppState,
    account_id: &str,
    sid: &str,
    reason: &str,
    now: i64,
) -> Result<u64, crate::store::StoreError> {
    let (revoked, queued) =
        outbox::revoke_and_enqueue_now(&st.db, account_id, Ending::Session(sid), reason, now).await?;
    if queued > 0 {
        super::backchannel::wake();
    }
    Ok(revoked)
}
