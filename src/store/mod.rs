//! Persistent storage on SQLite (embedded default) or PostgreSQL (production), chosen by URL at
//! run time. Each query is written once with `$n` placeholders and dispatched over [`Db`].

pub mod access;
pub mod accounts;
pub mod app_requests;
pub mod audit;
pub mod backup;
pub mod cert_checks;
pub mod cert_counts;
pub mod cert_monitor;
pub mod certs;
pub mod clients;
pub mod connected;
pub mod demo;
pub mod devices;
pub mod enrolment;
pub mod factors;
pub mod grants;
pub mod hot;
pub mod import;
pub mod keys;
pub mod links;
pub mod logout;
pub mod migrations;
pub mod opd;
pub mod passkeys;
pub mod restore;
pub mod roles;
pub mod scim;
pub mod sealed;
pub mod stats;
pub mod upstream;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnectionMetadata;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, PgConnection, PgPool, SqliteConnection, SqlitePool};

/// The longest a PostgreSQL query waits for a connection (a free one, or a new one while the
/// server is down or restarting) before it fails as unavailable, so the request answers 503 +
/// `Retry-After` after about this long rather than hanging: a client is better told to retry
/// than kept waiting, and a server that is back is found by the retry. 2 s is longer than a
/// restart refuses connections (`pg_ctl restart -m fast`: 0.25–0.5 s in `replicas::faults`) and
/// than a healthy pool's queue; a pool queued longer is overloaded, and shedding with a 503 is
/// better than a queue that grows. (SQLite keeps 10 s: its file does not go away, and writers
/// queue for its one write lock.)
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out.
/// One that was idle when the server restarted is dead, and would otherwise fail its next
/// request, however much later; under steady traffic connections are reused well within this,
/// so the busy path pays no round trip.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// After a connection-level error every pooled connection is pinged before use for this long:
/// the server went away, and connections used just before (idle less than
/// [`PING_IDLE_AFTER`]) are dead too.
const PING_AFTER_CUT: Duration = Duration::from_secs(10);

/// When the last connection-level error was seen: milliseconds since [`epoch`], plus one (0:
/// never). Process-wide rather than per pool: a server has one pool, and a second one (a
/// command, a test) only pings a little more.
static LAST_CUT: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis_now() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn note_cut() {
    LAST_CUT.store(millis_now().saturating_add(1), Ordering::Relaxed);
}

/// Whether a cut noted at `last` (as stored in [`LAST_CUT`]) is within `window` of `now`.
fn cut_within(last: u64, now: u64, window: Duration) -> bool {
    last != 0 && now.saturating_add(1).saturating_sub(last) < u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
}

/// Whether a connection taken from the pool should be pinged before use (see
/// [`PING_IDLE_AFTER`], [`PING_AFTER_CUT`]).
fn worth_a_ping(meta: &PoolConnectionMetadata) -> bool {
    meta.idle_for > PING_IDLE_AFTER || cut_within(LAST_CUT.load(Ordering::Relaxed), millis_now(), PING_AFTER_CUT)
}

/// Whether `e` says the connection itself failed (cut, refused, the server shutting down), as
/// opposed to a query refused or a pool merely busy or closed.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

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
        // Every query error passes here on its way up (a conflict is an answer, not an error),
        // so this one place counts them all for `gerbang_database_errors_total`.
        if unavailable(&e) {
            // Answered like an unavailable cache (503 + Retry-After): the database is down,
            // restarting or out of connections, and the same request will succeed once it is back.
            crate::cache::outage::record();
        }
        if connection_lost(&e) {
            note_cut();
        }
        crate::metrics::database_error(match &e {
            sqlx::Error::PoolTimedOut => "pool_timeout",
            sqlx::Error::PoolClosed => "pool_closed",
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => "io",
            sqlx::Error::Database(_) => "database",
            _ => "other",
        });
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

/// Whether `e` says the database cannot be reached right now (connection refused, cut by a
/// restart, pool exhausted, server shutting down or starting) rather than that the query was
/// wrong. SQLSTATE class 08 is a connection exception, 57P01–57P03 an administrator, crash or
/// start-up shutdown, 53300 too many connections.
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| c.starts_with("08") || ["57P01", "57P02", "57P03", "53300"].contains(&&*c))
        }
        _ => false,
    }
}

/// Where a query runs: straight on the pool, or on the connection of an open [`Tx`]. Store
/// functions that take part in transactions accept `impl Into<Exec>`, so callers pass `&Db` or
/// `&mut Tx` and the query is still written once.
pub enum Exec<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
    SqliteTx(&'a mut SqliteConnection),
    PostgresTx(&'a mut PgConnection),
}

impl<'a> From<&'a Db> for Exec<'a> {
    fn from(db: &'a Db) -> Self {
        match db {
            Db::Sqlite(p) => Exec::Sqlite(p),
            Db::Postgres(p) => Exec::Postgres(p),
        }
    }
}

