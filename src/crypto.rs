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

/// The master key, and during a master-key rotation the previous or the next one too.
///
/// Sealed values carry the id of the key that sealed them (a short fingerprint, so replicas need
/// no numbering agreed between them): `g1` ‖ key id (4 bytes) ‖ nonce ‖ ciphertext and tag.
/// Values sealed before the id was added (no header) are still opened, by trying the keys in
/// turn; the AEAD tag tells a wrong key from the right one, so trying is safe. A replica holding
/// the new key and `master_key_previous` opens values under either, which is what lets
/// `gerbang master-key rotate` re-seal them while the service runs. A replica holding
/// `master_key_next` opens values under that key but never seals with it: rolled out to every
/// replica first, it lets replicas still on the old key open what an updated one seals.
#[derive(Clone)]
pub struct MasterKey {
    current: KeyBytes,
    previous: Option<KeyBytes>,
    next: Option<KeyBytes>,
}

#[derive(Clone)]
struct KeyBytes {
    bytes: [u8; 32],
    id: [u8; KEY_ID_LEN],
}

const SEAL_MAGIC: &[u8; 2] = b"g1";
const KEY_ID_LEN: usize = 4;
const HEADER_LEN: usize = SEAL_MAGIC.len() + KEY_ID_LEN;

/// Under which key a sealed value is, as far as its header tells.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SealedUnder {
    Current,
    Previous,
    /// `master_key_next`: sealed by a replica that already has it as its master key.
    Next,
    /// A key id this replica does not hold (hex).
    Other(String),
    /// Sealed before values carried a key id.
    Unversioned,
}

impl KeyBytes {
    fn new(bytes: [u8; 32]) -> KeyBytes {
        let fp = derive_key(&bytes, "gerbang master key id v1");
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&fp[..KEY_ID_LEN]);
        KeyBytes { bytes, id }
    }

    fn aead(&self) -> Result<LessSafeKey, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, &self.bytes).map_err(|_| CryptoError::Encrypt)?;
        Ok(LessSafeKey::new(unbound))
    }

    /// Opens `nonce ‖ ciphertext ‖ tag`.
    fn open_body(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
        let mut buf = body.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        MasterKey { current: KeyBytes::new(bytes), previous: None, next: None }
    }

    /// Also opens values sealed under `previous` (during a master-key rotation).
    pub fn with_previous(mut self, previous: [u8; 32]) -> Self {
        self.previous = Some(KeyBytes::new(previous));
        self
    }

    /// Also opens values sealed under `next`, the key other replicas are about to seal with;
    /// sealing stays with the current key.
    pub fn with_next(mut self, next: [u8; 32]) -> Self {
        self.next = Some(KeyBytes::new(next));
        self
    }

    /// The current key's id as sealed values carry it (hex).
    pub fn id(&self) -> String {
        hex(&self.current.id)
    }

    pub fn previous_id(&self) -> Option<String> {
        self.previous.as_ref().map(|p| hex(&p.id))
    }

    pub fn next_id(&self) -> Option<String> {
        self.next.as_ref().map(|n| hex(&n.id))
    }

    /// AES-256-GCM under the current key with a random nonce; `context` (e.g. the key id) is
    /// bound as associated data so a ciphertext cannot be moved to another row.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes: [u8; NONCE_LEN] = random_bytes()?;
        let mut buf = plaintext.to_vec();
        self.current
            .aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + buf.len());
        out.extend_from_slice(SEAL_MAGIC);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    fn keys(&self) -> impl Iterator<Item = &KeyBytes> {
        std::iter::once(&self.current).chain(self.previous.as_ref()).chain(self.next.as_ref())
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if let Some((id, body)) = split_header(sealed) {
            if let Some(k) = self.keys().find(|k| k.id == id) {
                if let Ok(plain) = k.open_body(context, body) {
                    return Ok(plain);
                }
            }
        }
        // No header, or a legacy value whose random nonce happens to look like one.
        self.keys().find_map(|k| k.open_body(context, sealed).ok()).ok_or(CryptoError::Decrypt)
    }

    /// Under which key `sealed` is, by its header alone.
    pub fn sealed_under(&self, sealed: &[u8]) -> SealedUnder {
        match split_header(sealed) {
            Some((id, _)) if id == self.current.id => SealedUnder::Current,
            Some((id, _)) if self.previous.as_ref().is_some_and(|p| p.id == id) => SealedUnder::Previous,
            Some((id, _)) if self.next.as_ref().is_some_and(|n| n.id == id) => SealedUnder::Next,
            Some((id, _)) => SealedUnder::Other(hex(&id)),
            None => SealedUnder::Unversioned,
        }
    }

    /// The value sealed again under the current key, or None when it already is. Fails when no
    /// key held here opens it. (`master_key::reseal_all` does not run while a next key is held:
    /// it would move values back from the next key to the one being replaced.)
    pub fn reseal(&self, context: &str, sealed: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        if self.sealed_under(sealed) == SealedUnder::Current {
            if let Some((_, body)) = split_header(sealed) {
                if self.current.open_body(context, body).is_ok() {
                    return Ok(None);
                }
            }
        }
        let plain = self.open(context, sealed)?;
        Ok(Some(self.seal(context, &plain)?))
    }
}

