//! Proof of possession: the holder of a certificate signs a one-time challenge with the private
//! key, so a binding cannot be made from the certificate alone (certificates are public
//! documents). Accepted as a raw signature (RSA PKCS#1 v1.5 or PSS, ECDSA, what `openssl dgst
//! -sign` writes) or as a detached CMS/PKCS#7 SignedData (what `openssl cms -sign` and
//! e-signature services produce). Signatures are verified with aws-lc-rs.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, RsaPssSaltLength, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

/// A proof is a signature or a small CMS message; anything larger is not one.
pub const MAX_PROOF_BYTES: usize = 64 * 1024;

/// How the holder showed possession of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofKind {
    /// A raw signature over the challenge.
    Signature,
    /// A CMS/PKCS#7 SignedData over the challenge.
    Cms,
}

impl ProofKind {
    /// The value stored in `certificates.possession`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProofKind::Signature => "signature",
            ProofKind::Cms => "cms",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PossessionError {
    #[error("the signature is not base64 of a signature, nor a CMS/PKCS#7 signature")]
    Malformed,
    #[error("the signature does not verify with this certificate's key over the challenge")]
    WrongKey,
    #[error("the CMS signature names another certificate as its signer")]
    WrongSigner,
    #[error("the CMS signature is over another text than the challenge")]
    WrongContent,
    #[error("unsupported signature algorithm: {0}")]
    Unsupported(String),
}

impl PossessionError {
    /// Translation key for pages.
    pub fn message_key(&self) -> &'static str {
        match self {
            PossessionError::Malformed => "cb_err_proof_malformed",
            PossessionError::WrongKey => "cb_err_proof_wrong_key",
            PossessionError::WrongSigner => "cb_err_proof_wrong_signer",
            PossessionError::WrongContent => "cb_err_proof_wrong_content",
            PossessionError::Unsupported(_) => "cb_err_proof_unsupported",
        }
    }
}

/// The certificate's public key as aws-lc-rs takes it.
enum Key {
    /// PKCS#1 RSAPublicKey.
    Rsa(Vec<u8>),
    /// Uncompressed point on P-256 or P-384.
    P256(Vec<u8>),
    P384(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

const HASHES: [Hash; 3] = [Hash::Sha256, Hash::Sha384, Hash::Sha512];

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }

    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        match oid.to_string().as_str() {
            "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
            _ => None,
        }
    }
}

const RSA_PSS_256_MAX: signature::RsaParameters =
    signature::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
const RSA_PSS_384_MAX: signature::RsaParameters =
    signature::RSA_PSS_2048_8192_SHA384.with_pss_salt_length(RsaPssSaltLength::Max);
const RSA_PSS_512_MAX: signature::RsaParameters =
    signature::RSA_PSS_2048_8192_SHA512.with_pss_salt_length(RsaPssSaltLength::Max);

/// The algorithms a signature with this key and hash may have been made with. `pss`: `None`
/// tries PKCS#1 v1.5 and PSS (with the hash's length as salt and with openssl's maximum).
fn algorithms(key: &Key, hash: Hash, pss: Option<bool>) -> Vec<&'static dyn VerificationAlgorithm> {
    match key {
        Key::Rsa(_) => {
            let pkcs1: &'static dyn VerificationAlgorithm = match hash {
                Hash::Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Hash::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Hash::Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            };
            let pss_algs: [&'static dyn VerificationAlgorithm; 2] = match hash {
                Hash::Sha256 => [&signature::RSA_PSS_2048_8192_SHA256, &RSA_PSS_256_MAX],
                Hash::Sha384 => [&signature::RSA_PSS_2048_8192_SHA384, &RSA_PSS_384_MAX],
                Hash::Sha512 => [&signature::RSA_PSS_2048_8192_SHA512, &RSA_PSS_512_MAX],
            };
            match pss {
                Some(false) => vec![pkcs1],
                Some(true) => pss_algs.to_vec(),
                None => [vec![pkcs1], pss_algs.to_vec()].concat(),
            }
        }
        Key::P256(_) => vec![match hash {
            Hash::Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
            Hash::Sha384 => &signature::ECDSA_P256_SHA384_ASN1,
            Hash::Sha512 => &signature::ECDSA_P256_SHA512_ASN1,
        }],
        Key::P384(_) => vec![match hash {
            Hash::Sha256 => &signature::ECDSA_P384_SHA256_ASN1,
            Hash::Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
            Hash::Sha512 => &signature::ECDSA_P384_SHA512_ASN1,
        }],
    }
}

