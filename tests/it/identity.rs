//! Accounts through the store and the CLI: NIP/NIK rules on the way in, uniqueness, and the
//! scripting commands' JSON output. (Every individual NIP/NIK rule is unit-tested in
//! `src/identity/nip.rs` and `nik.rs`.)

use gerbang::config::Secret;
use gerbang::identity::accounts::{self, AccountError, NewAccount};
use gerbang::state::now;

use crate::common::*;

fn new(nip: Option<&str>, nik: Option<&str>) -> NewAccount {
    NewAccount {
        nip: nip.map(String::from),
        nik: nik.map(String::from),
        name: "Uji".into(),
        password: Some(Secret::new(PASSWORD.into())),
        is_admin: false,
    }
}

#[tokio::test]
async fn identifiers_are_validated_and_never_duplicated() {
    let app = TestApp::spawn().await;
    let (db, h) = (&app.state.db, &app.state.hasher);
    let nip = unique_nip();
    let (a, _) = accounts::create(db, h, new(Some(&nip), None), now()).await.expect("valid NIP");
    assert_eq!(a.nip.as_deref(), Some(nip.as_str()));
    // Same NIP typed with separators is the same person.
    let spaced = format!("{} {} {} {}", &nip[..8], &nip[8..14], &nip[14..15], &nip[15..]);
    match accounts::create(db, h, new(Some(&spaced), None), now()).await {
        Err(AccountError::Conflict(f)) => assert_eq!(f, "NIP"),
        other => panic!("expected conflict, got {other:?}"),
    }
    let nik = unique_nik();
    accounts::create(db, h, new(None, Some(&nik)), now()).await.expect("valid NIK");
    assert!(matches!(accounts::create(db, h, new(None, Some(&nik)), now()).await, Err(AccountError::Conflict(_))));

    let bad_nips = [
        ("19800101200604100", "nip_length"),
        ("1980010120060410a1", "nip_non_digit"),
        ("198002302006041001", "nip_birth_date_invalid"),
        ("193912312006041001", "nip_birth_year_too_early"),
        ("198001011990041001", "nip_appointment_before_age_18"),
        ("198001012006043001", "nip_gender"),
        ("198001012006041000", "nip_sequence_zero"),
    ];
    for (n, code) in bad_nips {
        match accounts::create(db, h, new(Some(n), None), now()).await {
            Err(AccountError::Nip(e)) => assert_eq!(e.code(), code, "{n}"),
            other => panic!("{n}: expected {code}, got {other:?}"),
        }
    }
    let bad_niks = [
        ("350901420390000", "nik_length"),
        ("990901420390 0001", "nik_province"),
        ("3570014203900001", "nik_regency"),
        ("3509013203900001", "nik_birth_day"),
        ("3509014213900001", "nik_birth_month"),
        ("3509013102900001", "nik_birth_date_invalid"),
        ("3509014203900000", "nik_sequence_zero"),
    ];
    for (n, code) in bad_niks {
        match accounts::create(db, h, new(None, Some(n)), now()).await {
            Err(AccountError::Nik(e)) => assert_eq!(e.code(), code, "{n}"),
            other => panic!("{n}: expected {code}, got {other:?}"),
        }
    }
    assert!(matches!(accounts::create(db, h, new(None, None), now()).await, Err(AccountError::MissingIdentifier)));
    let mut short = new(Some(&unique_nip()), None);
    short.password = Some(Secret::new("pendek".into()));
    assert!(matches!(accounts::create(db, h, short, now()).await, Err(AccountError::Password(_))));
}

