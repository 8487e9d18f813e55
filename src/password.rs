//! Password hashing with argon2id (OWASP minimum: m=19 MiB, t=2, p=1), always off the async
//! runtime and bounded by a semaphore so a burst of logins cannot exhaust memory. Verifications
//! also queue in bounded space: when the queue is full an attempt is turned away at once
//! ([`HashError::Busy`], answered 503 with Retry-After) rather than piling up behind it.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing was interrupted")]
    Join,
    #[error("the password hashing queue is full")]
    Busy,
}

/// A place in the verification queue, taken before any other work on an attempt.
pub struct HashSlot {
    _place: OwnedSemaphorePermit,
}

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Verifications running or waiting: `max_concurrent` plus the queue.
    places: Arc<Semaphore>,
    /// A real hash to verify against when the account does not exist, so an unknown NIP/NIK
    /// costs the same time as a wrong password.
    dummy: Arc<OnceCell<String>>,
    /// `(max_concurrent, max_concurrent + queue)` as configured, for [`Hasher::in_use`].
    sizes: (usize, usize),
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl Hasher {
    /// At most `max_concurrent` hashes at once; at most `queue` more verifications waiting.
    pub fn new(max_concurrent: usize, queue: usize) -> Hasher {
        let running = max_concurrent.max(1);
        Hasher {
            permits: Arc::new(Semaphore::new(running)),
            places: Arc::new(Semaphore::new(running.saturating_add(queue))),
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

    pub async fn hash(&self, password: &Secret<String>) -> Result<String, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Join)?;
        let pw = password.expose().clone();
        tokio::task::spawn_blocking(move || {
            let salt_bytes: [u8; 16] = crate::crypto::random_bytes().map_err(|e| HashError::Hash(e.to_string()))?;
            let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| HashError::Hash(e.to_string()))?;
            argon2()?
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Hash(e.to_string()))
        })
        .await
        .map_err(|_| HashError::Join)?
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
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Join)?;
        let pw = password.expose().clone();
        let ok = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&target).map_err(|e| HashError::Hash(e.to_string()))?;
            Ok::<bool, HashError>(argon2()?.verify_password(pw.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|_| HashError::Join)??;
        Ok(ok && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = Hasher::new(2, 0);
        let pw = Secret::new("kata-sandi-yang-panjang".to_string());
        let stored = h.hash(&pw).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify(&pw, Some(&stored)).await.unwrap());
        assert!(!h.verify(&Secret::new("salah".into()), Some(&stored)).await.unwrap());
        assert!(!h.verify(&pw, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_turns_verifications_away() {
        let h = Hasher::new(1, 1);
        let held = (h.admit().unwrap(), h.admit().unwrap());
        let pw = Secret::new("kata-sandi-yang-panjang".to_string());
        assert!(matches!(h.verify(&pw, None).await, Err(HashError::Busy)));
        drop(held);
        assert!(!h.verify(&pw, None).await.unwrap(), "a place again once one is given back");
    }
}
