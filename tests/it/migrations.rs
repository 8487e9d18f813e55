//! Upgrades from every earlier schema version: for each embedded migration N, a database is
//! built step by step up to N with data written at each version in that version's own shape, so
//! each later migration runs over real rows of the tables it changes: at 1 an account, an
//! application, a grant with its refresh token, a retired signing key (0021 rebuilds the table)
//! and a second account; at 3 its OPD unit, role, and e-mail and phone in the profile (0014 moves
//! them out); the second account's TOTP factor at 5 and passkey at 6 (0012 adds columns); unkeyed
//! audit records at 7, one the first account's registration (0023), and a retention anchor at 10
//! (0013); a certificate at 11 (0019) and its notice at 19 (0020); a one-time link, a known
//! device, an upstream link and a SCIM token where their tables begin. Then the rest is applied
//! as a newer binary would. Every row must survive with its values, the server must start on it,
//! the account must log in and get tokens, and the audit chain must verify. The versions come
//! from the migrations embedded in the binary, so a new migration is covered without editing this.
//! (`migrations_refused`: databases an upgrade must refuse.)

use gerbang::config::Secret;
use gerbang::password::Hasher;
use gerbang::store::migrations::{schema_version, versions};
use gerbang::store::Db;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, RefreshToken};
use serde_json::json;

use crate::common::{
    self, database_url, http_client, query, start_auth, unique_nip, Gerbang, TestApp, TestClient, PASSWORD,
};
use crate::migrations_refused::applied_elsewhere;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const CLIENT_SECRET: &str = "rahasia-aplikasi-lama-0001";
const REFRESH_TOKEN: &str = "token-penyegaran-dari-versi-lama";
const EMAIL: &str = "pegawai.lama@example.go.id";
const PHONE: &str = "+6281234567890";

/// What the fixtures wrote, to be found again after the upgrade.
struct Fixture {
    nip: String,
    account: String,
    /// A second account, holding the factors and the certificate: on the first one they would
    /// stand in the way of its password login.
    holder: String,
    holder_nip: String,
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
            holder: uuid::Uuid::new_v4().to_string(),
            holder_nip: unique_nip(),
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

    /// When the version-1 rows were made.
    fn t0(&self) -> i64 {
        self.now - 3600
    }

