//! Security levels 1–4: how strongly a person authenticated, published as `acr` values.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Level {
    pub level: u8,
    pub name_id: &'static str,
    pub name_en: &'static str,
    pub acr: &'static str,
}

pub const LEVELS: [Level; 4] = [
    Level { level: 1, name_id: "Dasar", name_en: "Basic", acr: "urn:gerbang:loa:1" },
    Level { level: 2, name_id: "Menengah", name_en: "Substantial", acr: "urn:gerbang:loa:2" },
    Level { level: 3, name_id: "Tinggi", name_en: "High", acr: "urn:gerbang:loa:3" },
    Level { level: 4, name_id: "Penandatangan", name_en: "Signer", acr: "urn:gerbang:loa:4" },
];

/// The highest level a login can reach with the authentication methods this version has:
/// a passkey with user verification. Level 4 also needs a bound electronic certificate, which
/// does not exist yet; requests for it are refused with a clear error instead of being answered
/// with a lower level.
pub const MAX_REACHABLE: u8 = 3;

pub fn from_acr(acr: &str) -> Option<u8> {
    LEVELS.iter().find(|l| l.acr == acr).map(|l| l.level)
}

pub fn get(level: u8) -> Option<&'static Level> {
    LEVELS.iter().find(|l| l.level == level)
}

pub fn acr(level: u8) -> &'static str {
    get(level).map(|l| l.acr).unwrap_or(LEVELS[0].acr)
}

pub fn acr_values() -> Vec<&'static str> {
    LEVELS.iter().map(|l| l.acr).collect()
}
