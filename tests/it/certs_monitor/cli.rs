//! `gerbang certificate list|check|revoke`, run as the operator runs it: the real binary on a
//! temporary SQLite database, its changes read back from the audit trail.

use serde_json::json;

use super::*;

struct Op {
    dir: tempfile::TempDir,
}

impl Op {
    fn url(&self) -> String {
        format!("sqlite://{}/cli.db", self.dir.path().display())
    }

    fn run(&self, args: &[&str]) -> Run {
        Gerbang::new(args)
            .env("GERBANG_DATABASE_URL", self.url())
            .env("GERBANG_DATA_DIR", self.dir.path())
            .env("GERBANG_REDIRECT_DOMAINS", "*.example.go.id")
            .run()
    }

    fn ok(&self, args: &[&str]) -> Value {
        let r = self.run(args);
        assert_eq!(r.code, 0, "{args:?}: {} / {}", r.stdout, r.stderr);
        serde_json::from_str(r.stdout.trim()).unwrap_or_else(|_| panic!("JSON expected: {}", r.stdout))
    }
}

#[tokio::test]
async fn certs_monitor_cli_lists_checks_and_revokes_with_the_operator_audited() {
    let op = Op { dir: tempfile::tempdir().unwrap() };
    op.ok(&["opd", "create", "--code", "8.01", "--name", "Dinas Kesehatan", "--kind", "dinas", "--json"]);
    op.ok(&["opd", "create", "--code", "8.02", "--name", "Dinas Pendidikan", "--kind", "dinas", "--json"]);
    let mut holders = Vec::new();
    for (name, opd) in [("Siti Rahmawati", "8.01"), ("Agus Prasetyo", "8.02")] {
        let nip = unique_nip();
        let id = op.ok(&["account", "create", "--nip", &nip, "--name", name, "--json"])["account"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        op.ok(&["account", "update", &nip, "--opd", opd, "--json"]);
        holders.push(id);
    }
    let db = Db::connect(&op.url(), 1).await.unwrap();
    let now = gerbang::state::now();
    let siti_cert = bind_row(&db, &holders[0], now, 10, |_| {}).await;
    let agus_cert = bind_row(&db, &holders[1], now, 5, |_| {}).await;
    let agus_later = bind_row(&db, &holders[1], now, 400, |_| {}).await;

    let listed = op.ok(&["certificate", "list", "--json"]);
    let list_ids = |v: &Value| ids(&v["certificates"]);
    assert_eq!(list_ids(&listed), vec![agus_cert.clone(), siti_cert.clone()], "attention by default");
    assert_eq!(listed["certificates"][0]["standing"], "expiring");
    assert_eq!(listed["certificates"][0]["account_name"], "Agus Prasetyo");
    let listed = op.ok(&["certificate", "list", "--state", "all", "--opd", "8.02", "--json"]);
    assert_eq!(list_ids(&listed), vec![agus_cert.clone(), agus_later.clone()], "by OPD code");
    let listed = op.ok(&["certificate", "list", "--state", "signers", "--limit", "1", "--offset", "2", "--json"]);
    assert_eq!(list_ids(&listed), vec![agus_later.clone()]);
    let text = op.run(&["certificate", "list", "--state", "all"]);
    assert_eq!(text.code, 0);
    assert_eq!(text.stdout.lines().count(), 3);
    assert!(text.stdout.contains(&siti_cert) && text.stdout.contains("expiring"), "{}", text.stdout);

    let bad = op.run(&["certificate", "list", "--state", "soon", "--json"]);
    assert_eq!(bad.code, 1);
    assert_eq!(serde_json::from_str::<Value>(bad.stdout.trim()).unwrap()["error"], "invalid");
    let bad = op.run(&["certificate", "list", "--opd", "9.99", "--json"]);
    assert_eq!(
        (bad.code, serde_json::from_str::<Value>(bad.stdout.trim()).unwrap()["error"].clone()),
        (1, json!("not_found"))
    );

    let checked = op.ok(&["certificate", "check", &siti_cert, "--json"]);
    assert_eq!(ids(&checked["checked"]), vec![siti_cert.clone()]);
    let checked = op.ok(&["certificate", "check", "--all", "--json"]);
    assert_eq!(checked["checked"].as_array().unwrap().len(), 3);
    let missing = op.run(&["certificate", "check", "no-such-certificate", "--json"]);
    assert_eq!((missing.code, missing.stdout.contains("not_found")), (1, true), "{}", missing.stdout);
    assert_eq!(op.run(&["certificate", "check", "--json"]).code, 1, "an id or --all");

    let revoked = op.ok(&["certificate", "revoke", &siti_cert, "--reason", "Dicabut BSrE", "--json"]);
    assert_eq!(revoked["certificate"]["standing"], "revoked");
    assert_eq!(revoked["certificate"]["revocation_reason"], "Dicabut BSrE");
    let again = op.run(&["certificate", "revoke", &siti_cert, "--reason", "lagi", "--json"]);
    assert_eq!((again.code, again.stdout.contains("conflict")), (1, true));
    let listed = op.ok(&["certificate", "list", "--state", "revoked", "--json"]);
    assert_eq!(list_ids(&listed), vec![siti_cert.clone()]);

    let trail = op.ok(&["audit", "list", "--limit", "100", "--json"]);
    let events: Vec<(&str, &str)> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .filter(|(k, _)| k.starts_with("certificate."))
        .collect();
    assert_eq!(
        events,
        vec![
            ("certificate.revoked", "cli:local"),
            ("certificate.check_run", "cli:local"),
            ("certificate.check_run", "cli:local")
        ]
    );
}
