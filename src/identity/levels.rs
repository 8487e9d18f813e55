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

/// The highest level a request can be answered with: 4, a level-3 login by a person who holds a
/// signer binding (a valid, bound electronic certificate) at that moment.
pub const MAX_REACHABLE: u8 = 4;

/// The highest level an authentication method reaches on its own: a passkey with user
/// verification. Level 4 adds no login step; it is this plus a signer binding.
pub const MAX_LOGIN: u8 = 3;

/// The level at which the holder must be a transaction signer.
pub const SIGNER: u8 = 4;

/// The login strength a request for `required` needs: level 4 asks for a level-3 login (then
/// the binding is checked on its own).
pub fn login_level(required: u8) -> u8 {
    required.min(MAX_LOGIN)
}

/// Whether a request for `required` is answered only for a signer.
pub fn needs_signer(required: u8) -> bool {
    required >= SIGNER
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_four_is_a_level_three_login_plus_a_signer() {
        assert_eq!(login_level(4), 3);
        assert_eq!(login_level(2), 2);
        assert!(needs_signer(4) && !needs_signer(3));
        assert_eq!(from_acr("urn:gerbang:loa:4"), Some(MAX_REACHABLE));
        assert!(acr_values().contains(&"urn:gerbang:loa:4"));
    }
}
