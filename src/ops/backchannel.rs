//! Delivering back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0): the worker
//! that sends what the outbox owes, retrying with back-off, and the administrators' view of an
//! application's deliveries (failures included).

use std::sync::LazyLock;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use super::{AdminError, Principal};
use crate::audit::{self, Event};
use crate::ids::ClientId;
use crate::oidc::clients::Client;
use crate::oidc::logout_token::{self, MAX_ATTEMPTS};
use crate::state::AppState;
pub use crate::store::logout::DeliveryRow;
use crate::store::logout::{self as outbox};

/// Wakes the worker when a session end queued tokens, so they go out at once rather than at
/// the next poll.
static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// How often the worker looks for due retries (and for tokens queued by another replica).
const POLL: Duration = Duration::from_secs(5);

/// How long one attempt may take; past it the delivery counts as failed and is retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a claimed delivery stays taken: longer than an attempt can last, so no other
/// worker sends it meanwhile; a worker that dies mid-attempt leaves it due again after this.
const LEASE: i64 = 60;

/// Deliveries taken per round.
const BATCH: i64 = 100;

/// Settled deliveries are kept this long for administrators to look at.
pub const KEEP_SETTLED: i64 = 30 * 86_400;

pub fn wake() {
    WAKE.notify_one();
}

/// What one round of [`deliver_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    /// Failed attempts that will be retried.
    pub retrying: usize,
    /// Deliveries given up in this round.
    pub given_up: usize,
}

/// Sends every logout token due at `now` (one attempt each). Runs in the worker started by
/// `serve`; tests call it directly with their own clock.
pub async fn deliver_due(st: &AppState, now: i64) -> Round {
    let mut round = Round::default();
    let due = match outbox::due(&st.db, now, BATCH).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "could not read the back-channel logout outbox");
            return round;
        }
    };
    for d in due {
        match outbox::claim(&st.db, &d.id, now, now + LEASE).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::error!(error = %e, "could not claim a back-channel logout delivery");
                continue;
            }
        }
        let attempts = d.attempts + 1;
        match attempt(st, &d, now).await {
            Ok(()) => {
                if let Err(e) = outbox::delivered(&st.db, &d.id, now).await {
                    tracing::error!(error = %e, "could not record a delivered logout token");
                }
                round.delivered += 1;
            }
            Err(why) => {
                let give_up = why.permanent || attempts >= MAX_ATTEMPTS;
                let next = now + logout_token::backoff(attempts);
                if let Err(e) = outbox::attempt_failed(&st.db, &d.id, &why.text, next, give_up, now).await {
                    tracing::error!(error = %e, "could not record a failed logout token delivery");
                }
                if give_up {
                    round.given_up += 1;
                    tracing::warn!(client = %d.client_id, error = %why.text, attempts, "back-channel logout given up");
                    let detail = json!({
                        "client_id": d.client_id, "delivery": d.id, "sid": d.sid, "reason": d.reason,
                        "attempts": attempts, "error": why.text,
                    });
                    let event = Event::new("backchannel_logout.failed").subject(&d.account_id).detail(detail);
                    audit::record(&st.db, event, now).await;
                } else {
                    round.retrying += 1;
                    tracing::info!(client = %d.client_id, error = %why.text, attempts, "back-channel logout will be retried");
                }
            }
        }
    }
    round
}

struct Failure {
    text: String,
    /// Retrying cannot help (the application no longer listens).
    permanent: bool,
}

fn failure(text: impl Into<String>, permanent: bool) -> Failure {
    let mut text: String = text.into();
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Failure { text, permanent }
}

/// One POST of a fresh logout token (§2.5): `application/x-www-form-urlencoded`, `logout_token`;
/// any 2xx is success (§2.8 says 200, some frameworks answer 204).
async fn attempt(st: &AppState, d: &DeliveryRow, now: i64) -> Result<(), Failure> {
    // Read fresh, not through the client cache: an administrator who just fixed the URI wants
    // the next attempt to use it.
    let row = crate::store::clients::get(&st.db, &d.client_id).await.map_err(|e| failure(e.to_string(), false))?;
    let Some(row) = row else { return Err(failure("the application no longer exists", true)) };
    let client = Client::from_row(row).map_err(|e| failure(e.to_string(), false))?;
    let Some(uri) = client.backchannel_logout_uri.clone() else {
        return Err(failure("the application no longer has a backchannel_logout_uri", true));
    };
    let p = st.provider();
    let token =
        logout_token::make(p.keys, p.subjects, &st.config.issuer, &client, &d.account_id, d.sid.as_deref(), now)
            .map_err(|e| failure(format!("signing failed: {e}"), false))?;
    let sent = st.http.post(&uri).timeout(ATTEMPT_TIMEOUT).form(&[("logout_token", token.as_str())]).send().await;
    match sent {
        Ok(res) if res.status().is_success() => Ok(()),
        Ok(res) => Err(failure(format!("HTTP {}", res.status().as_u16()), false)),
        Err(e) if e.is_timeout() => Err(failure("no answer in time", false)),
        Err(e) if e.is_connect() => Err(failure("could not connect", false)),
        Err(_) => Err(failure("the request failed", false)),
    }
}

/// The worker: delivers what is due, then waits for a wake-up or the next poll. Started by
/// `serve`; every replica runs one, and claiming keeps them from sending a token twice.
pub fn spawn_worker(st: std::sync::Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let round = deliver_due(&st, st.now()).await;
            if round.delivered + round.retrying + round.given_up > 0 {
                tracing::debug!(?round, "back-channel logout round");
                // More may be due (a full batch): look again at once.
                continue;
            }
            let _ = tokio::time::timeout(POLL, WAKE.notified()).await;
        }
    })
}

/// An application's logout token deliveries, newest first, for its administrators (who see
/// failed ones with the last error).
pub async fn deliveries(
    st: &AppState,
    who: &Principal,
    id: &ClientId,
    limit: i64,
) -> Result<Vec<DeliveryRow>, AdminError> {
    let c = super::applications::application(st, who, id).await?;
    Ok(outbox::for_client(&st.db, &c.id, limit.clamp(1, 500)).await?)
}
