//! OCSP (RFC 6960): the request for one certificate (CertID with SHA-1, what responders index
//! by), and the checks on the answer: a successful basic response, signed by the issuer itself
//! or by a responder certificate the issuer gave the OCSPSigning purpose (validated by
//! rustls-webpki), about this very CertID, current (thisUpdate not in the future beyond a
//! leeway, nextUpdate not past). HTTP goes through the `reqwest::Client` the caller passes.

use std::time::Duration;

use der::asn1::{Any, OctetString};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request, TbsRequest,
};

use super::signed::{self, PublicKey};

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-kp-OCSPSigning, 1.3.6.1.5.5.7.3.9, as webpki wants it (the OID's content bytes).
const OCSP_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09];
/// Responders' clocks differ from ours.
pub const LEEWAY: i64 = 300;
/// An OCSP response for one certificate is a few kilobytes.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    #[error("the certificate or its issuer cannot be read")]
    Certificate,
    #[error("the responder could not be reached: {0}")]
    Unreachable(String),
    #[error("the responder did not answer within {0} ms")]
    Timeout(u128),
    #[error("the responder answered HTTP {0}")]
    Http(u16),
    #[error("the response is not a well-formed OCSP response")]
    Malformed,
    #[error("the responder refused the request ({0})")]
    Refused(String),
    #[error("the response is not signed by the issuer or a responder it authorised")]
    BadSignature,
    #[error("the response is about another certificate")]
    WrongCertificate,
    #[error("the response is not current (thisUpdate {this_update}, nextUpdate {next_update:?})")]
    Stale { this_update: i64, next_update: Option<i64> },
}

/// What the responder said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspStatus {
    Good,
    Revoked { at: i64, reason: String },
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspAnswer {
    pub status: OcspStatus,
    pub this_update: i64,
    pub next_update: Option<i64>,
}

fn sha1(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref().to_vec()
}

/// The CertID of `cert` (DER) issued by `issuer` (DER).
pub fn cert_id(cert_der: &[u8], issuer_der: &[u8]) -> Result<CertId, OcspError> {
    let cert = Certificate::from_der(cert_der).map_err(|_| OcspError::Certificate)?;
    let issuer = Certificate::from_der(issuer_der).map_err(|_| OcspError::Certificate)?;
    let name = cert.tbs_certificate.issuer.to_der().map_err(|_| OcspError::Certificate)?;
    let key = issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned { oid: SHA1, parameters: Some(Any::null()) },
        issuer_name_hash: OctetString::new(sha1(&name)).map_err(|_| OcspError::Certificate)?,
        issuer_key_hash: OctetString::new(sha1(key)).map_err(|_| OcspError::Certificate)?,
        serial_number: cert.tbs_certificate.serial_number.clone(),
    })
}

