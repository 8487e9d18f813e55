//! Counter verification of citizens (console, admin API, CLI; never through the generic profile
//! edit) and applications that admit only verified citizens.

use gerbang::identity::accounts;
use gerbang::state::now;
use serde_json::json;

use crate::common::*;
use crate::mailbox::unique_address;
use crate::register::{citizen_app, citizen_claims, register_and_confirm, register_app_with};

const COUNTER: &str = "datang ke Loket 7 Mal Pelayanan Publik Jember dengan KTP-el.";

async fn console_login(app: &TestApp, b: &reqwest::Client, nip: &str) {
    let res = b.get(app.url("/console/accounts")).send().await.unwrap();
    let res = b.get(app.url(&location(&res))).send().await.unwrap();
    let callback = login(app, b, &location(&res), nip, PASSWORD).await;
    assert_eq!(b.get(&callback).send().await.unwrap().status(), 303);
}

#[tokio::test]
async fn an_unverified_citizen_is_refused_until_an_officer_verifies_them() {
    let app =
        register_app_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1"), ("GERBANG_VERIFICATION_COUNTER_INFO", COUNTER)]).await;
    let nik = unique_nik();
    let id = register_and_confirm(&app, &nik, &unique_address()).await;
    let strict = citizen_app(&app, true).await;

    // Refused with the page saying where to get verified.
    let err = citizen_claims(&app, &strict, &nik).await.expect_err("refused");
    assert!(err.starts_with("403 "), "{err}");
    assert!(err.contains("Aplikasi ini hanya menerima warga yang identitasnya sudah diverifikasi"), "{err}");
    assert!(err.contains("Loket 7 Mal Pelayanan Publik Jember"), "{err}");
    // A civil servant is unaffected.
    let (asn_nip, _) = staff(&app, "Pegawai Biasa", None, None).await;
    let rp = app.rp(&strict).await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &asn_nip, PASSWORD).await;
    assert!(query(&cb).contains_key("code"), "{cb}");

    // prompt=none with a live session: access_denied to the application.
    let b = browser();
    let start = start_auth(&rp, &["profile"]);
    let res = b.get(&start.url).send().await.unwrap();
    let html = res.text().await.unwrap();
    let res = b
        .post(app.url("/login"))
        .form(&[
            ("login_id", hidden(&html, "login_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", nik.clone()),
            ("password", "lembayung-senja-2026".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let start = start_auth(&rp, &["profile"]);
    let res = b.get(format!("{}&prompt=none", start.url)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let q = query(&location(&res));
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"), "{q:?}");

    // The generic profile edit cannot set `verified`.
    let op = gerbang::ops::Principal::Operator(gerbang::ops::Operator::new("uji").unwrap());
    let change = gerbang::ops::accounts::AccountChange {
        profile: vec![("verified".into(), "true".into())],
        ..Default::default()
    };
    let aid = gerbang::ids::AccountId::parse(&id).unwrap();
    let e = gerbang::ops::accounts::update_account(&app.state, &op, &aid, change, now()).await.unwrap_err();
    assert!(matches!(&e, gerbang::ops::AdminError::Invalid(d) if d.contains("identity verification")), "{e:?}");

    // The officer verifies at the console, through the confirmation step.
    let (officer, officer_id) = staff(&app, "Petugas Loket", None, Some("diskominfo-admin")).await;
    let b = browser();
    console_login(&app, &b, &officer).await;
    let page = b.get(app.url(&format!("/console/accounts/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Belum diverifikasi") && page.contains("identity-verification"), "{page}");
    let csrf = hidden(&page, "csrf");
    let path = app.url(&format!("/console/accounts/{id}/identity-verification"));
    let form = [("csrf", csrf.as_str()), ("document", "KTP-el"), ("note", "loket 7")];
    let res = b.post(&path).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("berdasarkan dokumen KTP-el"));
    assert!(!accounts::get(&app.state.db, &id).await.unwrap().unwrap().identity_verified(), "not before confirming");
    let res = b
        .post(&path)
        .form(&[("csrf", csrf.as_str()), ("document", "KTP-el"), ("note", "loket 7"), ("confirmed", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/console/accounts/{id}?done=identity_verified"));
    let page = b.get(app.url(&location(&res))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Terverifikasi di loket") && !page.contains("id=\"identity-verification\""));
    let audit = gerbang::audit::list(&app.state.db, 50, Some(&id)).await.unwrap();
    let rec = audit.iter().find(|r| r.kind == "account.identity_verified").expect("audited");
    assert_eq!(rec.actor, officer_id);
    assert!(rec.detail.contains("KTP-el"), "{}", rec.detail);

    // Now admitted, and the claim says so.
    let claims = citizen_claims(&app, &strict, &nik).await.expect("admitted");
    assert_eq!(claims["verified"], true);
}

#[tokio::test]
async fn the_admin_api_verifies_once_never_oneself_and_applications_carry_the_setting() {
    let app = register_app_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (officer, officer_id) = staff(&app, "Petugas Loket", None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &officer).await;
    let nik = unique_nik();
    let id = register_and_confirm(&app, &nik, &unique_address()).await;
    let http = http_client();
    let verify = |who: String, body: serde_json::Value| {
        let (http, token, url) =
            (http.clone(), token.clone(), app.url(&format!("/admin/api/v1/accounts/{who}/identity-verification")));
        async move { http.post(url).bearer_auth(token).json(&body).send().await.unwrap() }
    };
    let res = verify(id.clone(), json!({ "document": "  " })).await;
    assert_eq!(res.status(), 422);
    let res = verify(officer_id.clone(), json!({ "document": "KTP-el" })).await;
    assert_eq!(res.status(), 403, "never oneself");
    let (_, asn_id) = staff(&app, "Pegawai", None, None).await;
    assert_eq!(verify(asn_id, json!({ "document": "KTP-el" })).await.status(), 422, "citizens only");
    let res = verify(id.clone(), json!({ "document": "KTP-el", "note": "loket 2" })).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["verified"], true);
    assert_eq!(body["nik"], nik.as_str());
    assert_eq!(verify(id.clone(), json!({ "document": "KTP-el" })).await.status(), 409);
    let got: serde_json::Value = http
        .get(app.url(&format!("/admin/api/v1/accounts/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["verified"], true);

    // Applications: create with the requirement, edit it off again; both audited as settings.
    let res = http
        .post(app.url("/admin/api/v1/applications"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Layanan Perizinan", "redirect_uris": ["https://izin.example.go.id/cb"], "scopes": ["openid", "profile"], "category": "umum", "min_level": 1, "public": false, "require_verified": true }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let created: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    let cid = created["client_id"].as_str().or(created["application"]["client_id"].as_str()).unwrap().to_string();
    let got: serde_json::Value = http
        .get(app.url(&format!("/admin/api/v1/applications/{cid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["require_verified"], true, "{got}");
    let res = http
        .patch(app.url(&format!("/admin/api/v1/applications/{cid}")))
        .bearer_auth(&token)
        .json(&json!({ "require_verified": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got: serde_json::Value = res.json().await.unwrap();
    assert_eq!(got["require_verified"], false, "{got}");
    let openapi = http.get(app.url("/admin/api/openapi.json")).send().await.unwrap().text().await.unwrap();
    assert!(
        openapi.contains("/admin/api/v1/accounts/{id}/identity-verification") && openapi.contains("require_verified")
    );
}

#[test]
fn the_cli_verifies_identity_and_refuses_the_generic_edit() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Gerbang::new(args)
            .env("GERBANG_DATABASE_URL", format!("sqlite://{}/cli.db", dir.path().display()))
            .env("GERBANG_DATA_DIR", dir.path())
            .env("GERBANG_REDIRECT_DOMAINS", "*.example.go.id")
            .run();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or(json!(null));
        (out.code, v)
    };
    let nik = unique_nik();
    assert_eq!(run(&["account", "create", "--nik", &nik, "--name", "Warga", "--json"]).0, 0);
    let (code, v) = run(&["account", "update", &nik, "--set", "verified=true", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(v["error"], "invalid");
    assert!(v["message"].as_str().unwrap().contains("verify-identity"), "{v}");
    let (code, v) = run(&["account", "verify-identity", &nik, "--document", "KTP-el", "--note", "loket 1", "--json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["account"]["profile"]["verified"], true);
    let (code, v) = run(&["account", "verify-identity", &nik, "--document", "KTP-el", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(v["error"], "conflict", "{v}");
    let (code, v) = run(&[
        "client",
        "create",
        "--name",
        "Perizinan",
        "--redirect-uri",
        "https://izin.example.go.id/cb",
        "--require-verified",
        "--json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["require_verified"], true);
}

#[tokio::test]
async fn the_console_sets_the_requirement_through_the_confirmation_step() {
    let app = register_app_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (officer, _) = staff(&app, "Admin Aplikasi", None, Some("diskominfo-admin")).await;
    let c = citizen_app(&app, false).await;
    let b = browser();
    console_login(&app, &b, &officer).await;
    let page = b.get(app.url(&format!("/console/applications/{}", c.id))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"app-require-verified\">Tidak"), "{page}");
    let csrf = hidden(&page, "csrf");
    let path = app.url(&format!("/console/applications/{}/edit", c.id));
    let mut form = vec![
        ("csrf", csrf.clone()),
        ("name", "Aplikasi Uji".to_string()),
        ("redirect_uris", c.redirect_uri.clone()),
        ("post_logout_redirect_uris", c.post_logout_uri.clone()),
        ("scopes", "openid profile nik citizen_profile".to_string()),
        ("min_level", "1".to_string()),
        ("category", "umum".to_string()),
        ("owner_opd_id", String::new()),
        ("require_verified_shown", "1".to_string()),
        ("require_verified", "1".to_string()),
    ];
    let res = b.post(&path).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Hanya warga terverifikasi"));
    assert!(
        !app.state.clients.get(&app.state.db, &c.id).await.unwrap().unwrap().require_verified,
        "not before confirming"
    );
    form.push(("confirmed", "1".to_string()));
    let res = b.post(&path).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let page = b.get(app.url(&location(&res))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"app-require-verified\">Ya"), "{page}");
    assert!(app.state.clients.get(&app.state.db, &c.id).await.unwrap().unwrap().require_verified);
    // Unticking sends no box, only the marker: the requirement goes off again.
    let form: Vec<_> = form.into_iter().filter(|(k, _)| *k != "require_verified").collect();
    assert_eq!(b.post(&path).form(&form).send().await.unwrap().status(), 303);
    assert!(!app.state.clients.get(&app.state.db, &c.id).await.unwrap().unwrap().require_verified);
}

#[tokio::test]
async fn twenty_officers_verifying_one_citizen_at_once_verify_once() {
    let app = register_app_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (officer, _) = staff(&app, "Petugas Loket", None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &officer).await;
    let id = register_and_confirm(&app, &unique_nik(), &unique_address()).await;
    let url = app.url(&format!("/admin/api/v1/accounts/{id}/identity-verification"));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (http, url, token) = (http_client(), url.clone(), token.clone());
            tokio::spawn(async move {
                let body = json!({ "document": "KTP-el", "note": format!("loket {i}") });
                http.post(url).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    let mut expected = vec![200];
    expected.extend([409; 19]);
    assert_eq!(statuses, expected);
    let audit = gerbang::audit::list(&app.state.db, 100, Some(&id)).await.unwrap();
    assert_eq!(audit.iter().filter(|r| r.kind == "account.identity_verified").count(), 1);
    assert!(accounts::get(&app.state.db, &id).await.unwrap().unwrap().identity_verified());
}

#[tokio::test]
async fn a_counter_officer_verifies_citizens_found_by_nik_and_can_do_nothing_else() {
    let app = register_app_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (officer, officer_id) = staff(&app, "Petugas Disdukcapil", None, Some("identity-officer")).await;
    let nik = unique_nik();
    let id = register_and_confirm(&app, &nik, &unique_address()).await;
    let (_, asn_id) = staff(&app, "Pegawai", None, None).await;

    // The admin API: the verification of a citizen, nothing about anyone else.
    let token = console_token(&app, &officer).await;
    let http = http_client();
    let call = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let (http, token, url) = (http.clone(), token.clone(), app.url(&path));
        async move {
            let req = http.request(method, url).bearer_auth(token);
            let req = match body {
                Some(b) => req.json(&b),
                None => req,
            };
            req.send().await.unwrap().status().as_u16()
        }
    };
    let post = reqwest::Method::POST;
    let verify = |who: &str| format!("/admin/api/v1/accounts/{who}/identity-verification");
    let doc = || Some(json!({ "document": "KTP-el" }));
    assert_eq!(call(reqwest::Method::GET, "/admin/api/v1/accounts?q=a".into(), None).await, 403, "no browsing");
    assert_eq!(call(reqwest::Method::GET, format!("/admin/api/v1/accounts/{id}"), None).await, 403);
    let patch = Some(json!({ "name": "Nama Lain" }));
    assert_eq!(call(reqwest::Method::PATCH, format!("/admin/api/v1/accounts/{id}"), patch).await, 403);
    assert_eq!(call(post.clone(), format!("/admin/api/v1/accounts/{id}/password-reset"), None).await, 403);
    assert_eq!(call(reqwest::Method::GET, "/admin/api/v1/audit".into(), None).await, 403);
    assert_eq!(call(post.clone(), verify(&asn_id), doc()).await, 403, "civil servants are out of reach");
    let missing = uuid::Uuid::new_v4().to_string();
    assert_eq!(call(post.clone(), verify(&missing), doc()).await, 403, "and so is whether an id exists");
    assert_eq!(call(post.clone(), verify(&officer_id), doc()).await, 403);

    // The console: the verification page only; a NIK finds the citizen, then confirm and record.
    let b = browser();
    console_login(&app, &b, &officer).await;
    assert_eq!(b.get(app.url("/console/accounts")).send().await.unwrap().status(), 403);
    let page = b.get(app.url("/console")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("href=\"/console/verification\"") && !page.contains("href=\"/console/accounts\""));
    let res = b.get(app.url("/console/verification?nik=1234")).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("NIK terdiri atas 16 angka"));
    let res = b.get(app.url(&format!("/console/verification?nik={}", unique_nik()))).send().await.unwrap();
    assert_eq!(res.status(), 404, "no account with that NIK");
    let spaced = format!("{} {} {}", &nik[..6], &nik[6..12], &nik[12..]);
    let res = b.get(app.url(&format!("/console/verification?nik={spaced}"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"citizen-unverified\"") && html.contains("Rina"), "{html}");
    let csrf = hidden(&html, "csrf");
    let form = |confirmed: bool| {
        let mut f = vec![("csrf", csrf.clone()), ("nik", nik.clone()), ("document", "KTP-el".into())];
        if confirmed {
            f.push(("confirmed", "1".into()));
        }
        f
    };
    let res = b.post(app.url("/console/verification")).form(&form(false)).send().await.unwrap();
    assert_eq!(res.status(), 200, "the confirmation step");
    assert!(!accounts::get(&app.state.db, &id).await.unwrap().unwrap().identity_verified());
    let res = b.post(app.url("/console/verification")).form(&form(true)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/console/verification?nik={nik}&done=identity_verified"));
    assert!(accounts::get(&app.state.db, &id).await.unwrap().unwrap().identity_verified());
    let audit = gerbang::audit::list(&app.state.db, 50, Some(&id)).await.unwrap();
    let rec = audit.iter().find(|r| r.kind == "account.identity_verified").expect("audited");
    assert_eq!(rec.actor, officer_id);
    let html = b.get(app.url(&location(&res))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"citizen-verified\"") && !html.contains("id=\"identity-verification\""));
    // Once is enough.
    assert_eq!(call(post.clone(), verify(&id), doc()).await, 409);
    // The citizen's own account page says so.
    let me = crate::self_service::signed_in_with(&app, &nik, crate::register::PW).await;
    let html = crate::self_service::page(&me, &app, "/account").await;
    assert!(html.contains("id=\"identity-state\">Terverifikasi di loket</dd>"), "{html}");
}

/// Citizens belong to no OPD unit: an OPD admin cannot make one in their unit (and so forge an
/// identity-verified citizen, or claim a resident's NIK), nobody moves one into a unit, and one
/// placed in a unit by an older version is still no OPD admin's to read, verify or reset.
#[tokio::test]
async fn citizens_belong_to_no_unit_so_no_opd_admin_verifies_or_resets_them() {
    let app = register_app_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let unit = opd_unit(&app, "3509.41", None).await;
    let (opd_nip, _) = staff(&app, "Admin Dinas", Some(&unit), Some("opd-admin")).await;
    let (dk_nip, _) = staff(&app, "Admin Kominfo", None, Some("diskominfo-admin")).await;
    let (t_opd, t_dk) = (console_token(&app, &opd_nip).await, console_token(&app, &dk_nip).await);
    let http = http_client();
    let send = |method: reqwest::Method, token: &str, path: &str, body: serde_json::Value| {
        http.request(method, app.url(path)).bearer_auth(token).json(&body).send()
    };
    let citizen = json!({ "nik": unique_nik(), "name": "Warga Palsu", "opd_id": unit, "password": "Rahasia-Sekali-9" });
    for token in [&t_opd, &t_dk] {
        let res = send(reqwest::Method::POST, token, "/admin/api/v1/accounts", citizen.clone()).await.unwrap();
        assert_eq!(res.status(), 422);
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body.to_string().contains("only civil servants (ASN) belong to an OPD unit"), "{body}");
    }
    let id = register_and_confirm(&app, &unique_nik(), &unique_address()).await;
    let path = format!("/admin/api/v1/accounts/{id}");
    let res = send(reqwest::Method::PATCH, &t_dk, &path, json!({ "opd_id": unit })).await.unwrap();
    assert_eq!(res.status(), 422, "not even Diskominfo moves a citizen into a unit");

    let mut a = accounts::get(&app.state.db, &id).await.unwrap().unwrap();
    a.opd_id = Some(unit.clone());
    accounts::save_profile(&app.state.db, &a, now()).await.unwrap();
    let verify = format!("{path}/identity-verification");
    let reset = format!("{path}/password-reset");
    assert_eq!(http.get(app.url(&path)).bearer_auth(&t_opd).send().await.unwrap().status(), 403);
    let res = send(reqwest::Method::POST, &t_opd, &verify, json!({ "document": "KTP-el" })).await.unwrap();
    assert_eq!(res.status(), 403);
    let res = send(reqwest::Method::POST, &t_opd, &reset, json!({ "delivery": "link" })).await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(!accounts::get(&app.state.db, &id).await.unwrap().unwrap().identity_verified());
    let res = send(reqwest::Method::POST, &t_dk, &verify, json!({ "document": "KTP-el" })).await.unwrap();
    assert_eq!(res.status(), 200, "Diskominfo still reaches every citizen");
}
