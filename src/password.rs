//! Password hashing with argon2id (OWASP minimum: m=19 MiB, t=2, p=1) on a fixed pool of
//! `max_concurrent_hashes` threads that reuse their argon2 memory, so a burst of logins costs at
//! most that many 19 MiB buffers (see [`pool`]). Verifications also queue in bounded space: when
//! the queue is full an attempt is turned away at once ([`HashError::Busy`], answered 503 with
//! Retry-After) rather than piling up behind it.

mod pool;

use std::sync::Arc;

use argon2::password_hash::{Output, ParamsString, PasswordHash, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version, ARGON2ID_IDENT};
use tokio::sync::{oneshot, OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::config::Secret;
use pool::{Memory, PoolHandle};

/// Our parameters: m in KiB (= argon2 blocks), t passes, p lanes; 32-byte output.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing was interrupted")]
    Join,
    #[error("the password hashing queue is full")]
    Busy,
}

fn failed(e: impl std::fmt::Display) -> HashError {
    HashError::Hash(e.to_string())
}

/// A place in the verification queue, taken before any other work on an attempt.
pub struct HashSlot {
    _place: OwnedSemaphorePermit,
}

#[derive(Clone)]
pub struct Hasher {
    /// Hashes handed to the pool and not finished: at most one per pool thread, so the others
    /// wait here in order, on the async side.
    permits: Arc<Semaphore>,
    /// Verifications running or waiting: `max_concurrent` plus the queue.
    places: Arc<Semaphore>,
    pool: Arc<PoolHandle>,
    /// A real hash to verify against when the account does not exist, so an unknown NIP/NIK
    /// costs the same time as a wrong password.
    dummy: Arc<OnceCell<String>>,
    /// `(max_concurrent, max_concurrent + queue)` as configured, for [`Hasher::in_use`].
    sizes: (usize, usize),
}

fn params() -> Result<Params, HashError> {
    Params::new(M_COST, T_COST, P_COST, None).map_err(failed)
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params()?))
}

impl Hasher {
    /// At most `max_concurrent` hashes at once; at most `queue` more verifications waiting.
    pub fn new(max_concurrent: usize, queue: usize) -> Hasher {
        let running = max_concurrent.max(1);
        Hasher {
            permits: Arc::new(Semaphore::new(running)),
            places: Arc::new(Semaphore::new(running.saturating_add(queue))),
            pool: Arc::new(PoolHandle::new(running)),
            dummy: Arc::new(OnceCell::new()),
            sizes: (running, running.saturating_add(queue)),
        }
    }

    /// `(running, waiting)`: hashes being computed now, and admitted verifications waiting for
    /// a slot (for the metrics; a snapshot, read without locking).
    pub fn in_use(&self) -> (usize, usize) {
        let running = self.sizes.0.saturating_sub(self.permits.available_permits());
        let admitted = self.sizes.1.saturating_sub(self.places.available_permits());
        (running, admitted.saturating_sub(running))
    }

    /// A place in the verification queue, or [`HashError::Busy`] at once when it is full.
    pub fn admit(&self) -> Result<HashSlot, HashError> {
        self.places.clone().try_acquire_owned().map(|p| HashSlot { _place: p }).map_err(|_| HashError::Busy)
    }

    /// Runs `work` on a pool thread once one is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| HashError::Join)?;
        let (tx, rx) = oneshot::channel();
        self.pool
            .submit(Box::new(move |memory| {
                // The permit goes with the job, not with the caller: a client that gives up
                // cannot let more hashes run than there are threads.
                let _permit = permit;
                // Nobody waits for the answer any more (the client went away): skip the work.
                if !tx.is_closed() {
                    let _ = tx.send(work(memory));
                }
            }))
            .map_err(HashError::Hash)?;
        rx.await.map_err(|_| HashError::Join)?
    }

    pub async fn hash(&self, password: &Secret<String>) -> Result<String, HashError> {
        let pw = password.expose().clone();
        let salt: [u8; 16] = crate::crypto::random_bytes().map_err(failed)?;
        self.run(move |memory| hash_into(memory, pw.as_bytes(), &salt)).await
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no account or
    /// no password, so the answer takes the same time either way.
    pub async fn verify(&self, password: &Secret<String>, stored: Option<&str>) -> Result<bool, HashError> {
        let slot = self.admit()?;
        self.verify_in(slot, password, stored).await
    }

    /// As [`Hasher::verify`], in a place taken earlier with [`Hasher::admit`].
    pub async fn verify_in(
        &self,
        slot: HashSlot,
        password: &Secret<String>,
        stored: Option<&str>,
    ) -> Result<bool, HashError> {
        let _slot = slot;
        let (target, real) = match stored {
            Some(h) => (h.to_string(), true),
            None => {
                let dummy = self
                    .dummy
                    .get_or_try_init(|| async { self.hash(&Secret::new("gerbang-timing-equaliser".to_string())).await })
                    .await?;
                (dummy.clone(), false)
            }
        };
        let pw = password.expose().clone();
        let ok = self.run(move |memory| verify_into(memory, pw.as_bytes(), &target)).await?;
        Ok(ok && real)
    }
}

/// A new PHC string for `password`, computed in the thread's reused memory.
fn hash_into(memory: &mut Memory, password: &[u8], salt: &[u8; 16]) -> Result<String, HashError> {
    let salt_string = SaltString::encode_b64(salt).map_err(failed)?;
    let mut out = [0u8; OUTPUT_LEN];
    let blocks = memory.blocks(M_COST as usize).ok_or_else(|| failed("argon2 memory"))?;
    argon2()?.hash_password_into_with_memory(password, salt, &mut out, blocks).map_err(failed)?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params()?).map_err(failed)?,
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&out).map_err(failed)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored`: what argon2's `verify_password` computes
/// (the algorithm, version and parameters the string names, so older parameters and imported
/// hashes still verify), but in the thread's reused memory, compared in constant time
/// ([`Output`]'s equality). Only parameters beyond the reserved memory get a fresh allocation.
fn verify_into(memory: &mut Memory, password: &[u8], stored: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(stored).map_err(failed)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    // As before the pool, a string argon2 cannot check is a mismatch, not an error.
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return Ok(false);
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else {
        return Ok(false);
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return Ok(false);
    };
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let Some(blocks) = memory.blocks(argon2.params().block_count()) else {
        return Ok(argon2.verify_password(password, &parsed).is_ok());
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return Ok(false);
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = out.get_mut(..expected.len()).ok_or_else(|| failed("output length"))?;
    if argon2.hash_password_into_with_memory(password, salt, out, blocks).is_err() {
        return Ok(false);
    }
    Ok(Output::new(out).map_err(failed)? == expected)
}

#[cfg(test)]
mod tests;
