//! Electronic certificates (Sertifikat Elektronik, e.g. from BSrE) bound to accounts: checking a
//! presented certificate, binding it, revoking it, and the monitoring view of certificates that
//! expire soon or were revoked. Person certificates carry no NIP or NIK, so the binding itself
//! is what links a certificate to a person.

pub mod names;
pub mod possession;

use std::path::Path;

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::crypto;
use crate::store::certs::{self as store, CertRow};
use crate::store::{Db, StoreError};

/// Certificates are a few kilobytes; anything much larger is not one.
pub const MAX_PEM_BYTES: usize = 16 * 1024;
const DAY: i64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("the text is not a PEM or DER X.509 certificate")]
    Malformed,
    #[error("the certificate is larger than {MAX_PEM_BYTES} bytes")]
    TooLarge,
    #[error("the certificate expired on {0}")]
    Expired(String),
    #[error("the certificate is valid only from {0}")]
    NotYetValid(String),
    #[error("the certificate is not for signing (key usage lacks digitalSignature)")]
    NotForSigning,
    #[error("the certificate is a certificate authority's, not a person's")]
    Authority,
    #[error("the certificate was not issued by a trusted certificate authority")]
    UntrustedIssuer,
    #[error("the certificate's signature does not verify against its issuer")]
    BadSignature,
    #[error("this certificate is already bound to an account")]
    AlreadyBound,
}

impl CertError {
    /// Translation key for pages.
    pub fn message_key(&self) -> &'static str {
        match self {
            CertError::Malformed => "cert_err_malformed",
            CertError::TooLarge => "cert_err_too_large",
            CertError::Expired(_) => "cert_err_expired",
            CertError::NotYetValid(_) => "cert_err_not_yet_valid",
            CertError::NotForSigning => "cert_err_not_for_signing",
            CertError::Authority => "cert_err_authority",
            CertError::UntrustedIssuer => "cert_err_untrusted",
            CertError::BadSignature => "cert_err_bad_signature",
            CertError::AlreadyBound => "cert_err_already_bound",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for BindError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => BindError::Cert(CertError::AlreadyBound),
            other => BindError::Store(other),
        }
    }
}

/// What Gerbang keeps of a checked certificate.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub der: Vec<u8>,
    pub fingerprint: String,
    pub subject: String,
    pub common_name: String,
    pub email: Option<String>,
    pub issuer: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    pub non_repudiation: bool,
}

/// A certificate authority whose certificates may be bound.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    /// The DER of its subject name, compared with certificates' issuer names.
    subject_der: Vec<u8>,
    name: String,
    /// The `subjectPublicKey` bits: PKCS#1 for RSA, the point for EC.
    public_key: Vec<u8>,
    ec: bool,
}

/// Reads the configured bundle of trusted issuing CAs (PEM, one or more certificates).
pub fn load_issuers(path: &Path) -> anyhow::Result<Vec<TrustedIssuer>> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("certificate_issuers {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
        let pem = pem.map_err(|e| anyhow::anyhow!("certificate_issuers {}: {e}", path.display()))?;
        let cert = pem.parse_x509().map_err(|e| anyhow::anyhow!("certificate_issuers {}: {e}", path.display()))?;
        let spki = cert.public_key();
        out.push(TrustedIssuer {
            subject_der: cert.subject().as_raw().to_vec(),
            name: cert.subject().to_string(),
            public_key: spki.subject_public_key.data.to_vec(),
            ec: spki.algorithm.algorithm == x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY,
        });
    }
    if out.is_empty() {
        anyhow::bail!("certificate_issuers {}: no certificate in the file", path.display());
    }
    Ok(out)
}

fn date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn der_of(input: &str) -> Result<Vec<u8>, CertError> {
    let trimmed = input.trim();
    if trimmed.len() > MAX_PEM_BYTES {
        return Err(CertError::TooLarge);
    }
    if trimmed.starts_with("-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(trimmed.as_bytes()).map_err(|_| CertError::Malformed)?;
        if pem.label != "CERTIFICATE" {
            return Err(CertError::Malformed);
        }
        return Ok(pem.contents);
    }
    // Bare base64 of the DER, as some export tools give it.
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, compact).map_err(|_| CertError::Malformed)
}

