//! How Gerbang proves itself at an upstream's token endpoint: `client_secret_basic`, or
//! `private_key_jwt` (RFC 7523, OpenID Connect Core §9) as INApas asks of relying parties: a
//! short-lived assertion signed with Gerbang's own EC or RSA key, addressed to the token endpoint.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256};
use base64::Engine;
use serde::Serialize;

use super::FederationError;
use crate::config::upstream::{ClientAuth, KeyAlg, Upstream};
use crate::crypto;

/// An assertion is valid this long: enough for one request, useless to whoever keeps it.
pub const ASSERTION_SECONDS: i64 = 60;

enum Key {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

pub struct Signer {
    key: Key,
    kid: Option<String>,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    exp: i64,
}

/// The DER inside a PEM block, and the block's label (`PRIVATE KEY`, `RSA PRIVATE KEY`, …).
/// `None` for anything malformed (no BEGIN line, no END after the body, an empty body, bad
/// base64): a wrong key file is a configuration error, never a panic at start-up.
fn pem_der(pem: &str) -> Option<(String, Vec<u8>)> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    const END: &str = "-----END ";
    let (_, rest) = pem.split_once(BEGIN)?;
    let (label, after_label) = rest.split_once(DASHES)?;
    // The END marker is looked for only after the BEGIN line, so it can never come first.
    let (body, _) = after_label.split_once(END)?;
    if label.trim().is_empty() || label.contains('\n') {
        return None;
    }
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok().filter(|d| !d.is_empty())?;
    Some((label.to_string(), der))
}

impl Signer {
    /// The signer of an upstream using `private_key_jwt`; `None` for a client secret. The key is
    /// parsed here, at start-up, so a wrong file is found before the first login.
    pub fn from_config(c: &Upstream) -> Result<Option<Signer>, String> {
        let ClientAuth::PrivateKey { pem, alg, kid } = &c.auth else { return Ok(None) };
        let (label, der) = pem_der(pem.expose()).ok_or("private_key_file holds no PEM block")?;
        let key = match alg {
            KeyAlg::Es256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                .map(Key::Es256)
                .map_err(|e| format!("private_key_file is not a PKCS#8 P-256 private key: {e}"))?,
            KeyAlg::Rs256 => {
                let pair =
                    if label == "RSA PRIVATE KEY" { RsaKeyPair::from_der(&der) } else { RsaKeyPair::from_pkcs8(&der) };
                Key::Rs256(pair.map_err(|e| format!("private_key_file is not an RSA private key: {e}"))?)
            }
        };
        Ok(Some(Signer { key, kid: kid.clone() }))
    }

    /// A fresh assertion (`jti` random, `exp` a minute away) for `audience`, the token endpoint.
    pub fn assertion(&self, client_id: &str, audience: &str, now: i64) -> Result<String, FederationError> {
        let fail = |m: String| FederationError::Misconfigured(format!("cannot sign the client assertion: {m}"));
        let jti = crypto::random_token(16).map_err(|e| fail(e.to_string()))?;
        let claims =
            Assertion { iss: client_id, sub: client_id, aud: audience, jti, iat: now, exp: now + ASSERTION_SECONDS };
        let alg = match self.key {
            Key::Es256(_) => "ES256",
            Key::Rs256(_) => "RS256",
        };
        let mut header = serde_json::json!({ "alg": alg, "typ": "JWT" });
        if let Some(kid) = &self.kid {
            header["kid"] = kid.clone().into();
        }
        let payload = serde_json::to_vec(&claims).map_err(|e| fail(e.to_string()))?;
        let input = format!("{}.{}", crypto::b64url(header.to_string().as_bytes()), crypto::b64url(&payload));
        let rng = SystemRandom::new();
        let signature = match &self.key {
            Key::Es256(k) => k.sign(&rng, input.as_bytes()).map_err(|e| fail(e.to_string()))?.as_ref().to_vec(),
            Key::Rs256(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig).map_err(|e| fail(e.to_string()))?;
                sig
            }
        };
        Ok(format!("{input}.{}", crypto::b64url(&signature)))
    }
}

