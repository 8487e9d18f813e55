//! Signing keys: generated and sealed into the database, parsed once into memory, published as
//! JWKS (next, current and previous), rotated on schedule or on demand (`key_lifecycle`).
//! Neither signing nor verifying re-parses a key, because for RS256 that alone would double the
//! cost of every token (and of every userinfo and introspection answer).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair, RsaPublicKeyComponents,
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use super::key_lifecycle::{KeyPolicy, Step};
use crate::clock::Clock;
use crate::crypto::{b64url, MasterKey};
use crate::store::keys::{self as key_store, KeyRow};
use crate::store::{Db, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "RS256" => Some(Alg::RS256),
            "ES256" => Some(Alg::ES256),
            "EdDSA" => Some(Alg::EdDSA),
            _ => None,
        }
    }

    fn jwt_alg(self) -> Algorithm {
        match self {
            Alg::RS256 => Algorithm::RS256,
            Alg::ES256 => Algorithm::ES256,
            Alg::EdDSA => Algorithm::EdDSA,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {0} cannot be opened: {1}")]
    Open(String, String),
    #[error("key generation failed")]
    Generate,
    #[error("signing failed")]
    Sign,
    #[error("no current signing key for {0}")]
    Missing(&'static str),
    #[error("token encoding failed: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the last rotation is still being published; rotate again in {0} s")]
    TooSoon(i64),
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

struct Signer {
    kid: String,
    pair: Pair,
    /// Pre-encoded protected headers, one per token type, so signing only encodes the payload.
    header_jwt: String,
    header_at: String,
    header_checkpoint: String,
    header_logout: String,
}

/// What we sign: ID tokens (`JWT`), access tokens (`at+jwt`, RFC 9068), logout tokens and
/// checkpoints of the audit trail's head, each with its own `typ` so none can pass for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    IdToken,
    AccessToken,
    AuditCheckpoint,
    /// A Back-Channel Logout 1.0 logout token (`logout+jwt`, its §2.4).
    LogoutToken,
}

impl TokenType {
    fn typ(self) -> &'static str {
        match self {
            TokenType::IdToken => "JWT",
            TokenType::AccessToken => "at+jwt",
            TokenType::AuditCheckpoint => "gerbang-audit-checkpoint+jwt",
            TokenType::LogoutToken => "logout+jwt",
        }
    }
}

struct Verifier {
    alg: Alg,
    /// For the claims checks only: `jsonwebtoken` would rebuild the public key from the JWK's
    /// components on every call, so the signature is checked against `parsed` instead.
    key: DecodingKey,
    parsed: ParsedPublicKey,
}

struct KeySet {
    /// The key of each algorithm that signed when the set was loaded.
    signers: HashMap<Alg, Arc<Signer>>,
    /// Published keys that activate later, by activation time: each takes over at its time
    /// without waiting for the next reload, so every replica switches together.
    upcoming: HashMap<Alg, Vec<(i64, Arc<Signer>)>>,
    /// The time the set was loaded for (the upkeep's `now`).
    loaded_at: i64,
    verifiers: HashMap<String, Verifier>,
    jwks: bytes::Bytes,
    /// Access tokens verified against this set lately (see `verified`).
    verified: super::verified::Verified,
}

/// The in-memory key set, swapped whole on reload.
pub struct Keys {
    master: MasterKey,
    pub(super) policy: KeyPolicy,
    /// The server's clock, for reloads not driven by the upkeep (an unknown key id).
    clock: Clock,
    set: RwLock<Arc<KeySet>>,
    /// When a token names a key we do not know, another replica may have rotated: re-read the
    /// keys, but at most this often so forged key ids cannot hammer the database.
    last_forced_reload: std::sync::Mutex<Option<std::time::Instant>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("wrong token type")]
    WrongType,
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl Keys {
    /// Loads the published keys, generating a first key per algorithm when there is none.
    pub async fn load(db: &Db, master: MasterKey, policy: KeyPolicy, clock: Clock) -> Result<Keys, KeyError> {
        let now = clock.now();
        let keys = Keys {
            master,
            policy,
            clock,
            set: RwLock::new(Arc::new(KeySet::empty())),
            last_forced_reload: std::sync::Mutex::new(None),
        };
        keys.ensure(db, now).await?;
        keys.reload_at(db, now).await?;
        Ok(keys)
    }

    async fn ensure(&self, db: &Db, now: i64) -> Result<(), KeyError> {
        let rows = key_store::list_published(db).await?;
        for alg in Alg::ALL {
            if !rows.iter().any(|r| r.alg == alg.as_str() && r.state == "current") {
                let row = self.generate(alg, "current", now, now).await?;
                match key_store::insert(db, &row).await {
                    // Another replica created it first; `reload` picks theirs up.
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Re-reads keys from the database: picks up rotations done by another replica or the CLI.
    pub async fn reload(&self, db: &Db) -> Result<(), KeyError> {
        self.reload_at(db, self.clock.now()).await
    }

    /// A new key is published at once but signs only from its `activates_at`, so every replica
    /// (which reload every minute) and every relying party's cached JWKS knows it before the
    /// first token it signed appears. Until then the current key keeps signing.
    pub async fn reload_at(&self, db: &Db, now: i64) -> Result<(), KeyError> {
        let rows: Vec<KeyRow> = key_store::list_published(db)
            .await?
            .into_iter()
            .filter(|r| super::key_lifecycle::is_published(r, now))
            .collect();
        let chosen: HashMap<&str, &KeyRow> = Alg::ALL
            .iter()
            .filter_map(|alg| super::key_lifecycle::signer_for(&rows, alg.as_str(), now).map(|r| (alg.as_str(), r)))
            .collect();
        let mut signers = HashMap::new();
        let mut upcoming: HashMap<Alg, Vec<(i64, Arc<Signer>)>> = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for row in &rows {
            let Some(alg) = Alg::parse(&row.alg) else { continue };
            let jwk: serde_json::Value =
                serde_json::from_str(&row.public_jwk).map_err(|e| KeyError::Open(row.kid.clone(), e.to_string()))?;
            let bad = || KeyError::Open(row.kid.clone(), "bad public JWK".into());
            let key = decoding_key(alg, &jwk).ok_or_else(bad)?;
            let parsed = parsed_key(alg, &jwk).ok_or_else(bad)?;
            verifiers.insert(row.kid.clone(), Verifier { alg, key, parsed });
            let is_chosen = chosen.get(row.alg.as_str()).is_some_and(|c| c.kid == row.kid);
            if is_chosen || row.activates_at > now {
                let der = self
                    .master
                    .open(&row.kid, &row.private_key)
                    .map_err(|e| KeyError::Open(row.kid.clone(), e.to_string()))?;
                let pair =
                    parse_pair(alg, &der).ok_or_else(|| KeyError::Open(row.kid.clone(), "bad private key".into()))?;
                let signer = Arc::new(Signer::new(row.kid.clone(), alg, pair));
                if is_chosen {
                    signers.insert(alg, signer);
                } else {
                    upcoming.entry(alg).or_default().push((row.activates_at, signer));
                }
            }
            jwks.push(jwk);
        }
        let jwks = serde_json::to_string(&serde_json::json!({ "keys": jwks }))?;
        for list in upcoming.values_mut() {
            list.sort_by_key(|(at, _)| *at);
        }
        let set = KeySet {
            signers,
            upcoming,
            loaded_at: now,
            verifiers,
            jwks: bytes::Bytes::from(jwks),
            verified: Default::default(),
        };
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// A new key pair, sealed, as a row in `state` that signs from `activates_at`.
    pub(super) async fn generate(
        &self,
        alg: Alg,
        state: &str,
        now: i64,
        activates_at: i64,
    ) -> Result<KeyRow, KeyError> {
        // RSA generation takes tens of milliseconds: keep it off the async workers.
        let (der, jwk_base) =
            tokio::task::spawn_blocking(move || generate_pair(alg)).await.map_err(|_| KeyError::Generate)??;
        let kid = format!(
            "{}-{}",
            alg.as_str().to_ascii_lowercase(),
            crate::crypto::random_token(9).map_err(|_| KeyError::Generate)?
        );
        let mut jwk = jwk_base;
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), kid.clone().into());
            obj.insert("alg".into(), alg.as_str().into());
            obj.insert("use".into(), "sig".into());
        }
        let sealed = self.master.seal(&kid, &der).map_err(|e| KeyError::Open(kid.clone(), e.to_string()))?;
        Ok(KeyRow {
            kid,
            alg: alg.as_str().into(),
            state: state.into(),
            private_key: sealed,
            public_jwk: jwk.to_string(),
            created_at: now,
            rotated_at: None,
            activates_at,
            remove_at: None,
        })
    }

    /// Access tokens the current key set remembers as verified.
    #[cfg(test)]
    pub(super) fn remembered(&self) -> usize {
        self.current().verified.len()
    }

    fn current(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The published key set, serialized once per reload; cloning it is a reference count.
    pub fn jwks_json(&self) -> bytes::Bytes {
        self.current().jwks.clone()
    }

    /// How long a new key is published before it signs (seconds).
    pub fn publish_delay(&self) -> i64 {
        self.policy.publish_delay
    }

    pub fn current_kid(&self, alg: Alg) -> Option<String> {
        self.signer(alg).map(|s| s.kid.clone())
    }

    /// The key of `alg` that signs now: the latest upcoming key whose time has come, else the one
    /// chosen at the last reload. "Now" is never before that reload's time (tests load sets for
    /// times ahead of the clock).
    fn signer(&self, alg: Alg) -> Option<Arc<Signer>> {
        let set = self.current();
        let now = self.clock.now().max(set.loaded_at);
        let due = set.upcoming.get(&alg).and_then(|list| list.iter().rev().find(|(at, _)| *at <= now));
        due.map(|(_, s)| s.clone()).or_else(|| set.signers.get(&alg).cloned())
    }

    /// Signs `claims` as a compact JWS with the current key of `alg`.
    pub fn sign<T: Serialize>(&self, alg: Alg, typ: TokenType, claims: &T) -> Result<String, KeyError> {
        let signer = self.signer(alg).ok_or(KeyError::Missing(alg.as_str()))?;
        let payload = serde_json::to_vec(claims)?;
        let header = match typ {
            TokenType::IdToken => &signer.header_jwt,
            TokenType::AccessToken => &signer.header_at,
            TokenType::AuditCheckpoint => &signer.header_checkpoint,
            TokenType::LogoutToken => &signer.header_logout,
        };
        let mut out = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
        out.push_str(header);
        out.push('.');
        out.push_str(&b64url(&payload));
        let sig = signer.sign(out.as_bytes())?;
        out.push('.');
        out.push_str(&b64url(&sig));
        Ok(out)
    }

    /// Like [`Keys::verify`], but a token signed by a key this replica has not loaded yet
    /// (rotated elsewhere moments ago) triggers one reload from the database.
    pub async fn verify_fresh<T: DeserializeOwned>(
        &self,
        db: &Db,
        token: &str,
        expected: TokenType,
        issuer: &str,
        check_exp: bool,
    ) -> Result<T, VerifyError> {
        match self.verify(token, expected, issuer, check_exp) {
            Err(VerifyError::UnknownKey) => {
                let due = {
                    let mut last = self.last_forced_reload.lock().unwrap_or_else(|p| p.into_inner());
                    let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(10));
                    if due {
                        *last = Some(std::time::Instant::now());
                    }
                    due
                };
                if due {
                    if let Err(e) = self.reload(db).await {
                        tracing::error!(error = %e, "could not reload signing keys");
                    }
                }
                self.verify(token, expected, issuer, check_exp)
            }
            other => other,
        }
    }

    /// Verifies a token we signed. `expected` checks the `typ` header so an ID token can never be
    /// used as an access token. `check_exp` false lets logout accept an expired ID token hint.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        expected: TokenType,
        issuer: &str,
        check_exp: bool,
    ) -> Result<T, VerifyError> {
        let set = self.current();
        // Access tokens come back again and again (each API call of an application): one seen
        // before with this key set needs only its expiry checked again.
        let cached = (expected == TokenType::AccessToken).then(|| super::verified::digest(token, issuer));
        if let Some(entry) = cached.as_ref().and_then(|d| set.verified.get(d)) {
            if check_exp && entry.exp < jsonwebtoken::get_current_timestamp() as i64 {
                return Err(VerifyError::Invalid("ExpiredSignature".into()));
            }
            return serde_json::from_slice(&entry.payload).map_err(|e| VerifyError::Invalid(e.to_string()));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.typ.as_deref() != Some(expected.typ()) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let v = set.verifiers.get(&kid).ok_or(VerifyError::UnknownKey)?;
        if header.alg != v.alg.jwt_alg() {
            return Err(VerifyError::Invalid("algorithm does not match the key".into()));
        }
        let (message, signature) = token.rsplit_once('.').ok_or(VerifyError::Malformed)?;
        let signature = crate::crypto::b64url_decode(signature).ok_or(VerifyError::Malformed)?;
        if v.parsed.verify_sig(message.as_bytes(), &signature).is_err() {
            return Err(VerifyError::Invalid("InvalidSignature".into()));
        }
        // The signature is checked above against the parsed key; `jsonwebtoken` checks the
        // claims exactly as it did when it checked the signature too (`insecure_decode` would
        // check none of them).
        let mut validation = Validation::new(v.alg.jwt_alg());
        #[allow(deprecated)]
        validation.insecure_disable_signature_validation();
        validation.set_issuer(&[issuer]);
        validation.validate_aud = false;
        validation.validate_exp = check_exp;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<T>(token, &v.key, &validation)
            .map(|d| d.claims)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?;
        if let Some(d) = cached {
            set.verified.remember(d, message);
        }
        Ok(claims)
    }
}

impl Keys {
    /// Verifies a long-lived statement we signed (an audit checkpoint) and returns the signing
    /// key's id with the claims. Such statements outlive rotations, so the key is looked up among
    /// every key ever made, retired ones included; there is no expiry, and `iss` and `sub` must
    /// be present.
    pub async fn verify_archived<T: DeserializeOwned>(
        &self,
        db: &Db,
        token: &str,
        expected: TokenType,
        issuer: &str,
    ) -> Result<(String, T), VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.typ.as_deref() != Some(expected.typ()) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let row = match key_store::find(db, &kid).await {
            Ok(Some(row)) => row,
            Ok(None) => return Err(VerifyError::UnknownKey),
            Err(e) => {
                tracing::error!(error = %e, "could not read a signing key");
                return Err(VerifyError::UnknownKey);
            }
        };
        let alg = Alg::parse(&row.alg).ok_or(VerifyError::UnknownKey)?;
        if header.alg != alg.jwt_alg() {
            return Err(VerifyError::Invalid("algorithm does not match the key".into()));
        }
        let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).map_err(|_| VerifyError::UnknownKey)?;
        let key = decoding_key(alg, &jwk).ok_or(VerifyError::UnknownKey)?;
        let mut validation = Validation::new(alg.jwt_alg());
        validation.set_issuer(&[issuer]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["iss", "sub"]);
        jsonwebtoken::decode::<T>(token, &key, &validation)
            .map(|d| (kid, d.claims))
            .map_err(|e| VerifyError::Invalid(e.to_string()))
    }
}

impl KeySet {
    fn empty() -> KeySet {
        KeySet {
            signers: HashMap::new(),
            upcoming: HashMap::new(),
            loaded_at: 0,
            verifiers: HashMap::new(),
            jwks: bytes::Bytes::from_static(b"{\"keys\":[]}"),
            verified: Default::default(),
        }
    }
}

impl Signer {
    fn new(kid: String, alg: Alg, pair: Pair) -> Signer {
        let header = |typ: &str| {
            b64url(serde_json::json!({ "alg": alg.as_str(), "kid": kid, "typ": typ }).to_string().as_bytes())
        };
        Signer {
            header_jwt: header(TokenType::IdToken.typ()),
            header_at: header(TokenType::AccessToken.typ()),
            header_checkpoint: header(TokenType::AuditCheckpoint.typ()),
            header_logout: header(TokenType::LogoutToken.typ()),
            kid,
            pair,
        }
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig).map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            Pair::Ec(k) => Ok(k.sign(&rng, msg).map_err(|_| KeyError::Sign)?.as_ref().to_vec()),
            Pair::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

fn generate_pair(alg: Alg) -> Result<(Vec<u8>, serde_json::Value), KeyError> {
    match alg {
        Alg::RS256 => {
            let k = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
            let der = k.as_der().map_err(|_| KeyError::Generate)?.as_ref().to_vec();
            let public = k.public_key();
            let jwk = serde_json::json!({
                "kty": "RSA",
                "n": b64url(public.modulus().big_endian_without_leading_zero()),
                "e": b64url(public.exponent().big_endian_without_leading_zero()),
            });
            Ok((der, jwk))
        }
        Alg::ES256 => {
            let k = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| KeyError::Generate)?;
            let der = k.to_pkcs8v1().map_err(|_| KeyError::Generate)?.as_ref().to_vec();
            let point = k.public_key().as_ref();
            // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
            if point.len() != 65 {
                return Err(KeyError::Generate);
            }
            let jwk = serde_json::json!({
                "kty": "EC", "crv": "P-256",
                "x": b64url(&point[1..33]),
                "y": b64url(&point[33..65]),
            });
            Ok((der, jwk))
        }
        Alg::EdDSA => {
            let k = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
            let der = k.to_pkcs8().map_err(|_| KeyError::Generate)?.as_ref().to_vec();
            let jwk = serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": b64url(k.public_key().as_ref()) });
            Ok((der, jwk))
        }
    }
}

fn parse_pair(alg: Alg, der: &[u8]) -> Option<Pair> {
    match alg {
        Alg::RS256 => RsaKeyPair::from_pkcs8(der).ok().map(Pair::Rsa),
        Alg::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).ok().map(Pair::Ec),
        Alg::EdDSA => Ed25519KeyPair::from_pkcs8(der).ok().map(Pair::Ed),
    }
}

