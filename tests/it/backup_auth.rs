//! The archive's authentication through the real `gerbang` binary. The age key archives are
//! encrypted to is public, so anyone holding it can write an archive whose checksums all hold:
//! a second installation's backup to the same recipient, an archive written without any master
//! key, a real archive altered and encrypted again. `backup verify` and `restore` with the
//! region's master key refuse each, with its message; an archive without a MAC is restored only
//! with --accept-unauthenticated, and the trail says so. On PostgreSQL when
//! GERBANG_TEST_DATABASE_URL says so.

use std::io::{Read, Write};

use gerbang::backup::keys::{self, Lock, Unlock};
use serde_json::Value;

use crate::backup::{gerbang, ok, signed_in, url_of, with_keys, Kit, KEY_OLD};
use crate::common::*;

const NOT_AUTHENTICATED: &str = "error: the archive is not authenticated: it carries no MAC (it was written by an earlier gerbang, or by a backup run without the master key), so nothing shows that this region wrote it rather than someone holding the public age key; compare its SHA-256 (`sha256sum FILE`) with the one recorded when the backup was taken, then give --accept-unauthenticated to use it anyway";

const FORGED: &str = "error: the archive's MAC does not verify: it was not written with this region's master key, or it was altered after it was written; it is refused (use another copy whose SHA-256 matches the one recorded when the backup was taken)";

fn key_not_held(id: &str) -> String {
    format!(
        "error: the archive is authenticated with master key {id}, which is not configured here: it was not written with this region's master key, or it was altered; if {id} is this region's earlier master key, configure it as master_key_previous"
    )
}

/// The last line of what a refused run printed (a loaded machine may log a warning first).
fn refusal(run: &Run) -> (i32, String) {
    (run.code, run.stderr.trim().lines().last().unwrap_or_default().to_string())
}

/// Runs `gerbang` against `url` with no master key at all (none configured, a new data dir).
fn keyless(url: &str, args: &[&str]) -> Run {
    let data = tempfile::tempdir().expect("data dir");
    Gerbang::new(args)
        .env("GERBANG_ISSUER", "http://127.0.0.1:9")
        .env("GERBANG_DATABASE_URL", url)
        .env("GERBANG_DATA_DIR", data.path())
        .env("GERBANG_BOOTSTRAP", "false")
        .run()
}

/// Decrypts `from` with the kit's identity, changes the content with `edit`, and encrypts it
/// again to the kit's public recipient into `to`: what anyone holding that key can do.
fn reencrypted(kit: &Kit, from: &str, to: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let unlock = Unlock::Identities(keys::identity_file(std::path::Path::new(&kit.path("identity.txt"))).unwrap());
    let mut plain = Vec::new();
    keys::decrypt(&unlock, std::fs::File::open(from).unwrap()).unwrap().read_to_end(&mut plain).unwrap();
    edit(&mut plain);
    let lock = Lock::Recipients(vec![keys::recipient(&kit.recipient).unwrap()]);
    let path = kit.path(to);
    let mut w = keys::encrypt(&lock, std::fs::File::create(&path).unwrap()).unwrap();
    w.write_all(&plain).unwrap();
    w.finish().unwrap();
    path
}

