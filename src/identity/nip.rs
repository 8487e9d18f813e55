//! NIP (Nomor Induk Pegawai) of civil servants: normalization, validation and the facts encoded in it.
//!
//! Layouts (Perka BKN 22/2007 and 43/2007 for PNS, Peraturan BKN 1/2019 for PPPK):
//! - PNS: birth date YYYYMMDD (1-8), first appointment YYYYMM (9-14), gender (15), sequence (16-18).
//! - PPPK: birth date YYYYMMDD (1-8), appointment year (9-12), contract count (13-14, commonly
//!   "21"), gender (15), sequence (16-18).
//!
//! A NIP has no checksum, so these rules only catch numbers that cannot exist; they
//! cannot prove that a well-formed NIP belongs to anyone.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

const NIP_LEN: usize = 18;
const MIN_BIRTH_YEAR: i32 = 1940;
const MIN_APPOINTMENT_AGE: i32 = 18;

/// A NIP that passed [`parse_nip`]: exactly 18 ASCII digits, separators removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Nip(String);

impl Nip {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NipKind {
    Pns,
    Pppk,
}

/// Shared with the NIK module, which encodes the same two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NipInfo {
    pub nip: Nip,
    pub kind: NipKind,
    pub birth_date: NaiveDate,
    pub appointment_year: i32,
    /// `None` for PPPK, whose digits 13-14 are a contract count, not a month.
    pub appointment_month: Option<u32>,
    pub gender: Gender,
}

/// Why a NIP was rejected. `Display` is English for logs and API errors;
/// [`NipError::message_id`] is the text shown to users.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum NipError {
    /// `position` counts digits of the normalized NIP, starting at 1.
    #[error("NIP must contain only digits (found {found:?} at digit {position})")]
    NonDigit { position: usize, found: char },
    #[error("NIP must be 18 digits (found {found})")]
    Length { found: usize },
    #[error("NIP digits 1-8 must be a real birth date YYYYMMDD (found {found})")]
    BirthDateInvalid { found: String },
    #[error("NIP birth year must be 1940 or later (found {year})")]
    BirthYearTooEarly { year: i32 },
    #[error("NIP birth date must not be in the future (found {date})")]
    BirthDateInFuture { date: NaiveDate },
    /// `month` is `None` for PPPK, where only years are compared.
    #[error(
        "NIP appointment {} must be at least 18 years after birth (earliest {})",
        period_en(.year, .month),
        period_en(.earliest_year, .earliest_month)
    )]
    AppointmentBeforeAge18 { year: i32, month: Option<u32>, earliest_year: i32, earliest_month: Option<u32> },
    #[error(
        "NIP appointment {} must not be after the current {}",
        period_en(.year, .month),
        unit_en(.month)
    )]
    AppointmentInFuture { year: i32, month: Option<u32> },
    #[error("NIP digit 15 must be the gender 1 (male) or 2 (female) (found {found})")]
    Gender { found: char },
    #[error("NIP digits 16-18 (sequence number) must not be 000")]
    SequenceZero,
}

