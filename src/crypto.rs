//! Small cryptographic helpers shared by the protocol code: random tokens, SHA-256 fingerprints,
//! constant-time comparison, and the master key that encrypts private keys at rest.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the system random generator failed")]
    Random,
    #[error("encryption failed")]
    Encrypt,
    #[error("decryption failed: wrong master key or damaged data")]
    Decrypt,
}

/// `bytes` random bytes, base64url without padding: 32 bytes give 256 bits of entropy.
pub fn random_token(bytes: usize) -> Result<String, CryptoError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).map_err(|_| CryptoError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    SystemRandom::new().fill(&mut buf).map_err(|_| CryptoError::Random)?;
    Ok(buf)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Hex SHA-256, the stored form of client secrets and refresh tokens: they carry 256 bits of
/// entropy, so a fast hash is enough and the token endpoint never pays for a password hash.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&sha256(data))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[(b >> 4) as usize]));
        s.push(char::from(HEX[(b & 15) as usize]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(data: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(data).ok()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The master key as configured: standard or URL-safe base64 of exactly 32 bytes.
pub fn decode_master_key(text: &str) -> Result<[u8; 32], String> {
    let t = text.trim();
    let bytes = STANDARD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
        .map_err(|_| "must be base64 of 32 random bytes (e.g. `openssl rand -base64 32`)".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| format!("must decode to 32 bytes, got {}", bytes.len()))
}

pub fn encode_master_key(key: &[u8; 32]) -> String {
    STANDARD.encode(key)
}

#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        MasterKey(bytes)
    }

    fn key(&self) -> Result<LessSafeKey, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| CryptoError::Encrypt)?;
        Ok(LessSafeKey::new(unbound))
    }

    /// AES-256-GCM with a random nonce; `context` (e.g. the key id) is bound as associated data so
    /// a ciphertext cannot be moved to another row.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes: [u8; NONCE_LEN] = random_bytes()?;
        let mut buf = plaintext.to_vec();
        self.key()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
        let mut buf = body.to_vec();
        let plain = self
            .key()?
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let mk = MasterKey::new([7u8; 32]);
        let sealed = mk.seal("kid-1", b"secret").unwrap();
        assert_eq!(mk.open("kid-1", &sealed).unwrap(), b"secret");
        assert!(mk.open("kid-2", &sealed).is_err());
        assert!(MasterKey::new([8u8; 32]).open("kid-1", &sealed).is_err());
        assert!(mk.open("kid-1", &sealed[..5]).is_err());
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token(32).unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32).unwrap());
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn master_key_decoding() {
        let k = encode_master_key(&[1u8; 32]);
        assert_eq!(decode_master_key(&k).unwrap(), [1u8; 32]);
        assert!(decode_master_key("c2hvcnQ=").is_err());
    }
}

/// Keys derived from the master key for purposes that need a secret shared by all replicas
/// (e.g. CSRF tokens), so there is nothing more to configure.
pub fn derive_key(master: &[u8; 32], purpose: &str) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, master);
    let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// A keyed hash (hex HMAC-SHA256) for identifiers kept in logs, the audit trail or cache keys
/// that must not be reversible by guessing: a NIK or NIP has few enough likely values to be
/// found again from its plain SHA-256.
#[derive(Clone)]
pub struct IdHasher(aws_lc_rs::hmac::Key);

impl std::fmt::Debug for IdHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdHasher([redacted])")
    }
}

impl IdHasher {
    pub fn new(secret: [u8; 32]) -> Self {
        IdHasher(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret))
    }

    pub fn hash(&self, data: &[u8]) -> String {
        hex(aws_lc_rs::hmac::sign(&self.0, data).as_ref())
    }
}

/// CSRF tokens bound to the browser-binding cookie and to the form's purpose: a form taken from
/// one browser or one page is useless in another.
#[derive(Clone)]
pub struct CsrfKey(aws_lc_rs::hmac::Key);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey([redacted])")
    }
}

impl CsrfKey {
    pub fn new(secret: [u8; 32]) -> Self {
        CsrfKey(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret))
    }

    pub fn token(&self, browser_id: &str, purpose: &str) -> String {
        let msg = format!("{browser_id}\n{purpose}");
        b64url(aws_lc_rs::hmac::sign(&self.0, msg.as_bytes()).as_ref())
    }

    pub fn verify(&self, browser_id: &str, purpose: &str, presented: &str) -> bool {
        !browser_id.is_empty() && constant_time_eq(self.token(browser_id, purpose).as_bytes(), presented.as_bytes())
    }
}
