//! Trust anchors over HTTP: a certificate binds only through a validated path to the configured
//! roots (with its intermediate configured or uploaded after it), the binding keeps what
//! revocation checking needs, and a bundle that cannot anchor anything stops start-up.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::common::*;
use crate::pki::{Ca, CaOpts, PersonOpts, DAY};

async fn bind(app: &TestApp, token: &str, account: &str, pem: &str) -> (u16, Value) {
    let res = http_client()
        .post(app.url(&format!("/admin/api/v1/accounts/{account}/certificates")))
        .bearer_auth(token)
        .json(&json!({ "certificate": pem }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn certs_trust_a_chain_to_the_configured_root_binds_with_what_checking_needs() {
    let root = Ca::root("Root CA Uji DS G1");
    let ca = root.intermediate("BSRE CA Uji DS G1");
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("anchors.pem");
    std::fs::write(&bundle, &root.cert_pem).unwrap();
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_CERTIFICATE_ISSUERS", bundle.to_str().unwrap()),
    ])
    .await;
    let unit = opd_unit(&app, &format!("U{}", unique_nip()), None).await;
    let (sup_nip, _) = staff(&app, "Rina Wulandari", Some(&unit), Some("diskominfo-admin")).await;
    let (_, siti) = staff(&app, "Siti Rahmawati", Some(&unit), None).await;
    let sup = console_token(&app, &sup_nip).await;
    let person = ca.person(
        PersonOpts::new("Siti Rahmawati")
            .email("siti@jemberkab.go.id")
            .ocsp("http://127.0.0.1:9/ocsp")
            .crl("http://127.0.0.1:9/bsre.crl"),
    );

    // Only the root is configured: alone the certificate has no path; with its CA after it, it has.
    let (s, v) = bind(&app, &sup, &siti, &person.cert_pem).await;
    assert_eq!(s, 422, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("not issued by a trusted certificate authority"), "{v}");
    let (s, v) = bind(&app, &sup, &siti, &format!("{}{}", person.cert_pem, ca.cert_pem)).await;
    assert_eq!(s, 201, "{v}");
    let row = gerbang::store::certs::get(&app.state.db, v["id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(row.ocsp_url, "http://127.0.0.1:9/ocsp");
    assert_eq!(row.crl_urls, "http://127.0.0.1:9/bsre.crl");
    assert_eq!(row.issuer_pem.trim(), ca.cert_pem.trim(), "the issuing CA, for OCSP and CRL checks");
    assert_eq!(row.pem.trim(), person.cert_pem.trim(), "the person's certificate only, not the chain");

    // The reasons a chain fails reach the administrator.
    let (_, other) = staff(&app, "Agus Prasetyo", Some(&unit), None).await;
    let t = crate::pki::unix_now();
    let old = root.intermediate_with(
        "BSRE CA Lama",
        CaOpts { not_before: t - 900 * DAY, not_after: t - DAY, ..CaOpts::default() },
    );
    let late = old.person(PersonOpts::new("Agus Prasetyo"));
    let (s, v) = bind(&app, &sup, &other, &format!("{}{}", late.cert_pem, old.cert_pem)).await;
    assert_eq!(s, 422, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("has expired"), "{v}");
    let odd = ca.person(PersonOpts::new("Agus Prasetyo").unknown_critical());
    let (s, v) = bind(&app, &sup, &other, &format!("{}{}", odd.cert_pem, ca.cert_pem)).await;
    assert_eq!(s, 422, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("critical extension"), "{v}");
}

#[tokio::test]
async fn certs_trust_a_bundle_that_anchors_nothing_stops_start_up() {
    let root = Ca::root("Root CA Uji DS G1");
    let ca = root.intermediate("BSRE CA Uji DS G1");
    let person = ca.person(PersonOpts::new("Siti Rahmawati"));
    for (contents, says) in [
        (String::from("bukan sertifikat"), "no certificate"),
        (person.cert_pem.clone(), "not a certificate authority"),
        (ca.cert_pem.clone(), "no self-signed root"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("anchors.pem");
        std::fs::write(&bundle, &contents).unwrap();
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("GERBANG_ISSUER".into(), "http://127.0.0.1:1".into());
        env.insert("GERBANG_DATA_DIR".into(), dir.path().display().to_string());
        env.insert("GERBANG_DATABASE_URL".into(), format!("sqlite://{}/g.db", dir.path().display()));
        env.insert("GERBANG_BOOTSTRAP".into(), "false".into());
        env.insert("GERBANG_THEMES_DIR".into(), concat!(env!("CARGO_MANIFEST_DIR"), "/themes").into());
        env.insert("GERBANG_CERTIFICATE_ISSUERS".into(), bundle.display().to_string());
        let config = gerbang::config::Config::load(None, &env).expect("config");
        let err = gerbang::state::AppState::init_with_clock(config, gerbang::clock::Clock::adjustable())
            .await
            .err()
            .expect("start-up refused");
        let msg = format!("{err:#}");
        assert!(msg.contains("certificate_issuers") && msg.contains(says), "{says}: {msg}");
    }
}

/// Revocation lists due for a fetch: one with no nextUpdate (nothing says how stale it is) first,
/// then the most overdue, on both databases (SQLite sorts NULL first, PostgreSQL last, so under a
/// backlog the order differed).
#[tokio::test]
async fn crls_without_a_next_update_are_fetched_first_on_both_databases() {
    use gerbang::store::cert_checks::{crls_due, put_crl, CrlEntry};
    let app = TestApp::spawn().await;
    let t = gerbang::state::now();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    for (name, next_update) in [("lama", Some(t - 500)), ("tanpa", None), ("baru", Some(t - 10))] {
        let e = CrlEntry {
            source: format!("http://crl.example.go.id/{tag}/{name}.crl"),
            issuer: "CN=Uji".into(),
            der: vec![0x30, 0x00],
            this_update: t - 1000,
            next_update,
            fetched_at: t - 1000,
            last_attempt_at: t - 1000,
            last_error: String::new(),
        };
        put_crl(&app.state.db, &e).await.unwrap();
    }
    let due: Vec<String> = crls_due(&app.state.db, t, t - 100, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.contains(&tag))
        .map(|s| s.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(due, ["tanpa.crl", "lama.crl", "baru.crl"]);
}
