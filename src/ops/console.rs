//! The admin console's own session on the server: opened when the console's login comes back,
//! checked at every request together with the browser's single sign-on session and the
//! person's live roles, closed at logout together with the grant it holds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::relying_party::{self, Callback, RpError, CONSOLE};
use super::{authenticate_grant, AdminError, Principal};
use crate::auth::session;
use crate::crypto;
use crate::ids::GrantId;
use crate::state::AppState;

/// The console's server-side session: the grant its login created (checked at every request,
/// see `ops::authenticate_grant`) and the ID token for logging out.
#[derive(Debug, Serialize, Deserialize)]
struct ConsoleSession {
    grant_id: GrantId,
    id_token: String,
    lang: Option<String>,
    expires_at: i64,
}

/// The cache holds the cookie's hash only, so a copy of the cache opens no console.
fn session_key(cookie: &str) -> String {
    format!("console:{}", crypto::sha256_hex(cookie.as_bytes()))
}

/// The length of the cookies `open` hands out (32 random bytes, base64url).
const COOKIE_LEN: usize = 43;

/// What a request with the console's cookie (and the browser's single sign-on cookie) is.
#[derive(Debug)]
// One per request, moved a few times: its size does not matter, and boxing would spread `Box`
// through every face that matches on it.
#[allow(clippy::large_enum_variant)]
pub enum Entry {
    /// No live console session: log in again, in the session's language when there was one.
    LogIn(Option<String>),
    /// The session is live but the person may not administer (now): too weak a login, no admin
    /// role, or a failure on the way (`AdminError::Internal`).
    Refused(AdminError, Option<String>),
    /// An administrator at work. `session_id` names this console session (not the cookie), to
    /// bind forms to it; `lang` is the session's language after the one asked for was kept.
    In { admin: Principal, session_id: String, lang: Option<String> },
}

/// The console session behind `cookie`, checked with the single sign-on session behind
/// `sso_cookie`. A session whose grant no longer holds is removed. `wanted_lang` (already one
/// of the supported locales) is kept in the session for the pages that follow.
pub async fn enter(
    st: &AppState,
    cookie: Option<&str>,
    sso_cookie: Option<&str>,
    wanted_lang: Option<String>,
    now: i64,
) -> Entry {
    let key = cookie.filter(|c| c.len() == COOKIE_LEN).map(session_key);
    let session = match &key {
        Some(k) => st.cache.get_json::<ConsoleSession>(k).await.ok().flatten().filter(|s| s.expires_at > now),
        None => None,
    };
    let (Some(key), Some(mut session)) = (key, session) else { return Entry::LogIn(wanted_lang) };
    let live = match sso_cookie {
        Some(c) => session::load(&st.cache, c, now).await.ok().flatten(),
        None => None,
    };
    let admin = match authenticate_grant(st, &session.grant_id, live.as_ref().map(|s| s.sid.as_str()), now).await {
        Ok(a) => a,
        Err(AdminError::Unauthenticated(_)) => {
            let _ = st.cache.delete(&key).await;
            return Entry::LogIn(session.lang);
        }
        Err(e) => return Entry::Refused(e, wanted_lang.or(session.lang)),
    };
    if wanted_lang.is_some() && wanted_lang != session.lang {
        session.lang = wanted_lang;
        let ttl = Duration::from_secs((session.expires_at - now).max(1) as u64);
        if let Err(e) = st.cache.put_json(&key, &session, ttl).await {
            tracing::warn!(error = %e, "could not keep the console language");
        }
    }
    Entry::In { admin, session_id: key, lang: session.lang }
}

/// Why the console's login did not open a console session.
#[derive(Debug)]
pub enum OpenError {
    /// The login itself failed.
    Login(RpError),
    /// The person logged in but may not administer; `AdminError::Internal` when that could not
    /// be decided.
    Refused(AdminError),
    /// Logged where it happened.
    Internal,
}

/// A console session just opened: the cookie that names it and where the console goes next.
#[derive(Debug)]
pub struct Opened {
    pub cookie: String,
    pub next: String,
}

/// Finishes the console's login (`login_cookie` as `relying_party::start` handed it out)
/// and opens a console session for an administrator. A person without an admin role is
/// refused here rather than on the next page, so they see why at once.
pub async fn open(st: &AppState, login_cookie: &str, cb: &Callback, now: i64) -> Result<Opened, OpenError> {
    let signed_in = relying_party::finish(st, &CONSOLE, login_cookie, cb, now).await.map_err(OpenError::Login)?;
    authenticate_grant(st, &signed_in.grant_id, Some(&signed_in.sid), now).await.map_err(OpenError::Refused)?;
    let cookie = crypto::random_token(32).map_err(|e| {
        tracing::error!(error = %e, "could not make a console session cookie");
        OpenError::Internal
    })?;
    // Bounded by the single sign-on session it depends on anyway.
    let session = ConsoleSession {
        grant_id: signed_in.grant_id,
        id_token: signed_in.id_token,
        lang: None,
        expires_at: now + st.config.session_ttl,
    };
    let ttl = Duration::from_secs(st.config.session_ttl.max(1) as u64);
    if let Err(e) = st.cache.put_json(&session_key(&cookie), &session, ttl).await {
        tracing::error!(error = %e, "could not store a console session");
        return Err(OpenError::Internal);
    }
    Ok(Opened { cookie, next: signed_in.next })
}

/// Ends the console session behind `cookie` and revokes its grant. Returns the session's ID
/// token, the hint for the single sign-on logout that follows.
pub async fn close(st: &AppState, cookie: &str, now: i64) -> Option<String> {
    let s = st.cache.take_json::<ConsoleSession>(&session_key(cookie)).await.ok().flatten()?;
    if let Err(e) = crate::store::grants::revoke_grant(&st.db, s.grant_id.as_str(), now).await {
        tracing::warn!(error = %e, "could not revoke the console's grant at logout");
    }
    Some(s.id_token)
}
