//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): which session to end, whether
//! to ask the person first, and where to send them afterwards (only to an exactly registered
//! `post_logout_redirect_uri`).

use serde::Deserialize;

use super::authorize::redirect_with;
use super::keys::TokenType;
use super::Provider;
use crate::auth::session::SsoSession;

#[derive(Debug, Default, Clone)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug)]
pub enum LogoutOutcome {
    ErrorPage {
        message_key: &'static str,
        detail: String,
    },
    /// Ask the person; the session did not clearly come from the requesting application.
    Confirm {
        client_name: Option<String>,
    },
    /// End the session (if any) and go to `redirect`, or show the logged-out page.
    Done {
        redirect: Option<String>,
    },
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    #[serde(default)]
    sid: Option<String>,
    aud: serde_json::Value,
}

pub async fn request(st: &Provider<'_>, req: &LogoutRequest, session: Option<&SsoSession>) -> LogoutOutcome {
    let bad =
        |detail: &str| LogoutOutcome::ErrorPage { message_key: "error_invalid_request", detail: detail.to_string() };
    let hint = match req.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => {
            match st.keys.verify_fresh::<HintClaims>(st.db, h, TokenType::IdToken, &st.config.issuer, false).await {
                Ok(c) => Some(c),
                Err(_) => return bad("id_token_hint is not a valid ID token from this provider"),
            }
        }
        None => None,
    };
    let hint_aud = hint.as_ref().and_then(|h| match &h.aud {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()).map(String::from),
        _ => None,
    });
    let client_id = match (&req.client_id, hint_aud) {
        (Some(a), Some(b)) if *a != b => return bad("client_id does not match the ID token"),
        (Some(a), _) => Some(a.clone()),
        (None, b) => b,
    };
    let client = match &client_id {
        Some(id) => match st.clients.get(st.db, id).await {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                return LogoutOutcome::ErrorPage {
                    message_key: "error_unknown_client",
                    detail: "unknown client_id".into(),
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "client lookup failed");
                return LogoutOutcome::ErrorPage { message_key: "error_server", detail: String::new() };
            }
        },
        None => None,
    };
    let redirect = match (&req.post_logout_redirect_uri, &client) {
        (None, _) => None,
        (Some(_), None) => return bad("post_logout_redirect_uri needs client_id or id_token_hint"),
        (Some(uri), Some(c)) => {
            if !c.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return LogoutOutcome::ErrorPage {
                    message_key: "error_bad_redirect_uri",
                    detail: "post_logout_redirect_uri is not registered for this client".into(),
                };
            }
            let mut p: Vec<(&str, &str)> = Vec::new();
            if let Some(s) = &req.state {
                p.push(("state", s));
            }
            Some(if p.is_empty() { uri.clone() } else { redirect_with(uri, &p) })
        }
    };
    let Some(session) = session else {
        return LogoutOutcome::Done { redirect };
    };
    // Pairwise applications know the person and the session by their own identifiers only.
    let same_session = hint.as_ref().is_some_and(|h| {
        let (sub, sid) = match &client {
            Some(c) => (st.subjects.for_client(c, &session.account_id), st.subjects.sid_for_client(c, &session.sid)),
            None => (session.account_id.clone(), session.sid.clone()),
        };
        h.sub == sub && h.sid.as_deref() == Some(sid.as_str())
    });
    if same_session {
        LogoutOutcome::Done { redirect }
    } else {
        LogoutOutcome::Confirm { client_name: client.map(|c| c.name.clone()) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EndError {
    #[error(transparent)]
    Session(#[from] crate::auth::session::SessionError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Ends the single sign-on session behind `cookie` and revokes every grant made under it, so
/// the tokens applications received through this login (refresh tokens included) stop working
/// with it, and queues a back-channel logout token for each of those applications that listens.
/// Returns the session that ended (if it was still alive), how many grants were revoked and how
/// many logout tokens were queued.
pub async fn end_session(
    st: &Provider<'_>,
    cookie: &str,
    now: i64,
) -> Result<Option<(SsoSession, u64, u64)>, EndError> {
    let session = crate::auth::session::end(st.cache, cookie, now, session_memory(st.config)).await?;
    let Some(s) = session else { return Ok(None) };
    let ending = crate::store::logout::Ending::Session(&s.sid);
    let (revoked, queued) =
        crate::store::logout::revoke_and_enqueue_now(st.db, &s.account_id, ending, "logout", now).await?;
    Ok(Some((s, revoked, queued)))
}

/// How long an ended or replaced session is remembered: as long as anything made under it
/// could still be presented, a code issued just before it ended and redeemed for a grant that
/// then lives the full refresh-token lifetime.
pub fn session_memory(config: &crate::config::Config) -> i64 {
    config.refresh_token_ttl + config.code_ttl
}
