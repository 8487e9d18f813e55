//! Account rows: civil servants keyed by NIP, citizens keyed by NIK, an internal UUID as `sub`.

use super::{dispatch, Db, Exec, StoreError, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub kind: String,
    pub nip: Option<String>,
    pub nik: Option<String>,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub opd_id: Option<String>,
    /// JSON object of profile attributes (see `identity::profile`).
    pub profile: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone_number: Option<String>,
    pub locale: Option<String>,
}

pub(crate) const COLUMNS: &str =
    "id, kind, nip, nik, name, password_hash, is_admin, status, created_at, updated_at, opd_id, \
                       profile, email, email_verified, phone_number, locale";

pub async fn insert(db: impl Into<Exec<'_>>, a: &AccountRow) -> Result<(), StoreError> {
    dispatch!(
        db,
        "INSERT INTO accounts (id, kind, nip, nik, name, password_hash, is_admin, status, created_at, updated_at, opd_id, \
         profile, email, email_verified, phone_number, locale) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        [&a.id, &a.kind, &a.nip, &a.nik, &a.name, &a.password_hash, a.is_admin, &a.status, a.created_at, a.updated_at, &a.opd_id,
         &a.profile, &a.email, a.email_verified, &a.phone_number, &a.locale],
        execute
    )?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<AccountRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
    Ok(dispatch!(db, &sql, [id], fetch_optional(AccountRow))?)
}

pub async fn find_by_nip(db: &Db, nip: &str) -> Result<Option<AccountRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE nip = $1");
    Ok(dispatch!(db, &sql, [nip], fetch_optional(AccountRow))?)
}

pub async fn find_by_nik(db: &Db, nik: &str) -> Result<Option<AccountRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE nik = $1");
    Ok(dispatch!(db, &sql, [nik], fetch_optional(AccountRow))?)
}

/// The stored password hash alone (inner `None`: no password); `None` when there is no such
/// account.
pub async fn password_hash(db: &Db, id: &str) -> Result<Option<Option<String>>, StoreError> {
    let row: Option<(Option<String>,)> =
        dispatch!(db, "SELECT password_hash FROM accounts WHERE id = $1", [id], fetch_optional((Option<String>,)))?;
    Ok(row.map(|r| r.0))
}

pub async fn count_admins(db: &Db) -> Result<i64, StoreError> {
    let row: (i64,) = dispatch!(db, "SELECT COUNT(*) FROM accounts WHERE is_admin = $1", [true], fetch_one((i64,)))?;
    Ok(row.0)
}

pub async fn set_status(db: impl Into<Exec<'_>>, id: &str, status: &str, now: i64) -> Result<bool, StoreError> {
    let n =
        dispatch!(db, "UPDATE accounts SET status = $1, updated_at = $2 WHERE id = $3", [status, now, id], execute)?;
    Ok(n == 1)
}

pub async fn set_password_hash(db: impl Into<Exec<'_>>, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3",
        [hash, now, id],
        execute
    )?;
    Ok(n == 1)
}

/// Sets the e-mail address and whether it is proven (by a followed link) or not (typed by the
/// person or an administrator). `None` removes it.
pub async fn set_email(
    db: impl Into<Exec<'_>>,
    id: &str,
    email: Option<&str>,
    verified: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE accounts SET email = $1, email_verified = $2, updated_at = $3 WHERE id = $4",
        [email, verified, now, id],
        execute
    )?;
    Ok(n == 1)
}

/// Marks the address proven, only if it is still the one the link was sent to: a link followed
/// after the person changed their address again proves nothing about the new one.
pub async fn verify_email(db: impl Into<Exec<'_>>, id: &str, email: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE accounts SET email_verified = $1, updated_at = $2 WHERE id = $3 AND email = $4",
        [true, now, id, email],
        execute
    )?;
    Ok(n == 1)
}

/// Marks an account as created through self-registration (in the transaction that creates it).
pub async fn mark_self_registered(db: impl Into<Exec<'_>>, id: &str) -> Result<(), StoreError> {
    dispatch!(db, "UPDATE accounts SET self_registered = TRUE WHERE id = $1", [id], execute)?;
    Ok(())
}

/// Whether a citizen created this account through self-registration (its NIK then is the
/// registrant's word until an officer verifies the person).
pub async fn is_self_registered(db: &Db, id: &str) -> Result<bool, StoreError> {
    let row: Option<(bool,)> =
        dispatch!(db, "SELECT self_registered FROM accounts WHERE id = $1", [id], fetch_optional((bool,)))?;
    Ok(row.is_some_and(|(s,)| s))
}

