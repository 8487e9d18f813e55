//! NIK (Nomor Induk Kependudukan) of citizens: normalization, validation and the facts encoded in it.
//!
//! Layout: province (1-2), regency/city (3-4; 01-69 kabupaten, 71-99 kota),
//! district/kecamatan (5-6) of first registration, birth date DDMMYY with 40 added to
//! the day for women (7-12), sequence from 0001 (13-16).
//!
//! A NIK is never reissued when its date or region is wrong, so the decoded birth date
//! and gender are hints, and a region code missing from our data is only a warning.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::nip::Gender;
use super::wilayah::{self, RegionLevel};

const NIK_LEN: usize = 16;
const WOMEN_DAY_OFFSET: u32 = 40;

/// A NIK that passed [`parse_nik`]: exactly 16 ASCII digits, separators removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Nik(String);

impl Nik {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nik {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NikInfo {
    pub nik: Nik,
    /// Digits 1-2.
    pub province_code: String,
    /// Digits 1-4.
    pub regency_code: String,
    /// Digits 1-6.
    pub district_code: String,
    pub birth_date: NaiveDate,
    pub gender: Gender,
    pub warnings: Vec<NikWarning>,
}

/// Region codes that no edition of the Kemendagri list knows. Not errors: regions
/// split and get renumbered, and our data may lag behind Dukcapil.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "code", content = "region")]
pub enum NikWarning {
    /// The 4-digit regency/city code.
    #[serde(rename = "nik_unknown_regency")]
    UnknownRegency(String),
    /// The 6-digit district code.
    #[serde(rename = "nik_unknown_district")]
    UnknownDistrict(String),
}

impl NikWarning {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownRegency(_) => "nik_unknown_regency",
            Self::UnknownDistrict(_) => "nik_unknown_district",
        }
    }

    /// User-facing message in Bahasa Indonesia.
    pub fn message_id(&self) -> String {
        match self {
            Self::UnknownRegency(code) => {
                format!("Kode kabupaten/kota {} pada NIK tidak ditemukan dalam data wilayah Kemendagri", dotted(code))
            }
            Self::UnknownDistrict(code) => {
                format!("Kode kecamatan {} pada NIK tidak ditemukan dalam data wilayah Kemendagri", dotted(code))
            }
        }
    }
}

impl fmt::Display for NikWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownRegency(code) => {
                write!(f, "NIK regency/city code {} is not in any edition of the Kemendagri region list", dotted(code))
            }
            Self::UnknownDistrict(code) => {
                write!(f, "NIK district code {} is not in any edition of the Kemendagri region list", dotted(code))
            }
        }
    }
}

/// Why a NIK was rejected. `Display` is English for logs and API errors;
/// [`NikError::message_id`] is the text shown to users.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum NikError {
    /// `position` counts digits of the normalized NIK, starting at 1.
    #[error("NIK must contain only digits (found {found:?} at digit {position})")]
    NonDigit { position: usize, found: char },
    #[error("NIK must be 16 digits (found {found})")]
    Length { found: usize },
    #[error("NIK digits 1-2 must be a current province code (found {code})")]
    Province { code: String },
    #[error("NIK digits 3-4 must be a regency code 01-69 or a city code 71-99 (found {code})")]
    Regency { code: String },
    #[error("NIK digits 7-8 must be a birth day 01-31, or 41-71 for women (found {found:02})")]
    BirthDay { found: u32 },
    #[error("NIK digits 9-10 must be a birth month 01-12 (found {found:02})")]
    BirthMonth { found: u32 },
    /// `day` is the calendar day, with the 40 for women already removed.
    #[error("NIK digits 7-12 must be a real calendar date (found {year:04}-{month:02}-{day:02})")]
    BirthDateInvalid { year: i32, month: u32, day: u32 },
    #[error("NIK digits 13-16 (sequence number) must not be 0000")]
    SequenceZero,
}

