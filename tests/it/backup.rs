//! Backups through the real `gerbang` binary: the restore drill (log in, back up while the
//! server runs, wipe, restore, and the refresh token, the old ID token and the audit chain
//! still hold), a backup taken under a stream of logins, and every refusal with its message.
//! On PostgreSQL when GERBANG_TEST_DATABASE_URL says so, each database a schema of its own.
//! The archive's authentication (forged and unauthenticated archives): `backup_auth`.

use age::secrecy::ExposeSecret;
use gerbang::backup::archive::{ArchiveWriter, Header, MemberKind, FORMAT};
use gerbang::backup::keys::{self, Lock};
use gerbang::backup::mac::HeldKey;
use gerbang::oidc::clients::GrantType;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::common::*;

/// The keys and files of one drill: an age identity, a passphrase, a scratch directory.
pub(crate) struct Kit {
    dir: tempfile::TempDir,
    pub(crate) recipient: String,
}

impl Kit {
    pub(crate) fn new() -> Kit {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = age::x25519::Identity::generate();
        std::fs::write(dir.path().join("identity.txt"), format!("{}\n", id.to_string().expose_secret())).unwrap();
        let other = age::x25519::Identity::generate();
        std::fs::write(dir.path().join("other.txt"), format!("{}\n", other.to_string().expose_secret())).unwrap();
        std::fs::write(dir.path().join("passphrase.txt"), "kata sandi cadangan yang panjang\n").unwrap();
        Kit { recipient: id.to_public().to_string(), dir }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// Runs `gerbang` against the database at `url`, with the master key of `master_dir`.
pub(crate) fn gerbang(url: &str, master_dir: &std::path::Path, args: &[&str]) -> Run {
    gerbang_with(url, master_dir, args, &[])
}

/// As [`gerbang`], with more settings (`env`).
pub(crate) fn gerbang_with(
    url: &str,
    master_dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &std::path::Path)],
) -> Run {
    let data = tempfile::tempdir().expect("data dir");
    let mut run = Gerbang::new(args)
        .env("GERBANG_ISSUER", "http://127.0.0.1:9")
        .env("GERBANG_DATABASE_URL", url)
        .env("GERBANG_DATA_DIR", data.path())
        .env("GERBANG_MASTER_KEY_FILE", master_dir.join("master.key"))
        .env("GERBANG_BOOTSTRAP", "false");
    for (key, value) in env {
        run = run.env(key, value);
    }
    run.run()
}

async fn gerbang_async(url: String, master: std::path::PathBuf, args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        gerbang(&url, &master, &args)
    })
    .await
    .expect("gerbang task")
}

pub(crate) fn ok(run: &Run, what: &str) -> Value {
    assert_eq!(run.code, 0, "{what}: {} / {}", run.stdout, run.stderr);
    run.json()
}

pub(crate) fn url_of(app: &TestApp) -> String {
    app.state.config.database_url.expose().to_string()
}

async fn post_form(app: &TestApp, path: &str, c: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let res = http_client().post(app.url(path)).basic_auth(&c.id, c.secret.as_deref()).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    (status, serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null))
}

/// Checks an ID token's signature with the keys `app` publishes now, and its issuer.
async fn verify_id_token(app: &TestApp, token: &str, issuer: &str, client_id: &str) -> Value {
    let header = jwt_header(token);
    let jwks: jsonwebtoken::jwk::JwkSet =
        http_client().get(app.url("/jwks")).send().await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header["kid"].as_str().unwrap()).expect("signed with a key still published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let alg: jsonwebtoken::Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[client_id]);
    v.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &key, &v).expect("the old ID token verifies").claims
}