fn cli(app_db_url: &str, dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (i32, serde_json::Value) {
    use std::io::Write;
    let mut cmd = Gerbang::new(args).env("GERBANG_DATABASE_URL", app_db_url).env("GERBANG_DATA_DIR", dir).command();
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run gerbang");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(text.trim())
        .unwrap_or_else(|_| panic!("JSON output expected, got {text:?} / {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}

#[tokio::test]
async fn cli_creates_accounts_and_clients_with_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cli.db", dir.path().display());
    let nip = unique_nip();
    let (code, out) = cli(
        &url,
        dir.path(),
        &["account", "create", "--nip", &nip, "--name", "Lestari", "--password-stdin", "--json"],
        Some("sandi-yang-cukup-panjang\n"),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["account"]["nip"], nip.as_str());
    assert_eq!(out["account"]["kind"], "asn");
    let (code, out) = cli(&url, dir.path(), &["account", "create", "--nip", "123", "--name", "X", "--json"], None);
    assert_ne!(code, 0);
    assert_eq!(out["error"], "nip_length");
    assert!(out["message"].as_str().unwrap().contains("18"));
    let (code, out) = cli(&url, dir.path(), &["account", "create", "--nip", &nip, "--name", "Lagi", "--json"], None);
    assert_ne!(code, 0);
    assert_eq!(out["error"], "conflict");

    let (code, out) = cli(
        &url,
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "SIMPEG",
            "--redirect-uri",
            "https://simpeg.example.go.id/cb",
            "--scope",
            "openid profile nip",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--token-alg",
            "ES256",
            "--json",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out["client_id"].as_str().unwrap().starts_with("app-"));
    let secret = out["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "256-bit secret");
    assert_eq!(out["token_alg"], "ES256");
    let (code, out) = cli(
        &url,
        dir.path(),
        &["client", "create", "--name", "Bad", "--redirect-uri", "http://example.com/cb", "--json"],
        None,
    );
    assert_ne!(code, 0);
    assert!(out["message"].as_str().unwrap().contains("https"));
    let (code, out) = cli(&url, dir.path(), &["keys", "rotate", "--json"], None);
    assert_eq!(code, 0);
    assert_eq!(out["rotated"].as_array().unwrap().len(), 3);

    // The stored secret is a SHA-256, never the secret itself.
    let db = gerbang::store::Db::connect(&url, 1).await.unwrap();
    let rows = gerbang::store::clients::list(&db).await.unwrap();
    assert!(rows.iter().all(|r| r.secret_hash.as_deref() != Some(secret)));
    // The CLI opens the same state as the server, which registers the built-in clients too.
    let simpeg = rows.iter().find(|r| r.name == "SIMPEG").unwrap();
    assert_eq!(simpeg.secret_hash.as_deref().unwrap().len(), 64);
}

#[tokio::test]
async fn cli_manages_opd_units_roles_profiles_and_seeds_a_demo_region() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cli.db", dir.path().display());
    let run = |args: &[&str]| cli(&url, dir.path(), args, None);
    let (code, out) = run(&[
        "opd",
        "create",
        "--code",
        "9.01",
        "--name",
        "Dinas Komunikasi dan Informatika",
        "--kind",
        "dinas",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&[
        "opd",
        "create",
        "--code",
        "9.01.01",
        "--name",
        "Bidang Persandian",
        "--kind",
        "bidang",
        "--parent",
        "9.01",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out["opd"]["parent_id"].is_string());
    let (code, out) = run(&["opd", "create", "--code", "9.02", "--name", "X", "--kind", "kementerian", "--json"]);
    assert_ne!(code, 0);
    assert!(out["message"].as_str().unwrap().contains("dinas"), "lists the valid kinds");
    let (code, out) =
        run(&["opd", "create", "--code", "9.03", "--name", "Y", "--kind", "bidang", "--parent", "nope", "--json"]);
    assert_ne!(code, 0);
    assert_eq!(out["error"], "not_found");

    let nip = unique_nip();
    let (code, _) = cli(
        &url,
        dir.path(),
        &["account", "create", "--nip", &nip, "--name", "Sandi", "--password-stdin", "--json"],
        Some("kunci-panjang-sekali\n"),
    );
    assert_eq!(code, 0);
    let (code, out) = run(&[
        "account",
        "update",
        &nip,
        "--opd",
        "9.01.01",
        "--set",
        "jabatan=Sandiman Ahli Pertama",
        "--set",
        "golongan=iii/a",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["account"]["profile"]["golongan"], "III/a");
    let (code, out) = run(&["account", "update", &nip, "--set", "verified=true", "--json"]);
    assert_ne!(code, 0, "citizen attribute refused for a civil servant: {out}");
    let (code, out) = run(&["account", "update", &nip, "--set", "email=a@b.id", "--json"]);
    assert_eq!(
        (code, &out["account"]["email"], &out["account"]["email_verified"]),
        (0, &serde_json::json!("a@b.id"), &serde_json::json!(false))
    );
    let (code, out) = run(&["account", "schema", "--json"]);
    assert_eq!(code, 0);
    assert!(out["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == "jabatan" && a["scope"] == "asn_profile"));

    let (code, out) = run(&["role", "create", "--name", "auditor", "--json"]);
    assert_eq!(code, 0, "{out}");
    let (code, _) = run(&["role", "assign", "--role", "auditor", "--opd", "9.01", "--json"]);
    assert_eq!(code, 0);
    let (code, out) = run(&["role", "assign", "--role", "auditor", "--opd", "9.01", "--json"]);
    assert_eq!((code, out["error"].as_str()), (1, Some("conflict")));
    let (code, out) = run(&["role", "unassign", "--role", "auditor", "--opd", "9.01", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["revoked_grants"], 0);
    let (code, out) = run(&["role", "create", "--name", "operator", "--client", "no-such-app", "--json"]);
    assert_eq!((code, out["error"].as_str()), (1, Some("not_found")));
    let (code, out) = run(&[
        "client",
        "create",
        "--name",
        "SIKD",
        "--redirect-uri",
        "https://sikd.example.go.id/cb",
        "--category",
        "khusus",
        "--owner-opd",
        "9.01",
        "--account-types",
        "asn",
        "--required-role",
        "operator",
        "--min-level",
        "2",
        "--subject-type",
        "pairwise",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["category"], "khusus");
    assert_eq!(out["account_types"], serde_json::json!(["asn"]));
    assert_eq!(out["subject_type"], "pairwise");
    let (code, _) = run(&[
        "client",
        "create",
        "--name",
        "Bad",
        "--redirect-uri",
        "https://x.example.go.id/cb",
        "--min-level",
        "5",
        "--json",
    ]);
    assert_ne!(code, 0);

    let (code, out) = run(&["demo", "seed", "--json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out["accounts"].as_array().unwrap().len() >= 5);
    let (code, again) = run(&["demo", "seed", "--json"]);
    assert_eq!(code, 0, "seeding twice is harmless: {again}");

    // Administrative changes are audited and the chain verifies.
    let (code, out) =
        run(&["account", "update", &nip, "--status", "suspended", "--actor", "199001012015031001", "--json"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&["account", "reset-factors", &nip, "--actor", "199001012015031001", "--json"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&["audit", "list", "--account", &nip, "--json"]);
    assert_eq!(code, 0);
    let kinds: Vec<&str> = out["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "account.factors_reset",
            "account.status_changed",
            "account.updated",
            "account.updated",
            "account.updated",
            "account.created"
        ],
        "provisioning, the move to another unit, the profile and the contact change are recorded too"
    );
    assert!(out["events"][1]["detail"].as_str().unwrap().contains("suspended"));
    let (code, out) = run(&["audit", "verify", "--json"]);
    assert_eq!((code, out["ok"].as_bool()), (0, Some(true)), "{out}");
    let (_, list) = run(&["opd", "list", "--json"]);
    assert!(list["opd"].as_array().unwrap().iter().any(|o| o["name"] == "Dinas Kesehatan"));
}
