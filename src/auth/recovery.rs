//! Recovery codes: ten single-use codes shown once, stored as keyed hashes (HMAC under a key
//! derived from the master key), so a copy of the database alone does not reveal them.

use aws_lc_rs::hmac;

use crate::crypto;
use crate::store::factors as store;
use crate::store::{Db, StoreError};

pub const COUNT: usize = 10;
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

pub struct RecoveryKey(hmac::Key);

impl RecoveryKey {
    pub fn new(secret: [u8; 32]) -> Self {
        RecoveryKey(hmac::Key::new(hmac::HMAC_SHA256, &secret))
    }

    fn hash(&self, account_id: &str, code: &str) -> String {
        let norm: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        let tag = hmac::sign(&self.0, format!("{account_id}\n{norm}").as_bytes());
        crypto::b64url(tag.as_ref())
    }
}

/// Ten codes like `k7m2p-x9rtq` (50 bits each); replaces any earlier set.
pub async fn generate(db: &Db, key: &RecoveryKey, account_id: &str, now: i64) -> Result<Vec<String>, StoreError> {
    let mut codes = Vec::with_capacity(COUNT);
    for _ in 0..COUNT {
        let bytes: [u8; 10] = crypto::random_bytes().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let chars: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
        codes.push(format!("{}-{}", &chars[..5], &chars[5..]));
    }
    let hashes: Vec<String> = codes.iter().map(|c| key.hash(account_id, c)).collect();
    store::replace_recovery_codes(db, account_id, &hashes, now).await?;
    Ok(codes)
}

pub async fn redeem(db: &Db, key: &RecoveryKey, account_id: &str, code: &str, now: i64) -> Result<bool, StoreError> {
    if code.len() > 32 {
        return Ok(false);
    }
    store::use_recovery_code(db, account_id, &key.hash(account_id, code), now).await
}

pub async fn remaining(db: &Db, account_id: &str) -> Result<i64, StoreError> {
    store::unused_recovery_codes(db, account_id).await
}
