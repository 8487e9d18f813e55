//! Regional government units (OPD, PP 18/2016) as a tree: Sekretariat Daerah, Inspektorat,
//! Dinas, Badan, Kecamatan, Kelurahan and the units below them. Staff belong to one unit.

use serde::Serialize;

use crate::store::opd::{self as store, OpdRow};
use crate::store::{Db, StoreError};

pub const KINDS: &[&str] = &[
    "pemerintah_daerah",
    "sekretariat_daerah",
    "sekretariat_dprd",
    "inspektorat",
    "dinas",
    "badan",
    "kecamatan",
    "kelurahan",
    "bagian",
    "bidang",
    "uptd",
    "unit",
];

#[derive(Debug, thiserror::Error)]
pub enum OpdError {
    #[error("invalid {field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("an OPD unit with code `{0}` already exists")]
    Conflict(String),
    #[error("unknown OPD unit `{0}`")]
    UnknownParent(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OpdError {
    fn from(e: StoreError) -> Self {
        OpdError::Store(e)
    }
}

pub struct NewOpd {
    pub code: String,
    pub name: String,
    pub kind: String,
    /// Code of the parent unit.
    pub parent: Option<String>,
}

pub async fn create(db: &Db, new: NewOpd, now: i64) -> Result<OpdRow, OpdError> {
    let code = new.code.trim().to_string();
    if code.is_empty() || code.len() > 32 || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(OpdError::Invalid { field: "code", message: "1 to 32 letters, digits, `.` or `-`".into() });
    }
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(OpdError::Invalid { field: "name", message: "1 to 200 characters".into() });
    }
    if !KINDS.contains(&new.kind.as_str()) {
        return Err(OpdError::Invalid { field: "kind", message: format!("one of {}", KINDS.join(", ")) });
    }
    let parent_id = match &new.parent {
        Some(p) => Some(store::find_by_code(db, p).await?.ok_or_else(|| OpdError::UnknownParent(p.clone()))?.id),
        None => None,
    };
    let row = OpdRow {
        id: uuid::Uuid::new_v4().to_string(),
        code: code.clone(),
        name,
        kind: new.kind,
        parent_id,
        created_at: now,
        updated_at: now,
    };
    match store::insert(db, &row).await {
        Ok(()) => Ok(row),
        Err(StoreError::Conflict(_)) => Err(OpdError::Conflict(code)),
        Err(e) => Err(e.into()),
    }
}

/// The `opd` claim: the person's unit with the path of names from the top of the tree.
#[derive(Debug, Clone, Serialize)]
pub struct OpdClaim {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub path: Vec<String>,
}

pub async fn claim(db: &Db, opd_id: &str) -> Result<Option<OpdClaim>, StoreError> {
    let chain = store::ancestry(db, opd_id).await?;
    let Some(unit) = chain.first() else { return Ok(None) };
    Ok(Some(OpdClaim {
        code: unit.code.clone(),
        name: unit.name.clone(),
        kind: unit.kind.clone(),
        path: chain.iter().rev().map(|u| u.name.clone()).collect(),
    }))
}