impl<'a> From<&'a mut Tx> for Exec<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        match tx {
            Tx::Sqlite(t) => Exec::SqliteTx(t),
            Tx::Postgres(t) => Exec::PostgresTx(t),
        }
    }
}

impl Exec<'_> {
    /// A shorter-lived copy, for a function that runs several queries on one `Exec`.
    pub fn reborrow(&mut self) -> Exec<'_> {
        match self {
            Exec::Sqlite(p) => Exec::Sqlite(p),
            Exec::Postgres(p) => Exec::Postgres(p),
            Exec::SqliteTx(c) => Exec::SqliteTx(c),
            Exec::PostgresTx(c) => Exec::PostgresTx(c),
        }
    }
}

/// An open transaction on either database; dropped without [`Tx::commit`] it rolls back.
///
/// On SQLite it holds the database's only write lock until it ends, so while one is open every
/// query of the work must go through it: a write on another pooled connection (an audit append,
/// say) would wait for the lock this transaction holds. Transactions therefore begin and end
/// inside one store or domain function, and audit records are appended after the commit.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(_))
    }
}

/// Runs one SQL string wherever `$db` points (`&Db`, `&mut Tx` or an [`Exec`]). Arguments are
/// bound in order.
macro_rules! dispatch {
    (@run $db:expr, $q:ident, $op:ident, $map:expr) => {
        match ::core::convert::Into::<$crate::store::Exec<'_>>::into($db) {
            $crate::store::Exec::Sqlite(pool) => $q!(sqlx::Sqlite).$op(pool).await.map($map),
            $crate::store::Exec::Postgres(pool) => $q!(sqlx::Postgres).$op(pool).await.map($map),
            $crate::store::Exec::SqliteTx(conn) => $q!(sqlx::Sqlite).$op(conn).await.map($map),
            $crate::store::Exec::PostgresTx(conn) => $q!(sqlx::Postgres).$op(conn).await.map($map),
        }
    };
    ($db:expr, $sql:expr, [$($arg:expr),* $(,)?], fetch_optional($ty:ty)) => {{
        macro_rules! q { ($d:ty) => { sqlx::query_as::<$d, $ty>($sql)$(.bind($arg))* } }
        $crate::store::dispatch!(@run $db, q, fetch_optional, |r| r)
    }};
    ($db:expr, $sql:expr, [$($arg:expr),* $(,)?], fetch_all($ty:ty)) => {{
        macro_rules! q { ($d:ty) => { sqlx::query_as::<$d, $ty>($sql)$(.bind($arg))* } }
        $crate::store::dispatch!(@run $db, q, fetch_all, |r| r)
    }};
    ($db:expr, $sql:expr, [$($arg:expr),* $(,)?], fetch_one($ty:ty)) => {{
        macro_rules! q { ($d:ty) => { sqlx::query_as::<$d, $ty>($sql)$(.bind($arg))* } }
        $crate::store::dispatch!(@run $db, q, fetch_one, |r| r)
    }};
    ($db:expr, $sql:expr, [$($arg:expr),* $(,)?], execute) => {{
        macro_rules! q { ($d:ty) => { sqlx::query::<$d>($sql)$(.bind($arg))* } }
        $crate::store::dispatch!(@run $db, q, execute, |r| r.rows_affected())
    }};
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
                .test_before_acquire(false)
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            let opts = PgConnectOptions::from_str(url)?;
            // No ping before every acquire: sqlx already pings each connection when it is
            // released, and a second ping doubled the round trips of every statement. But a
            // connection can die while it sits in the pool (the server restarted), so one idle
            // for a while, or any while connections are being found cut, is pinged first, and
            // a dead one is closed and replaced within the acquire instead of failing a request.
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if worth_a_ping(&meta) {
                            if let Err(e) = conn.ping().await {
                                // The rest of the pool was most likely cut at the same moment.
                                note_cut();
                                return Err(e);
                            }
                        }
                        Ok(true)
                    })
                })
                .connect_with(opts)
                .await?;
            Ok(Db::Postgres(pool))
        }
    }

    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a
    /// transaction that reads first and writes later could otherwise fail with "database is
    /// locked" when another writer came in between, instead of waiting its turn.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, "SELECT 1", [], execute)?;
        Ok(())
    }

    /// Names the database this handle reaches (file, or server, database and session options
    /// such as the schema), the same for every clone and every pool opened with the same
    /// settings: state kept in memory per database (the audit chain's key) is found by it.
    pub fn identity(&self) -> String {
        match self {
            Db::Sqlite(p) => format!("sqlite:{}", p.connect_options().get_filename().display()),
            Db::Postgres(p) => {
                let o = p.connect_options();
                format!(
                    "postgres:{}@{}:{}{}/{}?{}",
                    o.get_username(),
                    o.get_host(),
                    o.get_port(),
                    o.get_socket().map(|s| s.display().to_string()).unwrap_or_default(),
                    o.get_database().unwrap_or_default(),
                    o.get_options().unwrap_or_default()
                )
            }
        }
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
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Tables and their columns as a directory of migrations leaves them, read roughly: `CREATE
    /// TABLE` column lists (without table constraints), `ALTER TABLE … ADD COLUMN` / `RENAME TO`
    /// (and constraint changes, which keep the columns), `DROP TABLE`.
    /// Any other `ALTER TABLE` fails the test, so the parser is extended before it lies.
    fn schema(dir: &Path) -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let text = std::fs::read_to_string(dir.join(f)).expect("migration");
            let code: String = text.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join(" ");
            for stmt in code.split(';') {
                let words: Vec<String> = stmt.split_whitespace().map(str::to_lowercase).collect();
                let w: Vec<&str> = words.iter().map(String::as_str).collect();
                match w.as_slice() {
                    ["create", "table", rest @ ..] => {
                        let rest = rest.strip_prefix(&["if", "not", "exists"][..]).unwrap_or(rest);
                        let name = rest[0].split('(').next().unwrap_or("").to_string();
                        let body = &stmt[stmt.find('(').expect("column list") + 1..stmt.rfind(')').expect("end")];
                        let mut columns = BTreeSet::new();
                        let (mut depth, mut item) = (0, String::new());
                        for c in body.chars().chain(std::iter::once(',')) {
                            match c {
                                '(' => depth += 1,
                                ')' => depth -= 1,
                                ',' if depth == 0 => {
                                    let first = item.split_whitespace().next().unwrap_or("").to_lowercase();
                                    if !["", "primary", "unique", "check", "foreign", "constraint"]
                                        .contains(&first.as_str())
                                    {
                                        columns.insert(first);
                                    }
                                    item.clear();
                                    continue;
                                }
                                _ => {}
                            }
                            item.push(c);
                        }
                        assert!(tables.insert(name.clone(), columns).is_none(), "{f}: {name} created twice");
                    }
                    ["alter", "table", name, "add", "column", rest @ ..] => {
                        let rest = rest.strip_prefix(&["if", "not", "exists"][..]).unwrap_or(rest);
                        let table =
                            tables.get_mut(*name).unwrap_or_else(|| panic!("{f}: {name} altered before created"));
                        table.insert(rest[0].to_string());
                    }
                    ["alter", "table", name, "rename", "to", new] => {
                        let columns =
                            tables.remove(*name).unwrap_or_else(|| panic!("{f}: {name} renamed before created"));
                        tables.insert((*new).to_string(), columns);
                    }
                    // Constraints and NOT NULL leave the column names as they are.
                    ["alter", "table", _, "drop" | "add", "constraint", ..]
                    | ["alter", "table", _, "alter", "column", ..] => {}
                    ["alter", ..] => panic!("{f}: statement not understood by this test: {stmt}"),
                    ["drop", "table", rest @ ..] => {
                        let rest = rest.strip_prefix(&["if", "exists"][..]).unwrap_or(rest);
                        tables.remove(rest[0]);
                    }
                    _ => {}
                }
            }
        }
        (files, tables)
    }

    #[test]
    fn both_databases_have_the_same_migrations_tables_and_columns() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let (lite_files, lite) = schema(&root.join("sqlite"));
        let (pg_files, pg) = schema(&root.join("postgres"));
        assert_eq!(lite_files, pg_files, "the same migration files");
        assert!(lite.len() >= 17 && lite["accounts"].contains("opd_id"), "the parser found the schema: {lite:?}");
        assert_eq!(lite.keys().collect::<Vec<_>>(), pg.keys().collect::<Vec<_>>(), "the same tables");
        for (table, columns) in &lite {
            assert_eq!(columns, &pg[table], "the same columns in {table}");
        }
    }

    #[test]
    fn a_cut_is_remembered_for_its_window_only() {
        let window = super::Duration::from_secs(10);
        assert!(!super::cut_within(0, 5, window), "no cut noted yet");
        // Noted at 1000 ms (stored as 1001).
        assert!(super::cut_within(1001, 1000, window), "just now");
        assert!(super::cut_within(1001, 10_999, window), "within the window");
        assert!(!super::cut_within(1001, 11_000, window), "the window is over");
        // Another thread noted a cut after this one read the clock: recent.
        assert!(super::cut_within(2001, 1000, window));
    }

    #[test]
    fn only_connection_failures_count_as_cuts() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(super::connection_lost(&io));
        assert!(super::unavailable(&io), "and answered 503");
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed, sqlx::Error::RowNotFound] {
            assert!(!super::connection_lost(&e), "{e}");
        }
    }

    #[test]
    fn conflict_field_names() {
        assert_eq!(super::conflicting_field("UNIQUE constraint failed: accounts.nip", None), "nip");
        assert_eq!(super::conflicting_field("duplicate key", Some("accounts_nik_key")), "nik");
    }
}