pub async fn set_phone_number(db: &Db, id: &str, phone: Option<&str>, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE accounts SET phone_number = $1, updated_at = $2 WHERE id = $3",
        [phone, now, id],
        execute
    )?;
    Ok(n == 1)
}

/// The language the person last used (`id` or `en`), for the e-mail sent to them.
pub async fn set_locale(db: &Db, id: &str, locale: &str) -> Result<(), StoreError> {
    dispatch!(
        db,
        "UPDATE accounts SET locale = $1 WHERE id = $2 AND (locale IS NULL OR locale <> $1)",
        [locale, id],
        execute
    )?;
    Ok(())
}

/// The row, held for the rest of the transaction: on PostgreSQL by `FOR UPDATE`; on SQLite the
/// transaction holds the database's write lock from its start. A change decided on what this
/// returns cannot race another one.
/// Holds the account's row until the transaction ends (PostgreSQL; SQLite runs writing
/// transactions one at a time already): replacing something the account has one set of (its
/// recovery codes, its open link of a purpose) as a delete then an insert is otherwise not one
/// step there, and two replacements at once both survived.
pub async fn lock(tx: &mut Tx, id: &str) -> Result<(), StoreError> {
    if tx.is_postgres() {
        dispatch!(&mut *tx, "SELECT id FROM accounts WHERE id = $1 FOR UPDATE", [id], fetch_optional((String,)))?;
    }
    Ok(())
}

pub async fn get_locked(tx: &mut Tx, id: &str) -> Result<Option<AccountRow>, StoreError> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1{lock}");
    Ok(dispatch!(&mut *tx, &sql, [id], fetch_optional(AccountRow))?)
}

pub async fn set_profile(db: impl Into<Exec<'_>>, id: &str, profile: &str, now: i64) -> Result<bool, StoreError> {
    let n =
        dispatch!(db, "UPDATE accounts SET profile = $1, updated_at = $2 WHERE id = $3", [profile, now, id], execute)?;
    Ok(n == 1)
}

pub async fn set_opd_and_profile(
    db: impl Into<Exec<'_>>,
    id: &str,
    opd_id: Option<&str>,
    profile: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = dispatch!(
        db,
        "UPDATE accounts SET opd_id = $1, profile = $2, updated_at = $3 WHERE id = $4",
        [opd_id, profile, now, id],
        execute
    )?;
    Ok(n == 1)
}

/// Accounts whose name contains, or whose NIP/NIK starts with, `query`; newest first.
pub async fn search(db: &Db, query: &str, limit: i64) -> Result<Vec<AccountRow>, StoreError> {
    let like = format!("%{}%", query.replace(['%', '_'], ""));
    let prefix = format!("{}%", query.replace(['%', '_'], ""));
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts WHERE LOWER(name) LIKE LOWER($1) OR nip LIKE $2 OR nik LIKE $2 \
         ORDER BY created_at DESC, id LIMIT $3"
    );
    Ok(dispatch!(db, &sql, [&like, &prefix, limit], fetch_all(AccountRow))?)
}

/// As `search`, restricted to accounts in the unit or any unit below it, so an OPD admin's
/// search fills its limit with their own staff.
pub async fn search_in_subtree(db: &Db, query: &str, unit: &str, limit: i64) -> Result<Vec<AccountRow>, StoreError> {
    let like = format!("%{}%", query.replace(['%', '_'], ""));
    let prefix = format!("{}%", query.replace(['%', '_'], ""));
    let sql = format!(
        "WITH RECURSIVE sub (id, depth) AS ( \
           SELECT id, 0 FROM opd_units WHERE id = $3 \
           UNION ALL \
           SELECT o.id, s.depth + 1 FROM opd_units o JOIN sub s ON o.parent_id = s.id WHERE s.depth < 32) \
         SELECT {COLUMNS} FROM accounts WHERE kind = 'asn' AND opd_id IN (SELECT id FROM sub) \
         AND (LOWER(name) LIKE LOWER($1) OR nip LIKE $2 OR nik LIKE $2) \
         ORDER BY created_at DESC, id LIMIT $4"
    );
    Ok(dispatch!(db, &sql, [&like, &prefix, unit, limit], fetch_all(AccountRow))?)
}

pub async fn set_name(db: &Db, id: &str, name: &str, now: i64) -> Result<bool, StoreError> {
    let n = dispatch!(db, "UPDATE accounts SET name = $1, updated_at = $2 WHERE id = $3", [name, now, id], execute)?;
    Ok(n == 1)
}
