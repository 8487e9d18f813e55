//! A database a newer gerbang migrated, or whose applied migration was edited, is refused by
//! `migrate` and `serve` with what to do; and a restore whose upgrade fails says its rows are
//! committed.

use gerbang::backup::keys::{Lock, Unlock};
use gerbang::backup::{Extras, RestoreOptions};
use gerbang::store::migrations::schema_version;
use gerbang::store::Db;

use crate::common::{database_url, Gerbang, Run};
use crate::migrations::{count, exec, exec_blob};

/// `gerbang <args>` on the database at `url`, as an operator runs it.
async fn cli(url: &str, dir: &tempfile::TempDir, args: &[&str]) -> Run {
    Gerbang::new(args)
        .env("GERBANG_DATABASE_URL", url)
        .env("GERBANG_DATA_DIR", dir.path())
        .env("GERBANG_BIND", "127.0.0.1:0")
        .env("GERBANG_BOOTSTRAP", "false")
        .output()
        .await
}

/// The last line of standard error: a loaded machine may log a warning before it.
fn last_error(r: &Run) -> (i32, String) {
    (r.code, r.stderr.trim().lines().last().unwrap_or_default().to_string())
}

/// Records `version` as applied, as a build this one does not know would have.
pub(crate) async fn applied_elsewhere(db: &Db, version: i64, description: &str) {
    let sql = format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ({version}, '{description}', TRUE, $1, 1)"
    );
    exec_blob(db, &sql).await;
}

/// `Db::migrate`, `gerbang migrate` and `gerbang serve` each refuse the database with `message`.
async fn refused(db: &Db, url: &str, dir: &tempfile::TempDir, message: &str) {
    assert_eq!(db.migrate().await.err().map(|e| e.to_string()).as_deref(), Some(message));
    assert_eq!(last_error(&cli(url, dir, &["migrate"]).await), (1, format!("error: {message}")));
    let serve = cli(url, dir, &["serve"]).await;
    let expected = (1, format!("error: cannot apply database migrations: {message}"));
    assert_eq!(last_error(&serve), expected, "{}", serve.stderr);
}

/// A database a newer gerbang migrated, one another build migrated, and one whose applied
/// migration differs from this binary's file: each refused with what to do, before anything
/// is applied.
#[tokio::test]
async fn a_newer_or_edited_schema_is_refused_with_what_to_do() {
    let binary = schema_version();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database_url(&dir).await;
    let db = Db::connect(&url, 2).await.expect("connect");
    db.migrate_to(binary - 1).await.expect("all but the last migration");
    applied_elsewhere(&db, 9999, "from the future").await;
    let newer = format!(
        "the database is at schema 9999, newer than this gerbang (schema {binary}): run a gerbang that knows schema 9999, or restore a backup taken at schema {binary} or earlier"
    );
    refused(&db, &url, &dir, &newer).await;
    let last = db.migration_status().await.expect("status").into_iter().find(|m| m.version == binary);
    assert!(last.is_some_and(|m| m.pending()), "nothing was applied");

    // A version below this binary's that it does not carry: another build migrated it.
    exec(&db, "DELETE FROM _sqlx_migrations WHERE version = 9999").await;
    applied_elsewhere(&db, 0, "from a branch").await;
    let other = format!(
        "the database has applied migration 0 (from a branch), which this gerbang (schema {binary}) does not carry: it was migrated by another build of gerbang; run that build, or restore a backup taken before it"
    );
    refused(&db, &url, &dir, &other).await;
    db.close().await;

    // An edited released migration is named.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database_url(&dir).await;
    let db = Db::connect(&url, 2).await.expect("connect");
    db.migrate_to(2).await.expect("two migrations");
    exec_blob(&db, "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 2").await;
    let edited = "migration 2 (one current key) in this gerbang differs from the one the database applied (checksum mismatch): a released migration was edited; run a gerbang built from an unmodified release";
    refused(&db, &url, &dir, edited).await;
    let applied = db.migration_status().await.expect("status").iter().filter(|m| !m.pending()).count();
    assert_eq!(applied, 2, "nothing was applied");
    db.close().await;
}

/// A restore commits the archive's rows at its schema, then runs the later migrations: when
/// those fail, the error says the rows are in, at which schema, and the two ways on.
#[tokio::test]
async fn a_restore_whose_upgrade_fails_says_the_rows_are_committed() {
    let behind = schema_version() - 1;
    let dir = tempfile::tempdir().expect("tempdir");
    let source = Db::connect(&database_url(&dir).await, 2).await.expect("connect");
    source.migrate_to(behind).await.expect("migrate the source");
    exec(
        &source,
        "INSERT INTO opd_units (id, code, name, kind, created_at, updated_at) VALUES ('u-lama', 'LAMA', 'Dinas Lama', 'dinas', 1, 1)",
    )
    .await;
    let identity = age::x25519::Identity::generate();
    let archive = dir.path().join("cadangan.age");
    let extras = Extras { settings: String::new(), themes: Vec::new() };
    let lock = Lock::Recipients(vec![identity.to_public()]);
    gerbang::backup::take(&source, &lock, &archive, &extras, None, 1).await.expect("backup");
    source.close().await;

    // The target's first migration was edited: the upgrade after the rows is refused.
    let target_dir = tempfile::tempdir().expect("tempdir");
    let target = Db::connect(&database_url(&target_dir).await, 2).await.expect("connect");
    target.migrate_to(behind).await.expect("migrate the target");
    exec_blob(&target, "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 1").await;
    let unlock = Unlock::Identities(vec![Box::new(identity)]);
    // Written without a master key: no MAC, taken as such.
    let how = RestoreOptions { force: false, files_to: None, accept_unauthenticated: true };
    let e = gerbang::backup::restore(&target, &archive, &unlock, &[0; 32], &[], &how)
        .await
        .expect_err("the upgrade fails")
        .to_string();
    let rows: u64 = e
        .strip_prefix("the archive's ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{e}"));
    assert!(rows >= 2, "the unit and the audit head: {e}");
    let expected = format!(
        "the archive's {rows} rows were restored and committed at schema {behind}, but upgrading the database to this gerbang's schema {} then failed: migration 1 (init) in this gerbang differs from the one the database applied (checksum mismatch): a released migration was edited; run a gerbang built from an unmodified release. The database holds the restored data at schema {behind}: fix the cause and run `gerbang migrate`, or restore again with --force",
        schema_version()
    );
    assert_eq!(e, expected);
    assert_eq!(count(&target, "SELECT COUNT(*) FROM opd_units WHERE id = 'u-lama'").await, 1, "the rows are in");
    let applied = target.migration_status().await.expect("status").iter().filter(|m| !m.pending()).count();
    assert_eq!(applied as i64, behind, "at the archive's schema");
    target.close().await;
}
