//! The schema migrations embedded in the binary: applying them (all, or up to a version for the
//! upgrade tests), refusing a database they do not match, the schema version the binary
//! carries, and what a database has applied.

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

/// Why this binary will not migrate a database, in the operator's terms: sqlx's own words
/// ("migration 23 was previously applied but is missing in the resolved migrations") say
/// neither what happened nor what to do.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "the database is at schema {database}, newer than this gerbang (schema {binary}): run a gerbang that knows schema {database}, or restore a backup taken at schema {binary} or earlier"
    )]
    Newer { database: i64, binary: i64 },
    #[error(
        "the database has applied migration {version} ({description}), which this gerbang (schema {binary}) does not carry: it was migrated by another build of gerbang; run that build, or restore a backup taken before it"
    )]
    Unknown { version: i64, description: String, binary: i64 },
    #[error(
        "migration {version} ({description}) in this gerbang differs from the one the database applied (checksum mismatch): a released migration was edited; run a gerbang built from an unmodified release"
    )]
    Edited { version: i64, description: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Db {
    /// Applies every pending migration, after refusing a database this binary does not fully
    /// know (see [`Db::refuse_foreign_schema`]).
    pub async fn migrate(&self) -> Result<(), SchemaError> {
        self.refuse_foreign_schema().await?;
        run(self, migrator(self)).await?;
        Ok(())
    }

    /// Refuses a database a newer (or another) build migrated, or one whose applied migration
    /// differs from the embedded file, each with what to do; sqlx would refuse both too, in
    /// words that name neither cause nor remedy. Reads only.
    pub async fn refuse_foreign_schema(&self) -> Result<(), SchemaError> {
        let status = self.migration_status().await?;
        let binary = schema_version();
        let applied = status.iter().filter(|m| !m.pending());
        if let Some(database) = applied.map(|m| m.version).max().filter(|v| *v > binary) {
            return Err(SchemaError::Newer { database, binary });
        }
        if let Some(m) = status.iter().find(|m| !m.known) {
            return Err(SchemaError::Unknown { version: m.version, description: m.description.clone(), binary });
        }
        if let Some(m) = status.iter().find(|m| m.checksum_mismatch) {
            return Err(SchemaError::Edited { version: m.version, description: m.description.clone() });
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The SHA-256 of every released migration file. A deployed database keeps each applied
    /// migration's checksum and refuses to start under a binary whose file differs, so these
    /// files never change once released; a new migration adds its two lines here.
    const RELEASED: &[(&str, &str)] = &[
        ("sqlite/0001_init.sql", "0bc3fdad2154074200de3e0fa5cd73a94ae667cf6a9bb0894886efb9161e352a"),
        ("sqlite/0002_one_current_key.sql", "daba43dfcf4887f5b89274cb32942b218891475e7d4c2f818d6379284aaeaa64"),
        ("sqlite/0003_spbe_model.sql", "091e42dafd2bd4c053b5149c16e5d81186983da17d7e3b72b7b9ad2791cd2ebb"),
        ("sqlite/0004_client_subjects.sql", "7cac5b89986043025fe800752d3e880fc7a26b2608234049e722de1e32147ce1"),
        ("sqlite/0005_second_factors.sql", "6f55dd18a05b3cb48f20d3c021d08cd080b4c0932bb6d6268cd0b93ab753dace"),
        ("sqlite/0006_passkeys.sql", "5172ae082176b2fdf60c1b103d19973022dd7944c41d07b6fc6246de22d9e81e"),
        ("sqlite/0007_audit.sql", "dc0ead5610abaff301b27f84b1ed17d120c4fca28cbbb16d1c00da69ade9daf9"),
        ("sqlite/0008_app_requests.sql", "07f913b00e72fe8cfc33b7d2f24df51f7a6634e12745078922f92c4c3716854d"),
        ("sqlite/0009_client_disabled.sql", "f5d68fffb4b0b7a7ce25c6f9a37ce45eee3c25a90230aa6505369233e0adef87"),
        ("sqlite/0010_audit_anchor.sql", "bc1dddcc6f3deb323f89bb63eca8a64031e9e2de663923484860e96d0959a3be"),
        ("sqlite/0011_certificates.sql", "b2fc2e82f2c5da6c6571024277433b5e9a81e89d178494af45d2cb40110172f5"),
        ("sqlite/0012_enrolment_links.sql", "f1601becec52bc6271f527f1e1c6e568bc28be8025c8091b3d889d7c6cfbb67d"),
        ("sqlite/0013_audit_keyed.sql", "5b72bfabb07eb8accbf1383114c761aa00dfabf11a1e45871a3618f7cd5a844b"),
        ("sqlite/0014_self_service.sql", "9670cab5dd7e5fca4ccae2ff9eb7ff713d7578e9d45a43b08f191c7a4a957912"),
        ("sqlite/0015_upstream.sql", "d1f86e5432cdc37b8c25eff364e2850f8d1c3de7ba8b1a702225e1e60784c6ef"),
        ("sqlite/0016_scim.sql", "77ad8bbefe11de8f89e3bce6871a5d205a6ce7033d432d3411b549530781aa2c"),
        ("sqlite/0017_backchannel.sql", "68875c80db9f956e9f3c4c21f062f2412b35869b85010e1be75cbfbf26e5e437"),
        ("sqlite/0018_grant_rp_sid.sql", "fad76be74d4ca3922ed47e3f455d252c94378cdf8f7c58e494b03d290eaa61c3"),
        ("sqlite/0019_cert_trust.sql", "42891a20d677a54c1fdae9d8c5148c318a71310034ec4c6e42ecb19b6bd08135"),
        ("sqlite/0020_monitor.sql", "98d5ea112c95e35ced58f454c67761a9aebe6143f474094d0a836df65918713f"),
        ("sqlite/0021_key_lifecycle.sql", "24ba92683013b0260471f2691a03c4b7ccae8e35d13070dff5dfcb01fa0782bc"),
        ("sqlite/0022_role_lookups.sql", "1a11afd93999fcd8dfd1ea9999328c0c7640b200589a5acc2c784958c93d7de8"),
        ("sqlite/0023_self_registered.sql", "ade56d3e0a467c7f438c407eccf53476108254044acd175197bc0121dde6dd59"),
        ("postgres/0001_init.sql", "8ef4dbf36612325cb89a0e69229100093893557dd32a9b59b5ea209298e79e98"),
        ("postgres/0002_one_current_key.sql", "daba43dfcf4887f5b89274cb32942b218891475e7d4c2f818d6379284aaeaa64"),
        ("postgres/0003_spbe_model.sql", "091e42dafd2bd4c053b5149c16e5d81186983da17d7e3b72b7b9ad2791cd2ebb"),
        ("postgres/0004_client_subjects.sql", "7cac5b89986043025fe800752d3e880fc7a26b2608234049e722de1e32147ce1"),
        ("postgres/0005_second_factors.sql", "664c3b755fc2fbe420822373f4c614e6928896c69fe5487876cc99080dded95a"),
        ("postgres/0006_passkeys.sql", "5172ae082176b2fdf60c1b103d19973022dd7944c41d07b6fc6246de22d9e81e"),
        ("postgres/0007_audit.sql", "94dce0af3268c1de603673f296d308fe6977e0a7a509fdda210535f2b53b9f1e"),
        ("postgres/0008_app_requests.sql", "04d177059d7b9443c0e232fdb6d6f40dde355eae954611b02a5b29c1872aa7ae"),
        ("postgres/0009_client_disabled.sql", "f5d68fffb4b0b7a7ce25c6f9a37ce45eee3c25a90230aa6505369233e0adef87"),
        ("postgres/0010_audit_anchor.sql", "bc1dddcc6f3deb323f89bb63eca8a64031e9e2de663923484860e96d0959a3be"),
        ("postgres/0011_certificates.sql", "b2fc2e82f2c5da6c6571024277433b5e9a81e89d178494af45d2cb40110172f5"),
        ("postgres/0012_enrolment_links.sql", "39da3183ab9c0d4648cda1e8ff101ead0495bb2f57ad2a74f5361675ea54ed26"),
        ("postgres/0013_audit_keyed.sql", "f6293a05ba6d07aad1fc19c2a427e9be12f3d02560e319d46003622111b71b37"),
        ("postgres/0014_self_service.sql", "25b85bbca7c6a89dca4d946219b8a8c5470c0496d7b668687791115b8d920051"),
        ("postgres/0015_upstream.sql", "042afe9480247c95f3cd99d9a1beabc406c73671473110553a378c08290124fa"),
        ("postgres/0016_scim.sql", "be498edb47e19bef6f14db1d7cca65b7a6d5beaa1bd4cd5cc6f01b2c207659d5"),
        ("postgres/0017_backchannel.sql", "860054d60625aeed374cbd7992708aeb58dc3cd2f698bfa4ac17f6cab46945c0"),
        ("postgres/0018_grant_rp_sid.sql", "e95404067f0dad2a26da0222a05ad09aefb4b1b00dd383d3b1e45ad773065988"),
        ("postgres/0019_cert_trust.sql", "683cbcb1ed68f3f3a31c94dcc78d955b26a6a49749030c18ff3e0013677d6dcb"),
        ("postgres/0020_monitor.sql", "ba6bc8b2e1e60e223d4cc779c538b0001d794b9b699cc450be66d4fe688ab585"),
        ("postgres/0021_key_lifecycle.sql", "02baa82aaa251b2068b99ca3361314c22015e4bd351414f4e5545c803bf74636"),
        ("postgres/0022_role_lookups.sql", "1a11afd93999fcd8dfd1ea9999328c0c7640b200589a5acc2c784958c93d7de8"),
        ("postgres/0023_self_registered.sql", "ade56d3e0a467c7f438c407eccf53476108254044acd175197bc0121dde6dd59"),
    ];

    #[test]
    fn released_migrations_are_never_edited() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut found = BTreeMap::new();
        for kind in ["sqlite", "postgres"] {
            for entry in std::fs::read_dir(root.join(kind)).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.ends_with(".sql") {
                    let sha = crate::crypto::sha256_hex(&std::fs::read(&path).unwrap());
                    found.insert(format!("{kind}/{name}"), sha);
                }
            }
        }
        let pinned: BTreeMap<&str, &str> = RELEASED.iter().copied().collect();
        let mut problems = Vec::new();
        for (name, sha) in &found {
            match pinned.get(name.as_str()) {
                Some(p) if p == sha => {}
                Some(_) => problems.push(format!("{name} was edited: its SHA-256 is now {sha}")),
                None => problems.push(format!("{name} has no line: add (\"{name}\", \"{sha}\"),")),
            }
        }
        for name in pinned.keys().filter(|n| !found.contains_key(**n)) {
            problems.push(format!("{name} is listed but its file is gone: a released migration was removed"));
        }
        assert!(
            problems.is_empty(),
            "released migrations must not be edited or removed: a deployed database refuses a migration whose checksum changed, so put the file back as released and write a new migration instead; a new migration needs its line added to RELEASED in src/store/migrations.rs\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn both_folders_hold_the_same_versions() {
        let postgres: Vec<i64> = POSTGRES.iter().map(|m| m.version).collect();
        assert_eq!(versions(), postgres, "migrations/sqlite and migrations/postgres are kept in step");
        assert_eq!(versions().last().copied(), Some(schema_version()));
    }
}