/// An application that may refresh, and the ID token and refresh token of one person's login.
pub(crate) async fn signed_in(app: &TestApp, name: &str) -> (TestClient, String, String) {
    let c =
        app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true).await;
    let rp = app.rp(&c).await;
    let nip = unique_nip();
    app.asn(&nip, name).await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(app, &browser(), &start.url, &nip, PASSWORD).await;
    let tokens = redeem(&rp, &cb, start.verifier).await;
    let id_token = tokens.id_token().expect("ID token").to_string();
    let refresh = tokens.refresh_token().expect("refresh token").secret().clone();
    (c, id_token, refresh)
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_drill_keeps_refresh_tokens_id_tokens_and_the_audit_chain() {
    let app = TestApp::spawn().await;
    let kit = Kit::new();
    let master_dir = app.state.config.data_dir.clone();
    let (c, id_token, refresh) = signed_in(&app, "Latihan Pemulihan").await;

    let archive = kit.path("cadangan.age");
    let args = ["backup", "--out", &archive, "--recipient", &kit.recipient, "--json"].map(String::from).to_vec();
    let taken = ok(&gerbang_async(url_of(&app), master_dir.clone(), args).await, "backup");
    assert_eq!(taken["master_key_included"], false);
    assert_eq!(taken["authenticated"], true, "{taken}");
    assert!(taken["rows"].as_u64().unwrap() > 0);
    assert_eq!(taken["sha256"].as_str().unwrap().len(), 64);
    let checked = ok(
        &gerbang(
            &url_of(&app),
            &master_dir,
            &["backup", "verify", &archive, "--identity", &kit.path("identity.txt"), "--json"],
        ),
        "verify",
    );
    assert_eq!((checked["ok"].as_bool(), checked["master_key_matches"].as_bool()), (Some(true), Some(true)));
    assert_eq!((checked["authenticated"].as_bool(), &checked["mac_key"]), (Some(true), &taken["mac_key"]));
    assert!(checked["members"].as_array().unwrap().iter().any(|m| m["name"] == "tables/signing_keys.jsonl"));
    assert!(checked["members"].as_array().unwrap().iter().any(|m| m["name"] == "settings.toml"));

    // The wipe: a new, empty database (file or schema) stands in for the lost one.
    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let restored = ok(
        &gerbang(&fresh, &master_dir, &["restore", &archive, "--identity", &kit.path("identity.txt"), "--json"]),
        "restore",
    );
    assert_eq!(restored["audit_intact"], true);
    assert_eq!(restored["authenticated"], true, "{restored}");
    assert_eq!(restored["rows"], taken["rows"]);

    let master_file = master_dir.join("master.key").display().to_string();
    let again =
        TestApp::spawn_with(&[("GERBANG_DATABASE_URL", &fresh), ("GERBANG_MASTER_KEY_FILE", &master_file)]).await;
    let (status, body) =
        post_form(&again, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "the refresh token still works: {body}");
    assert!(body["access_token"].as_str().is_some() && body["refresh_token"].as_str().is_some_and(|r| r != refresh));
    let claims = verify_id_token(&again, &id_token, &app.base, &c.id).await;
    assert_eq!(claims["aud"], c.id.as_str());
    let verified = ok(&gerbang(&fresh, &master_dir, &["audit", "verify", "--json"]), "audit verify");
    assert_eq!(verified["ok"], true, "{verified}");
    let trail = ok(&gerbang(&fresh, &master_dir, &["audit", "list", "--limit", "5", "--json"]), "audit list");
    assert!(trail["events"].as_array().unwrap().iter().any(|e| e["kind"] == "backup.restored"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_during_logins_is_a_consistent_snapshot() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let kit = Kit::new();
    let master_dir = app.state.config.data_dir.clone();
    let c = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let rp = std::sync::Arc::new(app.rp(&c).await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..3 {
        let (app, rp, stop) = (app.clone(), rp.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut logins = 0u32;
            loop {
                let nip = unique_nip();
                app.asn(&nip, "Pegawai Pagi").await;
                let start = start_auth(&rp, &["profile"]);
                let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
                assert!(query(&cb).contains_key("code"), "login while the backup runs: {cb}");
                logins += 1;
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return logins;
                }
            }
        }));
    }
    let archive = kit.path("online.age");
    let args = ["backup", "--out", &archive, "--passphrase-file", &kit.path("passphrase.txt"), "--json"];
    let taken = ok(&gerbang_async(url_of(&app), master_dir.clone(), args.map(String::from).to_vec()).await, "backup");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        let n =
            tokio::time::timeout(std::time::Duration::from_secs(120), w).await.expect("workers end").expect("worker");
        assert!(n >= 1);
    }
    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let pass = kit.path("passphrase.txt");
    let restored =
        ok(&gerbang(&fresh, &master_dir, &["restore", &archive, "--passphrase-file", &pass, "--json"]), "restore");
    assert_eq!(
        (restored["rows"].clone(), restored["audit_intact"].clone()),
        (taken["rows"].clone(), Value::Bool(true))
    );
}

