//! Electronic certificates (Sertifikat Elektronik, e.g. from BSrE) bound to accounts: checking a
//! presented certificate against the configured trust anchors, binding it, revoking it, and the
//! monitoring view of certificates that expire soon or were revoked. Person certificates carry no
//! NIP or NIK, so the binding itself is what links a certificate to a person.

pub mod bsre;
pub mod crl;
pub mod names;
pub mod ocsp;
mod path;
pub mod possession;
mod read;
pub mod signed;
pub mod trust;

use serde::Serialize;

use crate::store::certs::CertRow;

pub use path::{check, SIGNING_EKUS};
pub use trust::TrustStore;

/// A certificate with the chain an export tool may put after it is a few kilobytes; anything
/// much larger is not one.
pub const MAX_PEM_BYTES: usize = 32 * 1024;
const DAY: i64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("binding is not offered: no trust anchors (certificate_issuers) are configured")]
    NoTrustAnchors,
    #[error("the text is not a PEM or DER X.509 certificate")]
    Malformed,
    #[error("the certificate is larger than {MAX_PEM_BYTES} bytes")]
    TooLarge,
    #[error("the certificate expired on {0}")]
    Expired(String),
    #[error("the certificate is valid only from {0}")]
    NotYetValid(String),
    #[error("the certificate is not for signing (key usage has neither digitalSignature nor nonRepudiation)")]
    NotForSigning,
    #[error("the certificate's extended key usage does not allow document signing or e-mail protection")]
    WrongExtendedKeyUsage,
    #[error("the certificate has a critical extension that is not understood")]
    UnknownCriticalExtension,
    #[error("the certificate is a certificate authority's, not a person's")]
    Authority,
    #[error(
        "the certificate was not issued by a trusted certificate authority (no configured authority's signature \
         verifies on it)"
    )]
    UntrustedIssuer,
    #[error("the certificate or its chain uses a signature algorithm that is not supported")]
    UnsupportedAlgorithm,
    #[error("a certificate authority of its chain has expired: {0}")]
    IssuerExpired(String),
    #[error("a certificate authority of its chain is not valid yet: {0}")]
    IssuerNotYetValid(String),
    #[error("a certificate of its chain is not a certificate authority's (basicConstraints) or issues beyond its path length")]
    IssuerNotCa,
    #[error("a certificate authority of its chain ({0}) may not sign certificates (key usage lacks keyCertSign)")]
    IssuerCannotSign(String),
    #[error("this certificate is already bound to an account")]
    AlreadyBound,
}

impl CertError {
    /// Translation key for pages.
    pub fn message_key(&self) -> &'static str {
        match self {
            CertError::NoTrustAnchors => "ct_err_no_anchors",
            CertError::Malformed => "cert_err_malformed",
            CertError::TooLarge => "cert_err_too_large",
            CertError::Expired(_) => "cert_err_expired",
            CertError::NotYetValid(_) => "cert_err_not_yet_valid",
            CertError::NotForSigning => "cert_err_not_for_signing",
            CertError::WrongExtendedKeyUsage => "ct_err_wrong_eku",
            CertError::UnknownCriticalExtension => "ct_err_unknown_critical",
            CertError::Authority => "cert_err_authority",
            CertError::UntrustedIssuer => "cert_err_untrusted",
            CertError::UnsupportedAlgorithm => "ct_err_algorithm",
            CertError::IssuerExpired(_) => "ct_err_issuer_expired",
            CertError::IssuerNotYetValid(_) => "ct_err_issuer_not_yet_valid",
            CertError::IssuerNotCa => "ct_err_issuer_not_ca",
            CertError::IssuerCannotSign(_) => "ct_err_issuer_cannot_sign",
            CertError::AlreadyBound => "cert_err_already_bound",
        }
    }
}

/// What Gerbang keeps of a certificate that validated to a trust anchor.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub der: Vec<u8>,
    pub fingerprint: String,
    pub subject: String,
    pub common_name: String,
    /// The first of `emails`, for callers that show one.
    pub email: Option<String>,
    /// The subject's emailAddress attributes, then the subjectAltName rfc822Names, without repeats.
    pub emails: Vec<String>,
    pub issuer: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    pub non_repudiation: bool,
    /// The certificate that issued it, from the validated path (an intermediate, or the trust
    /// anchor's own certificate): OCSP requests and CRL signatures need it.
    #[serde(skip)]
    pub issuer_der: Vec<u8>,
    /// The OCSP responder its authorityInfoAccess names.
    pub ocsp_url: Option<String>,
    /// Its CRL distribution points (URIs).
    pub crl_urls: Vec<String>,
}

fn date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// PEM text of a DER certificate.
pub fn to_pem(der: &[u8]) -> String {
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der)
            .as_bytes()
            .chunks(64)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23 00:00:00 UTC
    const NOW: i64 = 1_795_392_000;

    #[test]
    fn standing_follows_the_dates_and_revocation() {
        let mut row = CertRow {
            id: "c".into(),
            account_id: "a".into(),
            not_before: NOW - 100 * DAY,
            not_after: NOW + 40 * DAY,
            status: "active".into(),
            ..CertRow::default()
        };
        assert_eq!(standing(&row, NOW, 30), Standing::Valid);
        assert_eq!(standing(&row, NOW + 11 * DAY, 30), Standing::Expiring);
        assert_eq!(standing(&row, NOW + 40 * DAY, 30), Standing::Expired);
        row.status = "revoked".into();
        assert_eq!(standing(&row, NOW, 30), Standing::Revoked);
    }
}