/// No migration ran on the database at `url`: the refusal came before anything was written.
pub(crate) async fn untouched(url: &str) {
    let db = gerbang::store::Db::connect(url, 2).await.expect("connect");
    let status = db.migration_status().await.expect("status");
    assert!(status.iter().all(|m| m.pending()), "no migration ran");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_archives_to_the_public_recipient_are_refused_by_verify_and_restore() {
    let region = TestApp::spawn().await;
    let kit = Kit::new();
    let master_dir = region.state.config.data_dir.clone();
    let id = kit.path("identity.txt");
    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let verify = |file: &str| gerbang(&fresh, &master_dir, &["backup", "verify", file, "--identity", &id]);
    let restore = |file: &str| gerbang(&fresh, &master_dir, &["restore", file, "--identity", &id]);

    // A second installation, with an account of the forger's, backed up to the region's
    // public recipient under its own master key.
    let other = TestApp::spawn().await;
    other.asn(&unique_nip(), "Akun Penyusup").await;
    let args = ["backup", "--out", &kit.path("lain.age"), "--recipient", &kit.recipient, "--json"];
    let taken = ok(&gerbang(&url_of(&other), &other.state.config.data_dir, &args), "the other installation's backup");
    let other_key = taken["mac_key"].as_str().expect("authenticated with its own key").to_string();
    let expected = key_not_held(&other_key);
    assert_eq!(refusal(&verify(&kit.path("lain.age"))), (1, expected.clone()));
    assert_eq!(refusal(&restore(&kit.path("lain.age"))), (1, expected));
    let r = gerbang(&fresh, &master_dir, &["restore", &kit.path("lain.age"), "--identity", &id, "--json"]);
    assert_eq!((r.code, r.json()["error"].as_str()), (1, Some("not_authentic")), "{}", r.stdout);
    untouched(&fresh).await;

    // The same, written without any master key: it carries no MAC.
    let args = ["backup", "--out", &kit.path("tanpa-mac.age"), "--recipient", &kit.recipient, "--json"];
    let taken = ok(&keyless(&url_of(&other), &args), "a backup without a master key");
    assert_eq!(taken["authenticated"], false, "{taken}");
    assert_eq!(refusal(&verify(&kit.path("tanpa-mac.age"))), (1, NOT_AUTHENTICATED.to_string()));
    assert_eq!(refusal(&restore(&kit.path("tanpa-mac.age"))), (1, NOT_AUTHENTICATED.to_string()));
    untouched(&fresh).await;

    // The region's own archive, decrypted, altered and encrypted again: every checksum holds
    // (the header and its copy in the manifest are changed alike), the MAC does not.
    let archive = kit.path("asli.age");
    let args = ["backup", "--out", &archive, "--recipient", &kit.recipient, "--json"];
    ok(&gerbang(&url_of(&region), &master_dir, &args), "the region's backup");
    let altered = reencrypted(&kit, &archive, "diubah.age", |plain| {
        let field = b"\"created_at\":";
        let at: Vec<usize> =
            plain.windows(field.len()).enumerate().filter(|(_, w)| *w == field).map(|(i, _)| i).collect();
        assert_eq!(at.len(), 2, "the header and the manifest's copy");
        for i in at {
            let digit = &mut plain[i + field.len()];
            *digit = if *digit == b'9' { b'8' } else { *digit + 1 };
        }
    });
    assert_eq!(refusal(&verify(&altered)), (1, FORGED.to_string()));
    // Its MAC is checked over the whole archive before anything is written: no migration runs
    // and no file lands in --files-to. (The migrations up to its schema ran first and stayed.)
    let files_to = kit.path("pulih");
    std::fs::create_dir(&files_to).unwrap();
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700);
    std::fs::set_permissions(&files_to, private).unwrap();
    let r = gerbang(&fresh, &master_dir, &["restore", &altered, "--identity", &id, "--files-to", &files_to]);
    assert_eq!(refusal(&r), (1, FORGED.to_string()));
    untouched(&fresh).await;
    assert_eq!(std::fs::read_dir(&files_to).unwrap().count(), 0, "nothing written to --files-to");
    // Refused before the commit: the genuine archive then restores into the same database,
    // which a restore refuses when it holds data.
    let restored = ok(&gerbang(&fresh, &master_dir, &["restore", &archive, "--identity", &id, "--json"]), "restore");
    assert_eq!((restored["authenticated"].as_bool(), restored["audit_intact"].as_bool()), (Some(true), Some(true)));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_without_a_mac_is_restored_only_with_the_flag_and_the_trail_says_so() {
    let app = TestApp::spawn_with(&[("GERBANG_MASTER_KEY", KEY_OLD)]).await;
    let kit = Kit::new();
    signed_in(&app, "Tanpa Autentikasi").await;
    let url = url_of(&app);
    let id = kit.path("identity.txt");
    let archive = kit.path("tanpa-mac.age");
    let taken = ok(
        &keyless(&url, &["backup", "--out", &archive, "--recipient", &kit.recipient, "--json"]),
        "a backup without the master key",
    );
    assert_eq!((taken["authenticated"].as_bool(), &taken["mac_key"]), (Some(false), &Value::Null));
    let text = keyless(&url, &["backup", "--out", &kit.path("teks.age"), "--recipient", &kit.recipient]);
    assert!(text.code == 0 && text.stdout.contains("NOT authenticated: no master key here"), "{}", text.stdout);

    // Without a master key, verify checks the checksums and says authenticity was not checked.
    let checked = ok(&keyless(&url, &["backup", "verify", &archive, "--identity", &id, "--json"]), "verify, no key");
    assert_eq!((checked["ok"].as_bool(), checked["authenticated"].as_bool()), (Some(true), Some(false)));
    assert!(checked["authenticity"].as_str().is_some_and(|a| a.contains("NOT checked")), "{checked}");
    // With it, an archive without a MAC is refused unless the operator accepts it.
    let verify = |extra: &[&str]| {
        let mut args = vec!["backup", "verify", &archive, "--identity", &id, "--json"];
        args.extend_from_slice(extra);
        with_keys(&url, KEY_OLD, None, &args)
    };
    let r = verify(&[]);
    assert_eq!((r.code, r.json()["error"].as_str()), (1, Some("unauthenticated")), "{}", r.stdout);
    assert_eq!(format!("error: {}", r.json()["message"].as_str().unwrap_or_default()), NOT_AUTHENTICATED);
    // A master key that is there but does not load is said, not taken as no key at all (then
    // the archive was checked without its MAC, and verify said "ok": true).
    let data = tempfile::tempdir().expect("data dir");
    std::fs::write(data.path().join("master.key"), "bukan kunci\n").unwrap();
    let r = Gerbang::new(&["backup", "verify", &archive, "--identity", &id, "--json"])
        .env("GERBANG_ISSUER", "http://127.0.0.1:9")
        .env("GERBANG_DATABASE_URL", &url)
        .env("GERBANG_DATA_DIR", data.path())
        .env("GERBANG_BOOTSTRAP", "false")
        .run();
    assert_eq!((r.code, r.json()["error"].as_str()), (1, Some("invalid")), "{}", r.stdout);
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.starts_with("cannot load the master key (master_key, or master.key in the data directory): "),
        "{message}"
    );
    let checked = ok(&verify(&["--accept-unauthenticated"]), "verify, accepted");
    assert_eq!(checked["authenticated"], false, "{checked}");
    assert!(checked["authenticity"].as_str().is_some_and(|a| a.contains("--accept-unauthenticated")), "{checked}");

    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let r = with_keys(&fresh, KEY_OLD, None, &["restore", &archive, "--identity", &id]);
    assert_eq!(refusal(&r), (1, NOT_AUTHENTICATED.to_string()));
    untouched(&fresh).await;
    let args = ["restore", &archive, "--identity", &id, "--accept-unauthenticated", "--json"];
    let restored = ok(&with_keys(&fresh, KEY_OLD, None, &args), "restore, accepted");
    assert_eq!((restored["authenticated"].as_bool(), restored["audit_intact"].as_bool()), (Some(false), Some(true)));
    assert!(restored["authenticity"].as_str().is_some_and(|a| a.contains("NOT authenticated")), "{restored}");
    let trail = ok(&with_keys(&fresh, KEY_OLD, None, &["audit", "list", "--limit", "5", "--json"]), "audit list");
    let event = trail["events"].as_array().unwrap().iter().find(|e| e["kind"] == "backup.restored").cloned();
    let detail: Value = serde_json::from_str(event.expect("restore recorded")["detail"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&detail["authenticated"], &detail["unauthenticated_accepted"]),
        (&Value::Bool(false), &Value::Bool(true))
    );
}
