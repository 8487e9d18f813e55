//! Electronic certificates bound to accounts.

use super::{dispatch, Db, StoreError};

#[derive(Debug, Clone, Default, sqlx::FromRow, serde::Serialize)]
pub struct CertRow {
    pub id: String,
    pub account_id: String,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    /// `active` or `revoked`.
    pub status: String,
    pub revoked_at: Option<i64>,
    pub revocation_reason: String,
    #[serde(skip)]
    pub pem: String,
    pub bound_by: String,
    pub created_at: i64,
    /// What the binding still waits for: `""` (in force), `proof` or `approval`.
    pub pending: String,
    /// How possession of the key was shown: `none`, `signature`, `cms` or `approved`.
    pub possession: String,
    pub possession_at: Option<i64>,
    pub approved_by: String,
    /// `name`, `email` or `none`; empty on bindings older than the check.
    pub name_match: String,
    /// The last revocation check: `unchecked`, `good`, `revoked`, `unknown` or `failed`.
    pub check_status: String,
    /// `crl`, `ocsp`, `bsre` or empty.
    pub check_source: String,
    pub check_detail: String,
    pub checked_at: Option<i64>,
    pub check_valid_until: Option<i64>,
    pub ocsp_url: String,
    /// Space-separated CRL distribution points.
    pub crl_urls: String,
    #[serde(skip)]
    pub issuer_pem: String,
}

impl CertRow {
    /// Whether the binding makes its holder a signer at `now`: in force (nothing pending, not
    /// revoked by an administrator), possession shown, in its validity period, and not revoked
    /// at the last check. Kept equal to [`SIGNER_WHERE`].
    pub fn is_signer(&self, now: i64) -> bool {
        self.status == "active"
            && self.pending.is_empty()
            && self.possession != "none"
            && self.check_status != "revoked"
            && self.not_before <= now
            && now < self.not_after
    }
}

/// The SQL twin of [`CertRow::is_signer`] over `certificates c`, with `now` as `$1`.
pub const SIGNER_WHERE: &str = "c.status = 'active' AND c.pending = '' AND c.possession <> 'none' \
     AND c.check_status <> 'revoked' AND c.not_before <= $1 AND c.not_after > $1";

pub(super) const COLUMNS: &str =
    "id, account_id, fingerprint, subject, issuer, serial, not_before, not_after, status, revoked_at, \
     revocation_reason, pem, bound_by, created_at, pending, possession, possession_at, approved_by, name_match, \
     check_status, check_source, check_detail, checked_at, check_valid_until, ocsp_url, crl_urls, issuer_pem";

pub async fn insert(db: &Db, c: &CertRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO certificates (id, account_id, fingerprint, subject, issuer, serial, not_before, not_after, status, \
         revocation_reason, pem, bound_by, created_at, pending, possession, possession_at, approved_by, name_match, \
         check_status, check_source, check_detail, checked_at, check_valid_until, ocsp_url, crl_urls, issuer_pem) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
         $23, $24, $25, $26)",
        [
            &c.id, &c.account_id, &c.fingerprint, &c.subject, &c.issuer, &c.serial, c.not_before, c.not_after, &c.status,
            &c.revocation_reason, &c.pem, &c.bound_by, c.created_at, &c.pending, &c.possession, c.possession_at,
            &c.approved_by, &c.name_match, &c.check_status, &c.check_source, &c.check_detail, c.checked_at,
            c.check_valid_until, &c.ocsp_url, &c.crl_urls, &c.issuer_pem
        ],
        execute
    )?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<CertRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM certificates WHERE id = $1");
    Ok(dispatch!(db, &sql, [id], fetch_optional(CertRow))?)
}

pub async fn of_account(db: &Db, account_id: &str) -> Result<Vec<CertRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM certificates WHERE account_id = $1 ORDER BY not_after DESC, id");
    Ok(dispatch!(db, &sql, [account_id], fetch_all(CertRow))?)
}

/// A certificate with the name and unit of the person it is bound to, for monitoring lists.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HeldCert {
    #[sqlx(flatten)]
    pub cert: CertRow,
    pub holder_name: String,
    pub holder_opd_id: Option<String>,
}

/// The columns of a [`HeldCert`] over `certificates c JOIN accounts a`.
pub(super) const HELD: &str =
    "c.id, c.account_id, c.fingerprint, c.subject, c.issuer, c.serial, c.not_before, c.not_after, c.status, \
     c.revoked_at, c.revocation_reason, c.pem, c.bound_by, c.created_at, c.pending, c.possession, c.possession_at, \
     c.approved_by, c.name_match, c.check_status, c.check_source, c.check_detail, c.checked_at, c.check_valid_until, \
     c.ocsp_url, c.crl_urls, c.issuer_pem, a.name AS holder_name, a.opd_id AS holder_opd_id";

/// Marks an active certificate revoked; false when it was not active.
pub async fn revoke(db: &Db, id: &str, reason: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2 WHERE id = $3 AND status = 'active'",
        [now, reason, id],
        execute
    )?;
    Ok(n == 1)
}

/// The binding that makes an account a signer at `now`, if any (the latest-ending one).
pub async fn signer_of(db: &Db, account_id: &str, now: i64) -> Result<Option<CertRow>, StoreError> {
    let cols = COLUMNS.split(", ").map(|c| format!("c.{}", c.trim())).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT {cols} FROM certificates c WHERE c.account_id = $2 AND {SIGNER_WHERE} ORDER BY c.not_after DESC, c.id LIMIT 1"
    );
    Ok(dispatch!(db, &sql, [now, account_id], fetch_optional(CertRow))?)
}

// Binding: proof of possession and the second administrator's approval.

/// The binding of a certificate (by its SHA-256 fingerprint), whoever holds it.
pub async fn by_fingerprint(db: &Db, fingerprint: &str) -> Result<Option<CertRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM certificates WHERE fingerprint = $1");
    Ok(dispatch!(db, &sql, [fingerprint], fetch_optional(CertRow))?)
}

/// Records the holder's proof on a binding waiting for it; `pending` is what it waits for
/// next (`""` or `approval`). False when it was not waiting for a proof (any more).
pub async fn prove_possession(
    db: &Db,
    id: &str,
    account_id: &str,
    possession: &str,
    pending: &str,
    name_match: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE certificates SET possession = $1, possession_at = $2, pending = $3, name_match = $4 \
         WHERE id = $5 AND account_id = $6 AND pending = 'proof' AND status = 'active'",
        [possession, now, pending, name_match, id, account_id],
        execute
    )?;
    Ok(n == 1)
}

/// A second administrator's approval, in one conditional write so concurrent approvals make
/// one: only a pending binding, never by the one who bound it nor by its holder. Possession
/// becomes `approved` when none was proven.
pub async fn approve(db: &Db, id: &str, approver: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE certificates SET pending = '', approved_by = $1, \
         possession_at = CASE WHEN possession = 'none' THEN $2 ELSE possession_at END, \
         possession = CASE WHEN possession = 'none' THEN 'approved' ELSE possession END \
         WHERE id = $3 AND pending <> '' AND status = 'active' AND bound_by <> $1 AND account_id <> $1",
        [approver, now, id],
        execute
    )?;
    Ok(n == 1)
}
