//! The key-lifecycle settings: the previous and the next master key during a master-key
//! rotation, scheduled signing-key rotation, how long a new key is published before it signs,
//! and how long relying parties may cache the JWKS.

use super::{ConfigError, Layered, Secret};

/// How often replicas re-read the signing keys (the upkeep round): a key published in the
/// database reaches every replica's JWKS within this time.
pub const RELOAD_SECONDS: i64 = 60;

#[derive(Debug, Clone)]
pub struct KeyConfig {
    /// The master key being replaced (base64 of 32 bytes): values sealed under it still open
    /// until `gerbang master-key rotate` has re-sealed them under `master_key`.
    pub master_key_previous: Option<Secret<String>>,
    /// The master key about to replace `master_key` (base64 of 32 bytes): values sealed under it
    /// open here, but nothing is sealed with it. Rolled out to every replica before any replica
    /// gets it as `master_key`, so none meets a value it cannot open during that rollout.
    pub master_key_next: Option<Secret<String>>,
    /// A new signing key is made this often (days; 0: only by `gerbang keys rotate`).
    pub rotation_days: i64,
    /// A new key is in JWKS this long before it signs (seconds, from `signing_key_publish_minutes`).
    pub publish_seconds: i64,
    /// `Cache-Control: max-age` of the JWKS; a relying party's cached copy is then never older
    /// than a key's publish time, so it knows every key before the first token it signs.
    pub jwks_max_age: i64,
}

pub(super) fn key_settings(l: &Layered) -> Result<KeyConfig, ConfigError> {
    let master_key_previous = l.string("master_key_previous");
    if let Some(k) = &master_key_previous {
        crate::crypto::decode_master_key(k).map_err(|m| l.err("master_key_previous", m))?;
        if l.string("master_key").is_none() {
            return Err(l.err("master_key_previous", "needs master_key (the new key) to be set too"));
        }
    }
    let master_key_next = next_master_key(l)?;
    let rotation_days: i64 = l.parse("signing_key_rotation_days", "a number of days")?;
    if !(0..=3650).contains(&rotation_days) {
        return Err(l.err("signing_key_rotation_days", "must be 0 (manual only) to 3650"));
    }
    let publish_minutes: i64 = l.parse("signing_key_publish_minutes", "a number of minutes")?;
    if !(1..=30 * 24 * 60).contains(&publish_minutes) {
        return Err(l.err("signing_key_publish_minutes", "must be 1 to 43200 (30 days)"));
    }
    let jwks_max_age: i64 = l.parse("jwks_max_age_seconds", "a number of seconds")?;
    if !(0..=86_400).contains(&jwks_max_age) {
        return Err(l.err("jwks_max_age_seconds", "must be 0 to 86400"));
    }
    // A replica publishes a new key up to one reload after it is made, and a relying party may
    // hold the JWKS fetched just before that for max-age more.
    if jwks_max_age + RELOAD_SECONDS > publish_minutes * 60 {
        return Err(l.err(
            "signing_key_publish_minutes",
            format!(
                "must cover jwks_max_age_seconds ({jwks_max_age}) plus the {RELOAD_SECONDS} s replicas take to see a new key"
            ),
        ));
    }
    if rotation_days > 0 && rotation_days * 86_400 <= publish_minutes * 60 {
        return Err(l.err("signing_key_rotation_days", "must be longer than signing_key_publish_minutes"));
    }
    Ok(KeyConfig {
        master_key_previous: master_key_previous.map(Secret::new),
        master_key_next: master_key_next.map(Secret::new),
        rotation_days,
        publish_seconds: publish_minutes * 60,
        jwks_max_age,
    })
}

/// `master_key_next`, checked against the keys it sits beside.
fn next_master_key(l: &Layered) -> Result<Option<String>, ConfigError> {
    let Some(next) = l.string("master_key_next") else { return Ok(None) };
    let bytes = crate::crypto::decode_master_key(&next).map_err(|m| l.err("master_key_next", m))?;
    let Some(current) = l.string("master_key") else {
        return Err(l.err("master_key_next", "needs master_key (the key in use now) to be set too"));
    };
    if crate::crypto::decode_master_key(&current).is_ok_and(|c| c == bytes) {
        return Err(l.err(
            "master_key_next",
            "is the same key as master_key: set master_key_next to the new key, or remove it once master_key is the new key",
        ));
    }
    // Refused rather than allowed as a third key. The procedure never needs both: the next key
    // lives until master_key becomes that key, and master_key_previous from then until
    // `gerbang master-key rotate` has run. Both at once means a new rotation
    // is starting before the last one finished; its second rollout (master_key = the next key,
    // master_key_previous = today's key) would drop the older key while values may still be
    // sealed under it, which no replica could open any more.
    if l.string("master_key_previous").is_some() {
        return Err(l.err(
            "master_key_next",
            "cannot be set together with master_key_previous: finish the rotation under way first (gerbang master-key rotate, then remove master_key_previous)",
        ));
    }
    Ok(Some(next))
}
