//! Devices (browsers) people signed in from, known by a hash of their device cookie.

use super::{dispatch, Db, StoreError};

/// What a sign-in's device was to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Seen before on this account.
    Known,
    /// New, and the account had signed in from another device before.
    New,
    /// The account's first device ever.
    First,
}

/// How stale `last_seen` may get before a sign-in writes it again. It only decides when a
/// device is forgotten (after 400 days unseen), so a day's precision is plenty, and the usual
/// sign-in from a known browser is a read, not a write and a commit.
const LAST_SEEN_PRECISION: i64 = 86_400;

/// Records a sign-in from `device_hash`. Of simultaneous first sign-ins from one device, one
/// inserts the row and the others find it (the primary key decides).
pub async fn seen(db: &Db, account_id: &str, device_hash: &str, now: i64) -> Result<Seen, StoreError> {
    let known: Option<(i64,)> = dispatch!(
        db,
        "SELECT last_seen FROM known_devices WHERE account_id = $1 AND device_hash = $2",
        [account_id, device_hash],
        fetch_optional((i64,))
    )?;
    if let Some((last_seen,)) = known {
        if last_seen <= now - LAST_SEEN_PRECISION {
            dispatch!(
                db,
                "UPDATE known_devices SET last_seen = $1 WHERE account_id = $2 AND device_hash = $3 AND last_seen < $1",
                [now, account_id, device_hash],
                execute
            )?;
        }
        return Ok(Seen::Known);
    }
    let (others,): (i64,) =
        dispatch!(db, "SELECT COUNT(*) FROM known_devices WHERE account_id = $1", [account_id], fetch_one((i64,)))?;
    let inserted = dispatch!(
        db,
        "INSERT INTO known_devices (account_id, device_hash, first_seen, last_seen) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (account_id, device_hash) DO NOTHING",
        [account_id, device_hash, now],
        execute
    )?;
    Ok(match (inserted, others) {
        (0, _) => Seen::Known,
        (_, 0) => Seen::First,
        _ => Seen::New,
    })
}

/// Forgets devices not seen since `before` (their cookie has expired in the browser anyway).
pub async fn purge(db: &Db, before: i64) -> Result<u64, StoreError> {
    Ok(dispatch!(db, "DELETE FROM known_devices WHERE last_seen < $1", [before], execute)?)
}
