//! Reading what a person pastes or uploads: PEM (possibly with the chain an export tool puts
//! after the certificate) or bare base64 DER, and the facts a certificate states about itself
//! (names, e-mail addresses, where its revocation status is published).

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP;
use x509_parser::prelude::FromDer;

use super::{CertError, MAX_PEM_BYTES};

/// More certificates than a person's with its whole chain is not an upload of one.
const MAX_CERTIFICATES: usize = 8;

/// The DER of every certificate in the input, the person's first.
pub(super) fn ders_of(input: &str) -> Result<Vec<Vec<u8>>, CertError> {
    let trimmed = input.trim();
    if trimmed.len() > MAX_PEM_BYTES {
        return Err(CertError::TooLarge);
    }
    if trimmed.contains("-----BEGIN") {
        let mut out = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(trimmed.as_bytes()) {
            let pem = pem.map_err(|_| CertError::Malformed)?;
            if pem.label != "CERTIFICATE" {
                return Err(CertError::Malformed);
            }
            out.push(pem.contents);
            if out.len() > MAX_CERTIFICATES {
                return Err(CertError::TooLarge);
            }
        }
        if out.is_empty() {
            return Err(CertError::Malformed);
        }
        return Ok(out);
    }
    // Bare base64 of the DER, as some export tools give it.
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, compact)
        .map_err(|_| CertError::Malformed)?;
    Ok(vec![der])
}

/// Parses one whole DER certificate (nothing may follow it).
pub(super) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(CertError::Malformed),
    }
}

pub(super) fn common_name(cert: &X509Certificate) -> String {
    cert.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).map(String::from).unwrap_or_default()
}

/// The subject's emailAddress attributes, then the subjectAltName's rfc822Names, each once
/// (compared without case).
pub(super) fn emails(cert: &X509Certificate) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |e: &str| {
        let e = e.trim();
        if !e.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(e)) {
            out.push(e.to_string());
        }
    };
    for a in cert.subject().iter_email() {
        if let Ok(e) = a.as_str() {
            add(e);
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::RFC822Name(e) = name {
                add(e);
            }
        }
    }
    out
}

/// The OCSP responder named in authorityInfoAccess (the first HTTP one).
pub(super) fn ocsp_url(cert: &X509Certificate) -> Option<String> {
    cert.extensions().iter().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::AuthorityInfoAccess(aia) => aia.iter().find_map(|d| match &d.access_location {
            GeneralName::URI(u) if d.access_method == OID_PKIX_ACCESS_DESCRIPTOR_OCSP && is_http(u) => {
                Some(u.to_string())
            }
            _ => None,
        }),
        _ => None,
    })
}

/// The CRL distribution points' HTTP URIs (LDAP ones cannot be fetched here).
pub(super) fn crl_urls(cert: &X509Certificate) -> Vec<String> {
    let mut out = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
            for point in points.iter() {
                if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
                    for name in names {
                        if let GeneralName::URI(u) = name {
                            if is_http(u) && !out.iter().any(|o: &String| o == u) {
                                out.push(u.to_string());
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Only these can be fetched, and a space cannot appear in them (the URLs are stored
/// space-separated).
fn is_http(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://")) && !u.contains(char::is_whitespace)
}
