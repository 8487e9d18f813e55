//! Second-factor rows: TOTP authenticators and recovery codes.

use super::{dispatch, Db, Exec, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub account_id: String,
    pub secret: Vec<u8>,
    pub confirmed: bool,
    pub last_step: i64,
    pub created_at: i64,
}

/// Whether the account has a confirmed authenticator app and whether it has a passkey, in one
/// round trip (every password login asks).
pub async fn enrolled(db: &Db, account_id: &str) -> Result<(bool, bool), StoreError> {
    let (totp, passkeys): (bool, bool) = dispatch!(
        db,
        "SELECT EXISTS (SELECT 1 FROM totp_factors WHERE account_id = $1 AND confirmed), \
                EXISTS (SELECT 1 FROM passkeys WHERE account_id = $1)",
        [account_id],
        fetch_one((bool, bool))
    )?;
    Ok((totp, passkeys))
}

pub async fn get_totp(db: &Db, account_id: &str) -> Result<Option<TotpRow>, StoreError> {
    Ok(dispatch!(
        db,
        "SELECT account_id, secret, confirmed, last_step, created_at FROM totp_factors WHERE account_id = $1",
        [account_id],
        fetch_optional(TotpRow)
    )?)
}

/// Stores an unconfirmed secret, replacing any unconfirmed one (for tests and tools that set a
/// secret up; the enrolment page uses [`start_pending_totp`]). A confirmed authenticator is
/// never replaced: it is removed first.
pub async fn put_pending_totp(db: &Db, account_id: &str, secret: &[u8], now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "INSERT INTO totp_factors (account_id, secret, confirmed, last_step, created_at) VALUES ($1, $2, FALSE, 0, $3) \
         ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0 \
         WHERE totp_factors.confirmed = FALSE",
        [account_id, secret, now],
        execute
    )?;
    Ok(n == 1)
}

/// Starts an enrolment with the sealed `secret` unless one is pending that was started after
/// `stale_before`: a fresh pending secret, and a confirmed one, are kept. One statement, so of
/// two starts at once one stores and the other finds its secret. True when stored.
pub async fn start_pending_totp(
    db: &Db,
    account_id: &str,
    secret: &[u8],
    now: i64,
    stale_before: i64,
) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "INSERT INTO totp_factors (account_id, secret, confirmed, last_step, created_at) VALUES ($1, $2, FALSE, 0, $3) \
         ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0 \
         WHERE totp_factors.confirmed = FALSE AND totp_factors.created_at <= $4",
        [account_id, secret, now, stale_before],
        execute
    )?;
    Ok(n == 1)
}

/// Replaces the fresh pending secret `old` (shown to another session) with `new`, started
/// `now`: only while `old` is still the pending one, so of two replacements racing each other
/// one stores and the other finds its secret. True when stored.
pub async fn replace_pending_totp(
    db: &Db,
    account_id: &str,
    old: &[u8],
    new: &[u8],
    now: i64,
) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE totp_factors SET secret = $1, created_at = $2, last_step = 0 \
         WHERE account_id = $3 AND confirmed = FALSE AND secret = $4",
        [new, now, account_id, old],
        execute
    )?;
    Ok(n == 1)
}

/// Confirms the pending enrolment whose sealed secret is `secret` (the one the first code was
/// checked against): a secret replaced since, or confirmed already, is left alone.
pub async fn confirm_totp(db: &Db, account_id: &str, secret: &[u8], step: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE totp_factors SET confirmed = TRUE, last_step = $1 \
         WHERE account_id = $2 AND confirmed = FALSE AND secret = $3",
        [step, account_id, secret],
        execute
    )?;
    Ok(n == 1)
}

/// Records a time step as used. False when it (or a later one) was already used: a replay.
pub async fn use_totp_step(db: &Db, account_id: &str, step: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE totp_factors SET last_step = $1 WHERE account_id = $2 AND confirmed = TRUE AND last_step < $1",
        [step, account_id],
        execute
    )?;
    Ok(n == 1)
}

pub async fn delete_totp(db: impl Into<Exec<'_>>, account_id: &str) -> Result<bool, StoreError> {
    let n = dispatch!(db, "DELETE FROM totp_factors WHERE account_id = $1", [account_id], execute)?;
    Ok(n == 1)
}

/// In one transaction: a failure half-way must not leave the person with no codes or a mix of
/// old and new ones.
pub async fn replace_recovery_codes(db: &Db, account_id: &str, hashes: &[String], now: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    super::accounts::lock(&mut tx, account_id).await?;
    dispatch!(&mut tx, "DELETE FROM recovery_codes WHERE account_id = $1", [account_id], execute)?;
    for h in hashes {
        dispatch!(
            &mut tx,
            "INSERT INTO recovery_codes (account_id, code_hash, used_at, created_at) VALUES ($1, $2, NULL, $3)",
            [account_id, h, now],
            execute
        )?;
    }
    tx.commit().await
}

/// Spends a recovery code; false when unknown or already used.
pub async fn use_recovery_code(db: &Db, account_id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE recovery_codes SET used_at = $1 WHERE account_id = $2 AND code_hash = $3 AND used_at IS NULL",
        [now, account_id, hash],
        execute
    )?;
    Ok(n == 1)
}

pub async fn unused_recovery_codes(db: &Db, account_id: &str) -> Result<i64, StoreError> {
    let row: (i64,) = dispatch!(
        db,
        "SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL",
        [account_id],
        fetch_one((i64,))
    )?;
    Ok(row.0)
}

pub async fn delete_recovery_codes(db: impl Into<Exec<'_>>, account_id: &str) -> Result<(), StoreError> {
    dispatch!(db, "DELETE FROM recovery_codes WHERE account_id = $1", [account_id], execute)?;
    Ok(())
}