pub(crate) const KEY_OLD: &str = "T0xET0xET0xET0xET0xET0xET0xET0xET0xET0xET0w=";
pub(crate) const KEY_NEW: &str = "TkVXTkVXTkVXTkVXTkVXTkVXTkVXTkVXTkVXTkVXTkU=";

/// Runs `gerbang` against `url` with these master keys (base64) instead of a key file.
pub(crate) fn with_keys(url: &str, master: &str, previous: Option<&str>, args: &[&str]) -> Run {
    let data = tempfile::tempdir().expect("data dir");
    let g = Gerbang::new(args)
        .env("GERBANG_ISSUER", "http://127.0.0.1:9")
        .env("GERBANG_DATABASE_URL", url)
        .env("GERBANG_DATA_DIR", data.path())
        .env("GERBANG_MASTER_KEY", master)
        .env("GERBANG_BOOTSTRAP", "false");
    match previous {
        Some(p) => g.env("GERBANG_MASTER_KEY_PREVIOUS", p),
        None => g,
    }
    .run()
}

/// Once the master key has been rotated, the root secret the audit chain's key comes from is no
/// longer the master key. The records of a backup and of a restore must extend the chain with
/// the key the server uses, or `audit verify` breaks at them (it did: both were keyed with the
/// master key itself).
#[tokio::test(flavor = "multi_thread")]
async fn backup_and_restore_after_a_master_key_rotation_keep_the_audit_chain_intact() {
    let app = TestApp::spawn_with(&[("GERBANG_MASTER_KEY", KEY_OLD)]).await;
    let kit = Kit::new();
    signed_in(&app, "Rotasi Kunci").await;
    let url = url_of(&app);
    let id = kit.path("identity.txt");
    let before = kit.path("sebelum-rotasi.age");
    let args = ["backup", "--out", &before, "--recipient", &kit.recipient, "--json"];
    ok(&with_keys(&url, KEY_OLD, None, &args), "backup before the rotation");

    // Mid-rotation (the new key configured, the old one as previous, nothing re-sealed yet):
    // the archive needs both keys, and a restore with the new one alone is refused before it
    // writes anything, rather than leaving an installation that cannot start.
    let mid = kit.path("tengah-rotasi.age");
    let args = ["backup", "--out", &mid, "--recipient", &kit.recipient, "--json"];
    ok(&with_keys(&url, KEY_NEW, Some(KEY_OLD), &args), "backup mid-rotation");
    let checked =
        ok(&with_keys(&url, KEY_NEW, None, &["backup", "verify", &mid, "--identity", &id, "--json"]), "verify");
    assert_eq!(checked["master_keys"].as_array().map(Vec::len), Some(2), "{checked}");
    assert_eq!(checked["master_keys_missing"].as_array().map(Vec::len), Some(1), "{checked}");
    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let r = with_keys(&fresh, KEY_NEW, None, &["restore", &mid, "--identity", &id]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("(it was taken during a master-key rotation), which are not configured here"),
        "{}",
        r.stderr
    );
    let restored =
        ok(&with_keys(&fresh, KEY_NEW, Some(KEY_OLD), &["restore", &mid, "--identity", &id, "--json"]), "restore");
    assert_eq!(restored["audit_intact"], true, "{restored}");

    let rotated = ok(&with_keys(&url, KEY_NEW, Some(KEY_OLD), &["master-key", "rotate", "--json"]), "rotate");
    assert_eq!(rotated["resealed"]["root_secret.sealed"], 1, "{rotated}");

    // An archive from before the completed rotation restores as the guide says, with the new
    // key as master key and the old one as master_key_previous; finishing the rotation there
    // leaves the new key alone. (Refused: the archive's key was compared with the new key only.)
    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let both = |args: &[&str]| with_keys(&fresh, KEY_NEW, Some(KEY_OLD), args);
    let checked = ok(&both(&["backup", "verify", &before, "--identity", &id, "--json"]), "verify, old archive");
    assert_eq!(checked["master_key_matches"], true, "{checked}");
    let restored = ok(&both(&["restore", &before, "--identity", &id, "--json"]), "restore, old archive");
    assert_eq!((restored["authenticated"].as_bool(), restored["audit_intact"].as_bool()), (Some(true), Some(true)));
    ok(&both(&["master-key", "rotate", "--json"]), "rotate the restored database");
    let verified = ok(&with_keys(&fresh, KEY_NEW, None, &["audit", "verify", "--json"]), "audit verify, old archive");
    assert_eq!(verified["ok"], true, "{verified}");

    let archive = kit.path("setelah-rotasi.age");
    let args = ["backup", "--out", &archive, "--recipient", &kit.recipient, "--json"];
    ok(&with_keys(&url, KEY_NEW, None, &args), "backup");
    let verified = ok(&with_keys(&url, KEY_NEW, None, &["audit", "verify", "--json"]), "audit verify");
    assert_eq!(verified["ok"], true, "the backup's record extends the chain: {verified}");

    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let args = ["restore", &archive, "--identity", &id, "--json"];
    let restored = ok(&with_keys(&fresh, KEY_NEW, None, &args), "restore");
    assert_eq!(restored["audit_intact"], true, "{restored}");
    let verified = ok(&with_keys(&fresh, KEY_NEW, None, &["audit", "verify", "--json"]), "audit verify, restored");
    assert_eq!(verified["ok"], true, "{verified}");
}

