//! Bulk import of accounts: the stored state of many keys at once, and multi-row upserts keyed by
//! NIP or NIK. Statements carry thousands of rows each (under SQLite's 32,766 and PostgreSQL's
//! 65,535 bound parameters), so a million rows take a few hundred round trips, not a million.

use super::{Exec, StoreError, Tx};

/// Keys looked up per statement (one bound parameter each).
pub const LOOKUP_CHUNK: usize = 10_000;

/// Rows per INSERT (10 parameters each, under SQLite's limit of 32,766): measured on SQLite,
/// statements much larger than this get slower per row, not faster.
pub const UPSERT_CHUNK: usize = 1_000;

// Both databases' limits on bound parameters per statement (SQLite's is the lower).
const _: () = assert!(UPSERT_CHUNK * 10 <= 32_766 && LOOKUP_CHUNK <= 32_766);

/// The stored fields an import compares and reports on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredAccount {
    pub id: String,
    pub kind: String,
    pub nip: Option<String>,
    pub nik: Option<String>,
    pub name: String,
    pub status: String,
    pub opd_id: Option<String>,
    pub profile: String,
    pub email: Option<String>,
    pub phone_number: Option<String>,
}

/// One account as the file gives it. `None` fields (empty cells) leave the stored value as it is;
/// `profile` holds only the attributes the file gives, merged into the stored object.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// Used only when the row is new.
    pub id: String,
    pub nip: Option<String>,
    pub nik: Option<String>,
    pub name: String,
    /// Used only when the row is new: a stored account's status changes through the operation
    /// that ends its sessions.
    pub status: String,
    pub opd_id: Option<String>,
    pub profile: String,
    pub email: Option<String>,
    pub phone_number: Option<String>,
}

/// Which key an import is matched on: NIP for civil servants, NIK for citizens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Nip,
    Nik,
}

impl Key {
    fn column(self) -> &'static str {
        match self {
            Key::Nip => "nip",
            Key::Nik => "nik",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Key::Nip => "asn",
            Key::Nik => "citizen",
        }
    }
}

/// A bound value of a statement whose number of parameters depends on the data.
enum Val<'a> {
    Text(Option<&'a str>),
    Bool(bool),
}

/// Binds every value, in order, to a query built for one database.
macro_rules! bind_all {
    ($query:expr, $vals:expr) => {{
        let mut q = $query;
        for v in $vals {
            q = match v {
                Val::Text(s) => q.bind(*s),
                Val::Bool(b) => q.bind(*b),
            };
        }
        q
    }};
}

async fn fetch_stored(exec: Exec<'_>, sql: &str, vals: &[Val<'_>]) -> Result<Vec<StoredAccount>, sqlx::Error> {
    match exec {
        Exec::Sqlite(p) => bind_all!(sqlx::query_as::<sqlx::Sqlite, StoredAccount>(sql), vals).fetch_all(p).await,
        Exec::Postgres(p) => bind_all!(sqlx::query_as::<sqlx::Postgres, StoredAccount>(sql), vals).fetch_all(p).await,
        Exec::SqliteTx(c) => bind_all!(sqlx::query_as::<sqlx::Sqlite, StoredAccount>(sql), vals).fetch_all(c).await,
        Exec::PostgresTx(c) => bind_all!(sqlx::query_as::<sqlx::Postgres, StoredAccount>(sql), vals).fetch_all(c).await,
    }
}

async fn execute(exec: Exec<'_>, sql: &str, vals: &[Val<'_>]) -> Result<u64, sqlx::Error> {
    let done = match exec {
        Exec::Sqlite(p) => bind_all!(sqlx::query::<sqlx::Sqlite>(sql), vals).execute(p).await?.rows_affected(),
        Exec::Postgres(p) => bind_all!(sqlx::query::<sqlx::Postgres>(sql), vals).execute(p).await?.rows_affected(),
        Exec::SqliteTx(c) => bind_all!(sqlx::query::<sqlx::Sqlite>(sql), vals).execute(c).await?.rows_affected(),
        Exec::PostgresTx(c) => bind_all!(sqlx::query::<sqlx::Postgres>(sql), vals).execute(c).await?.rows_affected(),
    };
    Ok(done)
}

/// Placeholders in the order values are bound: `$1, $2, …` on PostgreSQL, plain `?` on SQLite.
/// SQLite's parser looks each `$n` (and each repeated `?n`) up in a list of those seen so far,
/// which over 30,000 parameters costs seconds per statement; a plain `?` costs nothing.
struct Params {
    sqlite: bool,
    next: usize,
}

