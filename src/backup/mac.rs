//! The archive's authentication: an HMAC-SHA256 keyed from the master key, so that an archive
//! this region did not write is refused.
//!
//! Why it is needed: age encrypts to a public key (`age1…`, kept in the CronJob's settings), and
//! the manifest's checksums catch damage, not forgery: whoever holds the public key can write a
//! complete archive of their own (with an extra administrator, say) that every checksum agrees
//! with. The MAC key is derived with HKDF-SHA256, under its own label, from the master key the
//! backup ran under, which only the region holds; the header names that key's id (`mac_key`,
//! the same id sealed values carry), so a restore during or after a rotation finds it.
//!
//! What is authenticated: the header record's bytes and the manifest record's bytes exactly as
//! written (each length-prefixed). The manifest lists every member with its length and SHA-256
//! and the reader checks every member against it, so a change to any byte is caught.
//!
//! Where the tag goes: the manifest record's last field, `"authentication"`, spliced in after
//! the MAC was computed over the record without it. Readers from before ignore the field, so
//! they still read new archives; the format version stays 1, so this reader reads theirs. An
//! archive without it is unauthenticated, and refused unless the operator says otherwise.

use aws_lc_rs::{hkdf, hmac};
use serde::{Deserialize, Serialize};

use super::archive::Header;
use crate::crypto::MasterKey;

/// HKDF salt and info: the MAC key is used for nothing else.
const SALT: &[u8] = b"gerbang backup archive";
const INFO: &[u8] = b"gerbang backup archive mac v1";
/// The MAC input begins with this, so it can never be mistaken for another of the key's uses.
const DOMAIN: &[u8] = b"gerbang backup archive v1\0";
/// What precedes the tag in the manifest record.
const FIELD: &[u8] = b",\"authentication\":";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "the archive is not authenticated: it carries no MAC (it was written by an earlier gerbang, or by a backup run without the master key), so nothing shows that this region wrote it rather than someone holding the public age key; compare its SHA-256 (`sha256sum FILE`) with the one recorded when the backup was taken, then give --accept-unauthenticated to use it anyway"
    )]
    Unauthenticated,
    #[error(
        "the archive's MAC does not verify: it was not written with this region's master key, or it was altered after it was written; it is refused (use another copy whose SHA-256 matches the one recorded when the backup was taken)"
    )]
    Forged,
    #[error(
        "the archive is authenticated with master key {0}, which is not configured here: it was not written with this region's master key, or it was altered; if {0} is this region's earlier master key, configure it as master_key_previous"
    )]
    KeyNotHeld(String),
    #[error("cannot derive the archive's MAC key")]
    Derive,
}

/// A master key held here, as the id archives name it by, the MAC key derived from it, and
/// the value a header's `master_key_check` holds for it.
pub struct HeldKey {
    id: String,
    key: hmac::Key,
    check: String,
}

impl HeldKey {
    pub fn new(master: &[u8; 32]) -> Result<HeldKey, AuthError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(master);
        let info = [INFO];
        let okm = prk.expand(&info, hmac::HMAC_SHA256).map_err(|_| AuthError::Derive)?;
        Ok(HeldKey {
            id: MasterKey::new(*master).id(),
            key: hmac::Key::from(okm),
            check: super::master_key_check(master),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether a header's `master_key_check` is this key's.
    pub fn checks(&self, check: &str) -> bool {
        crate::crypto::constant_time_eq(check.as_bytes(), self.check.as_bytes())
    }
}

/// The tag as the manifest record carries it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The id of the master key the MAC key was derived from (as the header's `mac_key`).
    pub key: String,
    pub hmac_sha256: String,
}

/// The tag found in an archive, and the manifest record's bytes as they were signed (`None`
/// when the record does not end with the tag as a writer splices it in).
#[derive(Clone, Debug)]
pub struct Presented {
    pub tag: Tag,
    pub signed: Option<Vec<u8>>,
}

/// Only the tag of a manifest record; every other field is the manifest's.
#[derive(Deserialize)]
pub struct Tagged {
    #[serde(default)]
    pub authentication: Option<Tag>,
}

fn input(header: &[u8], manifest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 16 + header.len() + manifest.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&(header.len() as u64).to_be_bytes());
    m.extend_from_slice(header);
    m.extend_from_slice(&(manifest.len() as u64).to_be_bytes());
    m.extend_from_slice(manifest);
    m
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok())).collect()
}

