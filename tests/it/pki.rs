//! A certificate hierarchy made for the tests with rcgen: roots, intermediates, person
//! certificates with chosen dates, key usages, extended key usages, critical extensions and
//! revocation pointers, and CRLs. Self-contained (rcgen, time, std) so unit tests in `src/` can
//! include it with `#[path]` too.
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint, CustomExtension,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};

pub const DAY: i64 = 86_400;

pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn at(ts: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(ts).expect("timestamp in range")
}

fn serial() -> SerialNumber {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // Unique within the process and across processes (time in the high bytes).
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(&(unix_now() as u64).to_be_bytes()[4..]);
    bytes.extend_from_slice(&(std::process::id()).to_be_bytes());
    bytes.extend_from_slice(&n.to_be_bytes());
    SerialNumber::from_slice(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// DER of an AuthorityInfoAccess extension value naming one OCSP responder.
fn aia_ocsp(url: &str) -> Vec<u8> {
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = body.len();
        if n < 0x80 {
            out.push(n as u8);
        } else if n < 0x100 {
            out.extend_from_slice(&[0x81, n as u8]);
        } else {
            out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
        }
        out.extend_from_slice(body);
        out
    }
    // id-ad-ocsp 1.3.6.1.5.5.7.48.1
    let oid = tlv(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01]);
    let location = tlv(0x86, url.as_bytes());
    let description = tlv(0x30, &[oid, location].concat());
    tlv(0x30, &description)
}

/// How a CA is made.
#[derive(Clone)]
pub struct CaOpts {
    pub not_before: i64,
    pub not_after: i64,
    /// false: basicConstraints CA:FALSE (a person's certificate used as if it were a CA).
    pub is_ca: bool,
    /// Key usages; keyCertSign and cRLSign unless changed.
    pub key_usages: Vec<KeyUsagePurpose>,
    /// An RSA key (2048) instead of ECDSA P-256.
    pub rsa: bool,
}

impl Default for CaOpts {
    fn default() -> Self {
        let now = unix_now();
        CaOpts {
            not_before: now - 365 * DAY,
            not_after: now + 10 * 365 * DAY,
            is_ca: true,
            key_usages: vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature],
            rsa: false,
        }
    }
}

/// How a person's certificate is made.
#[derive(Clone)]
pub struct PersonOpts {
    pub name: String,
    pub email: Option<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub key_usages: Vec<KeyUsagePurpose>,
    pub extended_key_usages: Vec<ExtendedKeyUsagePurpose>,
    /// Adds a critical extension of an OID nobody knows.
    pub unknown_critical: bool,
    pub rsa: bool,
    pub ocsp_url: Option<String>,
    pub crl_url: Option<String>,
}

impl PersonOpts {
    pub fn new(name: &str) -> PersonOpts {
        let now = unix_now();
        PersonOpts {
            name: name.into(),
            email: None,
            not_before: now - DAY,
            not_after: now + 2 * 365 * DAY,
            key_usages: vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment],
            extended_key_usages: Vec::new(),
            unknown_critical: false,
            rsa: true,
            ocsp_url: None,
            crl_url: None,
        }
    }
    pub fn email(mut self, e: &str) -> Self {
        self.email = Some(e.into());
        self
    }
    pub fn valid(mut self, not_before: i64, not_after: i64) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }
    pub fn usages(mut self, u: Vec<KeyUsagePurpose>) -> Self {
        self.key_usages = u;
        self
    }
    pub fn eku(mut self, e: Vec<ExtendedKeyUsagePurpose>) -> Self {
        self.extended_key_usages = e;
        self
    }
    pub fn unknown_critical(mut self) -> Self {
        self.unknown_critical = true;
        self
    }
    pub fn ecdsa(mut self) -> Self {
        self.rsa = false;
        self
    }
    pub fn ocsp(mut self, url: &str) -> Self {
        self.ocsp_url = Some(url.into());
        self
    }
    pub fn crl(mut self, url: &str) -> Self {
        self.crl_url = Some(url.into());
        self
    }
}

