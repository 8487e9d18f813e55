//! The monitoring list: OPD filter in the query, states, pages, powers, the console's filter bar
//! and the signers' CSV.

use super::*;

#[tokio::test]
async fn certs_monitor_opd_filter_is_in_the_query_not_after_the_limit() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let now = app.state.now();
    let (a, b) = (unit(&app, None).await, unit(&app, None).await);
    let a1 = unit(&app, Some(&a)).await;
    let (sup_nip, _) = staff(&app, "Rina Wulandari", Some(&b), Some("diskominfo-admin")).await;
    let (opd_a_nip, _) = staff(&app, "Lina Marlina", Some(&a), Some("opd-admin")).await;
    let (opd_a1_nip, _) = staff(&app, "Yoga Pratama", Some(&a1), Some("opd-admin")).await;
    // Five of another OPD's certificates end first, then the OPD's own two (one in a sub-unit).
    let mut others = Vec::new();
    for i in 0..5 {
        let (_, holder) = staff(&app, &format!("Pegawai B {i}"), Some(&b), None).await;
        others.push(bind_row(&app.state.db, &holder, now, 1 + i, |_| {}).await);
    }
    let (_, siti) = staff(&app, "Siti Rahmawati", Some(&a), None).await;
    let (_, agus) = staff(&app, "Agus Prasetyo", Some(&a1), None).await;
    let own = vec![
        bind_row(&app.state.db, &siti, now, 10, |_| {}).await,
        bind_row(&app.state.db, &agus, now, 11, |_| {}).await,
    ];
    let (sup, opd_a, opd_a1) = (
        console_token(&app, &sup_nip).await,
        console_token(&app, &opd_a_nip).await,
        console_token(&app, &opd_a1_nip).await,
    );

    let (s, v) = get_json(&app, &opd_a, "/admin/api/v1/certificates?state=expiring&limit=2").await;
    assert_eq!((s, ids(&v)), (200, own.clone()), "an OPD admin's page holds their own staff's rows");
    let (s, v) = get_json(&app, &sup, &format!("/admin/api/v1/certificates?state=expiring&opd={a}&limit=2")).await;
    assert_eq!((s, ids(&v)), (200, own.clone()), "the unit and the units below it");
    let (s, v) = get_json(&app, &opd_a1, "/admin/api/v1/certificates?limit=2").await;
    assert_eq!((s, ids(&v)), (200, vec![own[1].clone()]), "a sub-unit's admin sees only the sub-unit");
    let (s, v) = get_json(&app, &sup, "/admin/api/v1/certificates?state=expiring&limit=2").await;
    assert_eq!((s, ids(&v)), (200, others[..2].to_vec()), "region-wide: soonest end first");
    let (s, v) = get_json(&app, &sup, &format!("/admin/api/v1/certificates?opd={b}&limit=2&offset=2")).await;
    assert_eq!((s, ids(&v)), (200, others[2..4].to_vec()), "the next page");
    let (s, v) = get_json(&app, &sup, "/admin/api/v1/certificates?limit=1000").await;
    assert_eq!((s, ids(&v).len()), (200, 7));

    // Outside one's units, an unknown unit, an unknown state.
    assert_eq!(get_json(&app, &opd_a, &format!("/admin/api/v1/certificates?opd={b}")).await.0, 403);
    assert_eq!(get_json(&app, &opd_a1, &format!("/admin/api/v1/certificates?opd={a}")).await.0, 403);
    assert_eq!(get_json(&app, &sup, "/admin/api/v1/certificates?opd=no-such-unit").await.0, 404);
    let (s, v) = get_json(&app, &sup, "/admin/api/v1/certificates?state=soon").await;
    assert_eq!(s, 422, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("attention"), "{v}");
    assert_eq!(get_json(&app, &sup, "/admin/api/v1/certificates?limit=x").await.0, 400);
}

