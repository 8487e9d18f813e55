//! Which identifier an upstream login asserts, checked like every other way in: a NIP or NIK
//! that fails validation is refused, never matched loosely, and nothing is ever matched by name
//! or e-mail. Also the account row a first login creates when the upstream may create accounts.

use serde_json::{Map, Value};

use crate::config::upstream::Upstream;
use crate::identity::accounts::{valid_name, AccountKind, AccountStatus};
use crate::identity::nik::parse_nik;
use crate::identity::nip::parse_nip;
use crate::store::accounts::AccountRow;

/// The person's key as the upstream asserted it, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    Nip(String),
    Nik(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimError {
    /// Neither the NIP claim nor the NIK claim is in the token.
    Missing,
    /// The claim is there but is no valid NIP/NIK.
    Invalid,
}

/// The largest integer a JSON number is sure to carry exactly: 2^53 − 1.
const MAX_EXACT_JSON_INTEGER: u64 = 9_007_199_254_740_991;

/// A claim as text: strings as they are, whole numbers up to 2^53 − 1 written out (some
/// registers send NIKs as numbers); empty values, and numbers that may be inexact, count as
/// missing.
pub fn claim_text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        // A JSON number above 2^53 may have been rounded on the way (a float, a JS number).
        Value::Number(n) => n.as_u64().filter(|v| *v <= MAX_EXACT_JSON_INTEGER).map(|v| v.to_string()),
        _ => None,
    }
}

/// An identifier claim as text: `Ok(None)` when absent or empty, `Invalid` when it is a number
/// that cannot be taken exactly (float, negative, above 2^53 − 1): a rounded NIP is another
/// person's valid NIP, so such a value is refused, never passed over for the other claim.
fn identifier_text(claims: &Map<String, Value>, name: Option<&str>) -> Result<Option<String>, ClaimError> {
    let Some(name) = name else { return Ok(None) };
    match (claims.get(name), claim_text(claims, name)) {
        (Some(Value::Number(_)), None) => Err(ClaimError::Invalid),
        (_, text) => Ok(text),
    }
}

/// The NIP when the upstream asserts one (checked first: a present but invalid NIP is refused,
/// not passed over for a NIK), else the NIK.
pub fn identifier(config: &Upstream, claims: &Map<String, Value>, now: i64) -> Result<Identifier, ClaimError> {
    let today = crate::identity::today(now);
    if let Some(v) = identifier_text(claims, config.nip_claim.as_deref())? {
        return parse_nip(&v, today)
            .map(|i| Identifier::Nip(i.nip.as_str().to_string()))
            .map_err(|_| ClaimError::Invalid);
    }
    if let Some(v) = identifier_text(claims, config.nik_claim.as_deref())? {
        return parse_nik(&v, today)
            .map(|i| Identifier::Nik(i.nik.as_str().to_string()))
            .map_err(|_| ClaimError::Invalid);
    }
    Err(ClaimError::Missing)
}

impl Identifier {
    pub fn as_str(&self) -> &str {
        match self {
            Identifier::Nip(s) | Identifier::Nik(s) => s,
        }
    }
}

