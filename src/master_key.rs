//! The master key's two jobs, kept apart so the key can be rotated.
//!
//! 1. It seals secrets at rest (signing keys, TOTP secrets, application secrets awaiting
//!    pickup). Sealed values carry the sealing key's id (`crypto::MasterKey`), and
//!    [`reseal_all`] re-seals every one under a new master key while the service runs. Before
//!    that, `master_key_next` lets every replica open values under the new key before any
//!    replica seals with it (`docs/keys.md`).
//! 2. It used to be the input every derived key came from: CSRF tokens, login-id hashes,
//!    pairwise `sub` values, recovery codes and the audit chain's MAC. Those must never change
//!    (pairwise subjects are stored by relying parties, the audit chain must keep verifying), so
//!    they now come from a **root secret** stored sealed in the database. On the first start
//!    after migration 0021 the root secret is the master key in use (the previous one when a
//!    rotation is already configured), so every derived value stays exactly as it was; after
//!    that the root is just one more sealed value, re-wrapped by a rotation and never replaced.
//!    A random root would have changed every derived value on upgrade.

use crate::crypto::{CryptoError, MasterKey, SealedUnder};
use crate::store::sealed::{self, SealedColumn, ROOT_CONTEXT};
use crate::store::{Db, StoreError};

/// Rows read per query while checking or re-sealing.
const BATCH: i64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(
        "the root secret cannot be opened with master_key{0}: wrong master key? (during a master-key rotation set master_key_previous to the key it replaces)"
    )]
    Root(&'static str),
    #[error(
        "{count} sealed value(s) open with neither master_key nor master_key_previous (first: {first}); nothing was re-sealed. Set master_key_previous to the master key in use before this one"
    )]
    Unopenable { count: u64, first: String },
    #[error("values kept changing while being re-sealed; run the rotation again")]
    Busy,
    #[error(
        "master_key_next is set: these are the settings of a rotation's first rollout, and re-sealing under master_key now would move values back from the next key to the one being replaced; nothing was re-sealed. Run the rotation with master_key set to the new key and master_key_previous to the old one (without master_key_next)"
    )]
    NextKeyHeld,
}

/// The root secret every derived key comes from, stored on first use (see the module comment).
pub async fn root_secret(
    db: &Db,
    master: &MasterKey,
    master_bytes: &[u8; 32],
    previous_bytes: Option<&[u8; 32]>,
    now: i64,
) -> Result<[u8; 32], MasterKeyError> {
    if sealed::root(db).await?.is_none() {
        let initial = previous_bytes.unwrap_or(master_bytes);
        sealed::insert_root(db, &master.seal(ROOT_CONTEXT, initial)?, now).await?;
    }
    // Read back: a replica starting at the same moment may have stored it first.
    let stored = sealed::root(db).await?.ok_or(MasterKeyError::Root(""))?;
    let which = match (master.previous_id(), master.next_id()) {
        (Some(_), _) => " or master_key_previous",
        (None, Some(_)) => " or master_key_next",
        (None, None) => "",
    };
    let plain = master.open(ROOT_CONTEXT, &stored).map_err(|_| MasterKeyError::Root(which))?;
    <[u8; 32]>::try_from(plain.as_slice()).map_err(|_| MasterKeyError::Root(which))
}

/// How many values of one column are under which key.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ColumnCount {
    pub column: &'static str,
    pub current: u64,
    pub previous: u64,
    /// Under `master_key_next`: a replica already seals with it (the rotation's second
    /// rollout has begun).
    pub next: u64,
    /// Under a key this process does not hold (by id), or from before values carried an id.
    pub other: u64,
    pub unversioned: u64,
}

/// Counts per sealed column, from the values' headers (nothing is decrypted).
pub async fn status(db: &Db, master: &MasterKey) -> Result<Vec<ColumnCount>, MasterKeyError> {
    let mut out = Vec::new();
    for column in SealedColumn::ALL {
        let mut count = ColumnCount { column: column.name(), ..Default::default() };
        let mut after = String::new();
        loop {
            let rows = sealed::page(db, column, &after, BATCH).await?;
            for row in &rows {
                match master.sealed_under(&row.sealed) {
                    SealedUnder::Current => count.current += 1,
                    SealedUnder::Previous => count.previous += 1,
                    SealedUnder::Next => count.next += 1,
                    SealedUnder::Other(_) => count.other += 1,
                    SealedUnder::Unversioned => count.unversioned += 1,
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == BATCH => after = last.id.clone(),
                _ => break,
            }
        }
        out.push(count);
    }
    Ok(out)
}

/// Re-sealed values per column.
pub type Resealed = Vec<(&'static str, u64)>;

/// Re-seals every sealed value not yet under the current master key. First every value is
/// checked to open with a key held here, and nothing is written if one does not; then values are
/// replaced batch by batch, each by compare-and-set, so a value another replica changed meanwhile
/// is read again rather than overwritten. Idempotent: a second run finds nothing to do, and a run
/// cut short is finished by the next.
///
/// Refused while `master_key_next` is held: the current key is then the one being replaced, and
/// re-sealing under it would take values a replica sealed under the next key back to the old
/// one — which stops opening once the rotation ends and `master_key_previous` is removed.
pub async fn reseal_all(db: &Db, master: &MasterKey) -> Result<Resealed, MasterKeyError> {
    if master.next_id().is_some() {
        return Err(MasterKeyError::NextKeyHeld);
    }
    let mut unopenable = 0u64;
    let mut first = String::new();
    for_each(db, |column, id, value| {
        if master.open(&column.context(id), value).is_err() {
            if unopenable == 0 {
                first = format!("{} of row {id}", column.name());
            }
            unopenable += 1;
        }
    })
    .await?;
    if unopenable > 0 {
        return Err(MasterKeyError::Unopenable { count: unopenable, first });
    }
    let mut done: Resealed = SealedColumn::ALL.iter().map(|c| (c.name(), 0)).collect();
    // A pass that lost a compare-and-set (the row changed under it) is followed by another.
    for _ in 0..5 {
        let mut raced = false;
        for (i, column) in SealedColumn::ALL.into_iter().enumerate() {
            let mut after = String::new();
            loop {
                let rows = sealed::page(db, column, &after, BATCH).await?;
                for row in &rows {
                    let Some(new) = master.reseal(&column.context(&row.id), &row.sealed)? else { continue };
                    if sealed::replace(db, column, &row.id, &row.sealed, &new).await? {
                        done[i].1 += 1;
                    } else {
                        raced = true;
                    }
                }
                match rows.last() {
                    Some(last) if rows.len() as i64 == BATCH => after = last.id.clone(),
                    _ => break,
                }
            }
        }
        if !raced {
            return Ok(done);
        }
    }
    Err(MasterKeyError::Busy)
}

async fn for_each(db: &Db, mut f: impl FnMut(SealedColumn, &str, &[u8])) -> Result<(), MasterKeyError> {
    for column in SealedColumn::ALL {
        let mut after = String::new();
        loop {
            let rows = sealed::page(db, column, &after, BATCH).await?;
            for row in &rows {
                f(column, &row.id, &row.sealed);
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == BATCH => after = last.id.clone(),
                _ => break,
            }
        }
    }
    Ok(())
}