/// The public key of a published JWK, parsed once for the verifications of a whole key set's
/// lifetime; the algorithms are the ones `jsonwebtoken` verifies with.
fn parsed_key(alg: Alg, jwk: &serde_json::Value) -> Option<ParsedPublicKey> {
    let b = |k: &str| jwk.get(k).and_then(|v| v.as_str()).and_then(crate::crypto::b64url_decode);
    match alg {
        Alg::RS256 => {
            let (n, e) = (b("n")?, b("e")?);
            RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .ok()
        }
        Alg::ES256 => {
            let mut point = vec![4u8];
            point.extend(b("x")?);
            point.extend(b("y")?);
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).ok()
        }
        Alg::EdDSA => ParsedPublicKey::new(&ED25519, b("x")?).ok(),
    }
}

fn decoding_key(alg: Alg, jwk: &serde_json::Value) -> Option<DecodingKey> {
    let s = |k: &str| jwk.get(k).and_then(|v| v.as_str());
    match alg {
        Alg::RS256 => DecodingKey::from_rsa_components(s("n")?, s("e")?).ok(),
        Alg::ES256 => DecodingKey::from_ec_components(s("x")?, s("y")?).ok(),
        Alg::EdDSA => DecodingKey::from_ed_components(s("x")?).ok(),
    }
}
