//! The first run's demo data is a local toy: its accounts never hold an administrative role,
//! their passwords are random per install, and it never lives under a public issuer.

use gerbang::identity::accounts;
use gerbang::identity::admin::{AUDITOR, DISKOMINFO_ADMIN, OPD_ADMIN, OPD_DEVELOPER};
use gerbang::identity::roles::{self, Holder};
use gerbang::ops::{bootstrap, Operator, Principal};
use gerbang::state::{now, AppState};
use gerbang::store::opd as opd_store;

use crate::common::*;

const PUBLIC_ISSUER: &str = "https://sso.jemberkab.go.id";
const ADMIN_ROLES: [&str; 4] = [DISKOMINFO_ADMIN, OPD_ADMIN, AUDITOR, OPD_DEVELOPER];

async fn admin_roles_of(st: &AppState, login: &str) -> Vec<String> {
    let account = accounts::find(&st.db, login).await.unwrap().expect("account exists");
    let held = roles::effective(&st.db, &account.id).await.unwrap();
    held.into_iter().filter(|r| r.is_global() && ADMIN_ROLES.contains(&r.name.as_str())).map(|r| r.name).collect()
}

#[tokio::test]
async fn demo_accounts_hold_no_administrative_role() {
    let app = TestApp::spawn_with(&[("GERBANG_BOOTSTRAP", "true")]).await;
    let boot = bootstrap::run(&app.state, now()).await.unwrap().expect("first run bootstraps");
    let report = boot.demo.as_ref().expect("a local issuer gets the demo region");
    assert_eq!(report.accounts.len(), 7);
    for a in &report.accounts {
        assert_eq!(admin_roles_of(&app.state, &a.login).await, Vec::<String>::new(), "{}", a.login);
    }
    // Only the bootstrap administrator holds it, directly; the Diskominfo unit passes on nothing.
    assert_eq!(admin_roles_of(&app.state, &boot.admin_nip).await, vec![DISKOMINFO_ADMIN.to_string()]);
    let admin = accounts::find(&app.state.db, &boot.admin_nip).await.unwrap().unwrap();
    let direct = gerbang::store::roles::direct_of_account(&app.state.db, &admin.id).await.unwrap();
    assert_eq!(direct.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec![DISKOMINFO_ADMIN]);
    let unit = opd_store::find_by_code(&app.state.db, gerbang::demo::DISKOMINFO_UNIT).await.unwrap().unwrap();
    assert_eq!(admin.opd_id.as_deref(), Some(unit.id.as_str()));
}

#[tokio::test]
async fn demo_passwords_are_random_per_install_and_log_in() {
    let source = include_str!("../../src/demo.rs");
    let mut installs = Vec::new();
    for _ in 0..2 {
        let app = TestApp::spawn_with(&[("GERBANG_BOOTSTRAP", "true")]).await;
        let boot = bootstrap::run(&app.state, now()).await.unwrap().unwrap();
        let report = boot.demo.unwrap();
        let passwords: Vec<(String, String)> =
            report.accounts.iter().map(|a| (a.login.clone(), a.password.as_ref().unwrap().expose().clone())).collect();
        installs.push((app, passwords));
    }
    let (first, second) = (&installs[0].1, &installs[1].1);
    for ((login, one), (login2, two)) in first.iter().zip(second) {
        assert_eq!(login, login2);
        assert_ne!(one, two, "{login}: the same password on two installs");
        assert!(one.len() >= 16 && !source.contains(one.as_str()) && !source.contains(two.as_str()));
    }
    let distinct: std::collections::HashSet<_> = first.iter().map(|(_, p)| p).collect();
    assert_eq!(distinct.len(), first.len(), "each demo account has its own password");
    // The printed password is the one that works.
    let (app, passwords) = &installs[0];
    let (login, password) = &passwords[0];
    let (_, hash) = accounts::find_for_login(&app.state.db, login).await.unwrap().unwrap();
    let secret = gerbang::config::Secret::new(password.clone());
    assert!(app.state.hasher.verify(&secret, hash.as_deref()).await.unwrap(), "the printed password logs in");
}

#[tokio::test]
async fn a_public_issuer_gets_no_demo_region() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_BOOTSTRAP", "true"),
        ("GERBANG_ISSUER", PUBLIC_ISSUER),
        ("GERBANG_REDIRECT_DOMAINS", "jemberkab.go.id, *.jemberkab.go.id"),
    ])
    .await;
    let boot = bootstrap::run(&app.state, now()).await.unwrap().expect("the administrator is still created");
    assert!(boot.demo.is_none());
    for id in gerbang::demo::identifiers() {
        assert!(accounts::find(&app.state.db, id).await.unwrap().is_none(), "{id}");
    }
    assert!(opd_store::list(&app.state.db).await.unwrap().is_empty());
    assert_eq!(admin_roles_of(&app.state, &boot.admin_nip).await, vec![DISKOMINFO_ADMIN.to_string()]);
    // Nor on the operator's command.
    let who = Principal::Operator(Operator::local());
    let e = bootstrap::seed_demo(&app.state, &who, now()).await.unwrap_err();
    assert!(matches!(e, gerbang::ops::AdminError::Invalid(_)), "{e:?}");
    assert!(bootstrap::refuse_demo_accounts(&app.state).await.is_ok());
}

