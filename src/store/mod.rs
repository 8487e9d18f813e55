//! Persistent storage on SQLite (embedded default) or PostgreSQL (production), chosen by URL at
//! run time. Each query is written once with `$n` placeholders and dispatched over [`Db`].

pub mod accounts;
pub mod app_requests;
pub mod certs;
pub mod clients;
pub mod factors;
pub mod grants;
pub mod keys;
pub mod opd;
pub mod passkeys;
pub mod roles;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the string names the field (e.g. `nip`).
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Conflict(conflicting_field(db.message(), db.constraint()));
            }
        }
        StoreError::Db(e)
    }
}

/// SQLite says `UNIQUE constraint failed: accounts.nip`, PostgreSQL names the constraint
/// `accounts_nip_key`; both end in the column name.
fn conflicting_field(message: &str, constraint: Option<&str>) -> String {
    if let Some(c) = constraint {
        let c = c.strip_suffix("_key").or_else(|| c.strip_suffix("_pkey").map(|_| "id")).unwrap_or(c);
        return c.rsplit('_').next().unwrap_or(c).to_string();
    }
    message.rsplit('.').next().unwrap_or(message).trim().to_string()
}

/// Runs one SQL string against whichever database is connected. Arguments are bound in order.
macro_rules! dispatch {
    ($db:expr, $sql:expr, [$($arg:expr),* $(,)?], fetch_optional($ty:ty)) => {
        match $db {
            $crate::store::Db::Sqlite(pool) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_optional(pool).await,
            $crate::store::Db::Postgres(pool) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_optional(pool).await,
        }
    };
    ($db:expr, $sql:expr, [$($arg:expr),* $(,)?], fetch_all($ty:ty)) => {
        match $db {
            $crate::store::Db::Sqlite(pool) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_all(pool).await,
            $crate::store::Db::Postgres(pool) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_all(pool).await,
        }
    };
    ($db:expr, $sql:expr, [$($arg:expr),* $(,)?], fetch_one($ty:ty)) => {
        match $db {
            $crate::store::Db::Sqlite(pool) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_one(pool).await,
            $crate::store::Db::Postgres(pool) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_one(pool).await,
        }
    };
    ($db:expr, $sql:expr, [$($arg:expr),* $(,)?], execute) => {
        match $db {
            $crate::store::Db::Sqlite(pool) => sqlx::query($sql)$(.bind($arg))*.execute(pool).await.map(|r| r.rows_affected()),
            $crate::store::Db::Postgres(pool) => sqlx::query($sql)$(.bind($arg))*.execute(pool).await.map(|r| r.rows_affected()),
        }
    };
}
pub(crate) use dispatch;

impl Db {
    /// Connects by URL scheme. For SQLite the database file and its directory are created.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, StoreError> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if let Some(dir) = opts.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Ok(Db::Postgres(pool))
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, "SELECT 1", [], execute)?;
        Ok(())
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conflict_field_names() {
        assert_eq!(super::conflicting_field("UNIQUE constraint failed: accounts.nip", None), "nip");
        assert_eq!(super::conflicting_field("duplicate key", Some("accounts_nik_key")), "nik");
    }
}
