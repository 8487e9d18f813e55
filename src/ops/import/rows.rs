//! The column layouts of the two imports and the check of one row against them, without the
//! database: the same rules as accounts typed in one at a time (NIP, NIK, name, profile schema,
//! contact details), so a file cannot bring in what the console would refuse.

use std::collections::HashMap;

use chrono::NaiveDate;
use csv::StringRecord;
use serde_json::{Map, Value};

use crate::identity::accounts::{valid_name, AccountKind, AccountStatus};
use crate::identity::{contact, nik, nip, profile};

/// Which people a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// Civil servants from the personnel system (SIMPEG/SIASN), keyed by NIP.
    Asn,
    /// Citizens from the population data, keyed by NIK.
    Citizens,
}

impl ImportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Asn => "asn",
            ImportKind::Citizens => "citizens",
        }
    }

    pub fn account_kind(self) -> AccountKind {
        match self {
            ImportKind::Asn => AccountKind::Asn,
            ImportKind::Citizens => AccountKind::Citizen,
        }
    }

    fn key(self) -> Field {
        match self {
            ImportKind::Asn => Field::Nip,
            ImportKind::Citizens => Field::Nik,
        }
    }

    fn accepts(self, f: Field) -> bool {
        match self {
            ImportKind::Asn => true,
            ImportKind::Citizens => matches!(f, Field::Nik | Field::Name | Field::Email | Field::Phone | Field::Status),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Nip,
    Nik,
    Name,
    Unit,
    /// A profile attribute of `identity::profile::SCHEMA`.
    Attr(&'static str),
    Email,
    Phone,
    Status,
}

impl Field {
    /// The documented header and the names exports commonly use for it (compared in lower case,
    /// spaces and dashes read as `_`).
    fn from_header(h: &str) -> Option<Field> {
        Some(match h {
            "nip" | "nip_baru" => Field::Nip,
            "nik" => Field::Nik,
            "nama" | "name" | "nama_lengkap" => Field::Name,
            "kode_opd" | "opd" | "unit" | "kode_unit" => Field::Unit,
            "jabatan" => Field::Attr("jabatan"),
            "golongan" | "gol_ruang" => Field::Attr("golongan"),
            "pangkat" => Field::Attr("pangkat"),
            "eselon" => Field::Attr("eselon"),
            "jenis_pegawai" => Field::Attr("jenis_pegawai"),
            "email" | "surel" => Field::Email,
            "telepon" | "phone" | "phone_number" | "no_hp" | "nomor_hp" => Field::Phone,
            "status" => Field::Status,
            _ => return None,
        })
    }
}

/// Status words of personnel and population exports, in Indonesian or English.
pub fn parse_status(s: &str) -> Option<AccountStatus> {
    match s.trim().to_lowercase().as_str() {
        "aktif" | "active" => Some(AccountStatus::Active),
        "ditangguhkan" | "suspended" => Some(AccountStatus::Suspended),
        "pensiun" | "retired" => Some(AccountStatus::Retired),
        "diberhentikan" | "berhenti" | "dismissed" => Some(AccountStatus::Dismissed),
        _ => None,
    }
}

/// Where each known column of a file is.
#[derive(Debug)]
pub struct Layout {
    kind: ImportKind,
    columns: Vec<(usize, Field)>,
    width: usize,
    /// Headers this import does not read (exports carry many more columns), for the summary.
    pub ignored: Vec<String>,
}

impl Layout {
    /// Reads the header row: the key column and the name are required, a known column may appear
    /// only once, anything else is ignored and named.
    pub fn new(kind: ImportKind, header: &StringRecord) -> Result<Layout, String> {
        let mut columns: Vec<(usize, Field)> = Vec::new();
        let mut ignored = Vec::new();
        for (i, raw) in header.iter().enumerate() {
            let h = raw.trim_start_matches('\u{feff}').trim().to_lowercase().replace([' ', '-'], "_");
            match Field::from_header(&h).filter(|f| kind.accepts(*f)) {
                Some(f) => {
                    if columns.iter().any(|(_, g)| *g == f) {
                        return Err(format!("the header names the column `{raw}` twice"));
                    }
                    columns.push((i, f));
                }
                None if h.is_empty() => {}
                None => ignored.push(raw.trim().to_string()),
            }
        }
        for required in [kind.key(), Field::Name] {
            if !columns.iter().any(|(_, f)| *f == required) {
                let name = if required == Field::Name { "nama" } else { kind.key_name() };
                return Err(format!("the header has no `{name}` column (see docs/impor.md for the layout)"));
            }
        }
        Ok(Layout { kind, columns, width: header.len(), ignored })
    }

    pub fn has_status(&self) -> bool {
        self.columns.iter().any(|(_, f)| *f == Field::Status)
    }

    /// Checks one data row. `units` maps OPD unit codes to ids. The reason names the column.
    pub fn check(
        &self,
        rec: &StringRecord,
        units: &HashMap<String, String>,
        today: NaiveDate,
    ) -> Result<Checked, String> {
        if rec.len() != self.width {
            return Err(format!("expected {} fields like the header, found {}", self.width, rec.len()));
        }
        let mut c = Checked::default();
        let mut name = None;
        for &(i, field) in &self.columns {
            let v = rec.get(i).unwrap_or("").trim();
            match field {
                Field::Nip => {
                    let n = nip::parse_nip(v, today).map_err(|e| format!("nip: {e}"))?;
                    c.key = n.nip.as_str().to_string();
                }
                Field::Nik if self.kind == ImportKind::Citizens => {
                    let n = nik::parse_nik(v, today).map_err(|e| format!("nik: {e}"))?;
                    c.key = n.nik.as_str().to_string();
                }
                Field::Nik if !v.is_empty() => {
                    let n = nik::parse_nik(v, today).map_err(|e| format!("nik: {e}"))?;
                    c.nik = Some(n.nik.as_str().to_string());
                }
                Field::Name => {
                    name = Some(valid_name(v).ok_or("nama: a name of 1 to 200 characters without control characters")?);
                }
                Field::Unit if !v.is_empty() => {
                    let id = units.get(v).ok_or_else(|| format!("kode_opd: no OPD unit has the code `{v}`"))?;
                    c.opd_id = Some(id.clone());
                }
                Field::Attr(attr) if !v.is_empty() => {
                    profile::set(&mut c.profile, self.kind.account_kind(), attr, v).map_err(|e| e.to_string())?;
                }
                Field::Email => c.email = contact::email(v).map_err(|e| e.to_string())?,
                Field::Phone => c.phone_number = contact::phone(v).map_err(|e| format!("telepon: {e}"))?,
                Field::Status if !v.is_empty() => {
                    c.status = Some(parse_status(v).ok_or_else(|| {
                        format!("status: `{v}` is not one of aktif, ditangguhkan, pensiun, diberhentikan")
                    })?);
                }
                _ => {}
            }
        }
        c.name = name.unwrap_or_default();
        Ok(c)
    }
}

impl ImportKind {
    fn key_name(self) -> &'static str {
        match self {
            ImportKind::Asn => "nip",
            ImportKind::Citizens => "nik",
        }
    }
}

/// A row that passed every check of its own. Empty cells are `None`: they leave stored values.
#[derive(Debug, Default, Clone)]
pub struct Checked {
    /// The normalized NIP (civil servants) or NIK (citizens) the row is matched on.
    pub key: String,
    /// A civil servant's NIK, when the file gives one.
    pub nik: Option<String>,
    pub name: String,
    pub opd_id: Option<String>,
    /// Only the attributes the row gives.
    pub profile: Map<String, Value>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub status: Option<AccountStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[&str]) -> StringRecord {
        StringRecord::from(fields.to_vec())
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    #[test]
    fn headers_are_matched_by_name_in_any_order() {
        let l = Layout::new(ImportKind::Asn, &rec(&["\u{feff}Nama", "NIP", "Kode OPD", "tempat_lahir"])).unwrap();
        assert_eq!(l.ignored, vec!["tempat_lahir"]);
        let units = HashMap::from([("DISKOMINFO".to_string(), "u1".to_string())]);
        let c = l.check(&rec(&["Siti Aminah", "198503122010012001", "DISKOMINFO", "Jember"]), &units, today()).unwrap();
        assert_eq!(
            (c.key.as_str(), c.name.as_str(), c.opd_id.as_deref()),
            ("198503122010012001", "Siti Aminah", Some("u1"))
        );
        let err = Layout::new(ImportKind::Citizens, &rec(&["nama", "email"])).unwrap_err();
        assert!(err.contains("`nik`"), "{err}");
        assert!(Layout::new(ImportKind::Asn, &rec(&["nip", "nama", "NIP"])).unwrap_err().contains("twice"));
        let citizens = Layout::new(ImportKind::Citizens, &rec(&["nik", "nama", "jabatan"])).unwrap();
        assert_eq!(citizens.ignored, vec!["jabatan"], "civil-servant columns mean nothing for citizens");
    }

    #[test]
    fn each_cell_is_checked_with_the_console_rules() {
        let l = Layout::new(
            ImportKind::Asn,
            &rec(&["nip", "nama", "kode_opd", "golongan", "eselon", "email", "telepon", "status", "nik"]),
        )
        .unwrap();
        let units = HashMap::new();
        let good =
            ["198503122010012001", "Budi", "", "iii/a", "", "Budi@Jember.go.id", "0812-3456-7890", "Pensiun", ""];
        let c = l.check(&rec(&good), &units, today()).unwrap();
        assert_eq!(c.profile["golongan"], "III/a");
        assert!(!c.profile.contains_key("eselon"), "an empty cell sets nothing");
        assert_eq!(c.email.as_deref(), Some("budi@jember.go.id"));
        assert_eq!(c.phone_number.as_deref(), Some("+6281234567890"));
        assert_eq!(c.status, Some(AccountStatus::Retired));
        let bad = |i: usize, v: &str| {
            let mut r = good;
            r[i] = v;
            l.check(&rec(&r), &units, today()).unwrap_err()
        };
        assert!(bad(0, "19850312201001200").starts_with("nip: NIP must be 18 digits"));
        assert!(bad(1, " ").starts_with("nama:"));
        assert_eq!(bad(2, "X"), "kode_opd: no OPD unit has the code `X`");
        assert!(bad(3, "V/z").contains("golongan"));
        assert!(bad(5, "bukan-email").contains("email"));
        assert!(bad(7, "cuti").starts_with("status:"));
        assert!(bad(8, "3509014203900000").starts_with("nik:"));
        assert!(l.check(&rec(&good[..8]), &units, today()).unwrap_err().contains("expected 9 fields"));
    }
}
