//! The limits of each administrative role: OPD admins against Diskominfo admins, creating roles
//! and units, console sessions, approving requests, consent, probing for accounts.

use super::*;

#[tokio::test]
async fn an_opd_admin_cannot_touch_diskominfo_admins_or_widen_what_diskominfo_approved() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let a = unit(&app, &format!("A{}", unique_nip()), None).await;
    let (super_nip, super_id) = person(&app, Some(&a), Some("diskominfo-admin")).await;
    let (opd_nip, _) = person(&app, Some(&a), Some("opd-admin")).await;
    let (_, staff) = person(&app, Some(&a), None).await;
    let sup = console_token(&app, &super_nip).await;
    let opd = console_token(&app, &opd_nip).await;

    // A Diskominfo administrator working in the OPD admin's unit stays out of its reach.
    let acct = format!("/admin/api/v1/accounts/{super_id}");
    assert_eq!(call(&app, Some(&opd), "GET", &acct, None).await.0, 403);
    assert_eq!(call(&app, Some(&opd), "PATCH", &acct, Some(json!({ "name": "Diambil alih" }))).await.0, 403);
    assert_eq!(call(&app, Some(&opd), "GET", &format!("{acct}/sessions"), None).await.0, 403);
    assert_eq!(
        call(&app, Some(&opd), "GET", &format!("/admin/api/v1/accounts/{staff}"), None).await.0,
        200,
        "ordinary staff are reachable"
    );

    let body = json!({ "client_id": format!("app-{}", unique_nip()), "owner_opd_id": a, "name": "Aplikasi A", "category": "khusus",
                       "redirect_uris": ["https://a.example.go.id/cb"], "scopes": ["openid", "profile"], "min_level": 2 });
    let (s, v) = call(&app, Some(&sup), "POST", "/admin/api/v1/applications", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let one = format!("/admin/api/v1/applications/{}", v["application"]["client_id"].as_str().unwrap());
    // Widening the data or lowering the level after approval is Diskominfo's decision.
    assert_eq!(
        call(&app, Some(&opd), "PATCH", &one, Some(json!({ "scopes": ["openid", "profile", "nik"] }))).await.0,
        403
    );
    assert_eq!(call(&app, Some(&opd), "PATCH", &one, Some(json!({ "min_level": 1 }))).await.0, 403);
    assert_eq!(call(&app, Some(&opd), "PATCH", &one, Some(json!({ "required_roles": ["x"] }))).await.0, 403);
    let (s, v) = call(
        &app,
        Some(&opd),
        "PATCH",
        &one,
        Some(json!({ "scopes": ["profile", "openid"], "min_level": 2, "name": "Aplikasi A2" })),
    )
    .await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Aplikasi A2")), "the same scopes in another order are no change");
    let (s, v) =
        call(&app, Some(&sup), "PATCH", &one, Some(json!({ "scopes": ["openid", "profile", "nik"], "min_level": 3 })))
            .await;
    assert_eq!((s, v["min_level"].as_u64()), (200, Some(3)), "{v}");
}

