//! Upgrades from every earlier schema version: for each embedded migration N, a database is
//! built step by step up to N with data written at each version in that version's own shape (an
//! account, an application, a grant with its refresh token and a retired signing key at 1, its
//! OPD unit, role and e-mail in the profile at 3, unkeyed audit records at 7), then the rest is
//! applied as a newer binary would. The data must survive (the e-mail moved out of the profile
//! by 0014 included), the server must start on it, the account must log in and get tokens, and
//! the audit chain must verify. The versions come from the migrations embedded in the binary,
//! so a new migration is covered without editing this.

use gerbang::config::Secret;
use gerbang::password::Hasher;
use gerbang::store::migrations::{schema_version, versions};
use gerbang::store::Db;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, RefreshToken};

use crate::common::{
    self, database_url, http_client, query, start_auth, unique_nip, Gerbang, TestApp, TestClient, PASSWORD,
};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const CLIENT_SECRET: &str = "rahasia-aplikasi-lama-0001";
const REFRESH_TOKEN: &str = "token-penyegaran-dari-versi-lama";
const EMAIL: &str = "pegawai.lama@example.go.id";

/// What the fixtures wrote, to be found again after the upgrade.
struct Fixture {
    nip: String,
    account: String,
    client: TestClient,
    password_hash: String,
    now: i64,
}

impl Fixture {
    async fn new() -> Fixture {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let redirect = format!("https://lama-{}.example.go.id/callback", &tag[..8]);
        let password_hash =
            Hasher::new(1, 1).hash(&Secret::new(PASSWORD.to_string())).await.expect("hash the fixture password");
        Fixture {
            nip: unique_nip(),
            account: uuid::Uuid::new_v4().to_string(),
            client: TestClient {
                id: format!("lama-{}", &tag[..12]),
                secret: Some(CLIENT_SECRET.into()),
                redirect_uri: redirect,
                post_logout_uri: String::new(),
            },
            password_hash,
            now: gerbang::state::now(),
        }
    }

    /// The data a database at `version` would hold, written in that version's shape (the
    /// columns that exist then, nothing later), or `None` when the version brings nothing new
    /// to write. The same text runs on SQLite and PostgreSQL.
    fn sql(&self, version: i64) -> Option<String> {
        let (now, a, c) = (self.now, &self.account, &self.client.id);
        let sha = |s: &str| gerbang::crypto::sha256_hex(s.as_bytes());
        match version {
            1 => Some(format!(
                "INSERT INTO accounts (id, kind, nip, nik, name, password_hash, is_admin, status, created_at, updated_at)
                 VALUES ('{a}', 'asn', '{nip}', NULL, 'Pegawai Versi Lama', '{ph}', FALSE, 'active', {t0}, {t0});
                 INSERT INTO clients (id, name, secret_hash, public_client, first_party, redirect_uris,
                     post_logout_redirect_uris, scopes, grant_types, token_alg, created_at, updated_at)
                 VALUES ('{c}', 'Aplikasi Lama', '{sh}', FALSE, TRUE, '[\"{ru}\"]', '[]', 'openid profile email',
                     'authorization_code refresh_token', 'RS256', {t0}, {t0});
                 INSERT INTO grants (id, account_id, client_id, scope, sid, auth_time, acr, amr, created_at, expires_at)
                 VALUES ('{a}-g', '{a}', '{c}', 'openid profile', 'sid-lama', {t0}, 'urn:gerbang:loa:1', 'pwd', {t0}, {exp});
                 INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at)
                 VALUES ('{rt}', '{a}-g', {t0}, {exp});
                 INSERT INTO consents (account_id, client_id, scope, created_at) VALUES ('{a}', '{c}', 'openid profile', {t0});
                 INSERT INTO signing_keys (kid, alg, state, private_key, public_jwk, created_at, rotated_at)
                 VALUES ('{a}-k', 'RS256', 'retired', '\\x00', '{{}}', {t0}, {t0});",
                nip = self.nip,
                ph = self.password_hash,
                sh = sha(CLIENT_SECRET),
                ru = self.client.redirect_uri,
                rt = sha(REFRESH_TOKEN),
                t0 = now - 3600,
                exp = now + 30 * 86400,
            )),
            3 => Some(format!(
                "INSERT INTO opd_units (id, code, name, kind, parent_id, created_at, updated_at)
                 VALUES ('{a}-u', 'LAMA{code}', 'Dinas Versi Lama', 'dinas', NULL, {now}, {now});
                 INSERT INTO roles (id, client_id, name, created_at) VALUES ('{a}-r', '{c}', 'operator', {now});
                 INSERT INTO role_assignments (id, role_id, account_id, opd_id, created_at)
                 VALUES ('{a}-ra', '{a}-r', '{a}', NULL, {now});
                 UPDATE accounts SET opd_id = '{a}-u', profile = '{{\"email\":\"{EMAIL}\",\"jabatan\":\"Analis\"}}'
                 WHERE id = '{a}';",
                code = &self.account[..8],
            )),
            7 => {
                let mut sql = String::new();
                let mut prev = GENESIS.to_string();
                for (i, kind) in ["login.success", "token.issued", "admin.client_created"].iter().enumerate() {
                    let at = now - 600 + i as i64;
                    let detail = format!("{{\"fixture\":{i}}}");
                    let fields = [prev.as_str(), &at.to_string(), kind, "fixture", a.as_str(), "10.0.0.1", &detail];
                    // The unkeyed rule of src/audit.rs: length-prefixed fields, SHA-256.
                    let mut framed = String::new();
                    for f in fields {
                        framed.push_str(&f.len().to_string());
                        framed.push(':');
                        framed.push_str(f);
                    }
                    let hash = gerbang::crypto::sha256_hex(framed.as_bytes());
                    sql.push_str(&format!(
                        "INSERT INTO audit_events (at, kind, actor, subject, ip, detail, prev_hash, hash)
                         VALUES ({at}, '{kind}', 'fixture', '{a}', '10.0.0.1', '{detail}', '{prev}', '{hash}');\n"
                    ));
                    prev = hash;
                }
                Some(sql)
            }
            _ => None,
        }
    }
}