impl NipError {
    /// Stable machine-readable code for API responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NonDigit { .. } => "nip_non_digit",
            Self::Length { .. } => "nip_length",
            Self::BirthDateInvalid { .. } => "nip_birth_date_invalid",
            Self::BirthYearTooEarly { .. } => "nip_birth_year_too_early",
            Self::BirthDateInFuture { .. } => "nip_birth_date_future",
            Self::AppointmentBeforeAge18 { .. } => "nip_appointment_before_age_18",
            Self::AppointmentInFuture { .. } => "nip_appointment_future",
            Self::Gender { .. } => "nip_gender",
            Self::SequenceZero => "nip_sequence_zero",
        }
    }

    /// User-facing message in Bahasa Indonesia.
    pub fn message_id(&self) -> String {
        match self {
            Self::NonDigit { position, found } => {
                format!("NIP hanya boleh berisi angka (ditemukan '{found}' pada digit ke-{position})")
            }
            Self::Length { found } => {
                format!("NIP harus terdiri dari 18 digit (ditemukan {found} digit)")
            }
            Self::BirthDateInvalid { found } => format!(
                "Digit 1-8 NIP harus berupa tanggal lahir yang valid dengan format TTTTBBHH (ditemukan {found})"
            ),
            Self::BirthYearTooEarly { year } => {
                format!("Tahun lahir pada NIP tidak boleh sebelum 1940 (ditemukan {year})")
            }
            Self::BirthDateInFuture { date } => {
                format!("Tanggal lahir pada NIP tidak boleh melewati hari ini (ditemukan {})", date.format("%d-%m-%Y"))
            }
            Self::AppointmentBeforeAge18 { year, month, earliest_year, earliest_month } => format!(
                "Pengangkatan pada NIP ({}) terlalu awal: pegawai harus sudah berusia 18 tahun (paling cepat {})",
                period_id(*year, *month),
                period_id(*earliest_year, *earliest_month)
            ),
            Self::AppointmentInFuture { year, month } => format!(
                "Pengangkatan pada NIP ({}) tidak boleh melewati {} ini",
                period_id(*year, *month),
                if month.is_some() { "bulan" } else { "tahun" }
            ),
            Self::Gender { found } => format!(
                "Digit ke-15 NIP harus berupa kode jenis kelamin 1 (laki-laki) atau 2 (perempuan) (ditemukan {found})"
            ),
            Self::SequenceZero => "Nomor urut NIP (digit 16-18) tidak boleh 000".to_string(),
        }
    }
}

// thiserror hands fields to format arguments by reference.
fn period_en(year: &i32, month: &Option<u32>) -> String {
    match month {
        Some(m) => format!("{year:04}-{m:02}"),
        None => format!("{year:04}"),
    }
}

fn unit_en(month: &Option<u32>) -> &'static str {
    if month.is_some() {
        "month"
    } else {
        "year"
    }
}

fn period_id(year: i32, month: Option<u32>) -> String {
    const BULAN: [&str; 12] = [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ];
    let name = month.and_then(|m| usize::try_from(m).ok()).and_then(|m| m.checked_sub(1)).and_then(|i| BULAN.get(i));
    match name {
        Some(name) => format!("{name} {year}"),
        None => year.to_string(),
    }
}

/// Validates a NIP and extracts what it encodes. Checks run in digit order, so the
/// error names the first broken rule from the left.
///
/// # Errors
///
/// The first rule the normalized input breaks, as a [`NipError`] variant.
pub fn parse_nip(input: &str, today: NaiveDate) -> Result<NipInfo, NipError> {
    let (nip, digits) = normalize(input)?;
    let birth_date = birth_date(&digits, today)?;
    let (kind, appointment_year, appointment_month) = appointment(&digits, birth_date, today)?;
    let gender = match digits[14] {
        b'1' => Gender::Male,
        b'2' => Gender::Female,
        other => return Err(NipError::Gender { found: char::from(other) }),
    };
    if &digits[15..18] == b"000" {
        return Err(NipError::SequenceZero);
    }
    Ok(NipInfo { nip: Nip(nip), kind, birth_date, appointment_year, appointment_month, gender })
}

/// Users paste NIPs grouped as "19850312 201001 1 001" or with dots, and spreadsheets
/// add tabs or non-breaking spaces, so every kind of whitespace is dropped.
fn normalize(input: &str) -> Result<(String, [u8; NIP_LEN]), NipError> {
    let cleaned: String = input.chars().filter(|c| !c.is_whitespace() && *c != '.').collect();
    if let Some((i, c)) = cleaned.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(NipError::NonDigit { position: i + 1, found: c });
    }
    let digits =
        <[u8; NIP_LEN]>::try_from(cleaned.as_bytes()).map_err(|_| NipError::Length { found: cleaned.len() })?;
    Ok((cleaned, digits))
}

