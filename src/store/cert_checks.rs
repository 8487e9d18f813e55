//! Revocation checking's storage: the shared CRL cache (`crl_cache`), the recorded answers on
//! bindings (`certificates.check_*`), and the compare-and-set claim that lets one replica
//! re-check a binding while the others skip it.

use super::certs::{CertRow, COLUMNS};
use super::{dispatch, Db, StoreError};

/// Prefix of the cache key of an uploaded (or configured-file) CRL; the rest is the SHA-256 of
/// the issuer's name (DER), so a newer upload for the same CA replaces the older one.
pub const UPLOAD_PREFIX: &str = "upload:";

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct CrlEntry {
    /// The distribution-point URL, or `upload:<sha256 of the issuer name>`.
    pub source: String,
    pub issuer: String,
    pub der: Vec<u8>,
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub fetched_at: i64,
    pub last_attempt_at: i64,
    pub last_error: String,
}

const CRL_COLUMNS: &str = "source, issuer, der, this_update, next_update, fetched_at, last_attempt_at, last_error";

pub async fn crl(db: &Db, source: &str) -> Result<Option<CrlEntry>, StoreError> {
    let sql = format!("SELECT {CRL_COLUMNS} FROM crl_cache WHERE source = $1");
    Ok(dispatch!(db, &sql, [source], fetch_optional(CrlEntry))?)
}

/// Stores a CRL under its source, replacing an older one; an older CRL (by thisUpdate) never
/// replaces a newer one another replica stored meanwhile.
pub async fn put_crl(db: &Db, e: &CrlEntry) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO crl_cache (source, issuer, der, this_update, next_update, fetched_at, last_attempt_at, last_error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, '') \
         ON CONFLICT (source) DO UPDATE SET issuer = excluded.issuer, der = excluded.der, \
         this_update = excluded.this_update, next_update = excluded.next_update, fetched_at = excluded.fetched_at, \
         last_attempt_at = excluded.last_attempt_at, last_error = '' \
         WHERE crl_cache.this_update <= excluded.this_update",
        [&e.source, &e.issuer, &e.der, e.this_update, e.next_update, e.fetched_at, e.last_attempt_at],
        execute
    )?;
    Ok(())
}

/// Records a failed fetch; the CRL already cached (if any) stays.
pub async fn crl_failed(db: &Db, source: &str, error: &str, now: i64) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE crl_cache SET last_attempt_at = $1, last_error = $2 WHERE source = $3",
        [now, error, source],
        execute
    )?;
    Ok(())
}

/// Fetched CRLs (not uploaded ones) past their nextUpdate, not attempted since `retry_before`:
/// those without a nextUpdate first (nothing says how stale they are), then the most overdue.
/// Ordered explicitly: SQLite puts NULLs first and PostgreSQL last.
pub async fn crls_due(db: &Db, now: i64, retry_before: i64, limit: i64) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = dispatch!(
        db,
        "SELECT source FROM crl_cache WHERE source NOT LIKE 'upload:%' \
         AND (next_update IS NULL OR next_update <= $1) AND last_attempt_at < $2 \
         ORDER BY CASE WHEN next_update IS NULL THEN 0 ELSE 1 END, next_update LIMIT $3",
        [now, retry_before, limit],
        fetch_all((String,))
    )?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Writes a check's answer on a binding.
pub async fn record(
    db: &Db,
    id: &str,
    status: &str,
    source: &str,
    detail: &str,
    checked_at: i64,
    valid_until: Option<i64>,
) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE certificates SET check_status = $1, check_source = $2, check_detail = $3, checked_at = $4, \
         check_valid_until = $5 WHERE id = $6",
        [status, source, detail, checked_at, valid_until, id],
        execute
    )?;
    Ok(())
}

/// Fills in where a binding's revocation is asked (read from the certificate when the binding
/// did not record them).
pub async fn set_pointers(
    db: &Db,
    id: &str,
    ocsp_url: &str,
    crl_urls: &str,
    issuer_pem: &str,
) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE certificates SET ocsp_url = $1, crl_urls = $2, issuer_pem = $3 WHERE id = $4",
        [ocsp_url, crl_urls, issuer_pem, id],
        execute
    )?;
    Ok(())
}

/// Bindings in force whose last check is older than `checked_before` (or whose answer ran out
/// at `now`), oldest first.
pub async fn due(db: &Db, now: i64, checked_before: i64, limit: i64) -> Result<Vec<CertRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM certificates WHERE status = 'active' AND not_after > $1 \
         AND (checked_at IS NULL OR checked_at < $2 OR check_valid_until <= $1) \
         ORDER BY COALESCE(checked_at, 0), id LIMIT $3"
    );
    Ok(dispatch!(db, &sql, [now, checked_before, limit], fetch_all(CertRow))?)
}

/// Takes a binding for re-checking: moves its `checked_at` from what this replica read to `now`;
/// false when another replica took it first.
pub async fn claim(db: &Db, id: &str, seen_checked_at: Option<i64>, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE certificates SET checked_at = $1, check_valid_until = NULL WHERE id = $2 AND COALESCE(checked_at, -1) = $3",
        [now, id, seen_checked_at.unwrap_or(-1)],
        execute
    )?;
    Ok(n == 1)
}

/// The issuing CAs (PEM) recorded on bindings in force: what a re-fetched CRL may be signed by.
pub async fn issuer_pems(db: &Db) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = dispatch!(
        db,
        "SELECT DISTINCT issuer_pem FROM certificates WHERE status = 'active' AND issuer_pem <> ''",
        [],
        fetch_all((String,))
    )?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}