/// A database seeded on a laptop (or by an older release) and then served under the region's
/// address: start-up refuses until `gerbang demo remove` has run, which also undoes the unit
/// assignment of `diskominfo-admin` older releases made.
#[tokio::test]
async fn demo_accounts_under_a_public_issuer_stop_start_up_until_removed() {
    let app = TestApp::spawn_with(&[("GERBANG_BOOTSTRAP", "true")]).await;
    let boot = bootstrap::run(&app.state, now()).await.unwrap().unwrap();
    assert!(bootstrap::refuse_demo_accounts(&app.state).await.is_ok(), "a local issuer may keep them");
    let db = &app.state.db;
    let legacy = roles::find(db, None, DISKOMINFO_ADMIN).await.unwrap();
    let diskominfo = opd_store::find_by_code(db, gerbang::demo::DISKOMINFO_UNIT).await.unwrap().unwrap();
    roles::assign(db, &legacy, &Holder::Opd(diskominfo.id.clone()), now()).await.unwrap();
    assert_eq!(admin_roles_of(&app.state, "198909092015032004").await, vec![DISKOMINFO_ADMIN.to_string()]);

    let mut config = (*app.state.config).clone();
    config.issuer = PUBLIC_ISSUER.into();
    config.redirect_domains = vec!["jemberkab.go.id".into()];
    let public = AppState::init(config).await.unwrap();
    let e = bootstrap::refuse_demo_accounts(&public).await.unwrap_err().to_string();
    assert!(e.contains("`gerbang demo remove`") && e.contains("198909092015032004"), "{e}");

    let who = Principal::Operator(Operator::new("budi").unwrap());
    let removed = bootstrap::remove_demo(&public, &who, now()).await.unwrap();
    let all: Vec<String> = gerbang::demo::identifiers().map(String::from).collect();
    assert_eq!(removed.accounts, all);
    assert_eq!(removed.roles, 2);
    // The administrator still works at Bidang Aplikasi Informatika: it and the units above stay.
    assert_eq!(removed.opd_units, 15);
    let left: Vec<String> = opd_store::list(db).await.unwrap().into_iter().map(|u| u.code).collect();
    assert_eq!(left, vec!["3509", "3509.13", "3509.13.01"]);
    for id in gerbang::demo::identifiers() {
        assert!(accounts::find(db, id).await.unwrap().is_none(), "{id}");
    }
    assert_eq!(admin_roles_of(&public, &boot.admin_nip).await, vec![DISKOMINFO_ADMIN.to_string()]);
    assert!(roles::find(db, None, "tim-aplikasi").await.is_err());
    let trail = gerbang::store::audit::all(db).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!((last.kind.as_str(), last.actor.as_str()), ("demo.removed", "cli:budi"));
    let detail: serde_json::Value = serde_json::from_str(&last.detail).unwrap();
    assert_eq!(detail, serde_json::json!({ "accounts": all, "opd_units": 15, "roles": 2 }));
    assert!(bootstrap::refuse_demo_accounts(&public).await.is_ok(), "start-up goes ahead once removed");
    // Running it again finds nothing and says so.
    let again = bootstrap::remove_demo(&public, &who, now()).await.unwrap();
    assert_eq!((again.accounts.len(), again.opd_units, again.roles), (0, 0, 0));
}

/// The same through the binary: `serve` exits naming the command, `demo remove` clears it.
#[tokio::test]
async fn the_binary_refuses_to_serve_demo_accounts_publicly() {
    let dir = tempfile::tempdir().unwrap();
    let command = |args: &[&str], public: bool| {
        let g = Gerbang::new(args)
            .env("GERBANG_DATABASE_URL", format!("sqlite://{}/g.db", dir.path().display()))
            .env("GERBANG_DATA_DIR", dir.path())
            .env("GERBANG_BIND", "127.0.0.1:0");
        let g = if public {
            g.env("GERBANG_ISSUER", PUBLIC_ISSUER).env("GERBANG_REDIRECT_DOMAINS", "jemberkab.go.id")
        } else {
            g
        };
        let mut cmd = g.command();
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        cmd
    };
    // A server that starts anyway would run for ever: give it a minute, then stop it and fail.
    let run = |args: &[&str], public: bool| {
        let mut child = command(args, public).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("`gerbang {}` is still running", args.join(" "));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&["demo", "seed", "--json"], false);
    assert_eq!(code, Some(0));
    let seeded: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seeded["accounts"].as_array().unwrap().len(), 7);
    let (code, _, err) = run(&["serve"], true);
    assert_eq!(code, Some(1));
    assert!(err.contains("`gerbang demo remove`"), "{err}");
    let (code, out, _) = run(&["demo", "remove", "--json"], true);
    assert_eq!(code, Some(0));
    let removed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(removed["accounts"].as_array().unwrap().len(), 7);
    assert_eq!(removed["opd_units"], 18);
    // An empty redirect_domains under a public issuer is refused, naming the setting.
    let out = Gerbang::new(&["migrate"])
        .env("GERBANG_DATABASE_URL", format!("sqlite://{}/g.db", dir.path().display()))
        .env("GERBANG_ISSUER", PUBLIC_ISSUER)
        .run();
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("invalid setting `redirect_domains`"));
}