fn key_bytes(key: &Key) -> &[u8] {
    match key {
        Key::Rsa(k) | Key::P256(k) | Key::P384(k) => k,
    }
}

fn verifies(key: &Key, algs: &[&'static dyn VerificationAlgorithm], msg: &[u8], sig: &[u8]) -> bool {
    algs.iter().any(|alg| UnparsedPublicKey::new(*alg, key_bytes(key)).verify(msg, sig).is_ok())
}

/// What the certificate says about its key and itself, read once.
struct Holder {
    key: Key,
    issuer_der: Vec<u8>,
    serial: Vec<u8>,
    key_id: Option<Vec<u8>>,
}

fn holder(cert_der: &[u8]) -> Result<Holder, PossessionError> {
    let (_, cert) = X509Certificate::from_der(cert_der).map_err(|_| PossessionError::Malformed)?;
    let spki = cert.public_key();
    let bits = spki.subject_public_key.data.to_vec();
    let alg = spki.algorithm.algorithm.to_id_string();
    let key = match alg.as_str() {
        "1.2.840.113549.1.1.1" => Key::Rsa(bits),
        // The curve shows in the point's length: 1 + 2 × 32 or 1 + 2 × 48 bytes.
        "1.2.840.10045.2.1" if bits.len() == 65 => Key::P256(bits),
        "1.2.840.10045.2.1" if bits.len() == 97 => Key::P384(bits),
        other => return Err(PossessionError::Unsupported(format!("certificate key {other}"))),
    };
    let key_id = cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
        _ => None,
    });
    Ok(Holder { key, issuer_der: cert.issuer().as_raw().to_vec(), serial: cert.raw_serial().to_vec(), key_id })
}

/// The texts a holder may have signed for this challenge: as shown, or as saved by an editor
/// or `echo` with a line ending after it.
fn variants(challenge: &[u8]) -> [Vec<u8>; 3] {
    [challenge.to_vec(), [challenge, b"\n"].concat(), [challenge, b"\r\n"].concat()]
}

fn b64(text: &str) -> Result<Vec<u8>, PossessionError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let engine = &base64::engine::general_purpose::STANDARD;
    engine
        .decode(&compact)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.trim_end_matches('=')))
        .map_err(|_| PossessionError::Malformed)
}

/// Reads the proof: PEM (`CMS`/`PKCS7`) or base64 of a CMS message or of a raw signature.
fn decode(proof: &str) -> Result<(Vec<u8>, Option<ContentInfo>), PossessionError> {
    let proof = proof.trim();
    if proof.is_empty() || proof.len() > MAX_PROOF_BYTES {
        return Err(PossessionError::Malformed);
    }
    if proof.starts_with("-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(proof.as_bytes()).map_err(|_| PossessionError::Malformed)?;
        if !matches!(pem.label.as_str(), "CMS" | "PKCS7") {
            return Err(PossessionError::Malformed);
        }
        let ci = ContentInfo::from_der(&pem.contents).map_err(|_| PossessionError::Malformed)?;
        return Ok((pem.contents, Some(ci)));
    }
    let bytes = b64(proof)?;
    let ci = ContentInfo::from_der(&bytes).ok();
    Ok((bytes, ci))
}

/// Checks that `proof` is the certificate holder's signature over `challenge`.
pub fn verify(cert_der: &[u8], challenge: &[u8], proof: &str) -> Result<ProofKind, PossessionError> {
    let h = holder(cert_der)?;
    let (bytes, ci) = decode(proof)?;
    match ci {
        Some(ci) => {
            verify_cms(&h, challenge, &ci)?;
            Ok(ProofKind::Cms)
        }
        None => {
            let ok = variants(challenge)
                .iter()
                .any(|msg| HASHES.iter().any(|hash| verifies(&h.key, &algorithms(&h.key, *hash, None), msg, &bytes)));
            if ok {
                Ok(ProofKind::Signature)
            } else {
                Err(PossessionError::WrongKey)
            }
        }
    }
}

const ID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const ID_DATA: &str = "1.2.840.113549.1.7.1";
const ID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const ID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";

