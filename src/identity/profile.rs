//! The profile schema: which attributes an account carries, their types, and the scope that
//! releases each to applications. Values are stored as one JSON object per account.

use serde::Serialize;
use serde_json::{Map, Value};

use super::accounts::AccountKind;

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "type", content = "values", rename_all = "snake_case")]
pub enum AttrType {
    Text,
    Enum(&'static [&'static str]),
    Bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Attribute {
    pub name: &'static str,
    #[serde(flatten)]
    pub ty: AttrType,
    pub account_type: AccountKind,
    pub scope: &'static str,
    pub description: &'static str,
}

/// Civil-servant ranks: PNS golongan/ruang (PP 99/2000) and PPPK golongan I–XVII (Perpres 98/2020).
pub const GOLONGAN: &[&str] = &[
    "I/a", "I/b", "I/c", "I/d", "II/a", "II/b", "II/c", "II/d", "III/a", "III/b", "III/c", "III/d", "IV/a", "IV/b",
    "IV/c", "IV/d", "IV/e", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV",
    "XV", "XVI", "XVII",
];

pub const ESELON: &[&str] = &["I.a", "I.b", "II.a", "II.b", "III.a", "III.b", "IV.a", "IV.b", "V.a", "non-eselon"];

pub const SCHEMA: &[Attribute] = &[
    Attribute {
        name: "jabatan",
        ty: AttrType::Text,
        account_type: AccountKind::Asn,
        scope: "asn_profile",
        description: "position (jabatan)",
    },
    Attribute {
        name: "golongan",
        ty: AttrType::Enum(GOLONGAN),
        account_type: AccountKind::Asn,
        scope: "asn_profile",
        description: "rank group (golongan/ruang)",
    },
    Attribute {
        name: "pangkat",
        ty: AttrType::Text,
        account_type: AccountKind::Asn,
        scope: "asn_profile",
        description: "rank title (pangkat)",
    },
    Attribute {
        name: "eselon",
        ty: AttrType::Enum(ESELON),
        account_type: AccountKind::Asn,
        scope: "asn_profile",
        description: "echelon (eselon)",
    },
    Attribute {
        name: "jenis_pegawai",
        ty: AttrType::Enum(&["PNS", "PPPK"]),
        account_type: AccountKind::Asn,
        scope: "asn_profile",
        description: "employee type",
    },
    Attribute {
        name: "verified",
        ty: AttrType::Bool,
        account_type: AccountKind::Citizen,
        scope: "citizen_profile",
        description: "identity verified against population data",
    },
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("unknown profile attribute `{0}`")]
    Unknown(String),
    #[error("`{0}` does not apply to this account type")]
    WrongAccountType(String),
    #[error("invalid value for `{name}`: {message}")]
    Invalid { name: String, message: String },
}

/// Sets one attribute after checking it against the schema; an empty value removes it.
pub fn set(profile: &mut Map<String, Value>, kind: AccountKind, name: &str, value: &str) -> Result<(), ProfileError> {
    let attr = SCHEMA.iter().find(|a| a.name == name).ok_or_else(|| ProfileError::Unknown(name.into()))?;
    if attr.account_type != kind {
        return Err(ProfileError::WrongAccountType(name.into()));
    }
    let value = value.trim();
    if value.is_empty() {
        profile.remove(name);
        return Ok(());
    }
    let invalid = |m: &str| ProfileError::Invalid { name: name.into(), message: m.into() };
    let v = match attr.ty {
        AttrType::Text => {
            if value.chars().count() > 200 || value.chars().any(char::is_control) {
                return Err(invalid("at most 200 characters, no control characters"));
            }
            Value::from(value)
        }
        AttrType::Enum(allowed) => {
            let found = allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(value))
                .ok_or_else(|| invalid(&format!("one of {}", allowed.join(", "))))?;
            Value::from(*found)
        }
        AttrType::Bool => match value {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => return Err(invalid("true or false")),
        },
    };
    profile.insert(name.into(), v);
    Ok(())
}

/// The attributes of `profile` released by `scope`.
pub fn released(profile: &Map<String, Value>, scope: &str) -> Map<String, Value> {
    SCHEMA
        .iter()
        .filter(|a| a.scope == scope)
        .filter_map(|a| profile.get(a.name).map(|v| (a.name.to_string(), v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_the_schema() {
        let mut p = Map::new();
        set(&mut p, AccountKind::Asn, "golongan", "iii/a").unwrap();
        assert_eq!(p["golongan"], "III/a");
        assert!(matches!(set(&mut p, AccountKind::Asn, "golongan", "V/z"), Err(ProfileError::Invalid { .. })));
        assert_eq!(
            set(&mut p, AccountKind::Asn, "verified", "true"),
            Err(ProfileError::WrongAccountType("verified".into()))
        );
        assert_eq!(set(&mut p, AccountKind::Asn, "hobby", "x"), Err(ProfileError::Unknown("hobby".into())));
        let mut c = Map::new();
        assert_eq!(set(&mut c, AccountKind::Citizen, "email", "a@b.id"), Err(ProfileError::Unknown("email".into())));
        set(&mut c, AccountKind::Citizen, "verified", "true").unwrap();
        assert_eq!(released(&c, "citizen_profile").len(), 1);
        assert!(released(&c, "asn_profile").is_empty());
        set(&mut c, AccountKind::Citizen, "verified", "").unwrap();
        assert!(!c.contains_key("verified"));
    }
}
