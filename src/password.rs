//! Password hashing with argon2id (OWASP minimum: m=19 MiB, t=2, p=1), always off the async
//! runtime and bounded by a semaphore so a burst of logins cannot exhaust memory.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, Semaphore};

use crate::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing was interrupted")]
    Join,
}

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// A real hash to verify against when the account does not exist, so an unknown NIP/NIK
    /// costs the same time as a wrong password.
    dummy: Arc<OnceCell<String>>,
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl Hasher {
    pub fn new(max_concurrent: usize) -> Hasher {
        Hasher { permits: Arc::new(Semaphore::new(max_concurrent.max(1))), dummy: Arc::new(OnceCell::new()) }
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
        let h = Hasher::new(2);
        let pw = Secret::new("kata-sandi-yang-panjang".to_string());
        let stored = h.hash(&pw).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify(&pw, Some(&stored)).await.unwrap());
        assert!(!h.verify(&Secret::new("salah".into()), Some(&stored)).await.unwrap());
        assert!(!h.verify(&pw, None).await.unwrap());
    }
}