impl Params {
    fn new(exec: &Exec<'_>) -> Params {
        Params { sqlite: matches!(exec, Exec::Sqlite(_) | Exec::SqliteTx(_)), next: 0 }
    }

    fn take(&mut self, n: usize) -> String {
        let list: Vec<String> = (0..n)
            .map(|_| {
                self.next += 1;
                if self.sqlite {
                    "?".to_string()
                } else {
                    format!("${}", self.next)
                }
            })
            .collect();
        list.join(", ")
    }
}

/// The stored accounts whose `key` is one of `values`, any kind.
pub async fn stored_by(db: impl Into<Exec<'_>>, key: Key, values: &[&str]) -> Result<Vec<StoredAccount>, StoreError> {
    let mut exec = db.into();
    let mut out = Vec::new();
    for chunk in values.chunks(LOOKUP_CHUNK) {
        let sql = format!(
            "SELECT id, kind, nip, nik, name, status, opd_id, profile, email, phone_number FROM accounts \
             WHERE {} IN ({})",
            key.column(),
            Params::new(&exec).take(chunk.len())
        );
        let vals: Vec<Val> = chunk.iter().map(|v| Val::Text(Some(v))).collect();
        out.extend(fetch_stored(exec.reborrow(), &sql, &vals).await?);
    }
    Ok(out)
}

/// Inserts new accounts and updates stored ones of the same kind, matched on `key`, in the
/// caller's transaction. An update changes the name, and each of unit, NIK (civil servants),
/// e-mail and phone only when the row gives one; profile attributes are merged in, and a changed
/// address loses its verification. The status of a stored account is left alone.
pub async fn upsert(tx: &mut Tx, key: Key, rows: &[ImportRow], now: i64) -> Result<u64, StoreError> {
    // Merging in the statement itself keeps an attribute an administrator set meanwhile.
    let merge = if tx.is_postgres() {
        "(accounts.profile::jsonb || excluded.profile::jsonb)::text"
    } else {
        "json_patch(accounts.profile, excluded.profile)"
    };
    let col = key.column();
    // The kind and the time are the program's own values, not the file's, so they are written
    // into the statement instead of being bound again for every row.
    let kind = key.kind();
    let mut total = 0;
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let mut params = Params::new(&Exec::from(&mut *tx));
        let values: Vec<String> = (0..chunk.len())
            .map(|_| {
                let [id, rest] = [params.take(1), params.take(9)];
                format!("({id}, '{kind}', {rest}, FALSE, {now}, {now})")
            })
            .collect();
        let sql = format!(
            "INSERT INTO accounts (id, kind, nip, nik, name, status, opd_id, profile, email, email_verified, \
             phone_number, is_admin, created_at, updated_at) VALUES {} \
             ON CONFLICT ({col}) DO UPDATE SET \
               nik = COALESCE(excluded.nik, accounts.nik), \
               name = excluded.name, \
               opd_id = COALESCE(excluded.opd_id, accounts.opd_id), \
               profile = {merge}, \
               email_verified = CASE WHEN excluded.email IS NULL OR excluded.email = accounts.email \
                 THEN accounts.email_verified ELSE FALSE END, \
               email = COALESCE(excluded.email, accounts.email), \
               phone_number = COALESCE(excluded.phone_number, accounts.phone_number), \
               updated_at = excluded.updated_at \
             WHERE accounts.kind = '{kind}'",
            values.join(", ")
        );
        let mut vals: Vec<Val> = Vec::with_capacity(chunk.len() * 10);
        for r in chunk {
            vals.extend([
                Val::Text(Some(&r.id)),
                Val::Text(r.nip.as_deref()),
                Val::Text(r.nik.as_deref()),
                Val::Text(Some(&r.name)),
                Val::Text(Some(&r.status)),
                Val::Text(r.opd_id.as_deref()),
                Val::Text(Some(&r.profile)),
                Val::Text(r.email.as_deref()),
                Val::Bool(false),
                Val::Text(r.phone_number.as_deref()),
            ]);
        }
        total += execute(Exec::from(&mut *tx), &sql, &vals).await?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_follow_each_database() {
        let mut pg = super::Params { sqlite: false, next: 0 };
        assert_eq!((pg.take(1), pg.take(2)), ("$1".to_string(), "$2, $3".to_string()));
        assert_eq!(super::Params { sqlite: true, next: 0 }.take(2), "?, ?");
    }
}
