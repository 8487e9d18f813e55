//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), accepted
//! one step either side of now, each step at most once. Secrets are sealed under the master key.

use std::time::Duration;

use aws_lc_rs::hmac;
use data_encoding::BASE32_NOPAD;

use crate::cache::{Cache, CacheError};
use crate::crypto::{self, MasterKey};
use crate::store::factors as store;
use crate::store::{Db, StoreError};

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// How long a started enrolment waits for its first code. Until then every showing of the
/// enrolment page in the same login session shows the same secret (a reload, a second tab or a
/// prefetch must not void the QR code being scanned); after it, the next showing makes a new one
/// and the old one can no longer be confirmed, so a secret left on an abandoned screen does not
/// stay usable for ever. Long enough to install an app and scan a code.
pub const PENDING_SECONDS: i64 = 15 * 60;

/// Cache key prefix of the record of the secrets shown to a session (see [`ShownTo`]).
pub const SHOWN_PREFIX: &str = "totp-shown:";
/// Secrets a session's record remembers: only its latest matters, the rest cover showings in
/// the session at the same moment.
const SHOWN_KEPT: usize = 16;
/// Writes of a new secret by one showing before it gives up: another session replacing the
/// pending secret at the very same moment is the only reason for more than one.
const START_ATTEMPTS: usize = 3;
/// Tries to add to a session's record, which only showings in that session contend for.
const RECORD_ATTEMPTS: usize = 16;
const HASH_LEN: usize = 32;

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
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Other showings kept replacing the pending secret; nothing was shown.
    #[error("the enrolment was started again elsewhere at the same moment")]
    Contended,
}

/// The single sign-on session (its `sid`) an enrolment is shown to. A pending secret is shown
/// again, and confirmed, only in the session that started it: were it shown to any session of
/// the account, whoever opened the enrolment page with a phished password (and was logged out
/// by the password change) would know the secret the person then scans, for good.
#[derive(Clone, Copy)]
pub struct ShownTo<'a> {
    pub cache: &'a Cache,
    pub sid: &'a str,
}

impl ShownTo<'_> {
    fn key(&self, account_id: &str) -> String {
        format!("{SHOWN_PREFIX}{account_id}:{}", self.sid)
    }

    /// The session's record: the SHA-256 of each sealed secret it started, concatenated.
    async fn record(&self, account_id: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.cache.get(&self.key(account_id)).await
    }

    /// Adds `sealed` to the session's record (`seen`: as last read). Done before the secret is
    /// stored, so a showing in the same session that reads the stored row finds it recorded.
    async fn add(&self, account_id: &str, sealed: &[u8], mut seen: Option<Vec<u8>>) -> Result<(), TotpError> {
        let (key, ttl) = (self.key(account_id), Duration::from_secs(PENDING_SECONDS.unsigned_abs()));
        for _ in 0..RECORD_ATTEMPTS {
            let mut record = seen.clone().filter(|r| r.len() % HASH_LEN == 0).unwrap_or_default();
            record.extend_from_slice(&crypto::sha256(sealed));
            record.drain(..record.len().saturating_sub(SHOWN_KEPT * HASH_LEN));
            if self.cache.swap(&key, seen.as_deref(), &record, ttl).await? {
                return Ok(());
            }
            seen = self.record(account_id).await?;
        }
        Err(TotpError::Contended)
    }
}

/// Whether the sealed secret `sealed` is in a session's `record`.
fn started_in(record: Option<&[u8]>, sealed: &[u8]) -> bool {
    let hash = crypto::sha256(sealed);
    record.is_some_and(|r| r.chunks_exact(HASH_LEN).any(|h| h == hash.as_slice()))
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

/// A new 160-bit secret (RFC 4226 §4 recommends 160 bits), sealed.
fn new_sealed(master: &MasterKey, account_id: &str) -> Result<Vec<u8>, TotpError> {
    let secret: [u8; 20] = crypto::random_bytes().map_err(|_| TotpError::Sealed)?;
    master.seal(&format!("totp:{account_id}"), &secret).map_err(|_| TotpError::Sealed)
}

/// The enrolment to show to session `to`: the pending one while it is fresh and was started in
/// this session, else one started with a new secret, replacing any other session's. Showings
/// in one session at once end with one secret: each records its new one for the session before
/// storing it, only one of them stores, and the others find the stored one recorded.
pub async fn start_enrolment_for(
    db: &Db,
    master: &MasterKey,
    account_id: &str,
    to: ShownTo<'_>,
    label: &str,
    issuer_name: &str,
    now: i64,
) -> Result<Enrolment, TotpError> {
    let mut writes = 0;
    let stored = loop {
        // The row before the record: a secret stored by a showing in this session was recorded
        // before it was stored, so it is in a record read after the row.
        let row = store::get_totp(db, account_id).await?;
        let record = to.record(account_id).await?;
        let other = match row {
            Some(r) if r.confirmed => return Err(TotpError::Enrolled),
            Some(r) if fresh_pending(&r, now) && started_in(record.as_deref(), &r.secret) => break r,
            None if writes > 0 => return Err(TotpError::Removed),
            row => row.filter(|r| fresh_pending(r, now)),
        };
        if writes == START_ATTEMPTS {
            return Err(TotpError::Contended);
        }
        let sealed = new_sealed(master, account_id)?;
        to.add(account_id, &sealed, record).await?;
        match other {
            // Replaced only while it is still the one read, so that showings in this session
            // at once replace it once.
            Some(r) => store::replace_pending_totp(db, account_id, &r.secret, &sealed, now).await?,
            None => store::start_pending_totp(db, account_id, &sealed, now, now - PENDING_SECONDS).await?,
        };
        writes += 1;
    };
    let secret = master.open(&format!("totp:{account_id}"), &stored.secret).map_err(|_| TotpError::Sealed)?;
    enrolment(&secret, label, issuer_name)
}

/// The enrolment to show, bound to no session: the pending one while it is fresh, whoever was
/// shown it. For tools and tests that set an authenticator up directly; a page shows
/// [`start_enrolment_for`]. Two showings at once end with one secret: the new one is stored
/// only where no fresh one is, and what is stored is what is shown.
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
            let sealed = new_sealed(master, account_id)?;
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

/// Confirms, with a first code from the authenticator, the fresh pending enrolment started in
/// session `to`. One started in another session is refused as a wrong code is: whoever else
/// was shown it knows its codes.
pub async fn confirm_enrolment_for(
    db: &Db,
    master: &MasterKey,
    account_id: &str,
    to: ShownTo<'_>,
    code: &str,
    now: i64,
) -> Result<bool, TotpError> {
    let Some(row) = store::get_totp(db, account_id).await?.filter(|r| fresh_pending(r, now)) else {
        return Ok(false);
    };
    if !started_in(to.record(account_id).await?.as_deref(), &row.secret) {
        return Ok(false);
    }
    confirm_row(db, master, account_id, &row, code, now).await
}

/// Confirms a fresh pending enrolment, bound to no session, with a first code (for tools and
/// tests, as [`start_enrolment`]; a page confirms with [`confirm_enrolment_for`]).
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
    confirm_row(db, master, account_id, &row, code, now).await
}

/// Confirms `row` if `code` is one of its codes. The update names the very secret the code was
/// checked against, so a secret replaced meanwhile (or a second confirmation) is not
/// confirmed: once, and only for the secret that was shown.
async fn confirm_row(
    db: &Db,
    master: &MasterKey,
    account_id: &str,
    row: &store::TotpRow,
    code: &str,
    now: i64,
) -> Result<bool, TotpError> {
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
