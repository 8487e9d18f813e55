//! Demonstration data for a region (Kabupaten Jember): a realistic OPD tree, global roles
//! assigned to units, and a few civil servants and citizens. Used by `gerbang demo seed`.
//! Idempotent: what already exists is left as it is. Demo accounts are recognised by their
//! identifiers (the NIPs and NIKs below), so `gerbang demo remove` and the start-up check also
//! find those an older release seeded. No demo account ever holds an administrative role.

use serde::Serialize;

use crate::config::Secret;
use crate::identity::accounts::{self, AccountError, NewAccount};
use crate::identity::opd::{self, NewOpd, OpdError};
use crate::identity::profile;
use crate::identity::roles::{self, Holder, RoleError};
use crate::password::Hasher;
use crate::store::opd as opd_store;
use crate::store::Db;

/// The unit of Diskominfo's application team, where the bootstrap administrator works.
pub const DISKOMINFO_UNIT: &str = "3509.13.01";

const UNITS: &[(&str, &str, &str, Option<&str>)] = &[
    ("3509", "Pemerintah Kabupaten Jember", "pemerintah_daerah", None),
    ("3509.01", "Sekretariat Daerah", "sekretariat_daerah", Some("3509")),
    ("3509.01.01", "Bagian Organisasi", "bagian", Some("3509.01")),
    ("3509.01.02", "Bagian Hukum", "bagian", Some("3509.01")),
    ("3509.02", "Sekretariat DPRD", "sekretariat_dprd", Some("3509")),
    ("3509.03", "Inspektorat", "inspektorat", Some("3509")),
    ("3509.10", "Dinas Pendidikan", "dinas", Some("3509")),
    ("3509.11", "Dinas Kesehatan", "dinas", Some("3509")),
    ("3509.11.01", "Bidang Pelayanan Kesehatan", "bidang", Some("3509.11")),
    ("3509.11.02", "UPTD Puskesmas Kaliwates", "uptd", Some("3509.11")),
    ("3509.12", "Dinas Kependudukan dan Pencatatan Sipil", "dinas", Some("3509")),
    ("3509.13", "Dinas Komunikasi dan Informatika", "dinas", Some("3509")),
    ("3509.13.01", "Bidang Aplikasi Informatika", "bidang", Some("3509.13")),
    ("3509.20", "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia", "badan", Some("3509")),
    ("3509.21", "Badan Perencanaan Pembangunan Daerah", "badan", Some("3509")),
    ("3509.22", "Badan Pengelolaan Keuangan dan Aset Daerah", "badan", Some("3509")),
    ("3509.30", "Kecamatan Kaliwates", "kecamatan", Some("3509")),
    ("3509.30.01", "Kelurahan Kepatihan", "kelurahan", Some("3509.30")),
];

/// (role, description, unit whose staff hold it). Never an administrative role: the demo
/// staff's passwords are printed, so whatever they inherit is as good as public.
pub(crate) const ROLES: &[(&str, &str, &str)] = &[
    ("tim-aplikasi", "Tim aplikasi Diskominfo (contoh peran unit)", "3509.13.01"),
    ("pemeriksa", "Pemeriksa Inspektorat (contoh peran unit)", "3509.03"),
];

/// Unit assignments of administrative roles that releases before this one seeded; removed with
/// the demo region.
pub(crate) const LEGACY_ROLES: &[(&str, &str)] = &[("diskominfo-admin", "3509.13.01"), ("auditor", "3509.03")];

/// (NIP, name, unit, jabatan, golongan, eselon)
const ASN: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("197806152003121002", "dr. Hendra Wijaya, M.Kes.", "3509.11", "Kepala Dinas Kesehatan", "IV/b", "II.b"),
    ("198909092015032004", "Siti Aminah, S.Kom.", "3509.13.01", "Pranata Komputer Ahli Pertama", "III/a", "non-eselon"),
    ("199201142022212015", "Rina Marlina, S.Pd.", "3509.10", "Guru Ahli Pertama", "IX", "non-eselon"),
    ("198004042006041003", "Agus Salim, S.E., Ak.", "3509.03", "Auditor Ahli Muda", "III/d", "non-eselon"),
    ("198711302010011005", "Bambang Sutrisno, S.Sos.", "3509.30.01", "Lurah Kepatihan", "III/c", "IV.a"),
];

/// (NIK, name, e-mail)
const CITIZENS: &[(&str, &str, &str)] = &[
    ("3509015507900003", "Dewi Lestari", "dewi.lestari@example.com"),
    ("3509102312850001", "Ahmad Fauzi", "ahmad.fauzi@example.com"),
];

#[derive(Debug)]
pub struct SeedReport {
    pub opd_units: usize,
    pub roles: usize,
    pub accounts: Vec<SeededAccount>,
}

