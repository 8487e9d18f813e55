//! The `gerbang` command as an operator runs it: the real binary against a temporary SQLite
//! database. Its changes go through the application layer, so they are read back from the
//! audit trail with the operator as actor, and a move to another unit revokes tokens.

use gerbang::store::grants::{self, GrantRow};
use gerbang::store::Db;
use serde_json::{json, Value};

use crate::common::{unique_nik, unique_nip, Gerbang, Run};

struct Operator {
    dir: tempfile::TempDir,
}

impl Operator {
    fn new() -> Operator {
        Operator { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn url(&self) -> String {
        format!("sqlite://{}/cli.db", self.dir.path().display())
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        Gerbang::new(args)
            .env("GERBANG_DATABASE_URL", self.url())
            .env("GERBANG_DATA_DIR", self.dir.path())
            .env("GERBANG_REDIRECT_DOMAINS", "*.example.go.id")
            .envs(env.iter().copied())
            .run()
    }

    /// Runs a command that must succeed with `--json`, returning its output.
    fn ok(&self, args: &[&str]) -> Value {
        let run = self.run_env(args, &[]);
        assert_eq!(run.code, 0, "{args:?}: {} / {}", run.stdout, run.stderr);
        run.json()
    }

    /// The whole audit trail, oldest first, as (kind, actor, subject, detail).
    fn trail(&self) -> Vec<(String, String, String, Value)> {
        let out = self.ok(&["audit", "list", "--limit", "1000", "--json"]);
        let mut events: Vec<_> = out["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().expect("text field").to_string();
                (s("kind"), s("actor"), s("subject"), serde_json::from_str(&s("detail")).expect("detail"))
            })
            .collect();
        events.reverse();
        events
    }
}

/// The events after the first `skip`, without their detail.
fn kinds(trail: &[(String, String, String, Value)], skip: usize) -> Vec<(&str, &str, &str)> {
    trail[skip..].iter().map(|(k, a, s, _)| (k.as_str(), a.as_str(), s.as_str())).collect()
}

#[tokio::test]
async fn every_change_from_the_command_line_is_audited_with_the_operator_as_actor() {
    let op = Operator::new();
    let unit = op.ok(&["opd", "create", "--code", "7.01", "--name", "Dinas Kominfo", "--kind", "dinas", "--json"]);
    let unit_id = unit["opd"]["id"].as_str().unwrap().to_string();
    let child = op.ok(&[
        "--actor",
        "budi",
        "opd",
        "create",
        "--code",
        "7.01.01",
        "--name",
        "Bidang Statistik",
        "--kind",
        "bidang",
        "--parent",
        "7.01",
        "--json",
    ]);
    let child_id = child["opd"]["id"].as_str().unwrap().to_string();
    let client = op.ok(&[
        "client",
        "create",
        "--id",
        "sipd",
        "--name",
        "SIPD",
        "--redirect-uri",
        "https://sipd.example.go.id/cb",
        "--owner-opd",
        "7.01",
        "--json",
    ]);
    assert_eq!(client["client_id"], "sipd");
    let rotated = op.ok(&["keys", "rotate", "--json"]);
    let kids: Vec<&str> = rotated["rotated"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(kids.len(), 3);
    let nip = unique_nip();
    let created = op.ok(&["account", "create", "--nip", &nip, "--name", "Ratna", "--json"]);
    let id = created["account"]["id"].as_str().unwrap().to_string();
    let updated = op.ok(&["account", "update", &nip, "--opd", "7.01.01", "--set", "jabatan=Statistisi", "--json"]);
    assert_eq!(updated["account"]["opd_id"], child_id.as_str());
    assert_eq!(updated["account"]["profile"], json!({ "jabatan": "Statistisi" }));
    op.ok(&["role", "create", "--name", "penguji", "--json"]);
    assert_eq!(
        op.ok(&["role", "assign", "--role", "penguji", "--account", &nip, "--json"]),
        json!({ "assigned": "penguji" })
    );
    assert_eq!(
        op.ok(&["--actor", "budi", "role", "unassign", "--role", "penguji", "--account", &nip, "--json"]),
        json!({ "unassigned": "penguji", "revoked_grants": 0 })
    );
    // The actor may follow the subcommand (it is global) or come from the environment.
    op.ok(&["role", "assign", "--role", "penguji", "--opd", "7.01", "--actor", "budi", "--json"]);
    let run =
        op.run_env(&["role", "unassign", "--role", "penguji", "--opd", "7.01", "--json"], &[("GERBANG_ACTOR", "siti")]);
    assert_eq!((run.code, run.json()), (0, json!({ "unassigned": "penguji", "revoked_grants": 0 })));

    // The passwordless account's activation link has its own test below.
    let trail: Vec<_> = op.trail().into_iter().filter(|e| e.0 != "password.reset_link_issued").collect();
    assert_eq!(
        kinds(&trail, 0),
        vec![
            ("opd.created", "cli:local", ""),
            ("opd.created", "cli:budi", ""),
            ("application.registered", "cli:local", ""),
            ("keys.rotated", "cli:local", ""),
            ("account.created", "cli:local", id.as_str()),
            ("account.updated", "cli:local", id.as_str()),
            ("account.updated", "cli:local", id.as_str()),
            ("role.created", "cli:local", ""),
            ("role.assigned", "cli:local", id.as_str()),
            ("role.unassigned", "cli:budi", id.as_str()),
            ("role.assigned", "cli:budi", ""),
            ("role.unassigned", "cli:siti", ""),
        ]
    );
    let detail = |i: usize| trail[i].3.clone();
    assert_eq!(detail(0), json!({ "opd_id": unit_id, "code": "7.01", "name": "Dinas Kominfo", "parent_id": null }));
    assert_eq!(
        detail(2),
        json!({
            "client_id": "sipd", "name": "SIPD", "category": "umum", "owner_opd_id": unit_id, "public": false,
            "first_party": false, "scopes": ["openid", "profile"], "min_level": 1, "token_alg": "RS256",
        })
    );
    // The new keys sign a publish delay (a day by default) after the rotation.
    let rotated = detail(3);
    assert!(rotated["activates_at"].as_i64().unwrap() > gerbang::state::now() + 86_000, "{rotated}");
    assert_eq!(
        rotated,
        json!({ "keys": [
            { "kid": kids[0], "alg": "RS256" }, { "kid": kids[1], "alg": "ES256" }, { "kid": kids[2], "alg": "EdDSA" },
        ], "activates_at": rotated["activates_at"], "scheduled": false })
    );
    assert_eq!(detail(4), json!({ "source": "cli", "kind": "asn", "is_admin": false }));
    assert_eq!(
        detail(5),
        json!({
            "before": { "name": "Ratna", "opd_id": null }, "after": { "name": "Ratna", "opd_id": child_id },
            "revoked_grants": 0,
        })
    );
    assert_eq!(detail(6), json!({ "before": { "jabatan": null }, "after": { "jabatan": "Statistisi" } }));
    assert_eq!(detail(8), json!({ "role": "penguji", "client_id": "" }));
    assert_eq!(detail(10), json!({ "role": "penguji", "client_id": "", "opd_id": unit_id }));
    assert_eq!(detail(11), json!({ "role": "penguji", "client_id": "", "opd_id": unit_id, "revoked_grants": 0 }));

    // Status, second-factor reset and the demo region are recorded the same way.
    op.ok(&["account", "update", &nip, "--status", "suspended", "--actor", "199001012015031001", "--json"]);
    assert_eq!(op.ok(&["account", "reset-factors", &nip, "--json"]), json!({ "reset": id }));
    op.ok(&["demo", "seed", "--actor", "budi", "--json"]);
    let trail = op.trail();
    assert_eq!(
        kinds(&trail, 13),
        vec![
            ("account.status_changed", "cli:199001012015031001", id.as_str()),
            ("account.factors_reset", "cli:local", id.as_str()),
            ("demo.seeded", "cli:budi", ""),
        ]
    );
    assert_eq!(trail[13].3, json!({ "before": "active", "after": "suspended" }));
    let verify = op.ok(&["audit", "verify", "--json"]);
    assert_eq!(verify["ok"], true);

    // An export is recorded too, after the records it holds.
    let exported = op.ok(&["audit", "export", "--since", "2000-01-01", "--until", "2100-01-01", "--format", "json"]);
    assert_eq!(exported["events"].as_array().unwrap().len(), 16);
    let trail = op.trail();
    assert_eq!(kinds(&trail, 16), vec![("audit.exported", "cli:local", "")]);
    assert_eq!(trail[16].3, json!({ "since": 946684800, "until": 4102444800i64, "records": 16 }));
}

#[tokio::test]
async fn an_invalid_actor_is_refused_before_anything_is_done() {
    let op = Operator::new();
    let message = "error: --actor: give 1 to 64 letters, digits, '-', '_', '.' or '@'\n";
    let run = op.run_env(
        &["--actor", "budi santoso", "opd", "create", "--code", "8.01", "--name", "X", "--kind", "dinas"],
        &[],
    );
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (2, "", message));
    let run =
        op.run_env(&["opd", "create", "--code", "8.01", "--name", "X", "--kind", "dinas"], &[("GERBANG_ACTOR", "a;b")]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (2, "", message));
    let long = "a".repeat(65);
    let run = op.run_env(&["--actor", &long, "keys", "rotate", "--json"], &[]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (2, "", message));
    assert_eq!(op.ok(&["opd", "list", "--json"]), json!({ "opd": [] }));
    assert_eq!(op.trail(), vec![]);
}

#[tokio::test]
async fn keys_rotate_compromised_says_which_keys_it_retired_and_which_sign_now() {
    let op = Operator::new();
    op.ok(&["keys", "rotate", "--json"]);
    let before: Vec<String> = op.ok(&["keys", "status", "--json"])["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(before.len(), 6, "current keys, and next keys waiting to sign");

    // No confirmation asked; the text names every key it retired and every key now signing.
    let run = op.run_env(&["keys", "rotate", "--compromised"], &[]);
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("emergency key switch done: "), "{}", run.stdout);
    for kid in &before {
        assert!(run.stdout.lines().any(|l| l.contains("retired") && l.contains(kid.as_str())), "{kid}: {}", run.stdout);
    }
    assert_eq!(run.stdout.lines().filter(|l| l.trim_start().starts_with("signing now")).count(), 3);
    assert!(run.stdout.contains("within 60 s") && run.stdout.contains("max-age 3600 s"), "{}", run.stdout);
    let status = op.ok(&["keys", "status", "--json"]);
    let keys = status["keys"].as_array().unwrap();
    let signing: Vec<&str> =
        keys.iter().filter(|k| k["state"] == "current").map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(signing.len(), 3);
    assert!(keys
        .iter()
        .filter(|k| before.contains(&k["kid"].as_str().unwrap().to_string()))
        .all(|k| k["state"] == "retired"));

    // Again, as JSON: the keys of the first switch go the same way.
    let out = op.ok(&["keys", "rotate", "--compromised", "--json"]);
    let retired: Vec<Value> = ["RS256", "ES256", "EdDSA"]
        .iter()
        .map(|a| {
            let kid = signing.iter().find(|k| alg(k) == *a).unwrap();
            json!({ "kid": kid, "alg": a, "state": "current" })
        })
        .collect();
    assert_eq!(out["retired"], Value::from(retired));
    let now_signing = out["signing"].as_array().unwrap();
    assert_eq!(now_signing.iter().map(|k| k["alg"].as_str().unwrap()).collect::<Vec<_>>(), ["RS256", "ES256", "EdDSA"]);
    assert!(now_signing.iter().all(|k| !signing.contains(&k["kid"].as_str().unwrap())));
    assert_eq!((out["replicas_within_seconds"].as_i64(), out["jwks_max_age_seconds"].as_i64()), (Some(60), Some(3600)));

    let trail = op.trail();
    assert_eq!(kinds(&trail, 1), vec![("keys.compromised", "cli:local", ""), ("keys.compromised", "cli:local", "")]);
    assert_eq!(trail[2].3["retired"], out["retired"]);
    assert_eq!(trail[2].3["signing"], out["signing"]);
}

/// The algorithm a key id names (`rs256-…`).
fn alg(kid: &str) -> &'static str {
    match kid.split('-').next() {
        Some("rs256") => "RS256",
        Some("es256") => "ES256",
        _ => "EdDSA",
    }
}

