//! The trust anchors electronic certificates must chain to (`certificate_issuers`): one PEM
//! bundle of roots and intermediates (production: `Root CA Indonesia DS G1` and
//! `BSRE CA DS G1`). Self-signed certificates are anchors, the others intermediates offered to
//! path building. Without anchors binding is not offered at all: a certificate is a public
//! document, so anything short of a validated path proves nothing.

use std::path::Path;

use rustls_pki_types::{CertificateDer, TrustAnchor};
use x509_parser::certificate::X509Certificate;

use super::read;

/// The configured roots and intermediates.
#[derive(Debug, Default)]
pub struct TrustStore {
    /// What webpki needs of each root (name, key, name constraints)…
    anchors: Vec<TrustAnchor<'static>>,
    /// …and, at the same index, the root's certificate: webpki does not look at a trust
    /// anchor's validity or key usage, so the path check does (and OCSP needs the issuer).
    anchor_certs: Vec<Vec<u8>>,
    intermediates: Vec<Vec<u8>>,
    /// The subjects, for the start-up log.
    names: Vec<String>,
}

impl TrustStore {
    /// No anchors: binding is refused with [`super::CertError::NoTrustAnchors`].
    pub fn empty() -> TrustStore {
        TrustStore::default()
    }

    /// Reads the `certificate_issuers` file; every problem names the setting and the file.
    pub fn load(path: &Path) -> anyhow::Result<TrustStore> {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("certificate_issuers {}: {e}", path.display()))?;
        TrustStore::from_pem(&bytes).map_err(|e| anyhow::anyhow!("certificate_issuers {}: {e}", path.display()))
    }

    /// A PEM bundle of certificate authorities. Refused: a bundle with no certificate, no
    /// self-signed root, a certificate that is not a CA's or may not sign certificates, or an
    /// intermediate whose issuer is not in the bundle (it could never complete a path).
    pub fn from_pem(bytes: &[u8]) -> anyhow::Result<TrustStore> {
        let mut ders = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
            let pem = pem.map_err(|e| anyhow::anyhow!("not a PEM file: {e}"))?;
            if pem.label == "CERTIFICATE" {
                ders.push(pem.contents);
            }
        }
        if ders.is_empty() {
            anyhow::bail!("no certificate in the file (expected PEM `-----BEGIN CERTIFICATE-----` blocks)");
        }
        let mut store = TrustStore::default();
        let mut subjects: Vec<Vec<u8>> = Vec::new();
        let mut issuers: Vec<(String, Vec<u8>)> = Vec::new();
        for (i, der) in ders.iter().enumerate() {
            let cert = read::parse(der)
                .map_err(|_| anyhow::anyhow!("certificate {} is not a valid X.509 certificate", i + 1))?;
            let name = cert.subject().to_string();
            if !cert.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca) {
                anyhow::bail!("`{name}` is not a certificate authority (basicConstraints CA:TRUE is missing); the bundle holds only the CAs' certificates (roots and intermediates), not people's");
            }
            if !can_sign_certificates(&cert) {
                anyhow::bail!("`{name}` may not sign certificates (its key usage lacks keyCertSign)");
            }
            subjects.push(cert.subject().as_raw().to_vec());
            if cert.subject().as_raw() == cert.issuer().as_raw() {
                let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                    .map_err(|e| anyhow::anyhow!("`{name}` cannot be a trust anchor: {e:?}"))?
                    .to_owned();
                store.anchors.push(anchor);
                store.anchor_certs.push(der.clone());
            } else {
                issuers.push((name.clone(), cert.issuer().as_raw().to_vec()));
                store.intermediates.push(der.clone());
            }
            store.names.push(name);
        }
        if store.anchors.is_empty() {
            anyhow::bail!("no self-signed root certificate in the file: add the root (e.g. `Root CA Indonesia DS G1`) besides the intermediates");
        }
        for (name, issuer) in &issuers {
            if !subjects.contains(issuer) {
                anyhow::bail!("the issuer of `{name}` is not in the file: add its root and any intermediates between");
            }
        }
        Ok(store)
    }

    /// Whether any anchor is configured (binding is offered only then).
    pub fn is_configured(&self) -> bool {
        !self.anchors.is_empty()
    }

    /// The configured authorities' subjects, roots and intermediates.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub(super) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// The certificate of the anchor at this index in [`TrustStore::anchors`].
    pub(super) fn anchor_cert(&self, index: usize) -> Option<&[u8]> {
        self.anchor_certs.get(index).map(Vec::as_slice)
    }

    pub(super) fn intermediates(&self) -> impl Iterator<Item = &[u8]> {
        self.intermediates.iter().map(Vec::as_slice)
    }
}

/// A CA certificate's key usage allows certificate signing. RFC 5280 4.2.1.3 requires the
/// extension in CA certificates, so its absence counts as no.
pub(super) fn can_sign_certificates(cert: &X509Certificate) -> bool {
    matches!(cert.key_usage(), Ok(Some(ku)) if ku.value.key_cert_sign())
}

#[cfg(test)]
#[path = "trust_tests.rs"]
mod tests;
