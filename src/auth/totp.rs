//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), accepted
//! one step either side of now, each step at most once. Secrets are sealed under the master key.

use aws_lc_rs::hmac;
use data_encoding::BASE32_NOPAD;

use crate::crypto::{self, MasterKey};
use crate::store::factors as store;
use crate::store::{Db, StoreError};

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// How long a started enrolment waits for its first code. Until then every showing of the
/// enrolment page shows the same secret (a reload, a second tab or a prefetch must not void the
/// QR code being scanned); after it, the next showing makes a new one and the old one can no
/// longer be confirmed, so a secret left on an abandoned screen does not stay usable for ever.
/// Long enough to install an app and scan a code.
pub const PENDING_SECONDS: i64 = 15 * 60;

/// HOTP (RFC 4226 §5.3) for one counter value.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(DIGITS)
}

pub fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// The step (now−1, now, now+1) whose code matches, compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        let expected = format!("{:0width$}", hotp(secret, step.max(0) as u64), width = DIGITS as usize);
        if crypto::constant_time_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the authenticator secret cannot be opened")]
    Sealed,
    /// The secret could not be read, so no code was compared: the attempt has no verdict.
    #[error("the authenticator secret could not be read: {0}")]
    Unread(StoreError),
    /// An authenticator is confirmed already: it is removed before another is enrolled.
    #[error("an authenticator app is enrolled already")]
    Enrolled,
    /// The enrolment was removed (the factor or the account) while it was being started.
    #[error("the enrolment was removed while it was being started")]
    Removed,
}

/// What the enrolment page shows: the key to type in and the `otpauth://` URI as a QR code.
pub struct Enrolment {
    pub secret_base32: String,
    pub uri: String,
    pub qr_svg_data_uri: String,
}

/// Whether `row` is an enrolment still waiting for its first code at `now`.
fn fresh_pending(row: &store::TotpRow, now: i64) -> bool {
    !row.confirmed && row.created_at > now - PENDING_SECONDS
}

/// The enrolment to show: the pending one while it is fresh, else one started with a new
/// 160-bit secret (RFC 4226 §4 recommends 160 bits). Two showings at once end with one secret:
/// the new one is stored only where no fresh one is, and what is stored is what is shown.
pub async fn start_enrolment(
    db: &Db,
    master: &MasterKey,
    account_id: &str,
    label: &str,
    issuer_name: &str,
    now: i64,
) -> Result<Enrolment, TotpError> {
    let stored = match store::get_totp(db, account_id).await? {
        Some(row) if row.confirmed => return Err(TotpError::Enrolled),
        Some(row) if fresh_pending(&row, now) => row,
        _ => {
            let secret: [u8; 20] = crypto::random_bytes().map_err(|_| TotpError::Sealed)?;
            let sealed = master.seal(&format!("totp:{account_id}"), &secret).map_err(|_| TotpError::Sealed)?;
            store::start_pending_totp(db, account_id, &sealed, now, now - PENDING_SECONDS).await?;
            // Ours, or the one a simultaneous showing stored first, or a confirmed one.
            match store::get_totp(db, account_id).await? {
                Some(row) if !row.confirmed => row,
                Some(_) => return Err(TotpError::Enrolled),
                None => return Err(TotpError::Removed),
            }
        }
    };
    let secret = master.open(&format!("totp:{account_id}"), &stored.secret).map_err(|_| TotpError::Sealed)?;
    enrolment(&secret, label, issuer_name)
}

/// The key, `otpauth://` URI and QR code of `secret`.
fn enrolment(secret: &[u8], label: &str, issuer_name: &str) -> Result<Enrolment, TotpError> {
    let secret_base32 = BASE32_NOPAD.encode(secret);
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
    let uri = format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}",
        enc(issuer_name),
        enc(label),
        secret_base32,
        enc(issuer_name),
        DIGITS,
        STEP_SECONDS
    );
    let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(|_| TotpError::Sealed)?;
    let svg = qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build();
    let qr_svg_data_uri = format!(
        "data:image/svg+xml;base64,{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, svg)
    );
    Ok(Enrolment { secret_base32, uri, qr_svg_data_uri })
}

/// The confirmed authenticator's secret, if there is one.
async fn confirmed_secret(db: &Db, master: &MasterKey, account_id: &str) -> Result<Option<Vec<u8>>, TotpError> {
    match store::get_totp(db, account_id).await? {
        Some(row) if row.confirmed => {
            Ok(Some(master.open(&format!("totp:{account_id}"), &row.secret).map_err(|_| TotpError::Sealed)?))
        }
        _ => Ok(None),
    }
}

/// Confirms a fresh pending enrolment with a first code from the authenticator. The update
/// names the very secret the code was checked against, so a secret replaced meanwhile (or a
/// second confirmation) is not confirmed: once, and only for the secret that was shown.
pub async fn confirm_enrolment(
    db: &Db,
    master: &MasterKey,
    account_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, TotpError> {
    let Some(row) = store::get_totp(db, account_id).await?.filter(|r| fresh_pending(r, now)) else {
        return Ok(false);
    };
    let secret = master.open(&format!("totp:{account_id}"), &row.secret).map_err(|_| TotpError::Sealed)?;
    let Some(step) = matching_step(&secret, code, now) else { return Ok(false) };
    Ok(store::confirm_totp(db, account_id, &row.secret, step).await?)
}

pub async fn is_enrolled(db: &Db, account_id: &str) -> Result<bool, StoreError> {
    Ok(store::get_totp(db, account_id).await?.is_some_and(|r| r.confirmed))
}

/// Verifies a code at login: whether `code` is the account's code now (one step either side),
/// spending its step so a replay is refused. A database error before any code was compared
/// comes back as [`TotpError::Unread`]; one after it (spending the step) as [`TotpError::Store`].
pub async fn verify(db: &Db, master: &MasterKey, account_id: &str, code: &str, now: i64) -> Result<bool, TotpError> {
    let secret = match confirmed_secret(db, master, account_id).await {
        Err(TotpError::Store(e)) => return Err(TotpError::Unread(e)),
        read => read?,
    };
    let Some(secret) = secret else { return Ok(false) };
    let Some(step) = matching_step(&secret, code, now) else { return Ok(false) };
    Ok(store::use_totp_step(db, account_id, step).await?)
}

pub async fn remove(db: &Db, account_id: &str) -> Result<bool, StoreError> {
    store::delete_totp(db, account_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_test_vectors() {
        // RFC 6238 Appendix B, SHA1, 8 digits there; the last 6 digits are the 6-digit codes.
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
        ] {
            assert_eq!(hotp(secret, step_at(t) as u64), code % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn window_is_one_step_either_side() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = |step: i64| format!("{:06}", hotp(secret, step as u64));
        let s = step_at(now);
        assert_eq!(matching_step(secret, &code(s), now), Some(s));
        assert_eq!(matching_step(secret, &code(s - 1), now), Some(s - 1));
        assert_eq!(matching_step(secret, &code(s + 1), now), Some(s + 1));
        assert_eq!(matching_step(secret, &code(s - 2), now), None, "expired");
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
    }
}