#[tokio::test]
async fn certs_monitor_states_follow_dates_revocations_checks_and_the_warn_setting() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1"), ("GERBANG_CERTIFICATE_WARN_DAYS", "10")]).await;
    let now = app.state.now();
    let a = unit(&app, None).await;
    let (aud_nip, _) = staff(&app, "Dewi Anggraini", Some(&a), Some("auditor")).await;
    let aud = console_token(&app, &aud_nip).await;
    let db = &app.state.db;
    let holder = |name: &'static str| {
        let (app, a) = (&app, a.clone());
        async move { staff(app, name, Some(&a), None).await.1 }
    };
    let signer = bind_row(db, &holder("Valid Lama").await, now, 20, |_| {}).await;
    let expiring = bind_row(db, &holder("Segera Habis").await, now, 5, |_| {}).await;
    let expired = bind_row(db, &holder("Sudah Habis").await, now, -1, |_| {}).await;
    let revoked = bind_row(db, &holder("Dicabut Admin").await, now, 50, |r| {
        r.status = "revoked".into();
        r.revoked_at = Some(now - 60);
        r.revocation_reason = "kunci hilang".into();
    })
    .await;
    let crl_revoked = bind_row(db, &holder("Dicabut Bsre").await, now, 60, |r| r.check_status = "revoked".into()).await;
    let failing = bind_row(db, &holder("Gagal Cek").await, now, 70, |r| r.check_status = "failed".into()).await;
    let pending = bind_row(db, &holder("Menunggu Bukti").await, now, 80, |r| {
        r.pending = "proof".into();
        r.possession = "none".into();
    })
    .await;
    let list = |state: &'static str| in_state(&app, &aud, state);
    assert_eq!(list("expiring").await, vec![expiring.clone()], "20 days is outside a 10-day window");
    assert_eq!(list("expired").await, vec![expired.clone()]);
    assert_eq!(list("revoked").await, vec![revoked.clone(), crl_revoked.clone()]);
    assert_eq!(list("failing").await, vec![failing.clone()]);
    assert_eq!(list("pending").await, vec![pending.clone()]);
    assert_eq!(list("signers").await, vec![expiring.clone(), signer.clone(), failing.clone()]);
    assert_eq!(
        list("attention").await,
        vec![expired.clone(), expiring.clone(), revoked.clone(), crl_revoked.clone(), failing.clone()]
    );
    assert_eq!(list("all").await.len(), 7);
    let (_, v) = get_json(&app, &aud, "/admin/api/v1/certificates?attention=true").await;
    assert_eq!(ids(&v).len(), 5, "the older parameter still means attention");

    // Time moves: the 20-day certificate enters the window, the 5-day one expires.
    app.advance(12 * DAY);
    let aud = console_token(&app, &aud_nip).await;
    assert_eq!(in_state(&app, &aud, "expiring").await, vec![signer.clone()]);
    assert_eq!(in_state(&app, &aud, "expired").await, vec![expired.clone(), expiring.clone()]);
}

async fn in_state(app: &TestApp, token: &str, state: &str) -> Vec<String> {
    let (s, v) = get_json(app, token, &format!("/admin/api/v1/certificates?state={state}")).await;
    assert_eq!(s, 200, "{state}: {v}");
    ids(&v)
}

