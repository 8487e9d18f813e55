//! Signatures over DER structures (CRLs, OCSP responses, certificates) verified with the
//! algorithms of rustls-webpki, and the lookup of a certificate's issuer among candidates.
//! Shared by the CRL and OCSP modules, which need the raw signed bytes webpki does not expose.

use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// The three parts of a signed structure `SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING, ... }`.
pub(crate) struct Signed {
    /// The signed bytes exactly as they came (tag, length and content).
    pub tbs: Vec<u8>,
    /// The content of the AlgorithmIdentifier (without its SEQUENCE header), as webpki names algorithms.
    pub alg: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Splits a signed structure; `None` when it is not one. Trailing fields (an OCSP response's
/// certificates) are allowed after the signature.
pub(crate) fn split(der: &[u8]) -> Option<Signed> {
    let outer = AnyRef::from_der(der).ok()?;
    if outer.tag() != Tag::Sequence {
        return None;
    }
    let mut r = SliceReader::new(outer.value()).ok()?;
    let tbs: AnyRef = r.decode().ok()?;
    let alg: AnyRef = r.decode().ok()?;
    let sig: BitStringRef = r.decode().ok()?;
    if tbs.tag() != Tag::Sequence || alg.tag() != Tag::Sequence {
        return None;
    }
    Some(Signed { tbs: tbs.to_der().ok()?, alg: alg.value().to_vec(), signature: sig.raw_bytes().to_vec() })
}

/// A public key as webpki's algorithms take it: the content of the SubjectPublicKeyInfo's
/// AlgorithmIdentifier, and the key bits.
pub(crate) struct PublicKey {
    alg: Vec<u8>,
    key: Vec<u8>,
}

impl PublicKey {
    /// From the DER of a SubjectPublicKeyInfo.
    pub(crate) fn from_spki(spki: &[u8]) -> Option<PublicKey> {
        let outer = AnyRef::from_der(spki).ok()?;
        let mut r = SliceReader::new(outer.value()).ok()?;
        let alg: AnyRef = r.decode().ok()?;
        let key: BitStringRef = r.decode().ok()?;
        Some(PublicKey { alg: alg.value().to_vec(), key: key.raw_bytes().to_vec() })
    }

    /// The key of a certificate (DER).
    pub(crate) fn of_cert(cert_der: &[u8]) -> Option<PublicKey> {
        let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
        PublicKey::from_spki(cert.public_key().raw)
    }

    /// Whether `signed` carries a valid signature by this key, with an algorithm webpki supports
    /// for the key's type.
    pub(crate) fn verifies(&self, signed: &Signed) -> bool {
        webpki::ALL_VERIFICATION_ALGS.iter().any(|a| {
            a.public_key_alg_id().as_ref() == self.alg.as_slice()
                && a.signature_alg_id().as_ref() == signed.alg.as_slice()
                && a.verify_signature(&self.key, &signed.tbs, &signed.signature).is_ok()
        })
    }
}

/// Reads every certificate (DER) of a PEM bundle; unreadable blocks are skipped.
pub fn pem_certificates(bytes: &[u8]) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(bytes)
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect()
}

/// PEM text of a DER certificate.
pub fn to_pem(der: &[u8], label: &str) -> String {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap_or_default()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// The candidate (DER) whose subject is the certificate's issuer and whose key verifies the
/// certificate's signature: with two CAs of one name (a key rollover) the right one is found.
pub fn find_issuer(cert_der: &[u8], candidates: &[Vec<u8>]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let signed = split(cert_der)?;
    candidates
        .iter()
        .filter(|c| X509Certificate::from_der(c).is_ok_and(|(_, ca)| ca.subject().as_raw() == cert.issuer().as_raw()))
        .find(|c| PublicKey::of_cert(c).is_some_and(|k| k.verifies(&signed)))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_signed_structure() {
        assert!(split(b"").is_none());
        assert!(split(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
        assert!(split(&[0x30, 0x80, 0x00, 0x00]).is_none());
        assert!(PublicKey::from_spki(&[0x30, 0x00]).is_none());
        assert!(find_issuer(b"nope", &[b"nope".to_vec()]).is_none());
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----").is_empty());
    }
}