fn names_holder(si: &SignerInfo, h: &Holder) -> bool {
    match &si.sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            let issuer = ias.issuer.to_der().unwrap_or_default();
            issuer == h.issuer_der && ias.serial_number.as_bytes() == h.serial.as_slice()
        }
        SignerIdentifier::SubjectKeyIdentifier(k) => h.key_id.as_deref() == Some(k.0.as_bytes()),
    }
}

/// Whether the signature algorithm is PSS (`Some(true)`), PKCS#1 v1.5 (`Some(false)`) or says
/// nothing about the padding (ECDSA); `Err` for one we do not take.
fn padding(alg: &ObjectIdentifier) -> Result<Option<bool>, PossessionError> {
    match alg.to_string().as_str() {
        // rsaEncryption, sha{256,384,512}WithRSAEncryption
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.11" | "1.2.840.113549.1.1.12" | "1.2.840.113549.1.1.13" => {
            Ok(Some(false))
        }
        "1.2.840.113549.1.1.10" => Ok(Some(true)),
        // id-ecPublicKey, ecdsa-with-SHA{256,384,512}
        "1.2.840.10045.2.1" | "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" | "1.2.840.10045.4.3.4" => Ok(None),
        other => Err(PossessionError::Unsupported(other.to_string())),
    }
}

fn verify_cms(h: &Holder, challenge: &[u8], ci: &ContentInfo) -> Result<(), PossessionError> {
    if ci.content_type.to_string() != ID_SIGNED_DATA {
        return Err(PossessionError::Malformed);
    }
    let content = ci.content.to_der().map_err(|_| PossessionError::Malformed)?;
    let sd = SignedData::from_der(&content).map_err(|_| PossessionError::Malformed)?;
    let texts = variants(challenge);
    // An attached content must be the challenge itself.
    if let Some(econtent) = &sd.encap_content_info.econtent {
        let inner = OctetString::from_der(&econtent.to_der().map_err(|_| PossessionError::Malformed)?)
            .map_err(|_| PossessionError::Malformed)?;
        if !texts.iter().any(|t| t.as_slice() == inner.as_bytes()) {
            return Err(PossessionError::WrongContent);
        }
    }
    let mut signers = sd.signer_infos.0.iter().peekable();
    if signers.peek().is_none() {
        return Err(PossessionError::Malformed);
    }
    let Some(si) = signers.find(|si| names_holder(si, h)) else {
        return Err(PossessionError::WrongSigner);
    };
    let hash = Hash::from_oid(&si.digest_alg.oid)
        .ok_or_else(|| PossessionError::Unsupported(format!("digest {}", si.digest_alg.oid)))?;
    let algs = algorithms(&h.key, hash, padding(&si.signature_algorithm.oid)?);
    if algs.is_empty() {
        return Err(PossessionError::Unsupported(si.signature_algorithm.oid.to_string()));
    }
    let sig = si.signature.as_bytes();
    match &si.signed_attrs {
        Some(attrs) => {
            let mut content_type_ok = false;
            let mut digest: Option<Vec<u8>> = None;
            for attr in attrs.iter() {
                let first = attr.values.iter().next().and_then(|v| v.to_der().ok());
                match attr.oid.to_string().as_str() {
                    ID_CONTENT_TYPE => {
                        content_type_ok = first
                            .and_then(|d| ObjectIdentifier::from_der(&d).ok())
                            .is_some_and(|o| o.to_string() == ID_DATA);
                    }
                    ID_MESSAGE_DIGEST => {
                        digest = first.and_then(|d| OctetString::from_der(&d).ok()).map(|o| o.as_bytes().to_vec());
                    }
                    _ => {}
                }
            }
            let Some(digest) = digest else {
                return Err(PossessionError::Malformed);
            };
            if !content_type_ok || !texts.iter().any(|t| hash.digest(t) == digest) {
                return Err(PossessionError::WrongContent);
            }
            // The signature covers the attributes' DER with the SET OF tag, not the [0] of the
            // SignerInfo.
            let signed = attrs.to_der().map_err(|_| PossessionError::Malformed)?;
            if verifies(&h.key, &algs, &signed, sig) {
                Ok(())
            } else {
                Err(PossessionError::WrongKey)
            }
        }
        None => {
            if texts.iter().any(|t| verifies(&h.key, &algs, t, sig)) {
                Ok(())
            } else {
                Err(PossessionError::WrongKey)
            }
        }
    }
}

#[cfg(test)]
#[path = "possession_tests.rs"]
mod tests;