    /// The data a database at `version` would hold, written in that version's shape (the
    /// columns that exist then, nothing later), or `None` when the version brings nothing new
    /// to write. The same text runs on SQLite and PostgreSQL.
    fn sql(&self, version: i64) -> Option<String> {
        let (now, a, b, c) = (self.now, &self.account, &self.holder, &self.client.id);
        let sha = |s: &str| gerbang::crypto::sha256_hex(s.as_bytes());
        match version {
            1 => Some(format!(
                "INSERT INTO accounts (id, kind, nip, nik, name, password_hash, is_admin, status, created_at, updated_at)
                 VALUES ('{a}', 'asn', '{nip}', NULL, 'Pegawai Versi Lama', '{ph}', FALSE, 'active', {t0}, {t0}),
                        ('{b}', 'asn', '{nip2}', NULL, 'Pemegang Faktor Lama', NULL, FALSE, 'active', {t0}, {t0});
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
                nip2 = self.holder_nip,
                ph = self.password_hash,
                sh = sha(CLIENT_SECRET),
                ru = self.client.redirect_uri,
                rt = sha(REFRESH_TOKEN),
                t0 = self.t0(),
                exp = now + 30 * 86400,
            )),
            3 => Some(format!(
                "INSERT INTO opd_units (id, code, name, kind, parent_id, created_at, updated_at)
                 VALUES ('{a}-u', 'LAMA{code}', 'Dinas Versi Lama', 'dinas', NULL, {now}, {now});
                 INSERT INTO roles (id, client_id, name, created_at) VALUES ('{a}-r', '{c}', 'operator', {now});
                 INSERT INTO role_assignments (id, role_id, account_id, opd_id, created_at)
                 VALUES ('{a}-ra', '{a}-r', '{a}', NULL, {now});
                 UPDATE accounts SET opd_id = '{a}-u',
                     profile = '{{\"email\":\"{EMAIL}\",\"jabatan\":\"Analis\",\"phone_number\":\"{PHONE}\"}}'
                 WHERE id = '{a}';",
                code = &self.account[..8],
            )),
            // Sealed bytes are stand-ins: nothing unseals them before the assertions.
            5 => Some(format!(
                "INSERT INTO totp_factors (account_id, secret, confirmed, last_step, created_at)
                 VALUES ('{b}', '\\x0102', TRUE, 1234, {now});
                 INSERT INTO recovery_codes (account_id, code_hash, used_at, created_at)
                 VALUES ('{b}', '{h}', NULL, {now});",
                h = sha("kode-pemulihan-lama"),
            )),
            6 => Some(format!(
                "INSERT INTO passkeys (id, account_id, cred_id, name, credential, created_at, last_used_at)
                 VALUES ('{b}-p', '{b}', 'cred-{b}', 'Kunci Lama', '{{}}', {now}, {used});",
                used = now + 60,
            )),
            7 => {
                let mut sql = String::new();
                let mut prev = GENESIS.to_string();
                for (i, kind) in ["login.success", "account.registered", "admin.client_created"].iter().enumerate() {
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
            // The retention policy as it ran then: the oldest record removed, the anchor left on it
            // unsigned (0013 adds the MAC the first start signs).
            10 => Some(
                "INSERT INTO audit_anchor (id, seq, hash, at)
                 SELECT 1, seq, hash, at FROM audit_events WHERE actor = 'fixture' ORDER BY seq LIMIT 1;
                 DELETE FROM audit_events WHERE seq = (SELECT seq FROM audit_anchor WHERE id = 1);"
                    .to_string(),
            ),
            11 => Some(format!(
                "INSERT INTO certificates (id, account_id, fingerprint, subject, issuer, serial, not_before, not_after,
                     status, revoked_at, revocation_reason, pem, bound_by, created_at)
                 VALUES ('{b}-c', '{b}', '{fp}', 'CN=Pemegang Faktor Lama', 'CN=BSrE Lama', '0a1b', {now}, {end},
                     'active', NULL, '', 'PEM-LAMA', 'fixture', {now});",
                fp = sha(b),
                end = now + 400 * 86400,
            )),
            14 => Some(format!(
                "INSERT INTO action_links (id, purpose, account_id, token_hash, target, issued_by, created_at, expires_at)
                 VALUES ('{a}-l', 'reset', '{a}', '{lh}', '', 'fixture', {now}, {exp});
                 INSERT INTO known_devices (account_id, device_hash, first_seen, last_seen)
                 VALUES ('{a}', '{dh}', {now}, {now});",
                lh = sha(&format!("{a}-l")),
                dh = sha("perangkat-lama"),
                exp = now + 86400,
            )),
            15 => Some(format!(
                "INSERT INTO upstream_links (upstream_id, subject, account_id, issuer, created_at, last_login_at)
                 VALUES ('siasn', 'siasn-{nip}', '{a}', 'https://siasn.example.go.id', {now}, NULL);",
                nip = self.nip,
            )),
            16 => Some(format!(
                "INSERT INTO scim_tokens (id, name, token_hash, opd_id, created_by, created_at, last_used_at, revoked_at)
                 VALUES ('{a}-s', 'Simpeg Lama', '{th}', '{a}-u', 'fixture', {now}, NULL, NULL);",
                th = sha(&format!("{a}-s")),
            )),
            19 => Some(format!(
                "INSERT INTO certificate_notices (certificate_id, kind, sent_at) VALUES ('{b}-c', 'expiring', {now});"
            )),
            _ => None,
        }
    }
}

pub(crate) async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("fixture failed: {e}\n{sql}"));
}

