//! Path validation against the configured trust anchors, over hierarchies made for each case
//! (tests/it/pki.rs) and over the fixed BSrE-shaped fixtures.

#[path = "../../tests/it/pki.rs"]
mod pki;

use pki::{Ca, CaOpts, PersonOpts, DAY};
use rcgen::{ExtendedKeyUsagePurpose as Eku, KeyUsagePurpose as Ku};

use super::TrustStore;
use crate::certs::{check, CertError, Checked, SIGNING_EKUS};

const YEAR: i64 = 365 * DAY;

fn now() -> i64 {
    pki::unix_now()
}

fn store(cas: &[&Ca]) -> TrustStore {
    let bundle: String = cas.iter().map(|c| c.cert_pem.as_str()).collect();
    TrustStore::from_pem(bundle.as_bytes()).unwrap()
}

fn siti_opts() -> PersonOpts {
    PersonOpts::new("Siti Rahmawati").email("siti.rahmawati@jemberkab.go.id")
}

/// The usual shape: a root and an issuing CA (both configured), the person under the second.
fn bsre_like() -> (Ca, Ca, TrustStore) {
    let root = Ca::root("Root CA Uji DS G1");
    let ca = root.intermediate("BSRE CA Uji DS G1");
    let trust = store(&[&root, &ca]);
    (root, ca, trust)
}

fn refused(input: &str, trust: &TrustStore) -> CertError {
    check(input, trust, now()).unwrap_err()
}

#[test]
fn a_chain_through_an_intermediate_validates_and_tells_its_facts() {
    let (_, ca, trust) = bsre_like();
    let ocsp = "http://ocsp.uji.example/ocsp";
    let crl = "http://crl.uji.example/bsre.crl";
    let siti = ca.person(siti_opts().ocsp(ocsp).crl(crl));
    let c: Checked = check(&siti.cert_pem, &trust, now()).unwrap();
    assert_eq!(c.common_name, "Siti Rahmawati");
    assert_eq!(c.emails, vec!["siti.rahmawati@jemberkab.go.id".to_string()], "subject and SAN name it once");
    assert_eq!(c.email.as_deref(), Some("siti.rahmawati@jemberkab.go.id"));
    assert_eq!(c.issuer_der, ca.cert_der, "the issuing CA's certificate, from the path");
    assert_eq!((c.ocsp_url.as_deref(), c.crl_urls.clone()), (Some(ocsp), vec![crl.to_string()]));
    assert!(c.non_repudiation);
    assert_eq!(c.serial.replace(':', ""), siti.serial_hex);
    assert_eq!(c.der, siti.cert_der);
    // Bare base64 of the DER is the same certificate.
    let body: String = siti.cert_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(check(&body, &trust, now()).unwrap().fingerprint, c.fingerprint);
}

#[test]
fn an_intermediate_may_come_with_the_certificate_but_a_root_never_does() {
    let root = Ca::root("Root CA Uji DS G1");
    let ca = root.intermediate("BSRE CA Uji DS G1");
    let siti = ca.person(siti_opts());
    let only_root = store(&[&root]);
    assert_eq!(refused(&siti.cert_pem, &only_root), CertError::UntrustedIssuer);
    let chain = format!("{}{}", siti.cert_pem, ca.cert_pem);
    let c = check(&chain, &only_root, now()).unwrap();
    assert_eq!((c.der, c.issuer_der), (siti.cert_der.clone(), ca.cert_der.clone()));
    // A whole chain from an unconfigured root: its root is no anchor for being uploaded.
    let other = Ca::root("Root CA Lain");
    let other_ca = other.intermediate("CA Lain");
    let mallory = other_ca.person(siti_opts());
    let chain = format!("{}{}{}", mallory.cert_pem, other_ca.cert_pem, other.cert_pem);
    assert_eq!(refused(&chain, &only_root), CertError::UntrustedIssuer);
}

#[test]
fn the_persons_own_validity_is_checked() {
    let (_, ca, trust) = bsre_like();
    let t = now();
    let expired = ca.person(siti_opts().valid(t - 3 * YEAR, t - YEAR));
    assert!(matches!(refused(&expired.cert_pem, &trust), CertError::Expired(_)));
    let early = ca.person(siti_opts().valid(t + DAY, t + 2 * YEAR));
    assert!(matches!(refused(&early.cert_pem, &trust), CertError::NotYetValid(_)));
}

