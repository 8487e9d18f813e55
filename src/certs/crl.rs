//! Certificate revocation lists: reading one (DER or PEM), checking that a CA signed it, and
//! asking it about a certificate. The question "is this certificate on it" is answered by
//! rustls-webpki (CRL signature, issuer's cRLSign, authority of the CRL for the certificate,
//! serial lookup) with the certificate's own issuer as the only trust anchor: the path up to
//! the region's roots was validated when the certificate was bound.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{
    BorrowedCertRevocationList, CertRevocationList, EndEntityCert, ExpirationPolicy, KeyPurposeIdIter,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::signed::{self, PublicKey};

/// CRLs of a regional CA are small; national ones can reach megabytes.
pub const MAX_CRL_BYTES: usize = 20 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    #[error("the text is not a PEM or DER certificate revocation list")]
    Malformed,
    #[error("the revocation list is larger than {MAX_CRL_BYTES} bytes")]
    TooLarge,
    #[error("the revocation list is not signed by a configured certificate authority")]
    UntrustedSigner,
    #[error("the revocation list is not from the certificate's issuer")]
    NotForCertificate,
    #[error("the revocation list's signature does not verify")]
    BadSignature,
    #[error("the certificate cannot be checked: {0}")]
    Certificate(String),
}

/// What Gerbang keeps of a CRL.
#[derive(Debug, Clone)]
pub struct CrlInfo {
    pub der: Vec<u8>,
    /// The issuer's name, DER (compared with certificates' issuer names).
    pub issuer_der: Vec<u8>,
    /// The issuer's name, readable.
    pub issuer: String,
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub revoked_count: usize,
}

/// Reads a CRL given as DER, PEM (`X509 CRL`) or bare base64 of the DER.
pub fn parse(input: &[u8]) -> Result<CrlInfo, CrlError> {
    if input.len() > MAX_CRL_BYTES {
        return Err(CrlError::TooLarge);
    }
    let der = if input.first() == Some(&0x30) {
        input.to_vec()
    } else {
        let text = std::str::from_utf8(input).map_err(|_| CrlError::Malformed)?.trim();
        if text.starts_with("-----BEGIN") {
            let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes()).map_err(|_| CrlError::Malformed)?;
            if pem.label != "X509 CRL" {
                return Err(CrlError::Malformed);
            }
            pem.contents
        } else {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, compact)
                .map_err(|_| CrlError::Malformed)?
        }
    };
    let (rest, crl) = CertificateRevocationList::from_der(&der).map_err(|_| CrlError::Malformed)?;
    if !rest.is_empty() {
        return Err(CrlError::Malformed);
    }
    // webpki must be able to read it too, or no certificate could be checked against it.
    BorrowedCertRevocationList::from_der(&der).map_err(|_| CrlError::Malformed)?;
    Ok(CrlInfo {
        issuer_der: crl.issuer().as_raw().to_vec(),
        issuer: crl.issuer().to_string(),
        this_update: crl.last_update().timestamp(),
        next_update: crl.next_update().map(|t| t.timestamp()),
        revoked_count: crl.iter_revoked_certificates().count(),
        der,
    })
}

/// The CA certificate (DER) among `cas` whose name and key signed this CRL.
pub fn signer<'a>(crl: &CrlInfo, cas: &'a [Vec<u8>]) -> Result<&'a [u8], CrlError> {
    let signed = signed::split(&crl.der).ok_or(CrlError::Malformed)?;
    cas.iter()
        .filter(|c| {
            X509Certificate::from_der(c).is_ok_and(|(_, ca)| ca.subject().as_raw() == crl.issuer_der.as_slice())
        })
        .find(|c| PublicKey::of_cert(c).is_some_and(|k| k.verifies(&signed)))
        .map(Vec::as_slice)
        .ok_or(CrlError::UntrustedSigner)
}

/// What a CRL says of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlStatus {
    Good,
    Revoked { at: i64, reason: String },
}

/// Any extended key usage: the certificate's purposes were checked at binding.
struct AnyPurpose;