#[derive(Debug, Serialize)]
pub struct SeededAccount {
    pub login: String,
    pub name: String,
    pub account_type: &'static str,
    /// Generated for this account now; `None` when it already existed (its password is kept).
    #[serde(skip)]
    pub password: Option<Secret<String>>,
}

/// The NIPs and NIKs of the demo accounts.
pub fn identifiers() -> impl Iterator<Item = &'static str> {
    ASN.iter().map(|a| a.0).chain(CITIZENS.iter().map(|c| c.0))
}

/// The demo region's unit codes, children after their parents.
pub fn unit_codes() -> impl DoubleEndedIterator<Item = &'static str> {
    UNITS.iter().map(|u| u.0)
}

/// Each demo account gets its own random password, so one install's demo logins say nothing
/// about another's.
fn new_password() -> anyhow::Result<Secret<String>> {
    Ok(Secret::new(crate::crypto::random_token(12)?))
}

pub async fn seed(db: &Db, hasher: &Hasher, now: i64) -> anyhow::Result<SeedReport> {
    for (code, name, kind, parent) in UNITS {
        let new = NewOpd {
            code: (*code).into(),
            name: (*name).into(),
            kind: (*kind).into(),
            parent: parent.map(String::from),
        };
        match opd::create(db, new, now).await {
            Ok(_) | Err(OpdError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for (name, description, unit) in ROLES {
        let role = match roles::create(db, None, name, description, now).await {
            Ok(r) => r,
            Err(RoleError::Conflict) => roles::find(db, None, name).await?,
            Err(e) => return Err(e.into()),
        };
        let unit =
            opd_store::find_by_code(db, unit).await?.ok_or_else(|| anyhow::anyhow!("demo unit {unit} missing"))?;
        match roles::assign(db, &role, &Holder::Opd(unit.id), now).await {
            Ok(()) | Err(RoleError::AlreadyAssigned) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut seeded = Vec::new();
    for (nip, name, unit, jabatan, golongan, eselon) in ASN {
        let password = new_password()?;
        let new = NewAccount {
            nip: Some((*nip).into()),
            nik: None,
            name: (*name).into(),
            password: Some(password.clone()),
            is_admin: false,
        };
        let (mut account, password) = match accounts::create(db, hasher, new, now).await {
            Ok((a, _)) => (a, Some(password)),
            Err(AccountError::Conflict(_)) => {
                let a = accounts::find(db, nip).await?.ok_or_else(|| anyhow::anyhow!("demo account {nip} vanished"))?;
                (a, None)
            }
            Err(e) => return Err(e.into()),
        };
        account.opd_id = opd_store::find_by_code(db, unit).await?.map(|u| u.id);
        let kind = if nip[12..14] == *"21" { "PPPK" } else { "PNS" };
        for (k, v) in [("jabatan", *jabatan), ("golongan", *golongan), ("eselon", *eselon), ("jenis_pegawai", kind)] {
            profile::set(&mut account.profile, account.kind, k, v)?;
        }
        accounts::save_profile(db, &account, now).await?;
        seeded.push(SeededAccount { login: (*nip).into(), name: (*name).into(), account_type: "asn", password });
    }
    for (nik, name, email) in CITIZENS {
        let password = new_password()?;
        let new = NewAccount {
            nip: None,
            nik: Some((*nik).into()),
            name: (*name).into(),
            password: Some(password.clone()),
            is_admin: false,
        };
        let (mut account, password) = match accounts::create(db, hasher, new, now).await {
            Ok((a, _)) => (a, Some(password)),
            Err(AccountError::Conflict(_)) => {
                let a = accounts::find(db, nik).await?.ok_or_else(|| anyhow::anyhow!("demo account {nik} vanished"))?;
                (a, None)
            }
            Err(e) => return Err(e.into()),
        };
        profile::set(&mut account.profile, account.kind, "verified", "true")?;
        accounts::save_profile(db, &account, now).await?;
        // Typed in, never followed from a mail: unverified like any address an administrator sets.
        if account.email.is_none() {
            crate::store::accounts::set_email(
                db,
                &account.id,
                crate::identity::contact::email(email)?.as_deref(),
                false,
                now,
            )
            .await?;
        }
        seeded.push(SeededAccount { login: (*nik).into(), name: (*name).into(), account_type: "citizen", password });
    }
    Ok(SeedReport { opd_units: UNITS.len(), roles: ROLES.len(), accounts: seeded })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_never_hands_out_an_administrative_role() {
        use crate::identity::admin::{AUDITOR, DISKOMINFO_ADMIN, IDENTITY_OFFICER, OPD_ADMIN, OPD_DEVELOPER};
        for (role, _, _) in ROLES {
            assert!(![DISKOMINFO_ADMIN, OPD_ADMIN, AUDITOR, OPD_DEVELOPER, IDENTITY_OFFICER].contains(role), "{role}");
            assert!(roles::valid_name(role));
        }
    }
}