impl NikError {
    /// Stable machine-readable code for API responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NonDigit { .. } => "nik_non_digit",
            Self::Length { .. } => "nik_length",
            Self::Province { .. } => "nik_province",
            Self::Regency { .. } => "nik_regency",
            Self::BirthDay { .. } => "nik_birth_day",
            Self::BirthMonth { .. } => "nik_birth_month",
            Self::BirthDateInvalid { .. } => "nik_birth_date_invalid",
            Self::SequenceZero => "nik_sequence_zero",
        }
    }

    /// User-facing message in Bahasa Indonesia.
    pub fn message_id(&self) -> String {
        match self {
            Self::NonDigit { position, found } => format!(
                "NIK hanya boleh berisi angka (ditemukan '{found}' pada digit ke-{position})"
            ),
            Self::Length { found } => {
                format!("NIK harus terdiri dari 16 digit (ditemukan {found} digit)")
            }
            Self::Province { code } => format!(
                "Digit 1-2 NIK harus berupa kode provinsi yang berlaku (ditemukan {code})"
            ),
            Self::Regency { code } => format!(
                "Digit 3-4 NIK harus berupa kode kabupaten 01-69 atau kode kota 71-99 (ditemukan {code})"
            ),
            Self::BirthDay { found } => format!(
                "Digit 7-8 NIK harus berupa tanggal lahir 01-31, atau 41-71 untuk perempuan (ditemukan {found:02})"
            ),
            Self::BirthMonth { found } => format!(
                "Digit 9-10 NIK harus berupa bulan lahir 01-12 (ditemukan {found:02})"
            ),
            Self::BirthDateInvalid { year, month, day } => format!(
                "Digit 7-12 NIK harus berupa tanggal lahir yang ada di kalender (ditemukan {day:02}-{month:02}-{year:04})"
            ),
            Self::SequenceZero => "Nomor urut NIK (digit 13-16) tidak boleh 0000".to_string(),
        }
    }
}

/// Region codes are usually written dotted ("35.09.12"), which is how users know them.
fn dotted(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / 2);
    for (i, c) in code.chars().enumerate() {
        if i > 0 && i % 2 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// Validates a NIK and extracts what it encodes. Checks run in digit order, so the
/// error names the first broken rule from the left.
///
/// # Errors
///
/// The first rule the normalized input breaks, as a [`NikError`] variant.
pub fn parse_nik(input: &str, today: NaiveDate) -> Result<NikInfo, NikError> {
    let (nik, digits) = normalize(input)?;

    let province_code = ascii(&digits[0..2]);
    if !wilayah::is_current_province(&province_code) {
        return Err(NikError::Province { code: province_code });
    }
    let regency_digits = &digits[2..4];
    if regency_digits == b"00" || regency_digits == b"70" {
        return Err(NikError::Regency { code: ascii(regency_digits) });
    }
    let regency_code = ascii(&digits[0..4]);
    let district_code = ascii(&digits[0..6]);

    let (birth_date, gender) = birth(&digits, today)?;

    if &digits[12..16] == b"0000" {
        return Err(NikError::SequenceZero);
    }

    let warnings = region_warnings(&regency_code, &district_code);
    Ok(NikInfo { nik: Nik(nik), province_code, regency_code, district_code, birth_date, gender, warnings })
}

/// Users copy NIKs grouped as "35.09.12.120385.0001" or with spaces, and spreadsheets
/// add tabs or non-breaking spaces, so every kind of whitespace is dropped.
fn normalize(input: &str) -> Result<(String, [u8; NIK_LEN]), NikError> {
    let cleaned: String = input.chars().filter(|c| !c.is_whitespace() && *c != '.').collect();
    if let Some((i, c)) = cleaned.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(NikError::NonDigit { position: i + 1, found: c });
    }
    let digits =
        <[u8; NIK_LEN]>::try_from(cleaned.as_bytes()).map_err(|_| NikError::Length { found: cleaned.len() })?;
    Ok((cleaned, digits))
}

