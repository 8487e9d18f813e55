//! The schema migrations embedded in the binary: applying them (all, or up to a version for the
//! upgrade tests), the schema version the binary carries, and what a database has applied.

use std::borrow::Cow;

use sqlx::migrate::Migrator;

use super::{dispatch, Db, StoreError};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The embedded migrations for one kind of database.
fn migrator(db: &Db) -> &'static Migrator {
    match db {
        Db::Sqlite(_) => &SQLITE,
        Db::Postgres(_) => &POSTGRES,
    }
}

/// The schema version this binary brings a database to: its highest embedded migration. Both
/// folders hold the same versions (a unit test checks), so either answers; the larger is taken
/// so a folder ahead of the other is never under-reported.
pub fn schema_version() -> i64 {
    SQLITE.iter().chain(POSTGRES.iter()).map(|m| m.version).max().unwrap_or(0)
}

/// Every embedded migration version, in order.
pub fn versions() -> Vec<i64> {
    SQLITE.iter().map(|m| m.version).collect()
}

impl Db {
    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        run(self, migrator(self)).await
    }

    /// Applies the pending migrations up to and including `version`, leaving later ones
    /// pending: the upgrade tests build a database as an older release left it.
    pub async fn migrate_to(&self, version: i64) -> Result<(), StoreError> {
        let full = migrator(self);
        let partial = Migrator {
            migrations: Cow::Owned(full.iter().filter(|m| m.version <= version).cloned().collect()),
            ignore_missing: full.ignore_missing,
            locking: full.locking,
            no_tx: full.no_tx,
        };
        run(self, &partial).await
    }

    /// Each embedded migration with whether (and when) this database applied it, followed by any
    /// the database applied that this binary does not know (a newer release ran on it). Reads
    /// only: a database never migrated lists every migration as pending.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let applied: Vec<AppliedRow> = if self.has_migrations_table().await? {
            dispatch!(
                self,
                "SELECT version, description, CAST(installed_on AS TEXT) AS installed_on, success, checksum \
                 FROM _sqlx_migrations ORDER BY version",
                [],
                fetch_all(AppliedRow)
            )?
        } else {
            Vec::new()
        };
        let mut out: Vec<MigrationStatus> = migrator(self)
            .iter()
            .map(|m| {
                let row = applied.iter().find(|a| a.version == m.version);
                MigrationStatus {
                    version: m.version,
                    description: m.description.to_string(),
                    applied_at: row.map(|a| a.installed_on.clone()),
                    failed: row.is_some_and(|a| !a.success),
                    checksum_mismatch: row.is_some_and(|a| a.checksum != *m.checksum),
                    known: true,
                }
            })
            .collect();
        let unknown: Vec<&AppliedRow> =
            applied.iter().filter(|a| !out.iter().any(|m| m.version == a.version)).collect();
        for a in unknown {
            out.push(MigrationStatus {
                version: a.version,
                description: a.description.clone(),
                applied_at: Some(a.installed_on.clone()),
                failed: !a.success,
                checksum_mismatch: false,
                known: false,
            });
        }
        Ok(out)
    }

    /// Whether sqlx's bookkeeping table exists. The catalogues differ, so this is the one
    /// question asked in each database's own words.
    async fn has_migrations_table(&self) -> Result<bool, StoreError> {
        let n: (i64,) = match self {
            Db::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(p)
                .await?
            }
            Db::Postgres(p) => {
                sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM pg_tables WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()")
                    .fetch_one(p)
                    .await?
            }
        };
        Ok(n.0 > 0)
    }
}

async fn run(db: &Db, m: &Migrator) -> Result<(), StoreError> {
    match db {
        Db::Sqlite(pool) => m.run(pool).await?,
        Db::Postgres(pool) => m.run(pool).await?,
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AppliedRow {
    version: i64,
    description: String,
    installed_on: String,
    success: bool,
    checksum: Vec<u8>,
}

/// One migration as `gerbang migrate --status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    /// When the database applied it, as the database prints its timestamp; `None` while pending.
    pub applied_at: Option<String>,
    /// Recorded as applied but unsuccessful (sqlx leaves such a row when a migration outside a
    /// transaction fails half-way); the next `migrate` refuses until it is repaired.
    pub failed: bool,
    /// The applied file differs from the one embedded in this binary: someone edited a released
    /// migration, and `migrate` refuses to go on.
    pub checksum_mismatch: bool,
    /// `false` for a migration the database applied that this binary does not carry: the
    /// database was upgraded by a newer release.
    pub known: bool,
}

impl MigrationStatus {
    pub fn pending(&self) -> bool {
        self.applied_at.is_none()
    }
}
