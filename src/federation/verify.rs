//! Checks of an upstream's ID token (OpenID Connect Core §3.1.3.7): an allowed asymmetric
//! algorithm, the signature with the upstream's key, `iss`, `aud`, `azp`, `exp` and `iat` (with a
//! small leeway for clocks that differ), and the `nonce` of this login.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{FederationError, Provider};
use crate::crypto;

/// Clocks of Gerbang and the upstream may differ by this many seconds.
pub const LEEWAY_SECONDS: i64 = 60;

/// Asymmetric algorithms only: `none` and the HMAC family (keyed with the client secret) are
/// never accepted.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A verified upstream login.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The upstream's `sub`.
    pub subject: String,
    /// The `iss` of the token (the upstream's issuer as it names itself).
    pub issuer: String,
    pub acr: Option<String>,
    /// When the person logged in at the upstream, when it says.
    pub auth_time: Option<i64>,
    pub claims: Map<String, Value>,
}

fn invalid(m: impl Into<String>) -> FederationError {
    FederationError::InvalidToken(m.into())
}

pub async fn id_token(
    p: &Provider,
    http: &reqwest::Client,
    token: &str,
    nonce: &str,
    now: i64,
) -> Result<Verified, FederationError> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(format!("unreadable header: {e}")))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(invalid(format!("algorithm {:?} is not allowed", header.alg)));
    }
    let meta = p.discovery.metadata(http, &p.config, now).await?;
    let jwk = p.discovery.key(http, &p.config, header.kid.as_deref(), now).await?;
    if let Some(alg) = jwk.common.key_algorithm {
        if format!("{alg:?}") != format!("{:?}", header.alg) {
            return Err(invalid("the algorithm does not match the key"));
        }
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(format!("unusable key: {e}")))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[meta.issuer.as_str()]);
    validation.set_audience(&[p.config.client_id.as_str()]);
    // Time is checked below against `now`, the server's clock, not the library's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| invalid(e.to_string()))?
        .claims;
    check_claims(&claims, &p.config.client_id, nonce, now)?;
    Ok(Verified {
        subject: claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string(),
        issuer: meta.issuer,
        acr: claims.get("acr").and_then(Value::as_str).map(String::from),
        auth_time: claims.get("auth_time").and_then(Value::as_i64),
        claims,
    })
}

/// The checks of the payload that do not need the key.
pub fn check_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<(), FederationError> {
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(|| invalid("exp is missing"))?;
    if exp + LEEWAY_SECONDS <= now {
        return Err(invalid("expired"));
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or_else(|| invalid("iat is missing"))?;
    if iat > now + LEEWAY_SECONDS {
        return Err(invalid("issued in the future"));
    }
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    if sub.is_empty() || sub.len() > 255 {
        return Err(invalid("sub is missing or too long"));
    }
    let sent = claims.get("nonce").and_then(Value::as_str).unwrap_or_default();
    if !crypto::constant_time_eq(sent.as_bytes(), nonce.as_bytes()) {
        return Err(invalid("the nonce is not this login's"));
    }
    // §3.1.3.7 items 4 and 5: with several audiences `azp` names us; when present it is us.
    let several = claims.get("aud").and_then(Value::as_array).is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => return Err(invalid("azp names another client")),
        None if several => return Err(invalid("azp is missing with several audiences")),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn payload_checks() {
        let now = 1_800_000_000;
        let good = json!({"sub": "u1", "aud": "c", "exp": now + 300, "iat": now - 5, "nonce": "n"});
        assert!(check_claims(&claims(good.clone()), "c", "n", now).is_ok());
        let mut late = good.clone();
        late["exp"] = json!(now - LEEWAY_SECONDS);
        assert!(check_claims(&claims(late), "c", "n", now).is_err(), "expired beyond the leeway");
        let mut skew = good.clone();
        skew["exp"] = json!(now - 10);
        assert!(check_claims(&claims(skew), "c", "n", now).is_ok(), "within the leeway");
        let mut future = good.clone();
        future["iat"] = json!(now + 120);
        assert!(check_claims(&claims(future), "c", "n", now).is_err());
        assert!(check_claims(&claims(good.clone()), "c", "other", now).is_err(), "nonce");
        let mut no_nonce = good.clone();
        no_nonce.as_object_mut().expect("o").remove("nonce");
        assert!(check_claims(&claims(no_nonce), "c", "n", now).is_err());
        let mut many = good.clone();
        many["aud"] = json!(["c", "d"]);
        assert!(check_claims(&claims(many.clone()), "c", "n", now).is_err(), "azp needed");
        many["azp"] = json!("c");
        assert!(check_claims(&claims(many.clone()), "c", "n", now).is_ok());
        many["azp"] = json!("d");
        assert!(check_claims(&claims(many), "c", "n", now).is_err(), "azp of another client");
    }
}
