//! Signing key rows; the private part is sealed under the master key before it gets here.

use super::{dispatch, Db, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
}

pub async fn insert(db: &Db, k: &KeyRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO signing_keys (kid, alg, state, private_key, public_jwk, created_at, rotated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [&k.kid, &k.alg, &k.state, &k.private_key, &k.public_jwk, k.created_at, k.rotated_at],
        execute
    )?;
    Ok(())
}

/// Current and previous keys: the ones that sign and the ones still published for verification.
pub async fn list_published(db: &Db) -> Result<Vec<KeyRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT kid, alg, state, private_key, public_jwk, created_at, rotated_at FROM signing_keys \
         WHERE state IN ('current', 'previous') ORDER BY created_at DESC, state ASC, kid",
        [],
        fetch_all(KeyRow)
    )?)
}

/// One key by id, whatever its state: statements signed long ago name retired keys too.
pub async fn find(db: &Db, kid: &str) -> Result<Option<KeyRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT kid, alg, state, private_key, public_jwk, created_at, rotated_at FROM signing_keys WHERE kid = $1",
        [kid],
        fetch_optional(KeyRow)
    )?)
}

/// Retires the keys of one algorithm that were `previous` and demotes the `current` one.
pub async fn demote(db: &Db, alg: &str, now: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE signing_keys SET state = 'retired', rotated_at = $1 WHERE alg = $2 AND state = 'previous'",
        [now, alg],
        execute
    )?;
    dispatch!(
        db,
        "UPDATE signing_keys SET state = 'previous', rotated_at = $1 WHERE alg = $2 AND state = 'current'",
        [now, alg],
        execute
    )?;
    Ok(())
}
