//! The back-channel logout outbox (`logout_deliveries`): owed logout tokens, written in the step
//! that revokes a session's grants, then claimed, sent and marked by the delivery worker.

use super::{dispatch, Db, Exec, StoreError};

/// Which of an account's grants a session end takes with it.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    /// Those made under one session (logout, one session ended).
    Session(&'a str),
    /// All but those of the session in use (a password change).
    AllBut(&'a str),
    /// Every one (suspension, dismissal, a reset).
    All,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryRow {
    pub id: String,
    pub client_id: String,
    pub account_id: String,
    pub sid: Option<String>,
    /// Why the session ended (`logout`, `account_suspended`, `password_reset`, ...).
    pub reason: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    /// Set when the delivery was given up.
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, client_id, account_id, sid, reason, created_at, attempts, next_attempt_at, delivered_at, \
                       failed_at, last_error";

/// Revokes the account's live grants that `ending` covers and, for every application among them
/// with a `backchannel_logout_uri`, writes one owed logout token per session. The revocation
/// returns what it revoked, so of two ends racing over the same grants only one enqueues.
/// Returns (grants revoked, deliveries written). Run it inside the caller's transaction.
pub async fn revoke_and_enqueue(
    db: impl Into<Exec<'_>>,
    account_id: &str,
    ending: Ending<'_>,
    reason: &str,
    now: i64,
) -> Result<(u64, u64), StoreError> {
    let mut ex: Exec<'_> = db.into();
    let revoked: Vec<(String, String)> = match ending {
        Ending::Session(sid) => dispatch!(
            ex.reborrow(),
            "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND sid = $3 AND revoked_at IS NULL \
             RETURNING client_id, COALESCE(rp_sid, sid)",
            [now, account_id, sid],
            fetch_all((String, String))
        )?,
        Ending::AllBut(keep) => dispatch!(
            ex.reborrow(),
            "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND sid <> $3 AND revoked_at IS NULL \
             RETURNING client_id, COALESCE(rp_sid, sid)",
            [now, account_id, keep],
            fetch_all((String, String))
        )?,
        Ending::All => dispatch!(
            ex.reborrow(),
            "UPDATE grants SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL RETURNING client_id, COALESCE(rp_sid, sid)",
            [now, account_id],
            fetch_all((String, String))
        )?,
    };
    let mut pairs = revoked.clone();
    pairs.sort();
    pairs.dedup();
    let mut enqueued = 0;
    let mut listening: Vec<(String, bool)> = Vec::new();
    for (client_id, sid) in pairs {
        let known = listening.iter().find(|(c, _)| *c == client_id).map(|(_, l)| *l);
        let listens = match known {
            Some(l) => l,
            None => {
                let row: Option<(Option<String>,)> = dispatch!(
                    ex.reborrow(),
                    "SELECT backchannel_logout_uri FROM clients WHERE id = $1",
                    [&client_id],
                    fetch_optional((Option<String>,))
                )?;
                let l = row.and_then(|r| r.0).is_some_and(|u| !u.is_empty());
                listening.push((client_id.clone(), l));
                l
            }
        };
        if !listens {
            continue;
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        dispatch!(
            ex.reborrow(),
            "INSERT INTO logout_deliveries (id, client_id, account_id, sid, reason, created_at, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
            [&id, &client_id, account_id, &sid, reason, now, now],
            execute
        )?;
        enqueued += 1;
    }
    Ok((revoked.len() as u64, enqueued))
}

/// As [`revoke_and_enqueue`], in a transaction of its own: no grant is revoked without its
/// notices written, and no notice is written for a grant left live.
pub async fn revoke_and_enqueue_now(
    db: &Db,
    account_id: &str,
    ending: Ending<'_>,
    reason: &str,
    now: i64,
) -> Result<(u64, u64), StoreError> {
    let mut tx = db.begin().await?;
    let out = revoke_and_enqueue(&mut tx, account_id, ending, reason, now).await?;
    tx.commit().await?;
    Ok(out)
}

/// Deliveries whose next attempt is due, oldest first.
pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM logout_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL \
         AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
    );
    Ok(dispatch!(db, &sql, [now, limit], fetch_all(DeliveryRow))?)
}

/// Takes a due delivery for one attempt, counting it and pushing its next attempt to `lease`
/// (past the HTTP timeout), so another worker or replica does not send it meanwhile; a worker
/// that dies mid-attempt leaves it to be retried then. False: someone else took it.
pub async fn claim(db: &Db, id: &str, now: i64, lease: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE logout_deliveries SET attempts = attempts + 1, next_attempt_at = $1 \
         WHERE id = $2 AND next_attempt_at <= $3 AND delivered_at IS NULL AND failed_at IS NULL",
        [lease, id, now],
        execute
    )?;
    Ok(n == 1)
}

pub async fn delivered(db: &Db, id: &str, now: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE logout_deliveries SET delivered_at = $1, last_error = NULL WHERE id = $2",
        [now, id],
        execute
    )?;
    Ok(())
}

/// Records a failed attempt: retried at `next_attempt_at`, or given up (`give_up`).
pub async fn attempt_failed(
    db: &Db,
    id: &str,
    error: &str,
    next_attempt_at: i64,
    give_up: bool,
    now: i64,
) -> Result<(), StoreError> {
    let failed_at = give_up.then_some(now);
    dispatch!(
        db,
        "UPDATE logout_deliveries SET last_error = $1, next_attempt_at = $2, failed_at = $3 WHERE id = $4",
        [error, next_attempt_at, failed_at, id],
        execute
    )?;
    Ok(())
}

/// An application's deliveries, newest first.
pub async fn for_client(db: &Db, client_id: &str, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM logout_deliveries WHERE client_id = $1 ORDER BY created_at DESC, id LIMIT $2");
    Ok(dispatch!(db, &sql, [client_id, limit], fetch_all(DeliveryRow))?)
}

/// Removes deliveries settled (delivered or given up) before `before`.
pub async fn purge(db: &Db, before: i64) -> Result<u64, StoreError> {
    Ok(dispatch!(
        db,
        "DELETE FROM logout_deliveries WHERE (delivered_at IS NOT NULL AND delivered_at < $1) \
         OR (failed_at IS NOT NULL AND failed_at < $1)",
        [before],
        execute
    )?)
}