/// A backup job given no master key (neither configured nor in its data directory) still
/// writes the archive, and lists the master keys its sealed values need, read from the values'
/// headers, so a restore with the wrong key is refused before it writes anything; it says that
/// it could not be recorded in the audit trail. (It listed no key, and said nothing.)
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_without_the_master_key_lists_the_keys_it_needs_and_says_it_is_not_audited() {
    let app = TestApp::spawn_with(&[("GERBANG_MASTER_KEY", KEY_OLD)]).await;
    let kit = Kit::new();
    signed_in(&app, "Tanpa Kunci").await;
    let url = url_of(&app);
    let archive = kit.path("tanpa-kunci.age");
    let data = tempfile::tempdir().expect("data dir");
    let run = Gerbang::new(&["backup", "--out", &archive, "--recipient", &kit.recipient, "--json"])
        .env("GERBANG_ISSUER", "http://127.0.0.1:9")
        .env("GERBANG_DATABASE_URL", &url)
        .env("GERBANG_DATA_DIR", data.path())
        .env("GERBANG_BOOTSTRAP", "false")
        .run();
    let taken = ok(&run, "backup without a master key");
    assert_eq!(taken["audited"], false, "{taken}");
    assert_eq!(taken["master_keys"].as_array().map(Vec::len), Some(1), "the server's key: {taken}");
    assert!(!data.path().join("master.key").exists(), "no key generated for the job");
    let id = kit.path("identity.txt");
    // Written without the master key, it carries no MAC: checked only when the operator says so.
    let flag = "--accept-unauthenticated";
    let verify =
        |key: &str| with_keys(&url, key, None, &["backup", "verify", &archive, "--identity", &id, flag, "--json"]);
    let checked = ok(&verify(KEY_OLD), "verify with the server's key");
    assert_eq!(checked["master_keys_missing"], serde_json::json!([]), "{checked}");
    let checked = ok(&verify(KEY_NEW), "verify with another key");
    assert_eq!(checked["master_keys_missing"], checked["master_keys"], "{checked}");
    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let r = with_keys(&fresh, KEY_NEW, None, &["restore", &archive, "--identity", &id, flag]);
    assert_eq!(r.code, 1, "refused: {} / {}", r.stdout, r.stderr);
}