/// The id of the master key a value is sealed under, read from its header (no key needed);
/// `None` for a value from before values carried one.
pub fn sealed_key_id(sealed: &[u8]) -> Option<String> {
    split_header(sealed).map(|(id, _)| hex(&id))
}

fn split_header(sealed: &[u8]) -> Option<([u8; KEY_ID_LEN], &[u8])> {
    if sealed.len() < HEADER_LEN + NONCE_LEN || !sealed.starts_with(SEAL_MAGIC) {
        return None;
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&sealed[SEAL_MAGIC.len()..HEADER_LEN]);
    Some((id, &sealed[HEADER_LEN..]))
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
    fn sealed_values_carry_the_key_id_and_open_under_either_key_during_rotation() {
        let old = MasterKey::new([7u8; 32]);
        let sealed_old = old.seal("totp:a", b"secret").unwrap();
        assert_eq!(old.sealed_under(&sealed_old), SealedUnder::Current);
        assert_eq!(&sealed_old[2..6], hex_decode(&old.id()).as_slice());
        // A value from before key ids: nonce || ciphertext, sealed by hand as the old code did.
        let legacy = {
            let nonce = [3u8; NONCE_LEN];
            let mut buf = b"legacy".to_vec();
            old.current
                .aead()
                .unwrap()
                .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&b"kid-1"[..]), &mut buf)
                .unwrap();
            [nonce.to_vec(), buf].concat()
        };
        assert_eq!(old.open("kid-1", &legacy).unwrap(), b"legacy");
        assert_eq!(old.sealed_under(&legacy), SealedUnder::Unversioned);

        let new = MasterKey::new([9u8; 32]);
        assert!(new.open("totp:a", &sealed_old).is_err(), "the new key alone cannot open old values");
        assert_eq!(new.sealed_under(&sealed_old), SealedUnder::Other(old.id()));
        let both = MasterKey::new([9u8; 32]).with_previous([7u8; 32]);
        assert_eq!(both.previous_id(), Some(old.id()));
        assert_eq!(both.sealed_under(&sealed_old), SealedUnder::Previous);
        assert_eq!(both.open("totp:a", &sealed_old).unwrap(), b"secret");
        assert_eq!(both.open("kid-1", &legacy).unwrap(), b"legacy");

        let resealed = both.reseal("totp:a", &sealed_old).unwrap().expect("re-sealed");
        assert_eq!(both.sealed_under(&resealed), SealedUnder::Current);
        assert_eq!(new.open("totp:a", &resealed).unwrap(), b"secret");
        assert!(both.reseal("totp:a", &resealed).unwrap().is_none(), "already under the new key");
        let resealed_legacy = both.reseal("kid-1", &legacy).unwrap().expect("re-sealed");
        assert_eq!(new.open("kid-1", &resealed_legacy).unwrap(), b"legacy");
        // Neither key opens it: refused, not re-sealed.
        let stranger = MasterKey::new([1u8; 32]).seal("totp:a", b"x").unwrap();
        assert!(both.reseal("totp:a", &stranger).is_err());
        // The context is still bound.
        assert!(both.reseal("totp:b", &sealed_old).is_err());
    }

    #[test]
    fn the_next_key_opens_but_never_seals() {
        // Phase 1 of a rotation: the old key seals, the new one only opens.
        let phase1 = MasterKey::new([7u8; 32]).with_next([9u8; 32]);
        let new = MasterKey::new([9u8; 32]);
        let phase2 = MasterKey::new([9u8; 32]).with_previous([7u8; 32]);
        assert_eq!(phase1.next_id(), Some(new.id()));
        assert_eq!(phase1.previous_id(), None);

        // What an updated replica seals under the new key opens on a phase-1 replica...
        let by_phase2 = phase2.seal("totp:a", b"secret").unwrap();
        assert_eq!(phase1.sealed_under(&by_phase2), SealedUnder::Next);
        assert_eq!(phase1.open("totp:a", &by_phase2).unwrap(), b"secret");
        assert!(phase1.open("totp:b", &by_phase2).is_err(), "the context is still bound");
        assert!(MasterKey::new([7u8; 32]).open("totp:a", &by_phase2).is_err(), "the window it closes");

        // ...while a phase-1 replica still seals under the old key, which the updated one opens.
        let by_phase1 = phase1.seal("totp:a", b"other").unwrap();
        assert_eq!(phase1.sealed_under(&by_phase1), SealedUnder::Current);
        assert_eq!(&by_phase1[2..6], hex_decode(&phase1.id()).as_slice());
        assert_eq!(phase2.sealed_under(&by_phase1), SealedUnder::Previous);
        assert_eq!(phase2.open("totp:a", &by_phase1).unwrap(), b"other");
        assert!(new.open("totp:a", &by_phase1).is_err());

        // A value under neither key is refused with the next key held too.
        let stranger = MasterKey::new([1u8; 32]).seal("totp:a", b"x").unwrap();
        assert!(phase1.open("totp:a", &stranger).is_err());
        assert_eq!(phase1.sealed_under(&stranger), SealedUnder::Other(MasterKey::new([1u8; 32]).id()));
    }

    fn hex_decode(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
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