impl webpki::ExtendedKeyUsageValidator for AnyPurpose {
    fn validate(&self, _iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// Asks the CRL (DER) about the certificate (DER) issued by `issuer` (DER). The CRL's own
/// freshness is the caller's business (it decides whether to fetch a newer one).
pub fn status(cert_der: &[u8], issuer_der: &[u8], crl_der: &[u8], now: i64) -> Result<CrlStatus, CrlError> {
    let (_, cert) = X509Certificate::from_der(cert_der).map_err(|_| CrlError::Certificate("malformed".into()))?;
    // The question is revocation, not validity: ask at a moment inside the certificate's
    // validity, so an expired certificate's revocation can still be read.
    let (nb, na) = (cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp());
    let at = now.clamp(nb, (na - 1).max(nb)).max(0);
    let crl: CertRevocationList<'_> =
        BorrowedCertRevocationList::from_der(crl_der).map_err(|_| CrlError::Malformed)?.into();
    let ee_der = CertificateDer::from(cert_der);
    let ee = EndEntityCert::try_from(&ee_der).map_err(|e| CrlError::Certificate(format!("{e:?}")))?;
    let issuer = CertificateDer::from(issuer_der);
    let anchor = webpki::anchor_from_trusted_cert(&issuer).map_err(|e| CrlError::Certificate(format!("{e:?}")))?;
    let crls = [&crl];
    let options = RevocationOptionsBuilder::new(&crls)
        .map_err(|_| CrlError::Malformed)?
        .with_depth(RevocationCheckDepth::EndEntity)
        .with_status_policy(UnknownStatusPolicy::Deny)
        .with_expiration_policy(ExpirationPolicy::Ignore)
        .build();
    let time = UnixTime::since_unix_epoch(Duration::from_secs(at as u64));
    let anchors = [anchor];
    let verified =
        ee.verify_for_usage(webpki::ALL_VERIFICATION_ALGS, &anchors, &[], time, AnyPurpose, Some(options), None);
    match verified.map(|_| ()) {
        Ok(()) => Ok(CrlStatus::Good),
        Err(webpki::Error::CertRevoked) => {
            let entry = crl.find_serial(cert.raw_serial()).map_err(|_| CrlError::Malformed)?;
            Ok(CrlStatus::Revoked {
                at: entry.as_ref().map_or(0, |e| e.revocation_date.as_secs() as i64),
                reason: entry
                    .and_then(|e| e.reason_code)
                    .map(|r| format!("{r:?}"))
                    .unwrap_or_else(|| "Unspecified".into()),
            })
        }
        Err(webpki::Error::UnknownRevocationStatus) => Err(CrlError::NotForCertificate),
        Err(
            webpki::Error::InvalidCrlSignatureForPublicKey
            | webpki::Error::UnsupportedCrlSignatureAlgorithmContext(_)
            | webpki::Error::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_)
            | webpki::Error::IssuerNotCrlSigner,
        ) => Err(CrlError::BadSignature),
        Err(e) => Err(CrlError::Certificate(format!("{e:?}"))),
    }
}

/// The certificate's issuer name (DER), which names the uploaded CRL that covers it.
pub fn issuer_name(cert_der: &[u8]) -> Option<Vec<u8>> {
    X509Certificate::from_der(cert_der).ok().map(|(_, c)| c.issuer().as_raw().to_vec())
}

/// The certificate's CRL distribution points (http/https URIs only).
pub fn distribution_points(cert_der: &[u8]) -> Vec<String> {
    X509Certificate::from_der(cert_der).map(|(_, cert)| super::read::crl_urls(&cert)).unwrap_or_default()
}

#[cfg(test)]
#[path = "../../tests/it/pki.rs"]
mod pki;

#[cfg(test)]
mod tests {
    use super::pki::{Ca, PersonOpts, DAY};
    use super::*;

    #[test]
    fn a_crl_names_revoked_certificates_and_only_its_issuer_signs_it() {
        let root = Ca::root("Root Uji");
        let ca = root.intermediate("CA Uji");
        let siti = ca.person(PersonOpts::new("Siti").crl("http://crl.example/ca.crl"));
        let agus = ca.person(PersonOpts::new("Agus"));
        let now = pki::unix_now();
        let der = ca.crl(&[&siti], now - DAY, now + DAY);
        let info = parse(&der).unwrap();
        assert_eq!(info.revoked_count, 1);
        assert_eq!(info.next_update, Some(now + DAY));
        assert!(info.issuer.contains("CA Uji"));
        assert!(matches!(status(&siti.cert_der, &ca.cert_der, &der, now).unwrap(), CrlStatus::Revoked { .. }));
        assert_eq!(status(&agus.cert_der, &ca.cert_der, &der, now).unwrap(), CrlStatus::Good);
        assert_eq!(distribution_points(&siti.cert_der), vec!["http://crl.example/ca.crl".to_string()]);
        // The same CRL as PEM text.
        let pem = signed::to_pem(&der, "X509 CRL");
        assert_eq!(parse(pem.as_bytes()).unwrap().der, der);
        // Signed by the CA, not by an impostor of the same name nor by the root.
        let impostor = Ca::root("CA Uji");
        assert_eq!(
            signer(&info, &[impostor.cert_der.clone(), root.cert_der.clone()]).unwrap_err(),
            CrlError::UntrustedSigner
        );
        assert_eq!(signer(&info, &[impostor.cert_der.clone(), ca.cert_der.clone()]).unwrap(), ca.cert_der.as_slice());
        // An impostor's CRL about the CA's certificate does not count.
        let forged = impostor.crl(&[], now - DAY, now + DAY);
        assert_eq!(status(&siti.cert_der, &ca.cert_der, &forged, now).unwrap_err(), CrlError::BadSignature);
        // The root's CRL is not about certificates the intermediate issued.
        let roots = root.crl(&[], now - DAY, now + DAY);
        assert!(status(&siti.cert_der, &ca.cert_der, &roots, now).is_err());
    }

    #[test]
    fn malformed_crls_are_refused_without_a_panic() {
        for bad in [
            &b""[..],
            b"\x30",
            b"\x30\x03\x02\x01\x00",
            b"hello",
            b"-----BEGIN X509 CRL-----\n!!\n-----END X509 CRL-----",
        ] {
            assert!(parse(bad).is_err());
            assert!(status(bad, bad, bad, 0).is_err());
        }
        let ca = Ca::root("CA Uji");
        let now = pki::unix_now();
        let mut der = ca.crl(&[], now - DAY, now + DAY);
        let n = der.len();
        der[n - 5] ^= 0xff;
        let info = parse(&der).unwrap();
        assert_eq!(signer(&info, std::slice::from_ref(&ca.cert_der)).unwrap_err(), CrlError::UntrustedSigner);
        for cut in [1, 10, n / 2, n - 1] {
            let _ = parse(&der[..cut]);
        }
    }
}