/// The manifest record of an authenticated archive: `manifest` (a JSON object) with the tag
/// spliced in as its last field.
pub fn splice(key: &HeldKey, header: &[u8], manifest: &[u8]) -> std::io::Result<Vec<u8>> {
    let tag = Tag { key: key.id.clone(), hmac_sha256: hex(hmac::sign(&key.key, &input(header, manifest)).as_ref()) };
    let Some((b'}', body)) = manifest.split_last() else {
        return Err(std::io::Error::other("the manifest is not a JSON object"));
    };
    let mut out = body.to_vec();
    out.extend_from_slice(FIELD);
    out.extend_from_slice(&serde_json::to_vec(&tag).map_err(std::io::Error::other)?);
    out.push(b'}');
    Ok(out)
}

/// The tag of a manifest record, with the bytes that were signed.
pub fn presented(record: &[u8], tagged: Tagged) -> Option<Presented> {
    let tag = tagged.authentication?;
    let mut suffix = FIELD.to_vec();
    suffix.extend_from_slice(&serde_json::to_vec(&tag).unwrap_or_default());
    suffix.push(b'}');
    let signed = record.strip_suffix(suffix.as_slice()).map(|body| [body, b"}"].concat());
    Some(Presented { tag, signed })
}

/// How authentication is checked: against the master keys held here (`None`: no master key
/// here, only the checksums are checked), and whether an archive without a MAC is taken.
#[derive(Clone, Copy)]
pub struct Policy<'a> {
    pub keys: Option<&'a [HeldKey]>,
    pub accept_unauthenticated: bool,
}

/// What was found of an archive's authenticity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Authenticity {
    /// Its MAC verified under the master key with this id.
    Verified(String),
    /// No master key here: not checked.
    NotChecked,
    /// It carries no MAC, and the operator took it anyway (`--accept-unauthenticated`).
    AcceptedUnauthenticated,
}

impl Authenticity {
    pub fn authenticated(&self) -> bool {
        matches!(self, Authenticity::Verified(_))
    }
}

/// From the header alone, before any member is read: what is refused whatever they hold.
pub fn precheck(header: &Header, policy: &Policy) -> Result<(), AuthError> {
    let Some(keys) = policy.keys else { return Ok(()) };
    match &header.mac_key {
        None if policy.accept_unauthenticated => Ok(()),
        None => Err(AuthError::Unauthenticated),
        Some(id) if keys.iter().any(|k| k.id == *id) => Ok(()),
        Some(id) => Err(AuthError::KeyNotHeld(id.clone())),
    }
}

/// Once the manifest was read and checked against the members: the verdict on the whole.
pub fn check(
    header: &Header,
    header_bytes: &[u8],
    presented: Option<&Presented>,
    policy: &Policy,
) -> Result<Authenticity, AuthError> {
    let Some(keys) = policy.keys else { return Ok(Authenticity::NotChecked) };
    let (id, presented) = match (&header.mac_key, presented) {
        (None, None) if policy.accept_unauthenticated => return Ok(Authenticity::AcceptedUnauthenticated),
        (None, None) => return Err(AuthError::Unauthenticated),
        // A header naming a key without a tag (stripped), or a tag the header does not name.
        (None, Some(_)) | (Some(_), None) => return Err(AuthError::Forged),
        (Some(id), Some(p)) => (id, p),
    };
    if presented.tag.key != *id {
        return Err(AuthError::Forged);
    }
    let key = keys.iter().find(|k| k.id == *id).ok_or_else(|| AuthError::KeyNotHeld(id.clone()))?;
    let (Some(signed), Some(tag)) = (&presented.signed, unhex(&presented.tag.hmac_sha256)) else {
        return Err(AuthError::Forged);
    };
    // Constant time: hmac::verify compares the tags without an early exit.
    hmac::verify(&key.key, &input(header_bytes, signed), &tag).map_err(|_| AuthError::Forged)?;
    Ok(Authenticity::Verified(id.clone()))
}

#[cfg(test)]
#[path = "mac_tests.rs"]
mod tests;