async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("fixture failed: {e}\n{sql}"));
}

/// Runs `sql` with one binary argument: a checksum that matches no migration.
async fn exec_blob(db: &Db, sql: &str) {
    let blob = vec![0u8; 4];
    match db {
        Db::Sqlite(p) => sqlx::query(sql).bind(blob).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).bind(blob).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn scalar(db: &Db, sql: &str) -> Option<String> {
    match db {
        Db::Sqlite(p) => sqlx::query_scalar::<_, Option<String>>(sql).fetch_one(p).await,
        Db::Postgres(p) => sqlx::query_scalar::<_, Option<String>>(sql).fetch_one(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn count(db: &Db, sql: &str) -> i64 {
    match db {
        Db::Sqlite(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
        Db::Postgres(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// One upgrade: built up to `from` with data, then migrated to the binary's schema.
async fn upgrade_from(from: i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database_url(&dir).await;
    let fx = Fixture::new().await;
    let db = Db::connect(&url, 2).await.expect("connect");
    for v in versions().into_iter().filter(|v| *v <= from) {
        db.migrate_to(v).await.unwrap_or_else(|e| panic!("from {from}: migration {v}: {e}"));
        if let Some(sql) = fx.sql(v) {
            exec(&db, &sql).await;
        }
    }
    let status = db.migration_status().await.expect("status");
    assert_eq!(status.iter().filter(|m| !m.pending()).map(|m| m.version).max(), Some(from));
    assert!(status.iter().all(|m| m.known && !m.checksum_mismatch && !m.failed), "from {from}: {status:?}");

    db.migrate().await.unwrap_or_else(|e| panic!("upgrade from {from}: {e}"));
    let status = db.migration_status().await.expect("status");
    assert!(status.iter().all(|m| !m.pending()), "from {from}: every migration applied");
    assert_eq!(status.last().map(|m| m.version), Some(schema_version()));

    let a = &fx.account;
    let nip = scalar(&db, &format!("SELECT nip FROM accounts WHERE id = '{a}'")).await;
    assert_eq!(nip.as_deref(), Some(fx.nip.as_str()), "from {from}: the account survived");
    let rt = gerbang::crypto::sha256_hex(REFRESH_TOKEN.as_bytes());
    let sql = format!("SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = '{rt}' AND grant_id = '{a}-g'");
    assert_eq!(count(&db, &sql).await, 1, "from {from}: the grant and its refresh token survived");
    // A retired key (never unsealed at start, so its sealed bytes are a stand-in): rows of a
    // table that a migration rebuilds must come through.
    let sql = format!("SELECT COUNT(*) FROM signing_keys WHERE kid = '{a}-k' AND state = 'retired'");
    assert_eq!(count(&db, &sql).await, 1, "from {from}: the signing key row survived");
    if from >= 3 {
        let email = scalar(&db, &format!("SELECT email FROM accounts WHERE id = '{a}'")).await;
        assert_eq!(email.as_deref(), Some(EMAIL), "from {from}: 0014 moved the e-mail out of the profile");
        let sql = format!("SELECT COUNT(*) FROM role_assignments WHERE account_id = '{a}'");
        assert_eq!(count(&db, &sql).await, 1, "from {from}: the role assignment survived");
    }
    if from >= 7 {
        let sql = "SELECT COUNT(*) FROM audit_events WHERE actor = 'fixture'";
        assert_eq!(count(&db, sql).await, 3, "from {from}: the audit records survived");
    }
    db.close().await;

    // The upgraded database serves: the old account logs in to the old application.
    let app = TestApp::spawn_with(&[("GERBANG_DATABASE_URL", url.as_str())]).await;
    let rp = app.rp(&fx.client).await;
    let start = start_auth(&rp, &["openid", "profile"]);
    let cb = common::login(&app, &common::browser(), &start.url, &fx.nip, PASSWORD).await;
    let code = query(&cb).get("code").cloned().unwrap_or_else(|| panic!("from {from}: no code in {cb}"));
    let t = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("exchange")
        .set_pkce_verifier(start.verifier)
        .request_async(&http_client())
        .await
        .unwrap_or_else(|e| panic!("from {from}: token: {e:?}"));
    let refresh = t.refresh_token().expect("refresh token").clone();
    rp.exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .expect("refresh request")
        .request_async(&http_client())
        .await
        .unwrap_or_else(|e| panic!("from {from}: refresh: {e:?}"));

    // The first start vouched for the unkeyed records; the chain verifies across the change.
    let v = gerbang::audit::verify(&app.state.db).await.expect("verify");
    assert!(v.ok, "from {from}: audit chain: {:?}", v.problem);
    if from >= 7 {
        assert!(v.legacy_until >= 3, "from {from}: the fixture records are checked with the old rule");
    }
}

#[tokio::test]
async fn every_earlier_schema_version_upgrades_with_its_data_and_serves() {
    let all = versions();
    assert!(all.len() >= 20, "the embedded migrations are listed");
    assert_eq!(all.last().copied(), Some(schema_version()));
    // The current version too: a database already there must pass through `migrate` unchanged.
    for from in all {
        upgrade_from(from).await;
    }
}

#[tokio::test]
async fn status_lists_pending_then_applied_and_flags_an_edited_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&database_url(&dir).await, 2).await.expect("connect");
    let before = db.migration_status().await.expect("status of an empty database");
    assert_eq!(before.len(), versions().len());
    assert!(before.iter().all(|m| m.pending() && m.known));

    db.migrate_to(2).await.expect("two migrations");
    let mid = db.migration_status().await.expect("status");
    let applied: Vec<i64> = mid.iter().filter(|m| !m.pending()).map(|m| m.version).collect();
    assert_eq!(applied, vec![1, 2]);

    // An edited released migration and one only a newer binary knows are both flagged.
    exec_blob(&db, "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 2").await;
    exec_blob(
        &db,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', TRUE, $1, 1)",
    )
    .await;
    let after = db.migration_status().await.expect("status");
    let two = after.iter().find(|m| m.version == 2).expect("2");
    assert!(two.checksum_mismatch && two.known);
    assert!(!after.iter().find(|m| m.version == 1).expect("1").checksum_mismatch);
    let future = after.last().expect("future");
    assert_eq!((future.version, future.known, future.pending()), (9999, false, false));
}

/// The operator's view: `--version` names the schema, `migrate --status` lists pending then
/// applied migrations, in text and JSON.
#[test]
fn version_names_the_schema_and_migrate_status_lists_the_migrations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = Gerbang::new(args)
            .env("GERBANG_DATABASE_URL", format!("sqlite://{}/m.db", dir.path().display()))
            .env("GERBANG_DATA_DIR", dir.path())
            .run();
        (Some(out.code), out.stdout)
    };
    let (code, out) = run(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), format!("gerbang {} (schema {})", env!("CARGO_PKG_VERSION"), schema_version()));

    let (code, out) = run(&["migrate", "--status", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["schema"], 0);
    assert_eq!(v["binary_schema"], schema_version());
    assert_eq!(v["pending"], versions().len());
    assert_eq!(v["migrations"][0]["applied_at"], serde_json::Value::Null);

    let (code, out) = run(&["migrate", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(out.trim()).expect("json")["schema"], schema_version());

    let (code, out) = run(&["migrate", "--status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with(&format!("database: sqlite, schema {0}; this binary: schema {0}; 0 pending", schema_version())),
        "{out}"
    );
    assert_eq!(out.lines().filter(|l| l.contains(" applied ")).count(), versions().len(), "{out}");
}