/// Runs `sql` with one binary argument: a checksum that matches no migration.
pub(crate) async fn exec_blob(db: &Db, sql: &str) {
    let blob = vec![0u8; 4];
    match db {
        Db::Sqlite(p) => sqlx::query(sql).bind(blob).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).bind(blob).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub(crate) async fn scalar(db: &Db, sql: &str) -> Option<String> {
    match db {
        Db::Sqlite(p) => sqlx::query_scalar::<_, Option<String>>(sql).fetch_one(p).await,
        Db::Postgres(p) => sqlx::query_scalar::<_, Option<String>>(sql).fetch_one(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub(crate) async fn count(db: &Db, sql: &str) -> i64 {
    match db {
        Db::Sqlite(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
        Db::Postgres(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Asserts `sql`, a `SELECT COUNT(*)`, finds exactly one row: `what` came through the upgrade
/// from `from` with the values the query names.
async fn one(db: &Db, from: i64, what: &str, sql: &str) {
    assert_eq!(count(db, sql).await, 1, "from {from}: {what}\n{sql}");
}

/// Every fixture row written at or before `from`, found with its values after the upgrade, and
/// what the migrations since made of it.
async fn survived(db: &Db, fx: &Fixture, from: i64) {
    let (a, b, c, t0) = (&fx.account, &fx.holder, &fx.client.id, fx.t0());
    let sql = format!("SELECT COUNT(*) FROM accounts WHERE id = '{a}' AND nip = '{}'", fx.nip);
    one(db, from, "the account", &sql).await;
    let sql = format!("SELECT COUNT(*) FROM accounts WHERE id = '{b}' AND nip = '{}'", fx.holder_nip);
    one(db, from, "the second account", &sql).await;
    let sql = format!(
        "SELECT COUNT(*) FROM clients WHERE id = '{c}' AND name = 'Aplikasi Lama' AND category = 'umum' AND subject_type = 'public'
         AND disabled = FALSE AND require_verified = FALSE AND backchannel_logout_uri IS NULL"
    );
    one(db, from, "the application, with the defaults of the columns added since", &sql).await;
    let sql = format!(
        "SELECT COUNT(*) FROM grants WHERE id = '{a}-g' AND sid = 'sid-lama' AND rp_sid IS NULL AND roles = ''"
    );
    one(db, from, "the grant, its session kept and no rp_sid (read as sid, 0018)", &sql).await;
    let rt = gerbang::crypto::sha256_hex(REFRESH_TOKEN.as_bytes());
    let sql = format!("SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = '{rt}' AND grant_id = '{a}-g'");
    one(db, from, "the refresh token", &sql).await;
    // A retired key (never unsealed at start, so its sealed bytes are a stand-in) through the
    // rebuild of 0021, active from its creation.
    let sql = format!(
        "SELECT COUNT(*) FROM signing_keys WHERE kid = '{a}-k' AND state = 'retired' AND created_at = {t0}
         AND rotated_at = {t0} AND activates_at = {t0} AND remove_at IS NULL"
    );
    one(db, from, "the retired signing key", &sql).await;

    let sql = format!("SELECT profile FROM accounts WHERE id = '{a}'");
    let profile: serde_json::Value =
        serde_json::from_str(&scalar(db, &sql).await.unwrap_or_default()).expect("the profile is JSON");
    let email = scalar(db, &format!("SELECT email FROM accounts WHERE id = '{a}'")).await;
    let phone = scalar(db, &format!("SELECT phone_number FROM accounts WHERE id = '{a}'")).await;
    if from >= 3 {
        // 0014 moved the contact details out of the profile and left the rest of it.
        assert_eq!(profile, json!({ "jabatan": "Analis" }), "from {from}: the profile");
        assert_eq!(email.as_deref(), Some(EMAIL), "from {from}: 0014 moved the e-mail out of the profile");
        assert_eq!(phone.as_deref(), Some(PHONE), "from {from}: 0014 moved the phone number out of the profile");
        let sql =
            format!("SELECT COUNT(*) FROM accounts WHERE id = '{a}' AND opd_id = '{a}-u' AND email_verified = FALSE");
        one(db, from, "the account's unit, its address unverified", &sql).await;
        let sql = format!(
            "SELECT COUNT(*) FROM opd_units WHERE id = '{a}-u' AND name = 'Dinas Versi Lama' AND external_id IS NULL"
        );
        one(db, from, "the OPD unit", &sql).await;
        let sql = format!("SELECT COUNT(*) FROM role_assignments WHERE account_id = '{a}' AND role_id = '{a}-r'");
        one(db, from, "the role assignment", &sql).await;
    } else {
        assert_eq!((profile, email, phone), (json!({}), None, None), "from {from}: no contact details");
    }
    if from >= 5 {
        let sql = format!(
            "SELECT COUNT(*) FROM totp_factors WHERE account_id = '{b}' AND confirmed = TRUE AND last_step = 1234
             AND enrolled_via IS NULL AND enrolled_level IS NULL"
        );
        one(db, from, "the TOTP factor, its enrolment unknown (0012)", &sql).await;
        let sql = format!("SELECT COUNT(*) FROM recovery_codes WHERE account_id = '{b}' AND used_at IS NULL");
        one(db, from, "the recovery code", &sql).await;
    }
    if from >= 6 {
        let sql = format!(
            "SELECT COUNT(*) FROM passkeys WHERE id = '{b}-p' AND account_id = '{b}' AND cred_id = 'cred-{b}'
             AND name = 'Kunci Lama' AND last_used_at = {} AND enrolled_via IS NULL AND enrolled_level IS NULL",
            fx.now + 60
        );
        one(db, from, "the passkey, its enrolment unknown (0012)", &sql).await;
    }
    if from >= 7 {
        // The retention run at 10 removed the oldest.
        let left = if from >= 10 { 2 } else { 3 };
        let sql = "SELECT COUNT(*) FROM audit_events WHERE actor = 'fixture'";
        assert_eq!(count(db, sql).await, left, "from {from}: the audit records survived");
        // 0023 marks the account whose registration the trail records, and no other.
        let sql =
            format!("SELECT COUNT(*) FROM accounts WHERE id IN ('{a}', '{b}') AND (id = '{a}') = self_registered");
        assert_eq!(count(db, &sql).await, 2, "from {from}: self_registered taken from the trail (0023)");
    }
    if from >= 10 {
        let sql = "SELECT COUNT(*) FROM audit_anchor WHERE id = 1 AND mac = ''
                   AND seq + 1 = (SELECT MIN(seq) FROM audit_events WHERE actor = 'fixture')";
        one(db, from, "the retention anchor, unsigned until the first start (0013)", sql).await;
    }
    if from >= 11 {
        let sql = format!(
            "SELECT COUNT(*) FROM certificates WHERE id = '{b}-c' AND account_id = '{b}' AND status = 'active'
             AND not_after = {} AND pem = 'PEM-LAMA' AND pending = '' AND possession = 'none'
             AND check_status = 'unchecked' AND issuer_pem = ''",
            fx.now + 400 * 86400
        );
        one(db, from, "the certificate, in force but never a signer until proven (0019)", &sql).await;
    }
    if from >= 14 {
        let sql =
            format!("SELECT COUNT(*) FROM action_links WHERE id = '{a}-l' AND purpose = 'reset' AND used_at IS NULL");
        one(db, from, "the one-time link", &sql).await;
        let sql = format!("SELECT COUNT(*) FROM known_devices WHERE account_id = '{a}'");
        one(db, from, "the known device", &sql).await;
    }
    if from >= 15 {
        let sql = format!(
            "SELECT COUNT(*) FROM upstream_links WHERE upstream_id = 'siasn' AND subject = 'siasn-{}' AND account_id = '{a}'",
            fx.nip
        );
        one(db, from, "the upstream link", &sql).await;
    }
    if from >= 16 {
        let sql =
            format!("SELECT COUNT(*) FROM scim_tokens WHERE id = '{a}-s' AND opd_id = '{a}-u' AND revoked_at IS NULL");
        one(db, from, "the SCIM token", &sql).await;
    }
    if from >= 19 {
        let sql = format!(
            "SELECT COUNT(*) FROM certificate_notices WHERE certificate_id = '{b}-c' AND kind = 'expiring'
             AND sent_at = {} AND webhook = '' AND webhook_attempts = 0",
            fx.now
        );
        one(db, from, "the certificate notice, with no webhook owed (0020)", &sql).await;
    }
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

    survived(&db, &fx, from).await;
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
    applied_elsewhere(&db, 9999, "from the future").await;
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