fn birth_date(digits: &[u8; NIP_LEN], today: NaiveDate) -> Result<NaiveDate, NipError> {
    let field = &digits[0..8];
    let year = number(&field[0..4]) as i32;
    let date = NaiveDate::from_ymd_opt(year, number(&field[4..6]), number(&field[6..8]))
        .ok_or_else(|| NipError::BirthDateInvalid { found: String::from_utf8_lossy(field).into_owned() })?;
    if year < MIN_BIRTH_YEAR {
        return Err(NipError::BirthYearTooEarly { year });
    }
    if date > today {
        return Err(NipError::BirthDateInFuture { date });
    }
    Ok(date)
}

/// Digits 13-14 decide the kind: a PPPK contract count such as "21" can never be a
/// month, while a PNS appointment month always is. A PPPK count of 01-12 would be
/// read as PNS; the layout leaves no way to tell those apart.
fn appointment(
    digits: &[u8; NIP_LEN],
    birth: NaiveDate,
    today: NaiveDate,
) -> Result<(NipKind, i32, Option<u32>), NipError> {
    let year = number(&digits[8..12]) as i32;
    let month_digits = number(&digits[12..14]);
    let month = (1..=12).contains(&month_digits).then_some(month_digits);
    let kind = if month.is_some() { NipKind::Pns } else { NipKind::Pppk };

    let earliest_year = birth.year() + MIN_APPOINTMENT_AGE;
    // Month precision because a PNS appointment month is known; the 18th birthday
    // month itself counts, since the NIP carries no appointment day to compare.
    let (too_early, in_future) = match month {
        Some(m) => ((year, m) < (earliest_year, birth.month()), (year, m) > (today.year(), today.month())),
        None => (year < earliest_year, year > today.year()),
    };
    if too_early {
        return Err(NipError::AppointmentBeforeAge18 {
            year,
            month,
            earliest_year,
            earliest_month: month.map(|_| birth.month()),
        });
    }
    if in_future {
        return Err(NipError::AppointmentInFuture { year, month });
    }
    Ok((kind, year, month))
}