#[test]
fn an_expired_or_not_yet_valid_ca_breaks_the_chain() {
    let t = now();
    let root = Ca::root("Root CA Uji DS G1");
    let old = root.intermediate_with(
        "BSRE CA Lama",
        CaOpts { not_before: t - 5 * YEAR, not_after: t - DAY, ..CaOpts::default() },
    );
    let siti_old = old.person(siti_opts());
    let trust = store(&[&root, &old]);
    match refused(&siti_old.cert_pem, &trust) {
        CertError::IssuerExpired(what) => assert!(what.contains("BSRE CA Lama"), "{what}"),
        other => panic!("expired intermediate: {other:?}"),
    }
    let future = root.intermediate_with("BSRE CA Baru", CaOpts { not_before: t + DAY, ..CaOpts::default() });
    let trust = store(&[&root, &future]);
    let e = refused(&future.person(siti_opts()).cert_pem, &trust);
    assert!(matches!(&e, CertError::IssuerNotYetValid(what) if what.contains("BSRE CA Baru")), "{e:?}");
    assert_eq!(e.message_key(), "ct_err_issuer_not_yet_valid");
    // The root itself expired: webpki's anchors carry no dates, the path check reads them.
    let dead_root =
        Ca::root_with("Root CA Tua", CaOpts { not_before: t - 10 * YEAR, not_after: t - DAY, ..CaOpts::default() });
    let trust = store(&[&dead_root]);
    match refused(&dead_root.person(siti_opts()).cert_pem, &trust) {
        CertError::IssuerExpired(what) => assert!(what.contains("Root CA Tua"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_ca_that_is_not_a_ca_or_may_not_sign_certificates_is_refused() {
    let root = Ca::root("Root CA Uji DS G1");
    let trust = store(&[&root]);
    let not_ca = root.intermediate_with("Bukan CA", CaOpts { is_ca: false, ..CaOpts::default() });
    let chain = format!("{}{}", not_ca.person(siti_opts()).cert_pem, not_ca.cert_pem);
    assert_eq!(refused(&chain, &trust), CertError::IssuerNotCa);
    let no_sign = root.intermediate_with(
        "CA Tanpa keyCertSign",
        CaOpts { key_usages: vec![Ku::DigitalSignature, Ku::CrlSign], ..CaOpts::default() },
    );
    let chain = format!("{}{}", no_sign.person(siti_opts()).cert_pem, no_sign.cert_pem);
    assert_eq!(refused(&chain, &trust), CertError::IssuerCannotSign("CA Tanpa keyCertSign".into()));
    // Neither may be configured: start-up names the certificate and what it lacks.
    let err = TrustStore::from_pem(format!("{}{}", root.cert_pem, not_ca.cert_pem).as_bytes()).unwrap_err();
    assert!(err.to_string().contains("Bukan CA") && err.to_string().contains("not a certificate authority"), "{err}");
    let err = TrustStore::from_pem(format!("{}{}", root.cert_pem, no_sign.cert_pem).as_bytes()).unwrap_err();
    assert!(err.to_string().contains("keyCertSign"), "{err}");
}

#[test]
fn key_usage_must_allow_signatures() {
    let (_, ca, trust) = bsre_like();
    let enc = ca.person(siti_opts().usages(vec![Ku::KeyEncipherment]));
    assert_eq!(refused(&enc.cert_pem, &trust), CertError::NotForSigning);
    let none = ca.person(siti_opts().usages(vec![]));
    assert_eq!(refused(&none.cert_pem, &trust), CertError::NotForSigning, "no key usage at all");
    let nr_only = ca.person(siti_opts().usages(vec![Ku::ContentCommitment]));
    assert!(check(&nr_only.cert_pem, &trust, now()).unwrap().non_repudiation);
    let ds_only = ca.person(siti_opts().usages(vec![Ku::DigitalSignature]));
    assert!(!check(&ds_only.cert_pem, &trust, now()).unwrap().non_repudiation);
}

#[test]
fn extended_key_usage_when_present_must_name_signing() {
    let (_, ca, trust) = bsre_like();
    let server = ca.person(siti_opts().eku(vec![Eku::ServerAuth]));
    assert_eq!(refused(&server.cert_pem, &trust), CertError::WrongExtendedKeyUsage);
    let document = ca.person(siti_opts().eku(vec![Eku::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 36])]));
    assert!(check(&document.cert_pem, &trust, now()).is_ok(), "documentSigning");
    let mail = ca.person(siti_opts().eku(vec![Eku::ServerAuth, Eku::EmailProtection]));
    assert!(check(&mail.cert_pem, &trust, now()).is_ok(), "emailProtection among others");
    for oid in [vec![1, 2, 840, 113583, 1, 1, 5], vec![1, 3, 6, 1, 4, 1, 311, 10, 3, 12]] {
        let p = ca.person(siti_opts().eku(vec![Eku::Other(oid.clone())]));
        assert!(check(&p.cert_pem, &trust, now()).is_ok(), "{oid:?}");
    }
}

#[test]
fn the_signing_ekus_are_encoded_as_listed() {
    for (dotted, der) in SIGNING_EKUS.iter().zip(crate::certs::path::SIGNING_EKU_DER) {
        assert_eq!(der::asn1::ObjectIdentifier::from_bytes(der).unwrap().to_string(), *dotted);
    }
}

#[test]
fn an_unknown_critical_extension_is_refused() {
    let (_, ca, trust) = bsre_like();
    let odd = ca.person(siti_opts().unknown_critical());
    assert_eq!(refused(&odd.cert_pem, &trust), CertError::UnknownCriticalExtension);
}

#[test]
fn an_unknown_issuer_or_an_impostor_with_the_same_name_is_untrusted() {
    let (root, ca, trust) = bsre_like();
    let stranger = Ca::root("Root CA Asing").intermediate("CA Asing");
    assert_eq!(refused(&stranger.person(siti_opts()).cert_pem, &trust), CertError::UntrustedIssuer);
    // Same names as the configured ones, other keys: the signatures do not verify.
    let impostor_root = Ca::root(&root.name);
    let impostor_ca = impostor_root.intermediate(&ca.name);
    let forged = impostor_ca.person(siti_opts());
    assert_eq!(refused(&forged.cert_pem, &trust), CertError::UntrustedIssuer);
    let chain = format!("{}{}", forged.cert_pem, impostor_ca.cert_pem);
    assert_eq!(refused(&chain, &trust), CertError::UntrustedIssuer, "with its own intermediate uploaded");
    assert!(refused(&chain, &trust).to_string().contains("signature"));
    // The right issuer, a changed signature.
    let mut der = ca.person(siti_opts()).cert_der;
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
    assert_eq!(refused(&b64, &trust), CertError::UntrustedIssuer);
}

#[test]
fn both_cas_of_a_rollover_are_tried() {
    let old_root = Ca::root("Root CA Uji DS G1");
    let new_root = Ca::root("Root CA Uji DS G1");
    let old_ca = old_root.intermediate("BSRE CA Uji DS G1");
    let new_ca = new_root.intermediate("BSRE CA Uji DS G1");
    let trust = store(&[&new_root, &new_ca, &old_root, &old_ca]);
    let a = old_ca.person(siti_opts());
    let b = new_ca.person(PersonOpts::new("Agus Prasetyo"));
    assert_eq!(check(&a.cert_pem, &trust, now()).unwrap().issuer_der, old_ca.cert_der);
    assert_eq!(check(&b.cert_pem, &trust, now()).unwrap().issuer_der, new_ca.cert_der);
    // Issued straight by a root: the issuer is the anchor's own certificate.
    let direct = old_root.person(siti_opts());
    assert_eq!(check(&direct.cert_pem, &trust, now()).unwrap().issuer_der, old_root.cert_der);
}

#[test]
fn without_anchors_nothing_is_checked() {
    let (_, ca, _) = bsre_like();
    let siti = ca.person(siti_opts());
    assert_eq!(refused(&siti.cert_pem, &TrustStore::empty()), CertError::NoTrustAnchors);
    assert!(!TrustStore::empty().is_configured());
    let err = TrustStore::from_pem(b"no certificates here").unwrap_err();
    assert!(err.to_string().contains("no certificate"), "{err}");
    let err = TrustStore::from_pem(siti.cert_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("not a certificate authority"), "{err}");
    let err = TrustStore::from_pem(ca.cert_pem.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("no self-signed root"), "{err}");
    let stray = Ca::root("Root Lain").intermediate("CA Yatim");
    let err =
        TrustStore::from_pem(format!("{}{}", Ca::root("Root A").cert_pem, stray.cert_pem).as_bytes()).unwrap_err();
    assert!(err.to_string().contains("CA Yatim") && err.to_string().contains("not in the file"), "{err}");
}

#[test]
fn a_ca_certificate_is_not_a_persons() {
    let (root, ca, trust) = bsre_like();
    assert_eq!(refused(&ca.cert_pem, &trust), CertError::Authority);
    assert_eq!(refused(&root.cert_pem, &trust), CertError::Authority);
}

mod fixtures {
    //! The BSrE-shaped certificates in tests/fixtures/certs (tests/fixtures/certs/make.py),
    //! also used by the integration and browser suites.
    use super::*;

    const SITI: &str = include_str!("../../tests/fixtures/certs/siti.pem");
    const AGUS: &str = include_str!("../../tests/fixtures/certs/agus.pem");
    const EXPIRED: &str = include_str!("../../tests/fixtures/certs/expired.pem");
    const ENCRYPTION: &str = include_str!("../../tests/fixtures/certs/encryption-only.pem");
    const CA: &str = include_str!("../../tests/fixtures/certs/ca.pem");
    const IMPOSTOR: &str = include_str!("../../tests/fixtures/certs/impostor-ca.pem");
    // 2026-11-23 00:00:00 UTC
    const NOW: i64 = 1_795_392_000;

    fn trust() -> TrustStore {
        TrustStore::from_pem(CA.as_bytes()).unwrap()
    }

    #[test]
    fn a_fixture_person_certificate_is_read_with_its_facts() {
        let c = check(SITI, &trust(), NOW).unwrap();
        assert_eq!(c.common_name, "Siti Rahmawati");
        assert_eq!(c.email.as_deref(), Some("siti.rahmawati@jemberkab.go.id"));
        assert!(c.issuer.contains("BSRE CA DS G1 UJI"), "{}", c.issuer);
        assert!(c.non_repudiation);
        assert_eq!(c.fingerprint.len(), 64);
        assert_eq!(crate::certs::date(c.not_after), "2035-06-01");
        assert!(c.ocsp_url.is_none() && c.crl_urls.is_empty());
        assert!(check(AGUS, &trust(), NOW).is_ok());
    }

    #[test]
    fn unusable_fixtures_are_refused_with_the_reason() {
        let t = trust();
        assert_eq!(check(EXPIRED, &t, NOW).unwrap_err(), CertError::Expired("2021-01-01".into()));
        assert_eq!(check(SITI, &t, 1_700_000_000).unwrap_err(), CertError::NotYetValid("2025-06-01".into()));
        assert_eq!(check(ENCRYPTION, &t, NOW).unwrap_err(), CertError::NotForSigning);
        assert_eq!(check(CA, &t, NOW).unwrap_err(), CertError::Authority);
        assert_eq!(
            check("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----", &t, NOW).unwrap_err(),
            CertError::Malformed
        );
        assert_eq!(check("hello", &t, NOW).unwrap_err(), CertError::Malformed);
        assert_eq!(check(&"A".repeat(crate::certs::MAX_PEM_BYTES + 1), &t, NOW).unwrap_err(), CertError::TooLarge);
        let mut tampered = SITI.to_string();
        tampered.replace_range(200..201, if &SITI[200..201] == "A" { "B" } else { "A" });
        assert!(check(&tampered, &t, NOW).is_err(), "a changed byte breaks parsing or the signature");
        // The impostor CA has the fixture CA's name and another key.
        let impostor = TrustStore::from_pem(IMPOSTOR.as_bytes()).unwrap();
        assert_eq!(check(SITI, &impostor, NOW).unwrap_err(), CertError::UntrustedIssuer);
    }
}

#[test]
fn every_refusal_is_translated() {
    let all = [
        CertError::NoTrustAnchors,
        CertError::Malformed,
        CertError::TooLarge,
        CertError::Expired(String::new()),
        CertError::NotYetValid(String::new()),
        CertError::NotForSigning,
        CertError::WrongExtendedKeyUsage,
        CertError::UnknownCriticalExtension,
        CertError::Authority,
        CertError::UntrustedIssuer,
        CertError::UnsupportedAlgorithm,
        CertError::IssuerExpired(String::new()),
        CertError::IssuerNotYetValid(String::new()),
        CertError::IssuerNotCa,
        CertError::IssuerCannotSign(String::new()),
        CertError::AlreadyBound,
    ];
    for locale in
        [include_str!("../../themes/default/locales/id.json"), include_str!("../../themes/default/locales/en.json")]
    {
        let texts: serde_json::Value = serde_json::from_str(locale).unwrap();
        for e in &all {
            assert!(texts[e.message_key()].is_string(), "{} has no text", e.message_key());
        }
    }
}