/// `client_secret_basic`: id and secret form-encoded, then sent as HTTP Basic (RFC 6749 §2.3.1).
pub fn basic(req: reqwest::RequestBuilder, c: &Upstream) -> reqwest::RequestBuilder {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    match &c.auth {
        ClientAuth::Secret(secret) => req.basic_auth(enc(&c.client_id), Some(enc(secret.expose()))),
        ClientAuth::PrivateKey { .. } => req,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    /// A P-256 key made for this test only.
    const EC_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqNEr4dhMCWEeBUtI
t7bIrzVtALItX9eyw83HR0atWZChRANCAAS+u8mf5N364+Fv5XZ2CodcuTRl0Zj3
RZ4YaoNutJLH9LMiNljerfVuNyXlxxe+aPkgef7nSXyxLkkOtdQCQw5x
-----END PRIVATE KEY-----";

    #[test]
    fn assertions_are_signed_short_and_addressed_to_the_token_endpoint() {
        let mut c = crate::config::upstream::tests_support::sample();
        c.auth = ClientAuth::PrivateKey { pem: Secret::new(EC_PEM.into()), alg: KeyAlg::Es256, kid: Some("k1".into()) };
        let s = Signer::from_config(&c).expect("key").expect("signer");
        let t = s.assertion("gerbang", "https://idp.example.go.id/token", 1_800_000_000).expect("signed");
        let h = jsonwebtoken::decode_header(&t).expect("header");
        assert_eq!((h.alg, h.kid.as_deref()), (jsonwebtoken::Algorithm::ES256, Some("k1")));
        // The signature verifies with the public half (as the upstream checks it).
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pem_der(EC_PEM).expect("pem").1).expect("key");
        let public = aws_lc_rs::signature::KeyPair::public_key(&pair).as_ref().to_vec();
        let (input, sig) = t.rsplit_once('.').expect("signed");
        let verifier =
            aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, public);
        verifier.verify(input.as_bytes(), &crypto::b64url_decode(sig).expect("b64")).expect("valid signature");
        let payload = t.split('.').nth(1).and_then(crypto::b64url_decode).expect("payload");
        let v: serde_json::Value = serde_json::from_slice(&payload).expect("json");
        assert_eq!(v["iss"], "gerbang");
        assert_eq!(v["sub"], "gerbang");
        assert_eq!(v["aud"], "https://idp.example.go.id/token");
        assert_eq!(v["exp"].as_i64().expect("exp") - v["iat"].as_i64().expect("iat"), ASSERTION_SECONDS);
        let again = s.assertion("gerbang", "x", 1_800_000_000).expect("signed");
        let j2: serde_json::Value =
            serde_json::from_slice(&again.split('.').nth(1).and_then(crypto::b64url_decode).expect("p")).expect("j");
        assert_ne!(v["jti"], j2["jti"], "a new jti every time");
        c.auth = ClientAuth::PrivateKey { pem: Secret::new("not a key".into()), alg: KeyAlg::Es256, kid: None };
        assert!(Signer::from_config(&c).is_err());
    }

    #[test]
    fn malformed_pem_is_refused_without_panicking() {
        for bad in [
            "-----BEGIN X-----END -----",
            "-----BEGIN PRIVATE KEY\n-----END PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----END PRIVATE KEY-----",
            "-----BEGIN -----",
            "-----BEGIN ",
            "-----END PRIVATE KEY-----\n-----BEGIN PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n",
            "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\n  \n-----END PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----",
        ] {
            let got = std::panic::catch_unwind(|| pem_der(bad));
            assert!(matches!(got, Ok(None)), "{bad:?} gave {got:?}");
        }
        let mut c = crate::config::upstream::tests_support::sample();
        c.auth = ClientAuth::PrivateKey {
            pem: Secret::new("-----BEGIN X-----END -----".into()),
            alg: KeyAlg::Es256,
            kid: None,
        };
        assert!(std::panic::catch_unwind(|| Signer::from_config(&c).is_err()).unwrap_or(false));
        // The real key still parses.
        assert_eq!(pem_der(EC_PEM).expect("pem").0, "PRIVATE KEY");
    }
}