fn grant(id: &str, account_id: &str) -> GrantRow {
    let now = gerbang::state::now();
    GrantRow {
        id: id.into(),
        account_id: account_id.into(),
        client_id: "sipd".into(),
        scope: "openid profile".into(),
        sid: format!("sid-{id}"),
        auth_time: now,
        acr: "1".into(),
        amr: "pwd".into(),
        created_at: now,
        expires_at: now + 3600,
        revoked_at: None,
        roles: String::new(),
        rp_sid: None,
    }
}

#[tokio::test]
async fn moving_a_person_to_another_unit_revokes_their_tokens() {
    let op = Operator::new();
    op.ok(&["opd", "create", "--code", "5.01", "--name", "Dinas Pendidikan", "--kind", "dinas", "--json"]);
    let b = op.ok(&["opd", "create", "--code", "5.02", "--name", "Dinas Kesehatan", "--kind", "dinas", "--json"]);
    op.ok(&[
        "client",
        "create",
        "--id",
        "sipd",
        "--name",
        "SIPD",
        "--redirect-uri",
        "https://sipd.example.go.id/cb",
        "--json",
    ]);
    let nip = unique_nip();
    let id = op.ok(&["account", "create", "--nip", &nip, "--name", "Wahyu", "--json"])["account"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    op.ok(&["account", "update", &nip, "--opd", "5.01", "--json"]);
    let db = Db::connect(&op.url(), 1).await.unwrap();
    grants::insert_grant(&db, &grant("g-before-move", &id)).await.unwrap();

    op.ok(&["account", "update", &nip, "--opd", "5.02", "--json"]);
    let moved = grants::get_grant(&db, "g-before-move").await.unwrap().unwrap();
    assert!(moved.revoked_at.is_some(), "the token issued in the old unit is revoked");
    let trail = op.trail();
    let (kind, actor, subject, detail) = trail.last().unwrap().clone();
    assert_eq!((kind.as_str(), actor.as_str(), subject.as_str()), ("account.updated", "cli:local", id.as_str()));
    assert_eq!(detail["after"]["opd_id"], b["opd"]["id"]);
    assert_eq!(detail["revoked_grants"], 1);

    // A profile change alone leaves the person's tokens alone.
    grants::insert_grant(&db, &grant("g-after-move", &id)).await.unwrap();
    op.ok(&["account", "update", &nip, "--set", "golongan=iii/b", "--json"]);
    assert_eq!(grants::get_grant(&db, "g-after-move").await.unwrap().unwrap().revoked_at, None);

    // Refusals of the application layer are explained and exit non-zero; nothing is written.
    let nik = unique_nik();
    op.ok(&["account", "create", "--nik", &nik, "--name", "Warga", "--json"]);
    let run = op.run_env(&["account", "update", &nik, "--opd", "5.01", "--set", "email=w@contoh.id", "--json"], &[]);
    assert_eq!(
        (run.code, run.json()),
        (1, json!({ "error": "invalid", "message": "only civil servants (ASN) belong to an OPD unit" }))
    );
    let run = op.run_env(&["account", "update", &nip, "--set", "email=bukan-email"], &[]);
    // Warnings of the start-up (a master key generated on first use) may come before it.
    let last = run.stderr.lines().last().unwrap_or("");
    assert_eq!(
        (run.code, run.stdout.as_str(), last),
        (1, "", "error: invalid value for `email`: an e-mail address like nama@contoh.go.id")
    );
    let run = op.run_env(&["account", "update", &nip, "--set", "verified=true"], &[]);
    let last = run.stderr.lines().last().unwrap_or("");
    assert_eq!((run.code, last), (1, "error: `verified` does not apply to this account type"));
    // Contact details are columns of every account, set unverified, audited before and after.
    let asn = op.ok(&[
        "account",
        "update",
        &nip,
        "--set",
        "email=Budi@Contoh.ID",
        "--set",
        "phone_number=0812 3456 7890",
        "--json",
    ]);
    assert_eq!(
        (&asn["account"]["email"], &asn["account"]["email_verified"], &asn["account"]["phone_number"]),
        (&json!("budi@contoh.id"), &json!(false), &json!("+6281234567890"))
    );
    let (kind, _, _, detail) = op.trail().last().unwrap().clone();
    assert_eq!(kind, "account.updated");
    assert_eq!(detail["after"]["email"], "budi@contoh.id");
    assert_eq!(detail["before"]["phone_number"], Value::Null);
    let run = op.run_env(&["role", "assign", "--role", "nobody", "--account", &nip, "--json"], &[]);
    assert_eq!((run.code, run.json()), (1, json!({ "error": "not_found", "message": "unknown role `nobody`" })));
    let citizen = op.ok(&["account", "update", &nik, "--set", "email=w@contoh.id", "--json"]);
    assert_eq!((&citizen["account"]["opd_id"], &citizen["account"]["profile"]), (&Value::Null, &json!({})));
    assert_eq!(
        (&citizen["account"]["email"], &citizen["account"]["email_verified"]),
        (&json!("w@contoh.id"), &json!(false))
    );
}

/// The operator issues an administrator's enrolment link: printed once, audited, and not the
/// secret itself in the trail.
#[tokio::test]
async fn the_operator_issues_an_enrolment_link() {
    let op = Operator::new();
    let nip = unique_nip();
    let id = op.ok(&["account", "create", "--nip", &nip, "--name", "Admin Baru", "--json"])["account"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = op.ok(&["account", "enrolment-link", &nip, "--json"]);
    let url = out["enrolment_link"]["url"].as_str().unwrap().to_string();
    let token = url.rsplit('/').next().unwrap();
    assert!(url.contains("/enrol/") && token.len() == 43, "{url}");
    assert_eq!(out["enrolment_link"]["account_id"], id.as_str());
    let (kind, actor, subject, detail) = op.trail().pop().unwrap();
    assert_eq!((kind.as_str(), actor.as_str(), subject.as_str()), ("enrolment_link.issued", "cli:local", id.as_str()));
    assert!(!detail.to_string().contains(token), "the trail never holds the link's secret");
    let again = op.ok(&["account", "enrolment-link", &nip, "--json"]);
    assert_ne!(again["enrolment_link"]["url"], url.as_str(), "a new secret each time");
    let unknown = op.run_env(&["account", "enrolment-link", &unique_nip(), "--json"], &[]);
    assert_ne!(unknown.code, 0);
}

/// An account created without a password gets its activation link printed once; the operator's
/// `reset-link` prints a password link (activation while there is no password yet), audited
/// without its secret.
#[tokio::test]
async fn the_operator_prints_activation_and_reset_links() {
    let op = Operator::new();
    let nip = unique_nip();
    let created = op.ok(&["account", "create", "--nip", &nip, "--name", "Tanpa Sandi", "--json"]);
    let id = created["account"]["id"].as_str().unwrap().to_string();
    let url = created["activation"]["url"].as_str().unwrap().to_string();
    assert!(url.contains("/activate/") && url.rsplit('/').next().unwrap().len() == 43, "{url}");
    let out = op.ok(&["account", "reset-link", &nip, "--json"]);
    let link = &out["reset_link"];
    assert_eq!((link["delivery"].as_str(), link["purpose"].as_str()), (Some("link"), Some("activation")));
    let token = link["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert_ne!(link["url"].as_str().unwrap(), url, "a new link each time");
    let (kind, actor, subject, detail) = op.trail().pop().unwrap();
    assert_eq!(
        (kind.as_str(), actor.as_str(), subject.as_str()),
        ("password.reset_link_issued", "cli:local", id.as_str())
    );
    assert!(!detail.to_string().contains(&token), "the trail never holds the link's secret");
    let text = op.run_env(&["account", "reset-link", &nip], &[]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("activation link for") && text.stdout.contains("/activate/"), "{}", text.stdout);
    let unknown = op.run_env(&["account", "reset-link", &unique_nip(), "--json"], &[]);
    assert_ne!(unknown.code, 0);
}

#[tokio::test]
async fn the_mail_test_command_waits_for_the_relay_and_says_what_happened() {
    let op = Operator::new();
    let to = crate::mailbox::unique_address();
    let settings = crate::mailbox::smtp_settings();
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = op.run_env(&["mail", "test", "--to", &to, "--lang", "en"], &env);
    assert_eq!((run.code, run.stdout.trim()), (0, format!("sent to {to}").as_str()), "{}", run.stderr);
    let mail = crate::mailbox::mailbox().only(&to).await;
    assert_eq!(mail.subject, "Gerbang test message");
    // No relay configured: a clear refusal, exit code 1.
    let run = op.run_env(&["mail", "test", "--to", &to], &[]);
    let last = run.stderr.lines().last().unwrap_or("");
    assert_eq!((run.code, last), (1, "error: e-mail is not configured on this server (smtp_host)"));
    // A relay that does not answer: its error, exit code 1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let dead =
        [("GERBANG_SMTP_HOST", "127.0.0.1"), ("GERBANG_SMTP_PORT", closed.as_str()), ("GERBANG_SMTP_SECURITY", "none")];
    let run = op.run_env(&["mail", "test", "--to", &to], &dead);
    let last = run.stderr.lines().last().unwrap_or("");
    assert_eq!(run.code, 1);
    assert!(last.starts_with("error: the SMTP relay refused or could not be reached"), "{last}");
    let run = op.run_env(&["mail", "test", "--to", "bukan alamat"], &env);
    assert_eq!(
        (run.code, run.stderr.lines().last().unwrap_or("")),
        (1, "error: `bukan alamat` is not an e-mail address")
    );
}