/// One OPD unit, written as any schema version since 3 takes it.
async fn sqlx_opd_unit(db: &gerbang::store::Db) {
    let sql = "INSERT INTO opd_units (id, code, name, kind, created_at, updated_at) VALUES ('u-lama', 'LAMA', 'Dinas Lama', 'dinas', 1, 1)";
    match db {
        gerbang::store::Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        gerbang::store::Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .expect("insert an OPD unit");
}

/// Writes an archive by hand, as a newer gerbang would, to the drill's recipient, authenticated
/// with the master key in `master_dir`.
fn crafted(kit: &Kit, master_dir: &std::path::Path, schema: i64) -> String {
    crafted_as(kit, master_dir, "newer.age", schema, 0)
}

/// As [`crafted`], into `name`; with `endless` > 0 a table member follows whose first row is
/// that many bytes and never ends.
fn crafted_as(kit: &Kit, master_dir: &std::path::Path, name: &str, schema: i64, endless: usize) -> String {
    let path = kit.path(name);
    let lock = Lock::Recipients(vec![keys::recipient(&kit.recipient).unwrap()]);
    let file = std::fs::File::create(&path).unwrap();
    let header = Header {
        format: FORMAT,
        gerbang: "99.0.0".into(),
        schema,
        database: "sqlite".into(),
        created_at: 1,
        master_key_check: None,
        master_keys: Vec::new(),
        mac_key: None,
    };
    let master = std::fs::read_to_string(master_dir.join("master.key")).unwrap();
    let key = HeldKey::new(&gerbang::crypto::decode_master_key(&master).unwrap()).unwrap();
    let mut w = ArchiveWriter::authenticated(keys::encrypt(&lock, file).unwrap(), header, key).unwrap();
    w.begin("settings.toml", MemberKind::Settings).unwrap();
    w.write(b"# none\n").unwrap();
    if endless > 0 {
        w.begin("tables/accounts.jsonl", MemberKind::Table).unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..endless.div_ceil(chunk.len()) {
            w.write(&chunk).unwrap();
        }
    }
    w.finish().unwrap().0.finish().unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_wrong_key_damage_newer_schema_and_a_database_with_data() {
    let app = TestApp::spawn().await;
    let kit = Kit::new();
    let master_dir = app.state.config.data_dir.clone();
    app.asn(&unique_nip(), "Data Lama").await;
    let url = url_of(&app);
    let archive = kit.path("a.age");
    ok(&gerbang(&url, &master_dir, &["backup", "--out", &archive, "--recipient", &kit.recipient, "--json"]), "backup");
    let again = gerbang(&url, &master_dir, &["backup", "--out", &archive, "--recipient", &kit.recipient]);
    assert_eq!(
        (again.code, again.stderr.trim()),
        (1, format!("error: {archive} already exists: choose a new name").as_str())
    );
    let id = kit.path("identity.txt");
    let verify = |file: &str, key: &[&str]| {
        let mut args = vec!["backup", "verify", file];
        args.extend_from_slice(key);
        gerbang(&url, &master_dir, &args)
    };
    assert_eq!(verify(&archive, &["--identity", &id]).code, 0);

    let wrong = verify(&archive, &["--identity", &kit.path("other.txt")]);
    assert_eq!(
        (wrong.code, wrong.stderr.trim()),
        (1, "error: wrong key: the identity or passphrase given does not open this archive")
    );
    let pass = verify(&archive, &["--passphrase-file", &kit.path("passphrase.txt")]);
    assert_eq!(
        (pass.code, pass.stderr.trim()),
        (1, "error: this archive was encrypted to a public key: give --identity with its age secret key")
    );

    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(kit.path("cut.age"), &bytes[..bytes.len() - 100]).unwrap();
    let cut = verify(&kit.path("cut.age"), &["--identity", &id]);
    assert_eq!(cut.code, 1);
    assert!(cut.stderr.starts_with("error: the archive is damaged or truncated: "), "{}", cut.stderr);
    let mut altered = bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x01;
    std::fs::write(kit.path("altered.age"), &altered).unwrap();
    let bad = verify(&kit.path("altered.age"), &["--identity", &id]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.starts_with("error: the archive is damaged or truncated: "), "{}", bad.stderr);
    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let files_to = kit.path("pulih");
    let r = gerbang(
        &fresh,
        &master_dir,
        &["restore", &kit.path("altered.age"), "--identity", &id, "--files-to", &files_to],
    );
    assert!(r.code == 1 && r.stderr.starts_with("error: the archive is damaged or truncated: "), "{}", r.stderr);
    assert!(!std::path::Path::new(&files_to).exists(), "no settings or themes left from a damaged archive");

    let binary =
        gerbang::store::restore::binary_schema(if url.starts_with("postgres") { "postgres" } else { "sqlite" });
    let newer = crafted(&kit, &master_dir, binary + 1);
    let expected = format!(
        "error: the archive's database schema (version {}) is newer than this gerbang's (version {binary}): restore it with the gerbang version that wrote it (99.0.0) or a later one",
        binary + 1
    );
    let r = gerbang(&fresh, &master_dir, &["restore", &newer, "--identity", &id]);
    assert_eq!((r.code, r.stderr.trim()), (1, expected.as_str()));
    // A database with data one schema version behind the archive: refused before the migration
    // that would bring it level runs under the servers using it.
    let behind_dir = tempfile::tempdir().unwrap();
    let behind_url = database_url(&behind_dir).await;
    let behind = gerbang::store::Db::connect(&behind_url, 2).await.unwrap();
    behind.migrate_to(binary - 1).await.unwrap();
    sqlx_opd_unit(&behind).await;
    let current = crafted_as(&kit, &master_dir, "current.age", binary, 0);
    let r = gerbang(&behind_url, &master_dir, &["restore", &current, "--identity", &id]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("the target database is not empty (table `opd_units` has 1 rows)"), "{}", r.stderr);
    let applied = behind.migration_status().await.unwrap().iter().filter(|m| !m.pending()).map(|m| m.version).max();
    assert_eq!(applied, Some(binary - 1), "no migration ran");
    behind.close().await;
    // An archive older than a database already upgraded past it: even --force does not take
    // the database back down its migrations; nothing is deleted.
    let older = crafted_as(&kit, &master_dir, "older.age", binary - 1, 0);
    let r = gerbang(&url, &master_dir, &["restore", &older, "--identity", &id, "--force"]);
    let last = r.stderr.trim().lines().last().unwrap_or_default().to_string();
    assert_eq!(
        (r.code, last.as_str()),
        (1, format!("error: the archive does not fit this database: the database is already at schema version {binary}, past the archive's {}: restore into a new, empty database", binary - 1).as_str())
    );
    let intact = ok(&gerbang(&url, &master_dir, &["audit", "verify", "--json"]), "audit verify after the refusal");
    assert_eq!(intact["ok"], true);
    let kept = gerbang::identity::accounts::search(&app.state.db, "Data Lama", 10).await.unwrap();
    assert_eq!(kept.len(), 1, "the rows are still there");
    // A row that never ends is refused once it outgrows any real row, not gathered in memory.
    let too_long = gerbang::backup::archive::MAX_ROW + 1;
    let endless =
        crafted_as(&kit, &master_dir, "endless.age", gerbang::store::restore::binary_schema("sqlite"), too_long);
    let r = verify(&endless, &["--identity", &id]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("tables/accounts.jsonl") && r.stderr.contains("a row is longer than 16777216 bytes"),
        "{}",
        r.stderr
    );

    // Into the database it came from: it holds data, so only --force restores, and the data
    // is then exactly the archive's again.
    let r = gerbang(&url, &master_dir, &["restore", &archive, "--identity", &id]);
    assert_eq!(r.code, 1);
    // The last line: a loaded machine may log a warning before it.
    let last = r.stderr.trim().lines().last().unwrap_or_default();
    assert!(last.starts_with("error: the target database is not empty (table `"), "{}", r.stderr);
    assert!(last.ends_with("restore into an empty database, or add --force to delete every row first, in the same transaction as the restore"));
    app.asn(&unique_nip(), "Sesudah Cadangan").await;
    let forced =
        ok(&gerbang(&url, &master_dir, &["restore", &archive, "--identity", &id, "--force", "--json"]), "forced");
    assert_eq!(forced["audit_intact"], true);
    let verified = ok(&gerbang(&url, &master_dir, &["audit", "verify", "--json"]), "audit verify");
    assert_eq!(verified["ok"], true);
}

/// The way from a single-node install to production: a backup of the SQLite database restored
/// into PostgreSQL, where the refresh token, the old ID token and the audit chain still hold.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (GERBANG_TEST_DATABASE_URL) besides SQLite: .ci/run runs it"]
async fn a_sqlite_backup_restores_into_postgresql() {
    let pg = std::env::var("GERBANG_TEST_DATABASE_URL").unwrap_or_default();
    assert!(pg.starts_with("postgres"), "set GERBANG_TEST_DATABASE_URL to a PostgreSQL database");
    let source_dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/gerbang.db", source_dir.path().display());
    let app = TestApp::spawn_with(&[("GERBANG_DATABASE_URL", &sqlite)]).await;
    assert_eq!(app.state.db.kind(), "sqlite");
    let kit = Kit::new();
    let master_dir = app.state.config.data_dir.clone();
    let (c, id_token, refresh) = signed_in(&app, "Pindah Ke Produksi").await;

    let archive = kit.path("ke-postgres.age");
    let args = ["backup", "--out", &archive, "--passphrase-file", &kit.path("passphrase.txt"), "--json"];
    let taken = ok(&gerbang(&sqlite, &master_dir, &args), "backup");
    let target_dir = tempfile::tempdir().unwrap();
    let target = database_url(&target_dir).await;
    assert!(target.starts_with("postgres"));
    let args = ["restore", &archive, "--passphrase-file", &kit.path("passphrase.txt"), "--json"];
    let restored = ok(&gerbang(&target, &master_dir, &args), "restore");
    assert_eq!((restored["source"].as_str(), restored["audit_intact"].as_bool()), (Some("sqlite"), Some(true)));
    assert_eq!(restored["rows"], taken["rows"]);

    let master_file = master_dir.join("master.key").display().to_string();
    let again =
        TestApp::spawn_with(&[("GERBANG_DATABASE_URL", &target), ("GERBANG_MASTER_KEY_FILE", &master_file)]).await;
    assert_eq!(again.state.db.kind(), "postgres");
    let (status, body) =
        post_form(&again, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "the refresh token works on PostgreSQL: {body}");
    verify_id_token(&again, &id_token, &app.base, &c.id).await;
    let verified = ok(&gerbang(&target, &master_dir, &["audit", "verify", "--json"]), "audit verify");
    assert_eq!(verified["ok"], true, "{verified}");
}