fn birth(digits: &[u8; NIK_LEN], today: NaiveDate) -> Result<(NaiveDate, Gender), NikError> {
    let day_digits = number(&digits[6..8]);
    let month = number(&digits[8..10]);
    let yy = number(&digits[10..12]);

    let (day, gender) = match day_digits {
        1..=31 => (day_digits, Gender::Male),
        41..=71 => (day_digits - WOMEN_DAY_OFFSET, Gender::Female),
        _ => return Err(NikError::BirthDay { found: day_digits }),
    };
    if !(1..=12).contains(&month) {
        return Err(NikError::BirthMonth { found: month });
    }

    // Two-digit years: take the most recent century that does not put the birth
    // after today. Deciding on (YY, month, day) before building the date keeps an
    // impossible day from pushing the year into the other century.
    let today_yy = today.year().rem_euclid(100) as u32;
    let century = today.year() - today.year().rem_euclid(100);
    let year = if (yy, month, day) <= (today_yy, today.month(), today.day()) {
        century + yy as i32
    } else {
        century - 100 + yy as i32
    };

    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(NikError::BirthDateInvalid { year, month, day })?;
    Ok((date, gender))
}

fn region_warnings(regency_code: &str, district_code: &str) -> Vec<NikWarning> {
    let known = |code: &str, level: RegionLevel| wilayah::lookup(code).is_some_and(|r| r.level == level);
    // An unknown regency makes its districts unknown too; one warning says it all.
    if !known(regency_code, RegionLevel::Regency) {
        vec![NikWarning::UnknownRegency(regency_code.to_string())]
    } else if !known(district_code, RegionLevel::District) {
        vec![NikWarning::UnknownDistrict(district_code.to_string())]
    } else {
        Vec::new()
    }
}

fn ascii(digits: &[u8]) -> String {
    String::from_utf8_lossy(digits).into_owned()
}