/// The account a first login creates: no password (the person logs in upstream, or gets a
/// password through the usual reset), the e-mail kept as an unverified contact. `None` when
/// the name claim is missing or not a valid name.
pub fn new_account(config: &Upstream, id: &Identifier, claims: &Map<String, Value>, now: i64) -> Option<AccountRow> {
    let name = valid_name(&claim_text(claims, &config.name_claim)?)?;
    let email = config
        .email_claim
        .as_deref()
        .and_then(|c| claim_text(claims, c))
        .filter(|e| e.len() <= 254 && e.contains('@') && !e.chars().any(char::is_whitespace));
    let (kind, nip, nik) = match id {
        Identifier::Nip(n) => (AccountKind::Asn, Some(n.clone()), None),
        Identifier::Nik(n) => (AccountKind::Citizen, None, Some(n.clone())),
    };
    Some(AccountRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.as_str().into(),
        nip,
        nik,
        name,
        password_hash: None,
        is_admin: false,
        status: AccountStatus::Active.as_str().into(),
        created_at: now,
        updated_at: now,
        opd_id: None,
        profile: "{}".into(),
        email,
        email_verified: false,
        phone_number: None,
        locale: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::upstream::tests_support::sample;

    #[test]
    fn identifiers_are_validated_and_never_guessed() {
        let now = 1_780_000_000;
        let mut c = sample();
        c.nik_claim = Some("nik".into());
        let m = |v: Value| v.as_object().cloned().expect("object");
        assert_eq!(
            identifier(&c, &m(json!({"nip": "198503122010011001"})), now),
            Ok(Identifier::Nip("198503122010011001".into()))
        );
        assert_eq!(identifier(&c, &m(json!({"nip": "Analis Kebijakan"})), now), Err(ClaimError::Invalid));
        assert_eq!(
            identifier(&c, &m(json!({"nip": "garbage", "nik": "3509014203900001"})), now),
            Err(ClaimError::Invalid),
            "an invalid NIP is not passed over for the NIK"
        );
        assert_eq!(
            identifier(&c, &m(json!({"nik": 3509014203900001_i64})), now),
            Ok(Identifier::Nik("3509014203900001".into()))
        );
        assert_eq!(identifier(&c, &m(json!({"email": "a@b.go.id", "name": "A"})), now), Err(ClaimError::Missing));
        assert_eq!(identifier(&c, &m(json!({"nip": ""})), now), Err(ClaimError::Missing));
    }

    #[test]
    fn numeric_identifiers_above_2_pow_53_are_refused() {
        let now = 1_780_000_000;
        let mut c = sample();
        c.nik_claim = Some("nik".into());
        let m = |v: Value| v.as_object().cloned().expect("object");
        // 198503122010011001 through an f64 comes out as ...008: another valid NIP, so a numeric
        // NIP (always 18 digits, always above 2^53) is never taken, not even when it looks exact.
        assert_eq!(identifier(&c, &m(json!({"nip": 198503122010011008_u64})), now), Err(ClaimError::Invalid));
        assert_eq!(identifier(&c, &m(json!({"nip": 198503122010011001_u64})), now), Err(ClaimError::Invalid));
        assert_eq!(
            identifier(&c, &m(json!({"nip": 198503122010011008_u64, "nik": "3509014203900001"})), now),
            Err(ClaimError::Invalid),
            "a refused numeric NIP is not passed over for the NIK"
        );
        // A NIK at or below 2^53 - 1 is exact as a number and still accepted.
        assert_eq!(
            identifier(&c, &m(json!({"nik": 3509014203900001_u64})), now),
            Ok(Identifier::Nik("3509014203900001".into()))
        );
        // A NIK above 2^53 - 1 (Papua, 91…) is valid as a string but refused as a number.
        assert_eq!(
            identifier(&c, &m(json!({"nik": "9171014203900001"})), now),
            Ok(Identifier::Nik("9171014203900001".into()))
        );
        assert_eq!(identifier(&c, &m(json!({"nik": 9171014203900001_u64})), now), Err(ClaimError::Invalid));
        // Floats and negatives are no identifiers.
        assert_eq!(identifier(&c, &m(json!({"nik": 3.509e15})), now), Err(ClaimError::Invalid));
        assert_eq!(identifier(&c, &m(json!({"nik": 3509014203900001.0_f64})), now), Err(ClaimError::Invalid));
        assert_eq!(identifier(&c, &m(json!({"nik": -3509014203900001_i64})), now), Err(ClaimError::Invalid));
        // The bound itself: 2^53 - 1 is taken as written, 2^53 is not.
        let n = m(json!({"a": 9_007_199_254_740_991_u64, "b": 9_007_199_254_740_992_u64}));
        assert_eq!(claim_text(&n, "a").as_deref(), Some("9007199254740991"));
        assert_eq!(claim_text(&n, "b"), None);
    }

    #[test]
    fn created_accounts_take_name_and_an_unverified_address() {
        let mut c = sample();
        c.email_claim = Some("email".into());
        let id = Identifier::Nip("198503122010011001".into());
        let claims = json!({"name": " Siti Aminah ", "email": "siti@jemberkab.go.id"}).as_object().cloned().expect("o");
        let row = new_account(&c, &id, &claims, 1).expect("row");
        assert_eq!((row.kind.as_str(), row.name.as_str()), ("asn", "Siti Aminah"));
        assert_eq!((row.email.as_deref(), row.email_verified), (Some("siti@jemberkab.go.id"), false));
        assert!(row.password_hash.is_none());
        assert!(new_account(&c, &id, &serde_json::Map::new(), 1).is_none(), "a name is needed");
    }
}
