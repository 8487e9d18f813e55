//! Signing key rows; the private part is sealed under the master key before it gets here. A key
//! is `next` (published, not signing), `current`, `previous` (published, not signing) and at
//! last `retired` (kept for archived statements); see `oidc::key_lifecycle`.

use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    /// When it stopped signing (its successor's activation).
    pub rotated_at: Option<i64>,
    /// When it signs from (`next` keys: in the future).
    pub activates_at: i64,
    /// When a `previous` key leaves JWKS: every token it signed has expired by then.
    pub remove_at: Option<i64>,
}

pub async fn insert<'a>(db: impl Into<Exec<'a>>, k: &KeyRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO signing_keys (kid, alg, state, private_key, public_jwk, created_at, rotated_at, activates_at, \
         remove_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            &k.kid,
            &k.alg,
            &k.state,
            &k.private_key,
            &k.public_jwk,
            k.created_at,
            k.rotated_at,
            k.activates_at,
            k.remove_at
        ],
        execute
    )?;
    Ok(())
}

/// Next, current and previous keys: the ones published in JWKS, newest first.
pub async fn list_published(db: &Db) -> Result<Vec<KeyRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT kid, alg, state, private_key, public_jwk, created_at, rotated_at, activates_at, remove_at \
         FROM signing_keys WHERE state IN ('next', 'current', 'previous') ORDER BY created_at DESC, state ASC, kid",
        [],
        fetch_all(KeyRow)
    )?)
}

/// One key by id, whatever its state: statements signed long ago name retired keys too.
pub async fn find(db: &Db, kid: &str) -> Result<Option<KeyRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT kid, alg, state, private_key, public_jwk, created_at, rotated_at, activates_at, remove_at \
         FROM signing_keys WHERE kid = $1",
        [kid],
        fetch_optional(KeyRow)
    )?)
}

/// Makes the `next` key `kid` current and the current key of its algorithm previous (published
/// until `remove_at`), in one transaction. Of replicas doing it at once one succeeds: the others
/// find no `next` key left and roll back. Some(the key it replaced) when this call did it.
pub async fn activate(
    db: &Db,
    alg: &str,
    kid: &str,
    activated_at: i64,
    remove_at: i64,
) -> Result<Option<Option<String>>, StoreError> {
    let mut tx = db.begin().await?;
    let replaced: Option<(String,)> = dispatch!(
        &mut tx,
        "UPDATE signing_keys SET state = 'previous', rotated_at = $1, remove_at = $2 \
         WHERE alg = $3 AND state = 'current' AND kid <> $4 RETURNING kid",
        [activated_at, remove_at, alg, kid],
        fetch_optional((String,))
    )?;
    let n = dispatch!(
        &mut tx,
        "UPDATE signing_keys SET state = 'current' WHERE kid = $1 AND state = 'next'",
        [kid],
        execute
    )?;
    if n != 1 {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(replaced.map(|r| r.0)))
}

/// Takes previous keys out of JWKS once every token they signed has expired; returns their ids.
/// Keys demoted before their removal time was recorded go `lifetime` after they stopped.
pub async fn retire_due(db: &Db, now: i64, lifetime: i64) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = dispatch!(
        db,
        "UPDATE signing_keys SET state = 'retired' WHERE state = 'previous' \
         AND COALESCE(remove_at, COALESCE(rotated_at, created_at) + $2) <= $1 RETURNING kid",
        [now, lifetime],
        fetch_all((String,))
    )?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The emergency switch: every published key retired (out of JWKS from `now`) and `fresh`
/// (current keys signing from `now`) inserted, in one transaction, so no replica ever reloads a
/// set with no current key or with a stolen one beside the new. Returns the retired keys as
/// (kid, alg, the state each had), current ones first. Of two switches at once on PostgreSQL
/// the second meets the first's new keys in the unique index and rolls back (`Conflict`).
pub async fn replace_all(db: &Db, fresh: &[KeyRow], now: i64) -> Result<Vec<(String, String, String)>, StoreError> {
    let mut tx = db.begin().await?;
    let mut retired = Vec::new();
    // One statement per state, so each key is returned with the state it had; only a current
    // key stops signing now (a previous one stopped earlier, a next one never signed).
    for (state, stopped) in [("current", Some(now)), ("next", None), ("previous", None)] {
        let rows: Vec<(String, String)> = dispatch!(
            &mut tx,
            "UPDATE signing_keys SET state = 'retired', remove_at = $1, rotated_at = COALESCE(rotated_at, $2) \
             WHERE state = $3 RETURNING kid, alg",
            [now, stopped, state],
            fetch_all((String, String))
        )?;
        retired.extend(rows.into_iter().map(|(kid, alg)| (kid, alg, state.to_string())));
    }
    for k in fresh {
        insert(&mut tx, k).await?;
    }
    tx.commit().await?;
    Ok(retired)
}

/// Every key, by algorithm and activation (for `gerbang keys status`).
pub async fn list_all(db: &Db) -> Result<Vec<KeyRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT kid, alg, state, private_key, public_jwk, created_at, rotated_at, activates_at, remove_at \
         FROM signing_keys ORDER BY alg, activates_at, kid",
        [],
        fetch_all(KeyRow)
    )?)
}