fn new_key(rsa: bool) -> KeyPair {
    if rsa {
        KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).expect("rsa key")
    } else {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ec key")
    }
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "ID");
    dn.push(DnType::OrganizationName, "Gerbang Uji");
    dn.push(DnType::CommonName, cn);
    dn
}

/// A certificate authority: its certificate and the key it signs with.
pub struct Ca {
    pub name: String,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key: KeyPair,
    params: CertificateParams,
}

/// A person's certificate with its private key (PKCS#8 PEM, for `openssl`).
pub struct Person {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
    /// Lower-case hex of the serial number's bytes.
    pub serial_hex: String,
    serial: SerialNumber,
}

fn ca_params(cn: &str, o: &CaOpts) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(cn);
    p.not_before = at(o.not_before);
    p.not_after = at(o.not_after);
    p.serial_number = Some(serial());
    p.is_ca = if o.is_ca { IsCa::Ca(BasicConstraints::Unconstrained) } else { IsCa::ExplicitNoCa };
    p.key_usages = o.key_usages.clone();
    p.key_identifier_method = KeyIdMethod::Sha256;
    p.use_authority_key_identifier_extension = true;
    p
}

impl Ca {
    pub fn root(cn: &str) -> Ca {
        Ca::root_with(cn, CaOpts::default())
    }

    pub fn root_with(cn: &str, o: CaOpts) -> Ca {
        let key = new_key(o.rsa);
        let params = ca_params(cn, &o);
        let cert = params.self_signed(&key).expect("self-signed CA");
        Ca { name: cn.into(), cert_pem: cert.pem(), cert_der: cert.der().to_vec(), key, params }
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    pub fn intermediate(&self, cn: &str) -> Ca {
        self.intermediate_with(cn, CaOpts::default())
    }

    pub fn intermediate_with(&self, cn: &str, o: CaOpts) -> Ca {
        let key = new_key(o.rsa);
        let params = ca_params(cn, &o);
        let cert = params.signed_by(&key, &self.issuer()).expect("intermediate");
        Ca { name: cn.into(), cert_pem: cert.pem(), cert_der: cert.der().to_vec(), key, params }
    }

    pub fn person(&self, o: PersonOpts) -> Person {
        let key = new_key(o.rsa);
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "ID");
        dn.push(DnType::CommonName, o.name.as_str());
        p.distinguished_name = dn;
        if let Some(e) = &o.email {
            p.distinguished_name.push(DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]), e.as_str());
            p.subject_alt_names = vec![SanType::Rfc822Name(e.as_str().try_into().expect("ia5 e-mail"))];
        }
        p.not_before = at(o.not_before);
        p.not_after = at(o.not_after);
        let sn = serial();
        p.serial_number = Some(sn.clone());
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = o.key_usages.clone();
        p.extended_key_usages = o.extended_key_usages.clone();
        p.use_authority_key_identifier_extension = true;
        if let Some(u) = &o.crl_url {
            p.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![u.clone()] }];
        }
        if let Some(u) = &o.ocsp_url {
            p.custom_extensions.push(CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], aia_ocsp(u)));
        }
        if o.unknown_critical {
            let mut ext = CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
            ext.set_criticality(true);
            p.custom_extensions.push(ext);
        }
        let cert = p.signed_by(&key, &self.issuer()).expect("person certificate");
        Person {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            serial_hex: hex(sn.as_ref()),
            serial: sn,
        }
    }

    /// A DER CRL listing `revoked`, issued `this_update` and due again at `next_update`.
    pub fn crl(&self, revoked: &[&Person], this_update: i64, next_update: i64) -> Vec<u8> {
        let params = CertificateRevocationListParams {
            this_update: at(this_update),
            next_update: at(next_update),
            crl_number: serial(),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|p| RevokedCertParams {
                    serial_number: p.serial.clone(),
                    revocation_time: at(this_update - 60),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer()).expect("CRL").der().to_vec()
    }

    /// The key as PKCS#8 PEM (for `openssl ocsp -rkey`).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}
