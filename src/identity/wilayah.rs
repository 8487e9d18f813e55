//! Kemendagri region codes (province, regency/city, district) used to check the first six digits of a NIK.
//!
//! Data: `kode_wilayah.csv`, embedded at build time. It holds province (2 digits),
//! regency/city (4) and district/kecamatan (6) codes with names and the editions in
//! which each code was valid (2018, 2020, 2022, 2023, 2025); only the 2025 edition is
//! current. A NIK keeps the code of the place where it was first issued, so a code from
//! any edition is still a real code.
//!
//! Source: the `db/wilayah.sql` (Kepmendagri No 300.2.2-2138 Tahun 2025) and
//! `db/archive/wilayah_20{18,20,22,23}.sql` files of the public repository
//! cahyadsn/wilayah, MIT License, Copyright (c) 2017-2025 Cahya DSN. Village codes
//! (10 digits) are left out. Keep this attribution wherever the data is copied.
//!
//! These are Kemendagri codes, not BPS codes: the two schemes differ (BPS 1101 =
//! Simeulue, Kemendagri 11.01 = Aceh Selatan), so never mix in BPS datasets.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

const CSV: &str = include_str!("kode_wilayah.csv");

/// The edition whose codes count as current.
const CURRENT_EDITION: &str = "2025";

/// One province, regency/city or district code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Region {
    pub code: &'static str,
    pub name: &'static str,
    pub level: RegionLevel,
    /// Valid in the 2025 edition.
    pub current: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionLevel {
    Province,
    Regency,
    District,
}

impl RegionLevel {
    fn from_tingkat(tingkat: &str) -> Option<Self> {
        match tingkat {
            "provinsi" => Some(Self::Province),
            "kabupaten_kota" => Some(Self::Regency),
            "kecamatan" => Some(Self::District),
            _ => None,
        }
    }

    fn code_len(self) -> usize {
        match self {
            Self::Province => 2,
            Self::Regency => 4,
            Self::District => 6,
        }
    }
}

/// Finds a region code from any edition (old codes stay valid inside existing NIKs).
pub fn lookup(code: &str) -> Option<&'static Region> {
    table().get(code)
}

/// Whether `code` is a 2-digit province code present in the 2025 edition.
pub fn is_current_province(code: &str) -> bool {
    lookup(code).is_some_and(|r| r.level == RegionLevel::Province && r.current)
}

fn table() -> &'static HashMap<&'static str, Region> {
    static TABLE: OnceLock<HashMap<&'static str, Region>> = OnceLock::new();
    TABLE.get_or_init(|| parse(CSV))
}

/// Skips any line it cannot make sense of: a bad data line must not take the
/// login path down, and the header row falls out the same way.
fn parse(csv: &'static str) -> HashMap<&'static str, Region> {
    let mut map = HashMap::new();
    for line in csv.lines() {
        let Some(region) = parse_line(line) else {
            continue;
        };
        // Should a code ever appear twice, the current row must win so that
        // `current` is not lost to an older duplicate.
        match map.get(region.code) {
            Some(existing) if existing_wins(existing, &region) => {}
            _ => {
                map.insert(region.code, region);
            }
        }
    }
    map
}

fn existing_wins(existing: &Region, new: &Region) -> bool {
    existing.current || !new.current
}

fn parse_line(line: &'static str) -> Option<Region> {
    // Only the name may contain a comma, so split the fixed fields off both ends.
    let (code, rest) = line.split_once(',')?;
    let (rest, editions) = rest.rsplit_once(',')?;
    let (name, tingkat) = rest.rsplit_once(',')?;

    let code = code.trim();
    let level = RegionLevel::from_tingkat(tingkat.trim())?;
    if code.len() != level.code_len() || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = unquote(name.trim());
    if name.is_empty() {
        return None;
    }
    let current = editions.split_whitespace().any(|e| e == CURRENT_EDITION);
    Some(Region { code, name, level, current })
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_current_regency() {
        let r = lookup("3509").unwrap();
        assert_eq!(r.name, "Kabupaten Jember");
        assert_eq!(r.level, RegionLevel::Regency);
        assert!(r.current);
    }

    #[test]
    fn lookup_province_and_district() {
        let p = lookup("35").unwrap();
        assert_eq!(p.name, "Jawa Timur");
        assert_eq!(p.level, RegionLevel::Province);
        assert!(p.current);

        let d = lookup("350912").unwrap();
        assert_eq!(d.name, "Ambulu");
        assert_eq!(d.level, RegionLevel::District);
        assert!(d.current);
    }

    #[test]
    fn lookup_old_edition_code_is_found_but_not_current() {
        // Merauke moved from 91.01 to 93.01 when Papua Selatan was created.
        let old = lookup("9101").unwrap();
        assert_eq!(old.name, "KAB. MERAUKE");
        assert!(!old.current);
        let new = lookup("9301").unwrap();
        assert_eq!(new.name, "Kabupaten Merauke");
        assert!(new.current);
        // A district only present in the 2022 edition.
        let d = lookup("910121").unwrap();
        assert_eq!(d.name, "Padua");
        assert!(!d.current);
    }

    #[test]
    fn lookup_unknown_codes() {
        assert!(lookup("").is_none());
        assert!(lookup("99").is_none());
        assert!(lookup("3569").is_none());
        assert!(lookup("350999").is_none());
        assert!(lookup("kode").is_none());
        assert!(lookup("35.09").is_none());
    }

    #[test]
    fn current_provinces() {
        assert!(is_current_province("11"));
        assert!(is_current_province("35"));
        // Papua Barat Daya only exists from the 2025 edition on.
        assert!(is_current_province("96"));
        assert!(!is_current_province("99"));
        assert!(!is_current_province("00"));
        assert!(!is_current_province("20"));
        assert!(!is_current_province("3509"));
        assert!(!is_current_province(""));
        let count = table().values().filter(|r| r.level == RegionLevel::Province && r.current).count();
        assert_eq!(count, 38);
    }

    #[test]
    fn whole_embedded_csv_is_parsed() {
        // 8458 lines minus the header.
        assert_eq!(table().len(), 8457);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let csv = "kode,nama,tingkat,berlaku_dalam\r\n\
                   11,Aceh,provinsi,2018 2025\r\n\
                   \r\n\
                   garbage\n\
                   12,Sumatera Utara\n\
                   1x,Bad,provinsi,2025\n\
                   123,Wrong Length,provinsi,2025\n\
                   1101,Wrong Level,provinsi,2025\n\
                   1102,Kabupaten X,desa,2025\n\
                   1103,,kabupaten_kota,2025\n\
                   1104,\"Kota A, B\",kabupaten_kota,2018\n\
                   ,,,\n\
                   ,\n";
        let map = parse(csv);
        assert_eq!(map.len(), 2);
        assert_eq!(map["11"].name, "Aceh");
        assert!(map["11"].current);
        assert_eq!(map["1104"].name, "Kota A, B");
        assert_eq!(map["1104"].level, RegionLevel::Regency);
        assert!(!map["1104"].current);
    }

    #[test]
    fn duplicate_code_keeps_current_row() {
        let csv = "11,Old,provinsi,2018\n11,New,provinsi,2025\n11,Older,provinsi,2020\n";
        let map = parse(csv);
        assert_eq!(map["11"].name, "New");
        assert!(map["11"].current);
    }

    #[test]
    fn region_serializes_level_lowercase() {
        let json = serde_json::to_string(lookup("3509").unwrap()).unwrap();
        assert_eq!(json, r#"{"code":"3509","name":"Kabupaten Jember","level":"regency","current":true}"#);
    }
}