/// Checks a person's signing certificate at `now`: well-formed, in its validity period, meant
/// for signatures, not a CA, and (when issuers are configured) signed by one of them.
pub fn check(input: &str, issuers: &[TrustedIssuer], now: i64) -> Result<Checked, CertError> {
    let der = der_of(input)?;
    let (rest, cert) = X509Certificate::from_der(&der).map_err(|_| CertError::Malformed)?;
    if !rest.is_empty() {
        return Err(CertError::Malformed);
    }
    let (not_before, not_after) = (cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp());
    if now >= not_after {
        return Err(CertError::Expired(date(not_after)));
    }
    if now < not_before {
        return Err(CertError::NotYetValid(date(not_before)));
    }
    if cert.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca) {
        return Err(CertError::Authority);
    }
    let usage = cert.key_usage().map_err(|_| CertError::Malformed)?;
    let (signing, non_repudiation) = match usage {
        Some(u) => (u.value.digital_signature(), u.value.non_repudiation()),
        None => (true, false),
    };
    if !signing {
        return Err(CertError::NotForSigning);
    }
    if !issuers.is_empty() {
        verify_issuer(&cert, issuers)?;
    }
    let common_name =
        cert.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).map(String::from).unwrap_or_default();
    let email = cert.subject().iter_email().next().and_then(|a| a.as_str().ok()).map(String::from);
    Ok(Checked {
        fingerprint: crypto::sha256_hex(&der),
        subject: cert.subject().to_string(),
        common_name,
        email,
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before,
        not_after,
        non_repudiation,
        der: der.clone(),
    })
}

fn verify_issuer(cert: &X509Certificate, issuers: &[TrustedIssuer]) -> Result<(), CertError> {
    use aws_lc_rs::signature::{self, UnparsedPublicKey};
    use x509_parser::oid_registry as oid;
    let Some(ca) = issuers.iter().find(|i| i.subject_der == cert.issuer().as_raw()) else {
        return Err(CertError::UntrustedIssuer);
    };
    let alg = &cert.signature_algorithm.algorithm;
    let verifier: &dyn signature::VerificationAlgorithm = match (ca.ec, alg) {
        (false, a) if *a == oid::OID_PKCS1_SHA256WITHRSA => &signature::RSA_PKCS1_2048_8192_SHA256,
        (false, a) if *a == oid::OID_PKCS1_SHA384WITHRSA => &signature::RSA_PKCS1_2048_8192_SHA384,
        (false, a) if *a == oid::OID_PKCS1_SHA512WITHRSA => &signature::RSA_PKCS1_2048_8192_SHA512,
        (true, a) if *a == oid::OID_SIG_ECDSA_WITH_SHA256 => &signature::ECDSA_P256_SHA256_ASN1,
        (true, a) if *a == oid::OID_SIG_ECDSA_WITH_SHA384 => &signature::ECDSA_P384_SHA384_ASN1,
        _ => return Err(CertError::BadSignature),
    };
    let tbs: &[u8] = cert.tbs_certificate.as_ref();
    UnparsedPublicKey::new(verifier, &ca.public_key)
        .verify(tbs, &cert.signature_value.data)
        .map_err(|_| CertError::BadSignature)?;
    tracing::debug!(issuer = %ca.name, "certificate signature verified");
    Ok(())
}

/// Binds a checked certificate to an account. One certificate belongs to one account.
pub async fn bind(db: &Db, account_id: &str, c: &Checked, bound_by: &str, now: i64) -> Result<CertRow, BindError> {
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &c.der)
            .as_bytes()
            .chunks(64)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let row = CertRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account_id.to_string(),
        fingerprint: c.fingerprint.clone(),
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        serial: c.serial.clone(),
        not_before: c.not_before,
        not_after: c.not_after,
        status: "active".into(),
        revoked_at: None,
        revocation_reason: String::new(),
        pem,
        bound_by: bound_by.to_string(),
        created_at: now,
        check_status: "unchecked".into(),
        possession: "none".into(),
        ..CertRow::default()
    };
    store::insert(db, &row).await?;
    Ok(row)
}

/// How a bound certificate stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Valid,
    /// Valid, but ending within the warning window.
    Expiring,
    Expired,
    Revoked,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Valid => "valid",
            Standing::Expiring => "expiring",
            Standing::Expired => "expired",
            Standing::Revoked => "revoked",
        }
    }
}

pub fn standing(c: &CertRow, now: i64, warn_days: i64) -> Standing {
    if c.status == "revoked" {
        Standing::Revoked
    } else if c.not_after <= now {
        Standing::Expired
    } else if c.not_after <= now + warn_days * DAY {
        Standing::Expiring
    } else {
        Standing::Valid
    }
}

