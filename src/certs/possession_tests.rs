use super::*;

#[path = "../../tests/it/pki.rs"]
mod pki;

use pki::{Ca, Person, PersonOpts};
use proptest::prelude::*;

const CHALLENGE: &str = "Gerbang: bukti kepemilikan sertifikat untuk a - 0123456789abcdef - 2026-01-01T00:00:00Z";

/// Runs `openssl` with files in a temporary directory: the challenge, the certificate and key.
fn openssl(p: &Person, args: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tantangan.txt"), CHALLENGE).unwrap();
    std::fs::write(dir.path().join("sertifikat.pem"), &p.cert_pem).unwrap();
    std::fs::write(dir.path().join("kunci.pem"), &p.key_pem).unwrap();
    let out = std::process::Command::new("openssl").args(args).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(dir.path().join("out")).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn raw(p: &Person, extra: &[&str]) -> String {
    let mut args = vec!["dgst", "-sha256", "-sign", "kunci.pem", "-out", "out"];
    args.extend_from_slice(extra);
    args.push("tantangan.txt");
    b64(&openssl(p, &args))
}

fn cms(p: &Person, extra: &[&str]) -> String {
    let mut args = vec![
        "cms",
        "-sign",
        "-binary",
        "-in",
        "tantangan.txt",
        "-signer",
        "sertifikat.pem",
        "-inkey",
        "kunci.pem",
        "-outform",
        "PEM",
        "-out",
        "out",
    ];
    args.extend_from_slice(extra);
    String::from_utf8(openssl(p, &args)).unwrap()
}

#[test]
fn raw_signatures_of_each_kind_prove_possession() {
    let ca = Ca::root("Root Uji");
    let rsa = ca.person(PersonOpts::new("Siti"));
    let ec = ca.person(PersonOpts::new("Budi").ecdsa());
    let c = CHALLENGE.as_bytes();
    assert_eq!(verify(&rsa.cert_der, c, &raw(&rsa, &[])), Ok(ProofKind::Signature));
    assert_eq!(verify(&rsa.cert_der, c, &raw(&rsa, &["-sigopt", "rsa_padding_mode:pss"])), Ok(ProofKind::Signature));
    let digest_salt = raw(&rsa, &["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]);
    assert_eq!(verify(&rsa.cert_der, c, &digest_salt), Ok(ProofKind::Signature));
    assert_eq!(verify(&ec.cert_der, c, &raw(&ec, &[])), Ok(ProofKind::Signature));
    // Line breaks in the pasted base64 do not matter.
    let sig = raw(&ec, &[]);
    let wrapped = sig.as_bytes().chunks(20).map(|l| std::str::from_utf8(l).unwrap()).collect::<Vec<_>>().join("\n");
    assert_eq!(verify(&ec.cert_der, c, &wrapped), Ok(ProofKind::Signature));
    // Another key, another text.
    assert_eq!(verify(&ec.cert_der, c, &raw(&rsa, &[])), Err(PossessionError::WrongKey));
    assert_eq!(verify(&rsa.cert_der, b"something else", &raw(&rsa, &[])), Err(PossessionError::WrongKey));
}

#[test]
fn cms_signatures_prove_possession_and_name_their_signer() {
    let ca = Ca::root("Root Uji");
    let rsa = ca.person(PersonOpts::new("Siti"));
    let ec = ca.person(PersonOpts::new("Budi").ecdsa());
    let c = CHALLENGE.as_bytes();
    assert_eq!(verify(&rsa.cert_der, c, &cms(&rsa, &[])), Ok(ProofKind::Cms));
    assert_eq!(verify(&ec.cert_der, c, &cms(&ec, &[])), Ok(ProofKind::Cms));
    // Without signed attributes, with the key identifier, attached content, PSS, base64 DER.
    assert_eq!(verify(&rsa.cert_der, c, &cms(&rsa, &["-noattr"])), Ok(ProofKind::Cms));
    assert_eq!(verify(&rsa.cert_der, c, &cms(&rsa, &["-nodetach"])), Ok(ProofKind::Cms));
    assert_eq!(verify(&rsa.cert_der, c, &cms(&rsa, &["-keyid"])), Ok(ProofKind::Cms));
    assert_eq!(verify(&ec.cert_der, c, &cms(&ec, &["-md", "sha384"])), Ok(ProofKind::Cms));
    assert_eq!(verify(&rsa.cert_der, c, &cms(&rsa, &["-keyopt", "rsa_padding_mode:pss"])), Ok(ProofKind::Cms));
    let pem = cms(&rsa, &[]);
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(verify(&rsa.cert_der, c, &body), Ok(ProofKind::Cms));
    // Signed by Budi, offered for Siti's certificate.
    assert_eq!(verify(&rsa.cert_der, c, &cms(&ec, &[])), Err(PossessionError::WrongSigner));
    // Over another text.
    assert_eq!(verify(&rsa.cert_der, b"another challenge", &pem), Err(PossessionError::WrongContent));
    assert_eq!(
        verify(&rsa.cert_der, b"another challenge", &cms(&rsa, &["-nodetach"])),
        Err(PossessionError::WrongContent)
    );
    assert_eq!(verify(&rsa.cert_der, b"another challenge", &cms(&rsa, &["-noattr"])), Err(PossessionError::WrongKey));
}

#[test]
fn garbage_is_malformed() {
    let ca = Ca::root("Root Uji");
    let rsa = ca.person(PersonOpts::new("Siti"));
    let c = CHALLENGE.as_bytes();
    assert_eq!(verify(&rsa.cert_der, c, ""), Err(PossessionError::Malformed));
    assert_eq!(verify(&rsa.cert_der, c, "bukan tanda tangan!"), Err(PossessionError::Malformed));
    assert_eq!(
        verify(&rsa.cert_der, c, "-----BEGIN CMS-----\nrusak\n-----END CMS-----"),
        Err(PossessionError::Malformed)
    );
    assert_eq!(verify(b"not a cert", c, "AAAA"), Err(PossessionError::Malformed));
    assert_eq!(verify(&rsa.cert_der, c, &"A".repeat(MAX_PROOF_BYTES + 4)), Err(PossessionError::Malformed));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn no_proof_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), flip in 0usize..4000) {
        use std::sync::OnceLock;
        static KEYS: OnceLock<(Vec<u8>, String)> = OnceLock::new();
        let (cert, sig) = KEYS.get_or_init(|| {
            let ca = Ca::root("Root Uji");
            let rsa = ca.person(PersonOpts::new("Siti"));
            let sig = cms(&rsa, &[]);
            (rsa.cert_der, sig)
        });
        let _ = verify(cert, CHALLENGE.as_bytes(), &b64(&bytes));
        let _ = verify(&bytes, CHALLENGE.as_bytes(), "AAAA");
        // A real CMS message with one byte changed (in the embedded certificates it still verifies).
        let pem: String = sig.lines().filter(|l| !l.starts_with("-----")).collect();
        let mut der = base64::engine::general_purpose::STANDARD.decode(pem).unwrap();
        let i = flip % der.len();
        der[i] ^= bytes.first().copied().unwrap_or(1) | 1;
        let _ = verify(cert, CHALLENGE.as_bytes(), &b64(&der));
    }
}