/// The DER of an unsigned request for one CertID.
pub fn request(id: &CertId) -> Result<Vec<u8>, OcspError> {
    let req = OcspRequest {
        tbs_request: TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![Request { req_cert: id.clone(), single_request_extensions: None }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    req.to_der().map_err(|_| OcspError::Certificate)
}

fn gtime(t: &x509_ocsp::OcspGeneralizedTime) -> i64 {
    t.0.to_unix_duration().as_secs() as i64
}

/// Whether `responder` (DER) is a certificate `issuer` (DER) issued for signing OCSP responses,
/// valid at `now`.
fn authorised_responder(responder: &[u8], issuer: &[u8], now: i64) -> bool {
    let der = CertificateDer::from(responder);
    let Ok(ee) = webpki::EndEntityCert::try_from(&der) else {
        return false;
    };
    let issuer = CertificateDer::from(issuer);
    let Ok(anchor) = webpki::anchor_from_trusted_cert(&issuer) else {
        return false;
    };
    let time = UnixTime::since_unix_epoch(Duration::from_secs(now.max(0) as u64));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        time,
        webpki::KeyUsage::required(OCSP_SIGNING),
        None,
        None,
    )
    .is_ok()
}

/// Checks a response (DER body) to the request for `id` about a certificate issued by `issuer`.
pub fn parse_response(body: &[u8], id: &CertId, issuer_der: &[u8], now: i64) -> Result<OcspAnswer, OcspError> {
    let resp = OcspResponse::from_der(body).map_err(|_| OcspError::Malformed)?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Err(OcspError::Refused(format!("{:?}", resp.response_status)));
    }
    let bytes = resp.response_bytes.ok_or(OcspError::Malformed)?;
    if bytes.response_type != OCSP_BASIC {
        return Err(OcspError::Malformed);
    }
    let raw = bytes.response.as_bytes();
    let basic = BasicOcspResponse::from_der(raw).map_err(|_| OcspError::Malformed)?;
    let signed = signed::split(raw).ok_or(OcspError::Malformed)?;
    let by_issuer = PublicKey::of_cert(issuer_der).is_some_and(|k| k.verifies(&signed));
    let by_delegate = || {
        basic.certs.iter().flatten().filter_map(|c| c.to_der().ok()).any(|c| {
            authorised_responder(&c, issuer_der, now) && PublicKey::of_cert(&c).is_some_and(|k| k.verifies(&signed))
        })
    };
    if !(by_issuer || by_delegate()) {
        return Err(OcspError::BadSignature);
    }
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| {
            r.cert_id.hash_algorithm.oid == id.hash_algorithm.oid
                && r.cert_id.issuer_name_hash == id.issuer_name_hash
                && r.cert_id.issuer_key_hash == id.issuer_key_hash
                && r.cert_id.serial_number == id.serial_number
        })
        .ok_or(OcspError::WrongCertificate)?;
    let this_update = gtime(&single.this_update);
    let next_update = single.next_update.as_ref().map(gtime);
    if this_update > now + LEEWAY || next_update.is_some_and(|n| n < now - LEEWAY) {
        return Err(OcspError::Stale { this_update, next_update });
    }
    let status = match &single.cert_status {
        CertStatus::Good(_) => OcspStatus::Good,
        CertStatus::Revoked(info) => OcspStatus::Revoked {
            at: gtime(&info.revocation_time),
            reason: info.revocation_reason.map(|r| format!("{r:?}")).unwrap_or_else(|| "Unspecified".into()),
        },
        CertStatus::Unknown(_) => OcspStatus::Unknown,
    };
    Ok(OcspAnswer { status, this_update, next_update })
}

/// Asks the responder at `url` about `cert` (DER) issued by `issuer` (DER), waiting at most
/// `timeout` for the whole exchange.
pub async fn query(
    http: &reqwest::Client,
    url: &str,
    cert_der: &[u8],
    issuer_der: &[u8],
    timeout: Duration,
    now: i64,
) -> Result<OcspAnswer, OcspError> {
    let id = cert_id(cert_der, issuer_der)?;
    let body = request(&id)?;
    let exchange = async {
        let res = http
            .post(url)
            .header("content-type", "application/ocsp-request")
            .header("accept", "application/ocsp-response")
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(e, timeout))?;
        if !res.status().is_success() {
            return Err(OcspError::Http(res.status().as_u16()));
        }
        // Refused before reading when announced too large; otherwise the timeout bounds it.
        if res.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(OcspError::Malformed);
        }
        let bytes = res.bytes().await.map_err(|e| unreachable(e, timeout))?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(OcspError::Malformed);
        }
        Ok(bytes)
    };
    let bytes =
        tokio::time::timeout(timeout, exchange).await.map_err(|_| OcspError::Timeout(timeout.as_millis()))??;
    parse_response(&bytes, &id, issuer_der, now)
}

/// The OCSP responder the certificate names (AuthorityInfoAccess, http/https only).
pub fn responder_url(cert_der: &[u8]) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der).ok()?;
    super::read::ocsp_url(&cert)
}

fn unreachable(e: reqwest::Error, timeout: Duration) -> OcspError {
    if e.is_timeout() {
        OcspError::Timeout(timeout.as_millis())
    } else {
        OcspError::Unreachable(e.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_responses_are_refused_without_a_panic() {
        let id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned { oid: SHA1, parameters: Some(Any::null()) },
            issuer_name_hash: OctetString::new(vec![1; 20]).unwrap(),
            issuer_key_hash: OctetString::new(vec![2; 20]).unwrap(),
            serial_number: x509_cert::serial_number::SerialNumber::new(&[1]).unwrap(),
        };
        assert!(request(&id).unwrap().len() > 40);
        for bad in [&b""[..], b"\x30\x03\x0a\x01\x00", b"\x30\x03\x0a\x01\x03", b"\x30\x80", b"garbage"] {
            assert!(parse_response(bad, &id, b"", 0).is_err());
        }
        // "try later" is a refusal, named.
        assert_eq!(
            parse_response(b"\x30\x03\x0a\x01\x03", &id, b"", 0).unwrap_err(),
            OcspError::Refused("TryLater".into())
        );
        assert_eq!(cert_id(b"x", b"y").unwrap_err(), OcspError::Certificate);
        assert!(responder_url(b"x").is_none());
    }
}
