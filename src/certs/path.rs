//! Checking a person's signing certificate: its own properties (validity, not a CA, key usage
//! for signatures), then path validation to a configured trust anchor with rustls-webpki, which
//! builds the chain through the intermediates (trying every CA of the right name, so a rolled-over
//! CA works and an impostor with the same name fails on the signature), checks each CA's
//! validity and basicConstraints, extended key usage and critical extensions. What webpki leaves
//! to its caller — the anchor's own validity and every CA's keyCertSign — is checked on the path
//! it found.

use std::cell::RefCell;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter, VerifiedPath};

use super::trust::{can_sign_certificates, TrustStore};
use super::{date, read, CertError, Checked};
use crate::crypto;

/// Extended key usages that make a certificate fit for signing documents, as dotted OIDs:
/// emailProtection, documentSigning (RFC 9336), Adobe authentic documents, Microsoft document
/// signing. A certificate without the extension is fit for any use; one with it must name one
/// of these.
pub const SIGNING_EKUS: [&str; 4] =
    ["1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.36", "1.2.840.113583.1.1.5", "1.3.6.1.4.1.311.10.3.12"];

/// [`SIGNING_EKUS`] as the DER contents of each OID, in the same order.
pub(super) const SIGNING_EKU_DER: [&[u8]; 4] = [
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04],
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x2f, 0x01, 0x01, 0x05],
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x0a, 0x03, 0x0c],
];

/// Accepts a certificate whose extended key usage is absent or names one of [`SIGNING_EKUS`].
/// webpki applies it to the CAs of the path too, where the same rule holds (a CA restricted to
/// other purposes cannot issue signing certificates).
struct SigningUsage;

impl ExtendedKeyUsageValidator for SigningUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut present = Vec::new();
        for id in iter {
            let id = id?;
            if SIGNING_EKU_DER.iter().any(|oid| KeyPurposeId::new(oid) == id) {
                return Ok(());
            }
            present.push(id.to_decoded_oid());
        }
        if present.is_empty() {
            return Ok(());
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(webpki::RequiredEkuNotFoundContext {
            required: webpki::KeyUsage::required_if_present(SIGNING_EKU_DER[0]),
            present,
        }))
    }
}

/// Checks a person's signing certificate at `now` against the trust anchors. `input` is PEM
/// (certificates after the first are offered as intermediates, never as anchors) or bare
/// base64 DER.
pub fn check(input: &str, trust: &TrustStore, now: i64) -> Result<Checked, CertError> {
    if !trust.is_configured() {
        return Err(CertError::NoTrustAnchors);
    }
    let ders = read::ders_of(input)?;
    let (der, extra) = ders.split_first().ok_or(CertError::Malformed)?;
    let cert = read::parse(der)?;
    // The person's own properties first, so their reasons are told apart from the CAs'.
    let (not_before, not_after) = (cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp());
    if now >= not_after {
        return Err(CertError::Expired(date(not_after)));
    }
    if now < not_before {
        return Err(CertError::NotYetValid(date(not_before)));
    }
    if cert.basic_constraints().map_err(|_| CertError::Malformed)?.is_some_and(|b| b.value.ca) {
        return Err(CertError::Authority);
    }
    let non_repudiation = match cert.key_usage().map_err(|_| CertError::Malformed)? {
        Some(u) if u.value.digital_signature() || u.value.non_repudiation() => u.value.non_repudiation(),
        _ => return Err(CertError::NotForSigning),
    };
    let issuer_der = validate_path(der, extra, trust, now)?;
    let emails = read::emails(&cert);
    Ok(Checked {
        fingerprint: crypto::sha256_hex(der),
        subject: cert.subject().to_string(),
        common_name: read::common_name(&cert),
        email: emails.first().cloned(),
        emails,
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before,
        not_after,
        non_repudiation,
        issuer_der,
        ocsp_url: read::ocsp_url(&cert),
        crl_urls: read::crl_urls(&cert),
        der: der.clone(),
    })
}