/// Certificates Diskominfo should look at: revoked, expired, or ending within `warn_days`.
pub async fn needing_attention(db: &Db, now: i64, warn_days: i64) -> Result<Vec<store::HeldCert>, StoreError> {
    store::needing_attention(db, now + warn_days * DAY, 1000).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITI: &str = include_str!("../../tests/fixtures/certs/siti.pem");
    const EXPIRED: &str = include_str!("../../tests/fixtures/certs/expired.pem");
    const ENCRYPTION: &str = include_str!("../../tests/fixtures/certs/encryption-only.pem");
    const CA: &str = include_str!("../../tests/fixtures/certs/ca.pem");
    // 2026-11-23 00:00:00 UTC
    const NOW: i64 = 1_795_392_000;

    fn issuers() -> Vec<TrustedIssuer> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, CA).unwrap();
        load_issuers(&p).unwrap()
    }

    #[test]
    fn a_person_certificate_is_read_with_its_facts() {
        let c = check(SITI, &[], NOW).unwrap();
        assert_eq!(c.common_name, "Siti Rahmawati");
        assert_eq!(c.email.as_deref(), Some("siti.rahmawati@jemberkab.go.id"));
        assert!(c.issuer.contains("BSRE CA DS G1 UJI"), "{}", c.issuer);
        assert!(c.non_repudiation);
        assert_eq!(c.fingerprint.len(), 64);
        assert_eq!(date(c.not_after), "2035-06-01");
        // The same certificate as bare base64 DER.
        let body: String = SITI.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(check(&body, &[], NOW).unwrap().fingerprint, c.fingerprint);
    }

    #[test]
    fn unusable_certificates_are_refused_with_the_reason() {
        assert_eq!(check(EXPIRED, &[], NOW).unwrap_err(), CertError::Expired("2021-01-01".into()));
        assert_eq!(check(SITI, &[], 1_700_000_000).unwrap_err(), CertError::NotYetValid("2025-06-01".into()));
        assert_eq!(check(ENCRYPTION, &[], NOW).unwrap_err(), CertError::NotForSigning);
        assert_eq!(check(CA, &[], NOW).unwrap_err(), CertError::Authority);
        assert_eq!(
            check("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----", &[], NOW).unwrap_err(),
            CertError::Malformed
        );
        assert_eq!(check("hello", &[], NOW).unwrap_err(), CertError::Malformed);
        assert_eq!(check(&"A".repeat(MAX_PEM_BYTES + 1), &[], NOW).unwrap_err(), CertError::TooLarge);
        let mut tampered = SITI.to_string();
        tampered.replace_range(200..201, if &SITI[200..201] == "A" { "B" } else { "A" });
        assert!(check(&tampered, &issuers(), NOW).is_err(), "a changed byte breaks parsing or the signature");
    }

    #[test]
    fn with_issuers_configured_only_their_signatures_count() {
        let trusted = issuers();
        assert!(check(SITI, &trusted, NOW).is_ok());
        // A CA with the same name but another key: the signature does not verify.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("other.pem");
        std::fs::write(&p, include_str!("../../tests/fixtures/certs/impostor-ca.pem")).unwrap();
        assert_eq!(check(SITI, &load_issuers(&p).unwrap(), NOW).unwrap_err(), CertError::BadSignature);
        let dir2 = tempfile::tempdir().unwrap();
        let p2 = dir2.path().join("x.pem");
        std::fs::write(&p2, include_str!("../../tests/fixtures/certs/agus.pem")).unwrap();
        assert_eq!(check(SITI, &load_issuers(&p2).unwrap(), NOW).unwrap_err(), CertError::UntrustedIssuer);
    }

    #[test]
    fn standing_follows_the_dates_and_revocation() {
        let mut row = CertRow {
            id: "c".into(),
            account_id: "a".into(),
            fingerprint: String::new(),
            subject: String::new(),
            issuer: String::new(),
            serial: String::new(),
            not_before: NOW - 100 * DAY,
            not_after: NOW + 40 * DAY,
            status: "active".into(),
            revoked_at: None,
            revocation_reason: String::new(),
            pem: String::new(),
            bound_by: String::new(),
            created_at: 0,
            ..CertRow::default()
        };
        assert_eq!(standing(&row, NOW, 30), Standing::Valid);
        assert_eq!(standing(&row, NOW + 11 * DAY, 30), Standing::Expiring);
        assert_eq!(standing(&row, NOW + 40 * DAY, 30), Standing::Expired);
        row.status = "revoked".into();
        assert_eq!(standing(&row, NOW, 30), Standing::Revoked);
    }
}