#[tokio::test]
async fn roles_and_units_are_created_within_each_admin_role_s_powers() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let code_a = format!("A{}", unique_nip());
    let a = unit(&app, &code_a, None).await;
    let b = unit(&app, &format!("B{}", unique_nip()), None).await;
    let (sup_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (opd_nip, _) = person(&app, Some(&a), Some("opd-admin")).await;
    let (aud_nip, _) = person(&app, Some(&a), Some("auditor")).await;
    let (dev_nip, _) = person(&app, Some(&a), Some("opd-developer")).await;
    let (plain_nip, _) = person(&app, Some(&a), None).await;
    let sup = console_token(&app, &sup_nip).await;
    let opd = console_token(&app, &opd_nip).await;
    let others = [
        console_token(&app, &aud_nip).await,
        console_token(&app, &dev_nip).await,
        console_token(&app, &plain_nip).await,
    ];

    let mut own = NewClient::web(
        "Aplikasi A",
        vec!["https://a.example.go.id/cb".into()],
        vec!["openid".into()],
        vec![GrantType::AuthorizationCode],
    );
    own.owner_opd_id = Some(a.clone());
    let own = clients::register(&app.state.db, &app.state.redirect_policy, own, now()).await.unwrap().0.id;
    let mut foreign = NewClient::web(
        "Aplikasi B",
        vec!["https://b.example.go.id/cb".into()],
        vec!["openid".into()],
        vec![GrantType::AuthorizationCode],
    );
    foreign.owner_opd_id = Some(b.clone());
    let foreign = clients::register(&app.state.db, &app.state.redirect_policy, foreign, now()).await.unwrap().0.id;

    let roles_path = "/admin/api/v1/roles";
    // Global roles: Diskominfo only.
    let global = json!({ "name": "verifikator", "description": "Verifikator dokumen" });
    assert_eq!(call(&app, Some(&opd), "POST", roles_path, Some(global.clone())).await.0, 403);
    let (s, v) = call(&app, Some(&sup), "POST", roles_path, Some(global.clone())).await;
    assert_eq!((s, v["name"].as_str(), v["client_id"].as_str()), (201, Some("verifikator"), Some("")), "{v}");
    assert_eq!(call(&app, Some(&sup), "POST", roles_path, Some(global)).await.0, 409);
    assert_eq!(call(&app, Some(&sup), "POST", roles_path, Some(json!({ "name": "Bukan Nama!" }))).await.0, 422);
    // Application roles: the owning OPD's admin, not another OPD's application.
    let (s, v) =
        call(&app, Some(&opd), "POST", roles_path, Some(json!({ "name": "operator", "client_id": own }))).await;
    assert_eq!((s, v["client_id"].as_str()), (201, Some(own.as_str())), "{v}");
    assert_eq!(
        call(&app, Some(&opd), "POST", roles_path, Some(json!({ "name": "operator", "client_id": foreign }))).await.0,
        403
    );
    for t in &others {
        assert_eq!(
            call(&app, Some(t), "POST", roles_path, Some(json!({ "name": "lain", "client_id": own }))).await.0,
            403
        );
    }
    let (_, listed) = call(&app, Some(&opd), "GET", roles_path, None).await;
    assert!(
        listed.as_array().unwrap().iter().any(|r| r["name"] == "operator" && r["client_id"] == own.as_str()),
        "{listed}"
    );

    // Units: Diskominfo anywhere; an OPD admin only below its own units.
    let opd_path = "/admin/api/v1/opd";
    let below_a = json!({ "code": format!("{code_a}.01"), "name": "Bidang Uji", "kind": "bidang", "parent": code_a });
    let (s, v) = call(&app, Some(&opd), "POST", opd_path, Some(below_a.clone())).await;
    assert_eq!((s, v["parent_id"].as_str()), (201, Some(a.as_str())), "{v}");
    assert_eq!(call(&app, Some(&opd), "POST", opd_path, Some(below_a)).await.0, 409, "codes are unique");
    assert_eq!(
        call(
            &app,
            Some(&opd),
            "POST",
            opd_path,
            Some(json!({ "code": format!("T{}", unique_nip()), "name": "Dinas Baru", "kind": "dinas" }))
        )
        .await
        .0,
        403,
        "top level is Diskominfo's"
    );
    let b_code = format!("B{}", unique_nip());
    assert_eq!(
        call(
            &app,
            Some(&sup),
            "POST",
            opd_path,
            Some(json!({ "code": b_code, "name": "Dinas Baru", "kind": "dinas" }))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(
            &app,
            Some(&opd),
            "POST",
            opd_path,
            Some(json!({ "code": format!("{b_code}.1"), "name": "X", "kind": "bidang", "parent": b_code }))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(&app, Some(&sup), "POST", opd_path, Some(json!({ "code": "X 1", "name": "X", "kind": "dinas" }))).await.0,
        422
    );
    assert_eq!(
        call(
            &app,
            Some(&sup),
            "POST",
            opd_path,
            Some(json!({ "code": "X2", "name": "X", "kind": "dinas", "parent": "tidak-ada" }))
        )
        .await
        .0,
        422
    );
    for t in &others {
        assert_eq!(
            call(
                &app,
                Some(t),
                "POST",
                opd_path,
                Some(json!({ "code": format!("{code_a}.09"), "name": "X", "kind": "bidang", "parent": code_a }))
            )
            .await
            .0,
            403
        );
    }
    let (_, trail) = call(&app, Some(&sup), "GET", "/admin/api/v1/audit?kind=role.created", None).await;
    assert_eq!(trail.as_array().unwrap().len(), 2);
    let (_, trail) = call(&app, Some(&sup), "GET", "/admin/api/v1/audit?kind=opd.created", None).await;
    assert_eq!(trail.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_console_session_outlives_its_access_token_but_not_its_grant_or_sign_on() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &nip).await;
    let t = now();
    let (_, grant) = gerbang::oidc::introspect::check_access_token(&app.state.provider(), &token, t).await.unwrap();
    let grant = grant.expect("a person's grant");
    let grant_id = gerbang::ids::GrantId::parse(&grant.id).expect("the store writes UUIDs");
    let later = t + app.state.config.access_token_ttl + 3600;
    let st = &app.state;
    use gerbang::ops::{authenticate, authenticate_grant, AdminError};
    assert!(
        matches!(authenticate(st, &token, later).await, Err(AdminError::Unauthenticated(_))),
        "the bearer token has expired by then"
    );
    assert!(authenticate_grant(st, &grant_id, Some(&grant.sid), later).await.is_ok(), "the console session has not");
    assert!(
        matches!(authenticate_grant(st, &grant_id, None, later).await, Err(AdminError::Unauthenticated(_))),
        "no live sign-on session"
    );
    assert!(matches!(
        authenticate_grant(st, &grant_id, Some("another-sid"), later).await,
        Err(AdminError::Unauthenticated(_))
    ));
    assert!(
        matches!(
            authenticate_grant(st, &grant_id, Some(&grant.sid), grant.expires_at).await,
            Err(AdminError::Unauthenticated(_))
        ),
        "the grant's end"
    );
    gerbang::store::grants::revoke_grant(&st.db, &grant.id, t).await.unwrap();
    assert!(
        matches!(authenticate_grant(st, &grant_id, Some(&grant.sid), t).await, Err(AdminError::Unauthenticated(_))),
        "revoked"
    );
}

#[tokio::test]
async fn a_request_is_approved_once_and_never_by_its_requester() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_REDIRECT_DOMAINS", "jemberkab.go.id,*.jemberkab.go.id"),
    ])
    .await;
    let a = unit(&app, "A", None).await;
    // One person who may both request (a developer of unit A) and review (Diskominfo).
    let (both_nip, both_id) = person(&app, Some(&a), Some("opd-developer")).await;
    let sup_role = roles::find(&app.state.db, None, "diskominfo-admin").await;
    let sup_role = match sup_role {
        Ok(r) => r,
        Err(_) => roles::create(&app.state.db, None, "diskominfo-admin", "", now()).await.unwrap(),
    };
    roles::assign(&app.state.db, &sup_role, &Holder::Account(both_id.clone()), now()).await.unwrap();
    let (sup_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (both, sup) = (console_token(&app, &both_nip).await, console_token(&app, &sup_nip).await);
    let path = "/admin/api/v1/app-requests";
    let body = json!({ "name": "E-Kinerja", "category": "khusus", "redirect_uris": ["https://ekinerja.jemberkab.go.id/cb"],
        "scopes": ["openid", "profile"], "min_level": 1 });
    let (s, v) = call(&app, Some(&both), "POST", path, Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let decision = format!("{path}/{}/decision", v["id"].as_str().unwrap());
    let (s, v) = call(&app, Some(&both), "POST", &decision, Some(json!({ "decision": "approve" }))).await;
    assert_eq!(s, 403, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("another administrator"));

    // Twenty approvals at once, each correcting the name its own way: one wins, the rest are
    // told it was decided, one client exists, and the stored request is the winner's.
    let before = clients::list(&app.state.db).await.unwrap().len();
    let mut racing = Vec::new();
    for i in 0..20 {
        let (url, sup) = (app.url(&decision), sup.clone());
        let corrected = json!({ "name": format!("E-Kinerja {i}"), "category": "khusus",
            "redirect_uris": ["https://ekinerja.jemberkab.go.id/cb"], "scopes": ["openid", "profile"], "min_level": 1 });
        racing.push(tokio::spawn(async move {
            let body = json!({ "decision": "approve", "corrected": corrected });
            let res = http_client().post(url).bearer_auth(sup).json(&body).send().await;
            res.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for r in racing {
        statuses.push(r.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19, "{statuses:?}");
    let after = clients::list(&app.state.db).await.unwrap();
    assert_eq!(after.len(), before + 1, "exactly one application registered");
    let request_id = decision.trim_end_matches("/decision").rsplit('/').next().unwrap();
    let stored = gerbang::store::app_requests::get(&app.state.db, request_id).await.unwrap().unwrap();
    let registered = after.iter().find(|c| Some(&c.id) == stored.client_id.as_ref()).expect("the registered client");
    assert_eq!(stored.name, registered.name, "the request as stored is the one registered");
    let kinds: Vec<String> = gerbang::audit::list(&app.state.db, 200, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "app_request.approved")
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.len(), 1);
}

#[tokio::test]
async fn applications_registered_by_administrators_ask_for_consent() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_REDIRECT_DOMAINS", "jemberkab.go.id,*.jemberkab.go.id"),
    ])
    .await;
    let (sup_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let sup = console_token(&app, &sup_nip).await;
    let redirect = "https://ekinerja.jemberkab.go.id/cb";
    let body = json!({ "client_id": "e-kinerja", "name": "E-Kinerja", "category": "khusus", "redirect_uris": [redirect],
        "scopes": ["openid", "profile", "nik"], "min_level": 1 });
    let (s, v) = call(&app, Some(&sup), "POST", "/admin/api/v1/applications", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let c = app.state.clients.get(&app.state.db, "e-kinerja").await.unwrap().unwrap();
    assert!(!c.first_party, "a registered application is not Gerbang's own");

    let (nip, _) = person(&app, None, None).await;
    let b = browser();
    let url = format!(
        "{}?response_type=code&client_id=e-kinerja&redirect_uri={}&scope=openid%20nik&state=s1&code_challenge={}&code_challenge_method=S256",
        app.url("/authorize"),
        redirect,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    let html = b.get(&url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(&app, &b, &html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 200, "the person is asked before the NIK goes to the application");
    assert!(res.text().await.unwrap().contains("name=\"decision\""));
}

/// An OPD admin cannot tell an account outside their units from one that does not exist: every
/// path answers the same refusal. Diskominfo sees the difference. (A malformed id tells nothing
/// and keeps its own answer.)
#[tokio::test]
async fn an_opd_admin_cannot_probe_which_accounts_exist() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (a, b) = (unit(&app, "PA", None).await, unit(&app, "PB", None).await);
    let (opd_nip, _) = person(&app, Some(&a), Some("opd-admin")).await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (_, elsewhere) = person(&app, Some(&b), None).await;
    let missing = uuid::Uuid::new_v4().to_string();
    let token = console_token(&app, &opd_nip).await;
    for (method, suffix) in [("GET", ""), ("GET", "/roles"), ("GET", "/sessions"), ("POST", "/enrolment-link")] {
        let mut answers = Vec::new();
        for id in [elsewhere.as_str(), missing.as_str()] {
            let (status, body) =
                call(&app, Some(&token), method, &format!("/admin/api/v1/accounts/{id}{suffix}"), None).await;
            answers.push((status, body["detail"].clone()));
        }
        assert_eq!(answers[0].0, 403, "{method} {suffix}");
        assert!(answers.iter().all(|x| *x == answers[0]), "{method} {suffix}: {answers:?}");
    }
    let boss = console_token(&app, &super_nip).await;
    let (status, _) = call(&app, Some(&boss), "GET", &format!("/admin/api/v1/accounts/{missing}"), None).await;
    assert_eq!(status, 404, "Diskominfo may know an account does not exist");
}

/// A NUL character in an admin API body (`\u0000` in JSON) is refused, as any body the API cannot
/// take (422), before anything is stored: SQLite stored it, PostgreSQL answered 500.
#[tokio::test]
async fn a_nul_in_an_admin_body_is_refused() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &nip).await;
    let nip_new = unique_nip();
    let body = json!({ "nip": nip_new, "name": "Nama\u{0}Tersembunyi" });
    let (status, problem) = call(&app, Some(&token), "POST", "/admin/api/v1/accounts", Some(body)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["detail"], "the request contains a NUL character");
    assert!(gerbang::identity::accounts::find_for_login(&app.state.db, &nip_new).await.unwrap().is_none());
    let (status, _) =
        call(&app, Some(&token), "POST", "/admin/api/v1/accounts", Some(json!({ "nip": nip_new, "name": "Nama" })))
            .await;
    assert_eq!(status, 201, "the same body without it is taken");
}

/// A citizen an older version left in a unit is nobody's staff: an OPD admin's search and the
/// unit's SCIM members leave them out, as opening the account already did.
#[tokio::test]
async fn a_citizen_left_in_a_unit_is_not_listed_as_its_staff() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let a = unit(&app, &format!("W{}", unique_nip()), None).await;
    let (opd_nip, staff_id) = person(&app, Some(&a), Some("opd-admin")).await;
    let citizen = app.citizen(&unique_nik(), "Warga Tertinggal").await;
    let sql = "UPDATE accounts SET opd_id = $1 WHERE id = $2";
    match &app.state.db {
        gerbang::store::Db::Sqlite(p) => sqlx::query(sql).bind(&a).bind(&citizen.id).execute(p).await.map(|_| ()),
        gerbang::store::Db::Postgres(p) => sqlx::query(sql).bind(&a).bind(&citizen.id).execute(p).await.map(|_| ()),
    }
    .unwrap();
    let token = console_token(&app, &opd_nip).await;
    let (status, body) = call(&app, Some(&token), "GET", "/admin/api/v1/accounts?q=", None).await;
    assert_eq!(status, 200);
    let listed = body.to_string();
    assert!(listed.contains(&staff_id), "the unit's staff are listed: {listed}");
    assert!(!listed.contains(&citizen.id) && !listed.contains("Warga Tertinggal"), "{listed}");
    let members = gerbang::store::scim::members(&app.state.db, &a).await.unwrap();
    assert_eq!(members.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(), vec![staff_id.as_str()]);
}