/// Callers pass only ASCII digits, at most 2 of them, so this cannot overflow.
fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |acc, d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn err(input: &str) -> NikError {
        parse_nik(input, today()).unwrap_err()
    }

    fn ok(input: &str) -> NikInfo {
        match parse_nik(input, today()) {
            Ok(info) => info,
            Err(e) => panic!("{input} rejected: {e}"),
        }
    }

    /// Kabupaten Jember (35.09), Kecamatan Ambulu (35.09.12), born 12-03-1985, man.
    const MAN: &str = "3509121203850001";
    /// Same district, born 12-03-2005, woman (day 12 + 40 = 52).
    const WOMAN: &str = "3509125203050001";

    #[test]
    fn valid_man() {
        let info = ok(MAN);
        assert_eq!(info.nik.as_str(), MAN);
        assert_eq!(info.nik.to_string(), MAN);
        assert_eq!(info.province_code, "35");
        assert_eq!(info.regency_code, "3509");
        assert_eq!(info.district_code, "350912");
        assert_eq!(info.birth_date, date(1985, 3, 12));
        assert_eq!(info.gender, Gender::Male);
        assert!(info.warnings.is_empty());
    }

    #[test]
    fn valid_woman_has_day_plus_40() {
        let info = ok(WOMAN);
        assert_eq!(info.birth_date, date(2005, 3, 12));
        assert_eq!(info.gender, Gender::Female);
        assert!(info.warnings.is_empty());
    }

    #[test]
    fn normalization_removes_spaces_and_dots() {
        for input in
            ["35.09.12.120385.0001", "3509 1212 0385 0001", " 35.09.12 120385 0001\n", "3509121203850001\u{a0}"]
        {
            assert_eq!(ok(input).nik.as_str(), MAN, "{input:?}");
        }
    }

    #[test]
    fn non_digit_rejected() {
        let e = err("35091212O3850001");
        assert_eq!(e, NikError::NonDigit { position: 9, found: 'O' });
        assert_eq!(e.code(), "nik_non_digit");
        assert_eq!(err("35-09-12").code(), "nik_non_digit");
    }

    #[test]
    fn length_rejected() {
        let e = err("350912120385001");
        assert_eq!(e, NikError::Length { found: 15 });
        assert_eq!(e.code(), "nik_length");
        assert_eq!(e.to_string(), "NIK must be 16 digits (found 15)");
        assert_eq!(err("35091212038500011"), NikError::Length { found: 17 });
        assert_eq!(err(""), NikError::Length { found: 0 });
    }

    #[test]
    fn province_must_be_current() {
        // Papua Barat Daya (96) exists only from the 2025 edition.
        assert_eq!(ok("9601011203850001").province_code, "96");
        assert_eq!(ok("1101011203850001").province_code, "11");
        let e = err("9909121203850001");
        assert_eq!(e, NikError::Province { code: "99".into() });
        assert_eq!(e.code(), "nik_province");
        assert_eq!(err("0009121203850001").code(), "nik_province");
        assert_eq!(err("2009121203850001").code(), "nik_province");
    }

    #[test]
    fn regency_digits_00_and_70_rejected() {
        // Boundaries 01, 69, 71 and 99 are accepted (69 and 99 do not exist in
        // Jawa Timur, so they only warn).
        assert_eq!(ok("3501011203850001").regency_code, "3501");
        assert_eq!(ok("3569011203850001").regency_code, "3569");
        assert_eq!(ok("3571011203850001").regency_code, "3571");
        assert_eq!(ok("3599011203850001").regency_code, "3599");
        let e = err("3500121203850001");
        assert_eq!(e, NikError::Regency { code: "00".into() });
        assert_eq!(e.code(), "nik_regency");
        assert_eq!(err("3570121203850001"), NikError::Regency { code: "70".into() });
    }

    #[test]
    fn birth_day_ranges() {
        assert_eq!(ok("3509120101850001").birth_date, date(1985, 1, 1));
        assert_eq!(ok("3509123101850001").birth_date, date(1985, 1, 31));
        let woman_first = ok("3509124101850001");
        assert_eq!(woman_first.birth_date, date(1985, 1, 1));
        assert_eq!(woman_first.gender, Gender::Female);
        let woman_last = ok("3509127101850001");
        assert_eq!(woman_last.birth_date, date(1985, 1, 31));
        assert_eq!(woman_last.gender, Gender::Female);
        for (input, day) in [
            ("3509120001850001", 0),
            ("3509123201850001", 32),
            ("3509124001850001", 40),
            ("3509127201850001", 72),
            ("3509129901850001", 99),
        ] {
            let e = err(input);
            assert_eq!(e, NikError::BirthDay { found: day });
            assert_eq!(e.code(), "nik_birth_day");
        }
    }

    #[test]
    fn birth_month_range() {
        assert_eq!(ok("3509121212850001").birth_date, date(1985, 12, 12));
        let e = err("3509121213850001");
        assert_eq!(e, NikError::BirthMonth { found: 13 });
        assert_eq!(e.code(), "nik_birth_month");
        assert_eq!(err("3509121200850001"), NikError::BirthMonth { found: 0 });
    }

    #[test]
    fn birth_date_must_exist() {
        let e = err("3509123102850001");
        assert_eq!(e, NikError::BirthDateInvalid { year: 1985, month: 2, day: 31 });
        assert_eq!(e.code(), "nik_birth_date_invalid");
        assert_eq!(err("3509123104850001").code(), "nik_birth_date_invalid");
        // Women: 71 = day 31, still impossible in April.
        assert_eq!(err("3509127104850001"), NikError::BirthDateInvalid { year: 1985, month: 4, day: 31 });
    }

    #[test]
    fn leap_years() {
        assert_eq!(ok("3509122902040001").birth_date, date(2004, 2, 29));
        assert_eq!(ok("3509126902840001").birth_date, date(1984, 2, 29));
        // 2000 is a leap year (divisible by 400).
        assert_eq!(ok("3509122902000001").birth_date, date(2000, 2, 29));
        let e = err("3509122902050001");
        assert_eq!(e, NikError::BirthDateInvalid { year: 2005, month: 2, day: 29 });
        assert_eq!(err("3509126902850001").code(), "nik_birth_date_invalid");
    }

    #[test]
    fn century_choice() {
        assert_eq!(ok("3509121203050001").birth_date.year(), 2005);
        assert_eq!(ok("3509121203850001").birth_date.year(), 1985);
        assert_eq!(ok("3509120101000001").birth_date, date(2000, 1, 1));
        // Today's YY: earlier this year and today itself are this century...
        assert_eq!(ok("3509120101260001").birth_date, date(2026, 1, 1));
        assert_eq!(ok("3509122311260001").birth_date, date(2026, 11, 23));
        assert_eq!(ok("3509126311260001").birth_date, date(2026, 11, 23));
        // ...but tomorrow or later this year would be in the future, so the last century.
        assert_eq!(ok("3509122411260001").birth_date, date(1926, 11, 24));
        assert_eq!(ok("3509120112260001").birth_date, date(1926, 12, 1));
        assert_eq!(ok("3509120101270001").birth_date, date(1927, 1, 1));
        assert_eq!(ok("3509123112990001").birth_date, date(1999, 12, 31));
    }

    #[test]
    fn century_follows_today() {
        let in_2101 = NaiveDate::from_ymd_opt(2101, 6, 1).unwrap();
        let info = parse_nik("3509120101010001", in_2101).unwrap();
        assert_eq!(info.birth_date, date(2101, 1, 1));
        let info = parse_nik("3509120101500001", in_2101).unwrap();
        assert_eq!(info.birth_date, date(2050, 1, 1));
    }

    #[test]
    fn sequence_not_0000() {
        assert!(parse_nik("3509121203851000", today()).is_ok());
        assert!(parse_nik("3509121203859999", today()).is_ok());
        let e = err("3509121203850000");
        assert_eq!(e, NikError::SequenceZero);
        assert_eq!(e.code(), "nik_sequence_zero");
    }

    #[test]
    fn unknown_district_warns() {
        // Jember has districts 350901-350931; 350999 does not exist in any edition.
        let info = ok("3509991203850001");
        assert_eq!(info.warnings, vec![NikWarning::UnknownDistrict("350999".into())]);
        let w = &info.warnings[0];
        assert_eq!(w.code(), "nik_unknown_district");
        assert_eq!(w.to_string(), "NIK district code 35.09.99 is not in any edition of the Kemendagri region list");
        assert!(w.message_id().contains("kecamatan 35.09.99"));
    }

    #[test]
    fn unknown_regency_warns_once() {
        let info = ok("3569991203850001");
        assert_eq!(info.warnings, vec![NikWarning::UnknownRegency("3569".into())]);
        assert_eq!(info.warnings[0].code(), "nik_unknown_regency");
        assert!(info.warnings[0].message_id().contains("kabupaten/kota 35.69"));
    }

    #[test]
    fn old_edition_codes_do_not_warn() {
        // 91.01 (Merauke, before Papua Selatan) and 91.01.21 (2022 edition only).
        let info = ok("9101211203850001");
        assert!(info.warnings.is_empty(), "{:?}", info.warnings);
        assert_eq!(info.district_code, "910121");
    }

    #[test]
    fn first_broken_rule_from_the_left_is_reported() {
        assert_eq!(err("9900003102850000").code(), "nik_province");
        assert_eq!(err("3500003102850000").code(), "nik_regency");
        assert_eq!(err("3509003102850000").code(), "nik_birth_date_invalid");
    }

    #[test]
    fn message_id_is_indonesian_and_non_empty() {
        let errors = [
            err("35091212O3850001"),
            err("3509"),
            err("9909121203850001"),
            err("3500121203850001"),
            err("3509123201850001"),
            err("3509121213850001"),
            err("3509123102850001"),
            err("3509121203850000"),
        ];
        let mut codes: Vec<_> = errors.iter().map(NikError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len(), "every variant covered once");
        for e in &errors {
            assert!(!e.message_id().is_empty(), "{e:?}");
            assert!(!e.to_string().is_empty(), "{e:?}");
        }
        assert_eq!(err("3509").message_id(), "NIK harus terdiri dari 16 digit (ditemukan 4 digit)");
        assert_eq!(
            err("3509123102850001").message_id(),
            "Digit 7-12 NIK harus berupa tanggal lahir yang ada di kalender (ditemukan 31-02-1985)"
        );
    }

    #[test]
    fn serializes_as_plain_strings() {
        let info = ok(MAN);
        assert_eq!(serde_json::to_string(&info.nik).unwrap(), format!("\"{MAN}\""));
        assert_eq!(
            serde_json::to_string(&NikWarning::UnknownRegency("3569".into())).unwrap(),
            r#"{"code":"nik_unknown_regency","region":"3569"}"#
        );
    }
}
