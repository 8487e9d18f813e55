//! A software passkey for the level-4 tests: a P-256 key answering WebAuthn registration
//! (attestation `none`) and discoverable authentication with user verification, encoded by hand
//! (the few CBOR items WebAuthn needs) so the server's webauthn-rs checks real ceremonies.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use gerbang::crypto::{b64url, b64url_decode, sha256};
use serde_json::{json, Value};

pub struct SoftPasskey {
    key: EcdsaKeyPair,
    cred_id: Vec<u8>,
    user_handle: String,
    origin: String,
    counter: u32,
}

fn cbor_head(major: u8, len: usize) -> Vec<u8> {
    match len {
        0..=23 => vec![(major << 5) | len as u8],
        24..=255 => vec![(major << 5) | 24, len as u8],
        _ => vec![(major << 5) | 25, (len >> 8) as u8, len as u8],
    }
}

fn cbor_bytes(b: &[u8]) -> Vec<u8> {
    [cbor_head(2, b.len()), b.to_vec()].concat()
}

fn cbor_text(s: &str) -> Vec<u8> {
    [cbor_head(3, s.len()), s.as_bytes().to_vec()].concat()
}

/// A small integer key or value of a COSE map: 0..=23 or -1..=-24.
fn cbor_int(i: i8) -> u8 {
    if i >= 0 {
        i as u8
    } else {
        0x20 | (-1 - i) as u8
    }
}

impl SoftPasskey {
    /// A new credential for the site at `origin` (the issuer).
    pub fn new(origin: &str) -> SoftPasskey {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new()).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let cred_id = uuid::Uuid::new_v4().as_bytes().to_vec();
        SoftPasskey { key, cred_id, user_handle: String::new(), origin: origin.into(), counter: 0 }
    }

    fn rp_id_hash(&self) -> [u8; 32] {
        let host = url::Url::parse(&self.origin).unwrap().host_str().unwrap().to_string();
        sha256(host.as_bytes())
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"].as_str().expect("a challenge");
        let data = json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false });
        serde_json::to_vec(&data).unwrap()
    }

    /// The browser's answer to creation `options` (as the server sent them).
    pub fn register(&mut self, options: &Value) -> Value {
        self.user_handle = options["publicKey"]["user"]["id"].as_str().expect("a user id").to_string();
        let point = self.key.public_key().as_ref().to_vec(); // 0x04 || x || y
        let cose = [
            vec![0xa5],
            vec![cbor_int(1), cbor_int(2)],  // kty: EC2
            vec![cbor_int(3), cbor_int(-7)], // alg: ES256
            vec![cbor_int(-1), cbor_int(1)], // crv: P-256
            vec![cbor_int(-2)],
            cbor_bytes(&point[1..33]),
            vec![cbor_int(-3)],
            cbor_bytes(&point[33..65]),
        ]
        .concat();
        let mut auth_data = self.rp_id_hash().to_vec();
        auth_data.push(0x45); // user present, user verified, attested credential data
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&(self.cred_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.cred_id);
        auth_data.extend_from_slice(&cose);
        let attestation = [
            vec![0xa3],
            cbor_text("fmt"),
            cbor_text("none"),
            cbor_text("attStmt"),
            vec![0xa0],
            cbor_text("authData"),
            cbor_bytes(&auth_data),
        ]
        .concat();
        let id = b64url(&self.cred_id);
        json!({
            "id": id, "rawId": id, "type": "public-key", "extensions": {},
            "response": {
                "attestationObject": b64url(&attestation),
                "clientDataJSON": b64url(&self.client_data("webauthn.create", options)),
            },
        })
    }

    /// The browser's answer to request `options`, with user verification.
    pub fn assert(&mut self, options: &Value) -> Value {
        self.counter += 1;
        let mut auth_data = self.rp_id_hash().to_vec();
        auth_data.push(0x05); // user present, user verified
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", options);
        let signed = [auth_data.clone(), sha256(&client_data).to_vec()].concat();
        let signature = self.key.sign(&SystemRandom::new(), &signed).unwrap();
        let id = b64url(&self.cred_id);
        let user = b64url(&b64url_decode(&self.user_handle).expect("base64url user id"));
        json!({
            "id": id, "rawId": id, "type": "public-key", "extensions": {},
            "response": {
                "authenticatorData": b64url(&auth_data),
                "clientDataJSON": b64url(&client_data),
                "signature": b64url(signature.as_ref()),
                "userHandle": user,
            },
        })
    }
}