/// Callers pass only ASCII digits, at most 4 of them, so this cannot overflow.
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

    fn err(input: &str) -> NipError {
        parse_nip(input, today()).unwrap_err()
    }

    fn ok(input: &str) -> NipInfo {
        match parse_nip(input, today()) {
            Ok(info) => info,
            Err(e) => panic!("{input} rejected: {e}"),
        }
    }

    // Valid baseline: born 1985-03-12, PNS appointed 2010-01, male, sequence 001.
    const PNS: &str = "198503122010011001";

    #[test]
    fn valid_pns() {
        let info = ok(PNS);
        assert_eq!(info.nip.as_str(), PNS);
        assert_eq!(info.nip.to_string(), PNS);
        assert_eq!(info.kind, NipKind::Pns);
        assert_eq!(info.birth_date, date(1985, 3, 12));
        assert_eq!(info.appointment_year, 2010);
        assert_eq!(info.appointment_month, Some(1));
        assert_eq!(info.gender, Gender::Male);
    }

    #[test]
    fn valid_pppk_with_contract_count_21() {
        let info = ok("199007152021212003");
        assert_eq!(info.kind, NipKind::Pppk);
        assert_eq!(info.birth_date, date(1990, 7, 15));
        assert_eq!(info.appointment_year, 2021);
        assert_eq!(info.appointment_month, None);
        assert_eq!(info.gender, Gender::Female);
    }

    #[test]
    fn kind_detection_from_digits_13_14() {
        assert_eq!(ok("198503122010121001").kind, NipKind::Pns);
        assert_eq!(ok("198503122010121001").appointment_month, Some(12));
        assert_eq!(ok("198503122010011001").kind, NipKind::Pns);
        for pppk in ["198503122010001001", "198503122010131001", "198503122010991001"] {
            let info = ok(pppk);
            assert_eq!(info.kind, NipKind::Pppk, "{pppk}");
            assert_eq!(info.appointment_month, None, "{pppk}");
        }
    }

    #[test]
    fn normalization_removes_spaces_and_dots() {
        for input in [
            "19850312 201001 1 001",
            "19850312.201001.1.001",
            " 1985.0312 2010.01 1.001 ",
            "19850312\t201001\u{a0}1 001\n",
        ] {
            assert_eq!(ok(input).nip.as_str(), PNS, "{input:?}");
        }
    }

    #[test]
    fn non_digit_rejected() {
        let e = err("19850312201001100A");
        assert_eq!(e, NipError::NonDigit { position: 18, found: 'A' });
        assert_eq!(e.code(), "nip_non_digit");
        // Position counts normalized digits, not raw characters.
        assert_eq!(err("1985 0312-201001 1 001"), NipError::NonDigit { position: 9, found: '-' });
        // Non-ASCII digits look like digits but are not accepted.
        assert_eq!(err("١٩٨٥٠٣١٢٢٠١٠٠١١٠٠١"), NipError::NonDigit { position: 1, found: '١' });
    }

    #[test]
    fn length_rejected() {
        let e = err("19850312201001100");
        assert_eq!(e, NipError::Length { found: 17 });
        assert_eq!(e.code(), "nip_length");
        assert_eq!(e.to_string(), "NIP must be 18 digits (found 17)");
        assert_eq!(err("1985031220100110011"), NipError::Length { found: 19 });
        assert_eq!(err(""), NipError::Length { found: 0 });
        assert_eq!(err(" . "), NipError::Length { found: 0 });
        // The old 9-digit NIP is not accepted here.
        assert_eq!(err("010123456"), NipError::Length { found: 9 });
    }

    #[test]
    fn birth_date_must_be_real() {
        let e = err("198502312010011001");
        assert_eq!(e, NipError::BirthDateInvalid { found: "19850231".into() });
        assert_eq!(e.code(), "nip_birth_date_invalid");
        assert_eq!(err("198513012010011001").code(), "nip_birth_date_invalid");
        assert_eq!(err("198503002010011001").code(), "nip_birth_date_invalid");
        // 29 February only in leap years.
        assert_eq!(ok("198402292010011001").birth_date, date(1984, 2, 29));
        assert_eq!(err("198502292010011001").code(), "nip_birth_date_invalid");
    }

    #[test]
    fn birth_year_from_1940() {
        let info = ok("194001011960011001");
        assert_eq!(info.birth_date, date(1940, 1, 1));
        let e = err("193912311960011001");
        assert_eq!(e, NipError::BirthYearTooEarly { year: 1939 });
        assert_eq!(e.code(), "nip_birth_year_too_early");
    }

    #[test]
    fn birth_date_not_in_future() {
        let e = err("202611242026111001");
        assert_eq!(e, NipError::BirthDateInFuture { date: date(2026, 11, 24) });
        assert_eq!(e.code(), "nip_birth_date_future");
        // Born today is not in the future; it then fails the age rule instead.
        assert_eq!(err("202611232026111001").code(), "nip_appointment_before_age_18");
        // Latest birth date that still allows an appointment this month.
        assert_eq!(ok("200811302026111001").birth_date, date(2008, 11, 30));
    }

    #[test]
    fn pns_appointment_at_least_18_by_month() {
        // Born March 1985: March 2003 is the 18th-birthday month.
        assert_eq!(ok("198503122003031001").appointment_month, Some(3));
        let e = err("198503122003021001");
        assert_eq!(
            e,
            NipError::AppointmentBeforeAge18 {
                year: 2003,
                month: Some(2),
                earliest_year: 2003,
                earliest_month: Some(3),
            }
        );
        assert_eq!(e.code(), "nip_appointment_before_age_18");
        assert_eq!(e.to_string(), "NIP appointment 2003-02 must be at least 18 years after birth (earliest 2003-03)");
    }

    #[test]
    fn pppk_appointment_at_least_18_by_year() {
        // Born December 1985: year-only comparison accepts 2003 even before the birthday.
        assert_eq!(ok("198512312003211001").kind, NipKind::Pppk);
        let e = err("198512312002211001");
        assert_eq!(
            e,
            NipError::AppointmentBeforeAge18 { year: 2002, month: None, earliest_year: 2003, earliest_month: None }
        );
        assert_eq!(e.code(), "nip_appointment_before_age_18");
    }

    #[test]
    fn pns_appointment_not_after_current_month() {
        assert_eq!(ok("198503122026111001").appointment_year, 2026);
        let e = err("198503122026121001");
        assert_eq!(e, NipError::AppointmentInFuture { year: 2026, month: Some(12) });
        assert_eq!(e.code(), "nip_appointment_future");
        assert_eq!(e.to_string(), "NIP appointment 2026-12 must not be after the current month");
    }

    #[test]
    fn pppk_appointment_not_after_current_year() {
        assert_eq!(ok("198503122026211001").appointment_year, 2026);
        let e = err("198503122027211001");
        assert_eq!(e, NipError::AppointmentInFuture { year: 2027, month: None });
        assert_eq!(e.code(), "nip_appointment_future");
    }

    #[test]
    fn gender_digit() {
        assert_eq!(ok("198503122010011001").gender, Gender::Male);
        assert_eq!(ok("198503122010012001").gender, Gender::Female);
        let e = err("198503122010013001");
        assert_eq!(e, NipError::Gender { found: '3' });
        assert_eq!(e.code(), "nip_gender");
        assert_eq!(err("198503122010010001"), NipError::Gender { found: '0' });
    }

    #[test]
    fn sequence_not_000() {
        assert!(parse_nip("198503122010011100", today()).is_ok());
        assert!(parse_nip("198503122010011999", today()).is_ok());
        let e = err("198503122010011000");
        assert_eq!(e, NipError::SequenceZero);
        assert_eq!(e.code(), "nip_sequence_zero");
    }

    #[test]
    fn first_broken_rule_from_the_left_is_reported() {
        // Bad birth date, bad gender and zero sequence at once.
        assert_eq!(err("198502312010013000").code(), "nip_birth_date_invalid");
    }

    #[test]
    fn message_id_is_indonesian_and_non_empty() {
        let errors = [
            err("19850312201001100A"),
            err("1985"),
            err("198502312010011001"),
            err("193912311960011001"),
            err("202611242026111001"),
            err("198503122003021001"),
            err("198503122027211001"),
            err("198503122010013001"),
            err("198503122010011000"),
        ];
        let mut codes: Vec<_> = errors.iter().map(NipError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len(), "every variant covered once");
        for e in &errors {
            assert!(!e.message_id().is_empty(), "{e:?}");
            assert!(!e.to_string().is_empty(), "{e:?}");
        }
        assert_eq!(err("1985").message_id(), "NIP harus terdiri dari 18 digit (ditemukan 4 digit)");
        assert_eq!(
            err("198503122003021001").message_id(),
            "Pengangkatan pada NIP (Februari 2003) terlalu awal: pegawai harus sudah berusia 18 tahun (paling cepat Maret 2003)"
        );
        assert!(err("198503122027211001").message_id().contains("tahun ini"));
    }

    #[test]
    fn serializes_as_plain_strings() {
        let info = ok(PNS);
        assert_eq!(serde_json::to_string(&info.nip).unwrap(), format!("\"{PNS}\""));
        assert_eq!(serde_json::to_string(&NipKind::Pns).unwrap(), "\"pns\"");
        assert_eq!(serde_json::to_string(&NipKind::Pppk).unwrap(), "\"pppk\"");
        assert_eq!(serde_json::to_string(&Gender::Female).unwrap(), "\"female\"");
    }
}