#[tokio::test]
async fn certs_monitor_console_filters_pages_and_downloads_signers() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let now = app.state.now();
    let (a, b) = (unit(&app, None).await, unit(&app, None).await);
    let (sup_nip, _) = staff(&app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (_, siti) = staff(&app, "Siti Rahmawati", Some(&a), None).await;
    let (_, bayu) = staff(&app, "Bayu Saputra", Some(&b), None).await;
    bind_row(&app.state.db, &siti, now, 5, |r| r.check_status = "failed".into()).await;
    for _ in 0..51 {
        bind_row(&app.state.db, &bayu, now, 400, |_| {}).await;
    }
    let br = browser();
    let res = br.get(app.url("/console/login?next=/console")).send().await.unwrap();
    let cb = login(&app, &br, &location(&res), &sup_nip, PASSWORD).await;
    assert_eq!(br.get(&cb).send().await.unwrap().status(), 303);

    let html = page(&br, app.url("/console/certificates")).await;
    assert!(html.contains("Siti Rahmawati") && !html.contains("Bayu Saputra"), "attention by default");
    assert!(html.contains("<option value=\"attention\" selected>"), "the filter bar shows the state");
    let html = page(&br, app.url(&format!("/console/certificates?state=failing&opd={b}"))).await;
    assert!(html.contains("id=\"no-certs\""), "no failing certificate in unit B");
    assert!(html.contains(&format!("href=\"/console/certificates/signers.csv?opd={b}\"")));
    let html = page(&br, app.url("/console/certificates?state=signers")).await;
    assert!(html.contains("id=\"next-page\"") && !html.contains("id=\"prev-page\""), "52 signers: two pages");
    assert_eq!(html.matches("Bayu Saputra").count(), 49, "50 rows, the failing one soonest");
    let html = page(&br, app.url("/console/certificates?state=signers&offset=50")).await;
    assert!(html.contains("id=\"prev-page\"") && !html.contains("id=\"next-page\""));
    assert_eq!(html.matches("Bayu Saputra").count(), 2);
    let res = br.get(app.url("/console/certificates?state=nope")).send().await.unwrap();
    assert_eq!(res.status(), 422);

    let res = br.get(app.url(&format!("/console/certificates/signers.csv?opd={a}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().contains("Siti Rahmawati"));
}

#[tokio::test]
async fn certs_monitor_signers_csv_per_opd_with_powers_and_no_formulas() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let now = app.state.now();
    let (a, b) = (unit(&app, None).await, unit(&app, None).await);
    let a1 = unit(&app, Some(&a)).await;
    let (sup_nip, _) = staff(&app, "Rina Wulandari", Some(&b), Some("diskominfo-admin")).await;
    let (aud_nip, _) = staff(&app, "Dewi Anggraini", Some(&b), Some("auditor")).await;
    let (opd_a_nip, _) = staff(&app, "Lina Marlina", Some(&a), Some("opd-admin")).await;
    let (opd_b_nip, _) = staff(&app, "Bayu Saputra", Some(&b), Some("opd-admin")).await;
    let (plain_nip, _) = staff(&app, "Budi Santoso", Some(&a), None).await;
    let (siti_nip, siti) = staff(&app, "Siti Rahmawati", Some(&a1), None).await;
    let (_, agus) = staff(&app, "Agus Prasetyo", Some(&b), None).await;
    let ca = crate::pki::Ca::root("Root CA Uji").intermediate("BSRE CA DS G1 UJI");
    let person = ca.person(crate::pki::PersonOpts::new("Siti Rahmawati"));
    bind_row(&app.state.db, &siti, now, 400, |r| {
        r.subject = "=HYPERLINK(\"http://x\",\"klik\")".into();
        r.serial = person.serial_hex.clone();
        r.pem = person.cert_pem.clone();
    })
    .await;
    // Not signers: pending, revoked by a check, expired.
    bind_row(&app.state.db, &siti, now, 400, |r| {
        r.pending = "approval".into();
        r.subject = "CN=Menunggu".into();
    })
    .await;
    bind_row(&app.state.db, &siti, now, 400, |r| {
        r.check_status = "revoked".into();
        r.subject = "CN=Dicabut".into();
    })
    .await;
    bind_row(&app.state.db, &siti, now, -3, |r| r.subject = "CN=Habis".into()).await;
    bind_row(&app.state.db, &agus, now, 100, |r| r.subject = "CN=Agus Prasetyo".into()).await;
    let tok = |nip: String| {
        let app = &app;
        async move { console_token(app, &nip).await }
    };
    let (sup, aud, opd_a, opd_b, plain) =
        (tok(sup_nip).await, tok(aud_nip).await, tok(opd_a_nip).await, tok(opd_b_nip).await, tok(plain_nip).await);

    let csv = |token: String, q: String| {
        let app = &app;
        async move {
            let res = http_client()
                .get(app.url(&format!("/admin/api/v1/certificates/signers.csv{q}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            (status, ct, res.text().await.unwrap())
        }
    };
    let (s, ct, body) = csv(sup.clone(), format!("?opd={a}")).await;
    assert_eq!((s, ct.as_str()), (200, "text/csv; charset=utf-8"), "{body}");
    let mut rows = csv::ReaderBuilder::new().from_reader(body.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        ["opd", "nip_or_nik", "name", "subject", "serial", "issuer", "not_after", "check_status", "checked_at"]
    );
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1, "{body}");
    let r = &records[0];
    assert!(r[0].contains("Dinas"), "{body}");
    assert_eq!((&r[1], &r[2]), (siti_nip.as_str(), "Siti Rahmawati"));
    assert_eq!(&r[3], "'=HYPERLINK(\"http://x\",\"klik\")", "a formula is neutralised");
    assert_eq!(&r[4], person.serial_hex.as_str());
    let date = chrono::DateTime::from_timestamp(now + 400 * DAY, 0).unwrap().format("%Y-%m-%d").to_string();
    assert_eq!((&r[6], &r[7]), (date.as_str(), "good"));
    assert!(r[8].ends_with('Z'));

    // Powers: the OPD admin gets their own units' by default, others refused.
    let (s, _, body) = csv(opd_a.clone(), String::new()).await;
    assert_eq!((s, body.lines().count()), (200, 2));
    assert_eq!(csv(opd_a, format!("?opd={b}")).await.0, 403);
    let (s, _, body) = csv(opd_b, String::new()).await;
    assert!(s == 200 && body.contains("Agus Prasetyo") && !body.contains("Siti"), "{body}");
    let (s, _, body) = csv(aud, String::new()).await;
    assert_eq!((s, body.lines().count()), (200, 3), "auditors: the whole region");
    assert_eq!(csv(plain, String::new()).await.0, 403);

    let doc: Value = http_client().get(app.url("/admin/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let list = &doc["paths"]["/admin/api/v1/certificates"]["get"]["parameters"];
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(["state", "opd", "limit", "offset"].iter().all(|n| names.contains(n)), "{names:?}");
    assert!(doc["paths"]["/admin/api/v1/certificates/signers.csv"]["get"].is_object(), "documented");

    let (_, trail) = get_json(&app, &sup, "/admin/api/v1/audit?kind=certificate.signers_exported").await;
    assert!(trail.as_array().unwrap().len() >= 4, "each export is audited: {trail}");
}
