//! Electronic certificates: binding with checks, monitoring, revocation, trusted issuers, the
//! powers of each admin role, and the console's pages.

use serde_json::{json, Value};

use crate::common::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/certs");

/// The fixtures' CA (a stand-in for BSrE's) as the configured trust anchor: without one binding
/// is not offered at all.
const ANCHORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/certs/ca.pem");

async fn spawn() -> TestApp {
    TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1"), ("GERBANG_CERTIFICATE_ISSUERS", ANCHORS)]).await
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

async fn unit(app: &TestApp) -> String {
    opd_unit(app, &format!("U{}", unique_nip()), None).await
}

async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let http = http_client();
    let req = if method == "GET" { http.get(app.url(path)) } else { http.post(app.url(path)) };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let res = req.bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn certificates_are_checked_bound_monitored_and_revoked_by_the_right_people() {
    let app = spawn().await;
    let (a, b) = (unit(&app).await, unit(&app).await);
    let (sup_nip, _) = staff(&app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (aud_nip, _) = staff(&app, "Dewi Anggraini", Some(&a), Some("auditor")).await;
    let (opd_b_nip, _) = staff(&app, "Bayu Saputra", Some(&b), Some("opd-admin")).await;
    let (_, siti) = staff(&app, "Siti Rahmawati", Some(&a), None).await;
    let (sup, aud, opd_b) = (
        console_token(&app, &sup_nip).await,
        console_token(&app, &aud_nip).await,
        console_token(&app, &opd_b_nip).await,
    );
    let bind = format!("/admin/api/v1/accounts/{siti}/certificates");

    // Unusable certificates are refused with the reason.
    for (name, says) in
        [("expired.pem", "expired"), ("encryption-only.pem", "not for signing"), ("ca.pem", "authority")]
    {
        let (s, v) = call(&app, &sup, "POST", &bind, Some(json!({ "certificate": fixture(name) }))).await;
        assert_eq!(s, 422, "{name}: {v}");
        assert!(v["detail"].as_str().unwrap().contains(says), "{name}: {v}");
    }
    let (s, _) = call(
        &app,
        &sup,
        "POST",
        &bind,
        Some(json!({ "certificate": "-----BEGIN CERTIFICATE-----\nrusak\n-----END CERTIFICATE-----" })),
    )
    .await;
    assert_eq!(s, 422);
    // Outside one's powers: another OPD's admin, the read-only auditor, a developer, anyone else.
    let (dev_nip, _) = staff(&app, "Andri Wijaya", Some(&a), Some("opd-developer")).await;
    let (plain_nip, _) = staff(&app, "Budi Santoso", Some(&a), None).await;
    let (dev, plain) = (console_token(&app, &dev_nip).await, console_token(&app, &plain_nip).await);
    for t in [&opd_b, &aud, &dev, &plain] {
        assert_eq!(call(&app, t, "POST", &bind, Some(json!({ "certificate": fixture("siti.pem") }))).await.0, 403);
    }
    for t in [&dev, &plain] {
        assert_eq!(call(&app, t, "GET", "/admin/api/v1/certificates", None).await.0, 403);
    }

    let (s, v) = call(&app, &sup, "POST", &bind, Some(json!({ "certificate": fixture("siti.pem") }))).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!((v["standing"].as_str(), v["account_id"].as_str()), (Some("valid"), Some(siti.as_str())));
    assert!(v["subject"].as_str().unwrap().contains("Siti Rahmawati"));
    let cert_id = v["id"].as_str().unwrap().to_string();
    let (s, _) = call(&app, &sup, "POST", &bind, Some(json!({ "certificate": fixture("siti.pem") }))).await;
    assert_eq!(s, 409, "one certificate, one account");

    // Monitoring: a valid certificate needs no attention; all of them lists it.
    let ids =
        |v: &Value| v.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(
        !ids(&call(&app, &aud, "GET", "/admin/api/v1/certificates?attention=true", None).await.1).contains(&cert_id)
    );
    assert!(
        ids(&call(&app, &aud, "GET", "/admin/api/v1/certificates", None).await.1).contains(&cert_id),
        "auditors monitor"
    );
    assert!(
        ids(&call(&app, &opd_b, "GET", "/admin/api/v1/certificates", None).await.1).is_empty(),
        "another OPD's staff are not listed"
    );

    let revoke = format!("/admin/api/v1/certificates/{cert_id}/revocation");
    assert_eq!(call(&app, &sup, "POST", &revoke, Some(json!({ "reason": " " }))).await.0, 422);
    for t in [&opd_b, &aud, &dev, &plain] {
        assert_eq!(call(&app, t, "POST", &revoke, Some(json!({ "reason": "hilang" }))).await.0, 403);
    }
    // The OPD admin of Siti's own unit may record it too; here Diskominfo does.
    let (opd_a_nip, _) = staff(&app, "Lina Marlina", Some(&a), Some("opd-admin")).await;
    let opd_a = console_token(&app, &opd_a_nip).await;
    assert_eq!(call(&app, &opd_a, "GET", &format!("/admin/api/v1/accounts/{siti}/certificates"), None).await.0, 200);
    let (s, v) = call(&app, &sup, "POST", &revoke, Some(json!({ "reason": "Dicabut BSrE: kunci hilang" }))).await;
    assert_eq!(
        (s, v["standing"].as_str(), v["revocation_reason"].as_str()),
        (200, Some("revoked"), Some("Dicabut BSrE: kunci hilang"))
    );
    assert_eq!(call(&app, &sup, "POST", &revoke, Some(json!({ "reason": "lagi" }))).await.0, 409);
    assert!(
        ids(&call(&app, &aud, "GET", "/admin/api/v1/certificates?attention=true", None).await.1).contains(&cert_id),
        "revoked needs attention"
    );
    let (s, v) = call(&app, &sup, "GET", &format!("/admin/api/v1/accounts/{siti}/certificates"), None).await;
    assert_eq!((s, ids(&v)), (200, vec![cert_id.clone()]));

    let (_, trail) =
        call(&app, &aud, "GET", &format!("/admin/api/v1/audit?kind=certificate.&account={siti}"), None).await;
    let kinds: Vec<&str> = trail.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["certificate.revoked", "certificate.bound"]);
    assert_eq!(trail[1]["detail"]["name_matches"], true);
}

#[tokio::test]
async fn binding_needs_trust_anchors_and_only_their_certificates_bind() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn().await;
    let a = unit(&app).await;
    let (sup_nip, _) = staff(&app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (_, agus) = staff(&app, "Agus Prasetyo", Some(&a), None).await;
    let sup = console_token(&app, &sup_nip).await;
    let bind = format!("/admin/api/v1/accounts/{agus}/certificates");
    assert_eq!(call(&app, &sup, "POST", &bind, Some(json!({ "certificate": fixture("agus.pem") }))).await.0, 201);

    // No anchors configured (the default): nothing binds, whatever it is.
    let open = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let a = unit(&open).await;
    let (sup_nip, _) = staff(&open, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (_, siti) = staff(&open, "Siti Rahmawati", Some(&a), None).await;
    let sup = console_token(&open, &sup_nip).await;
    let (s, v) = call(
        &open,
        &sup,
        "POST",
        &format!("/admin/api/v1/accounts/{siti}/certificates"),
        Some(json!({ "certificate": fixture("siti.pem") })),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("no trust anchors (certificate_issuers)"), "{v}");

    // A CA with the fixture CA's name and another key: the signature does not verify.
    let other = dir.path().join("impostor.pem");
    std::fs::write(&other, fixture("impostor-ca.pem")).unwrap();
    let strict = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_CERTIFICATE_ISSUERS", other.to_str().unwrap()),
    ])
    .await;
    let a = unit(&strict).await;
    let (sup_nip, _) = staff(&strict, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (_, agus) = staff(&strict, "Agus Prasetyo", Some(&a), None).await;
    let sup = console_token(&strict, &sup_nip).await;
    let (s, v) = call(
        &strict,
        &sup,
        "POST",
        &format!("/admin/api/v1/accounts/{agus}/certificates"),
        Some(json!({ "certificate": fixture("agus.pem") })),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("not issued by a trusted certificate authority"), "{v}");
}

#[tokio::test]
async fn the_console_binds_after_showing_what_the_certificate_says_and_lists_it() {
    let app = spawn().await;
    let a = unit(&app).await;
    let (sup_nip, _) = staff(&app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (_, siti) = staff(&app, "Siti Rahmawati", Some(&a), None).await;
    let b = browser();
    let res = b.get(app.url("/console/login?next=/console")).send().await.unwrap();
    let cb = login(&app, &b, &location(&res), &sup_nip, PASSWORD).await;
    assert_eq!(b.get(&cb).send().await.unwrap().status(), 303);
    let page = b.get(app.url(&format!("/console/accounts/{siti}"))).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    let path = format!("/console/accounts/{siti}/certificates");

    // A broken certificate comes back with a translated reason and the text kept for correction.
    let res = b
        .post(app.url(&path))
        .form(&[("csrf", csrf.as_str()), ("certificate", "bukan sertifikat"), ("confirmed", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("bukan sertifikat X.509") && html.contains(">bukan sertifikat</textarea>"));

    let pem = fixture("siti.pem");
    let res =
        b.post(app.url(&path)).form(&[("csrf", csrf.as_str()), ("certificate", pem.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let confirm = res.text().await.unwrap();
    assert!(
        confirm.contains("BSRE CA DS G1 UJI") && confirm.contains("2035-06-01"),
        "the confirmation shows issuer and validity"
    );
    assert!(
        gerbang::store::certs::of_account(&app.state.db, &siti).await.unwrap().is_empty(),
        "nothing bound before confirming"
    );
    let res = b
        .post(app.url(&path))
        .form(&[("csrf", csrf.as_str()), ("certificate", pem.as_str()), ("confirmed", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(gerbang::store::certs::of_account(&app.state.db, &siti).await.unwrap().len(), 1);

    let list = b.get(app.url("/console/certificates?all=1")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("Siti Rahmawati") && list.contains("badge--cert-valid"));
    let attention = b.get(app.url("/console/certificates")).send().await.unwrap().text().await.unwrap();
    assert!(attention.contains("id=\"no-certs\""), "a certificate valid until 2035 needs no attention");
}

#[tokio::test]
async fn the_console_refuses_another_opds_admin_before_showing_a_certificate_to_revoke() {
    let app = spawn().await;
    let (a, b) = (unit(&app).await, unit(&app).await);
    let (sup_nip, _) = staff(&app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (other_nip, _) = staff(&app, "Dewi Lestari", Some(&b), Some("opd-admin")).await;
    let (_, siti) = staff(&app, "Siti Rahmawati", Some(&a), None).await;
    let sup = console_token(&app, &sup_nip).await;
    let bind = format!("/admin/api/v1/accounts/{siti}/certificates");
    let (s, v) = call(&app, &sup, "POST", &bind, Some(json!({ "certificate": fixture("siti.pem") }))).await;
    assert_eq!(s, 201, "{v}");
    let cert_id = v["id"].as_str().unwrap().to_string();

    let br = browser();
    let res = br.get(app.url("/console/login?next=/console")).send().await.unwrap();
    let cb = login(&app, &br, &location(&res), &other_nip, PASSWORD).await;
    assert_eq!(br.get(&cb).send().await.unwrap().status(), 303);
    let page = br.get(app.url("/console/opd")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    let res = br
        .post(app.url(&format!("/console/certificates/{cert_id}/revoke")))
        .form(&[("csrf", csrf.as_str()), ("reason", "kunci hilang")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "refused at the confirmation step, not after it");
    let html = res.text().await.unwrap();
    assert!(!html.contains("Siti Rahmawati"), "the certificate's subject is not shown to another OPD's admin");
    let row = gerbang::store::certs::get(&app.state.db, &cert_id).await.unwrap().expect("still bound");
    assert!(row.revoked_at.is_none());
}

#[test]
fn the_test_pki_makes_chains_crls_and_keys() {
    use crate::pki::{Ca, PersonOpts, DAY};
    let root = Ca::root("Root CA Uji");
    let ca = root.intermediate("BSRE CA Uji");
    let siti =
        ca.person(PersonOpts::new("Siti Rahmawati").email("siti@jemberkab.go.id").ocsp("http://127.0.0.1:1/ocsp"));
    assert!(siti.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(siti.key_pem.contains("PRIVATE KEY"));
    let crl = ca.crl(&[&siti], crate::pki::unix_now(), crate::pki::unix_now() + DAY);
    assert_eq!(crl[0], 0x30);
    let (_, cert) = x509_parser::parse_x509_certificate(&siti.cert_der).unwrap();
    assert_eq!(
        cert.issuer().to_string(),
        x509_parser::parse_x509_certificate(&ca.cert_der).unwrap().1.subject().to_string()
    );
    assert_eq!(cert.raw_serial_as_string().replace(':', ""), siti.serial_hex);
}