/// Validates the path from `der` to an anchor; returns the DER of the certificate that issued it.
fn validate_path(der: &[u8], extra: &[Vec<u8>], trust: &TrustStore, now: i64) -> Result<Vec<u8>, CertError> {
    let ee_der = CertificateDer::from(der);
    let ee = EndEntityCert::try_from(&ee_der).map_err(|e| map_error(e, &[]))?;
    // The configured intermediates, then the ones uploaded with the certificate (self-signed
    // ones among those can never be anchors, so they are left out).
    let uploaded = extra.iter().filter(|d| read::parse(d).is_ok_and(|c| c.subject().as_raw() != c.issuer().as_raw()));
    let intermediates: Vec<CertificateDer<'_>> =
        trust.intermediates().chain(uploaded.map(Vec::as_slice)).map(CertificateDer::from).collect();
    let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or(0)));
    // Why a path webpki accepted was then refused here; reported in preference to webpki's own
    // reason for the other candidates, since that path was otherwise sound.
    let refusal: RefCell<Option<CertError>> = RefCell::new(None);
    let on_path = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
        match path_refusal(path, trust, now) {
            None => Ok(()),
            Some(reason) => {
                refusal.borrow_mut().get_or_insert(reason);
                Err(webpki::Error::UnknownIssuer)
            }
        }
    };
    let verified = ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        trust.anchors(),
        &intermediates,
        time,
        SigningUsage,
        None,
        Some(&on_path),
    );
    match verified {
        Ok(path) => {
            let issuer = match path.intermediate_certificates().next() {
                Some(c) => c.der().to_vec(),
                None => anchor_index(&path, trust).and_then(|i| trust.anchor_cert(i)).unwrap_or_default().to_vec(),
            };
            Ok(issuer)
        }
        Err(e) => Err(refusal.into_inner().unwrap_or_else(|| map_error(e, &intermediates))),
    }
}

fn anchor_index(path: &VerifiedPath<'_>, trust: &TrustStore) -> Option<usize> {
    trust.anchors().iter().position(|a| std::ptr::eq(a, path.anchor()))
}

/// What webpki does not check on a path it built: every CA's keyCertSign, and the anchor's
/// validity (its trust anchor carries no dates).
fn path_refusal(path: &VerifiedPath<'_>, trust: &TrustStore, now: i64) -> Option<CertError> {
    for ca in path.intermediate_certificates() {
        let der = ca.der();
        let Ok(cert) = read::parse(der.as_ref()) else {
            return Some(CertError::Malformed);
        };
        if !can_sign_certificates(&cert) {
            return Some(CertError::IssuerCannotSign(read::common_name(&cert)));
        }
    }
    // Always found (webpki hands back one of the anchors it was given); failing closed anyway.
    let Some(anchor) = anchor_index(path, trust).and_then(|i| trust.anchor_cert(i)) else {
        return Some(CertError::UntrustedIssuer);
    };
    let Ok(cert) = read::parse(anchor) else {
        return Some(CertError::Malformed);
    };
    let name = read::common_name(&cert);
    let (not_before, not_after) = (cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp());
    if now >= not_after {
        return Some(CertError::IssuerExpired(format!("`{name}`, valid until {}", date(not_after))));
    }
    if now < not_before {
        return Some(CertError::IssuerNotYetValid(format!("`{name}`, valid from {}", date(not_before))));
    }
    if !can_sign_certificates(&cert) {
        return Some(CertError::IssuerCannotSign(name));
    }
    None
}

/// webpki's reasons, as people are told them. The person's own validity and basicConstraints
/// were checked before, so such errors here are about a CA of the chain; `cas` (the candidate
/// intermediates) name the CA whose dates webpki reports.
fn map_error(e: webpki::Error, cas: &[CertificateDer<'_>]) -> CertError {
    use webpki::Error as E;
    let secs = |t: UnixTime| i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    let named = |ts: i64, end: bool, what: &str| {
        let name = cas.iter().find_map(|der| {
            let cert = read::parse(der.as_ref()).ok()?;
            let v = cert.validity();
            let at = if end { v.not_after.timestamp() } else { v.not_before.timestamp() };
            (at == ts).then(|| read::common_name(&cert))
        });
        match name {
            Some(n) => format!("`{n}`, {what} {}", date(ts)),
            None => format!("{what} {}", date(ts)),
        }
    };
    match e {
        E::CertExpired { not_after, .. } => CertError::IssuerExpired(named(secs(not_after), true, "valid until")),
        E::CertNotValidYet { not_before, .. } => {
            CertError::IssuerNotYetValid(named(secs(not_before), false, "valid from"))
        }
        E::EndEntityUsedAsCa | E::PathLenConstraintViolated => CertError::IssuerNotCa,
        E::CaUsedAsEndEntity => CertError::Authority,
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => CertError::WrongExtendedKeyUsage,
        E::UnsupportedCriticalExtension => CertError::UnknownCriticalExtension,
        E::UnsupportedSignatureAlgorithmContext(_) | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            CertError::UnsupportedAlgorithm
        }
        E::BadDer
        | E::BadDerTime
        | E::MalformedExtensions
        | E::TrailingData(_)
        | E::ExtensionValueInvalid
        | E::InvalidCertValidity
        | E::InvalidSerialNumber
        | E::UnsupportedCertVersion => CertError::Malformed,
        // UnknownIssuer, InvalidSignatureForPublicKey (a CA of the right name but another key:
        // an impostor), name constraints, exhausted path-building budgets, and anything newer.
        _ => CertError::UntrustedIssuer,
    }
}
