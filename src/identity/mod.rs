//! Who people are: NIP and NIK validation, region codes, and accounts.

pub mod accounts;
pub mod admin;
pub mod contact;
pub mod directory;
pub mod levels;
pub mod nik;
pub mod nip;
pub mod opd;
pub mod profile;
pub mod roles;
pub mod wilayah;

/// Today's date in Western Indonesia Time (UTC+7), the date people and their documents use.
pub fn today(now: i64) -> chrono::NaiveDate {
    let wib = now.saturating_add(7 * 3600);
    chrono::DateTime::from_timestamp(wib, 0).map(|d| d.date_naive()).unwrap_or_default()
}
