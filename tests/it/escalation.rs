//! Escalation through the OPD tree and through one's own account (issue 10, item 3): a unit
//! hands its roles to everyone placed in it, so placing someone there needs the power to assign
//! each of those roles, and nobody changes their own roles or unit.

use gerbang::identity::accounts;
use gerbang::identity::roles::{self, Holder};
use gerbang::oidc::clients::{self, GrantType, NewClient};
use gerbang::state::now;
use gerbang::store::roles::RoleRow;
use serde_json::{json, Value};

use crate::common::*;

async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let http = http_client();
    let req = match method {
        "POST" => http.post(app.url(path)),
        "PATCH" => http.patch(app.url(path)),
        "DELETE" => http.delete(app.url(path)),
        other => panic!("method {other}"),
    };
    let res = req.bearer_auth(token).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn unique_code(prefix: &str) -> String {
    format!("{prefix}{}", unique_nip())
}

/// A global role, made when missing.
async fn global(app: &TestApp, name: &str) -> RoleRow {
    match roles::find(&app.state.db, None, name).await {
        Ok(r) => r,
        Err(_) => roles::create(&app.state.db, None, name, "", now()).await.unwrap(),
    }
}

/// A role of a new application owned by `owner`.
async fn app_role(app: &TestApp, owner: &str, name: &str) -> RoleRow {
    let mut n = NewClient::web(
        "Aplikasi OPD",
        vec![format!("https://opd-{}.example.go.id/cb", uuid::Uuid::new_v4().simple())],
        vec!["openid".into(), "profile".into()],
        vec![GrantType::AuthorizationCode],
    );
    n.owner_opd_id = Some(owner.to_string());
    let (c, _) = clients::register(&app.state.db, &app.state.redirect_policy, n, now()).await.unwrap();
    roles::create(&app.state.db, Some(&c.id), name, "", now()).await.unwrap()
}

async fn give_unit(app: &TestApp, role: &RoleRow, unit: &str) {
    roles::assign(&app.state.db, role, &Holder::Opd(unit.to_string()), now()).await.unwrap();
}

/// `client:name` of every role the account holds, however.
async fn held(app: &TestApp, id: &str) -> Vec<String> {
    let all = roles::effective(&app.state.db, id).await.unwrap();
    all.iter().map(|r| format!("{}:{}", r.client_text(), r.name)).collect()
}

async fn unit_of(app: &TestApp, id: &str) -> Option<String> {
    accounts::get(&app.state.db, id).await.unwrap().unwrap().opd_id
}

/// Audit records of account and role changes: refusals add none.
async fn changes(app: &TestApp) -> usize {
    let all = gerbang::store::audit::all(&app.state.db).await.unwrap();
    all.iter().filter(|r| r.kind.starts_with("account.") || r.kind.starts_with("role.")).count()
}

fn detail(v: &Value) -> &str {
    v["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_opd_admin_reaches_no_role_through_a_unit_or_their_own_account() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let code_a = unique_code("A");
    let a = opd_unit(&app, &code_a, None).await;
    let b = opd_unit(&app, &unique_code("B"), None).await;
    // D: a unit of A's subtree that Diskominfo made an administrators' unit.
    let d = opd_unit(&app, &unique_code("D"), Some(&code_a)).await;
    give_unit(&app, &global(&app, "diskominfo-admin").await, &d).await;
    // A2 and A3 hold only roles of A's own applications; A4 a role of B's application.
    let a2 = opd_unit(&app, &unique_code("A2"), Some(&code_a)).await;
    let a3 = opd_unit(&app, &unique_code("A3"), Some(&code_a)).await;
    let a4 = opd_unit(&app, &unique_code("A4"), Some(&code_a)).await;
    let own = app_role(&app, &a, "operator").await;
    give_unit(&app, &own, &a2).await;
    give_unit(&app, &own, &a3).await;
    let own_viewer = app_role(&app, &a, "viewer").await;
    give_unit(&app, &own_viewer, &a3).await;
    let foreign = app_role(&app, &b, "operator").await;
    give_unit(&app, &foreign, &a4).await;

    let (opd_nip, opd_id) = staff(&app, "Admin OPD", Some(&a), Some("opd-admin")).await;
    let (_, staff_id) = staff(&app, "Pegawai A", Some(&a), None).await;
    let (_, mover_id) = staff(&app, "Pegawai A2", Some(&a2), None).await;
    let opd = console_token(&app, &opd_nip).await;
    let before = changes(&app).await;

    // Themselves into D: their unit is not theirs to change, and D would make them Diskominfo.
    let (s, v) = call(&app, &opd, "PATCH", &format!("/admin/api/v1/accounts/{opd_id}"), json!({ "opd_id": d })).await;
    assert_eq!(s, 403, "{v}");
    assert!(detail(&v).contains("your own OPD unit"), "{v}");
    assert_eq!(unit_of(&app, &opd_id).await.as_deref(), Some(a.as_str()));
    assert!(!held(&app, &opd_id).await.contains(&":diskominfo-admin".to_string()));

    // Someone of their subtree into D, or into a unit giving another OPD's application role.
    let foreign_name = format!("`{}:operator`", foreign.client_text());
    for (target, role) in [(&d, "`diskominfo-admin`"), (&a4, foreign_name.as_str())] {
        let (s, v) = call(
            &app,
            &opd,
            "PATCH",
            &format!("/admin/api/v1/accounts/{staff_id}"),
            json!({ "opd_id": target, "name": "Pegawai Dipindah" }),
        )
        .await;
        assert_eq!(s, 403, "{v}");
        assert!(detail(&v).contains(role), "{v} names {role}");
    }
    assert_eq!(unit_of(&app, &staff_id).await.as_deref(), Some(a.as_str()));
    assert_eq!(accounts::get(&app.state.db, &staff_id).await.unwrap().unwrap().name, "Pegawai A", "nothing written");
    assert!(held(&app, &staff_id).await.is_empty());

    // A new account in D.
    let nip = unique_nip();
    let (s, v) =
        call(&app, &opd, "POST", "/admin/api/v1/accounts", json!({ "nip": nip, "name": "Baru", "opd_id": d })).await;
    assert_eq!(s, 403, "{v}");
    assert!(detail(&v).contains("diskominfo-admin"), "{v}");
    assert!(accounts::find(&app.state.db, &nip).await.unwrap().is_none());

    // Their own roles, even those they may give others: directly, in bulk, or taking one away.
    let ra = "/admin/api/v1/role-assignments";
    let mine = json!({ "role": "operator", "client_id": own.client_id, "account_id": opd_id });
    let (s, v) = call(&app, &opd, "POST", ra, mine.clone()).await;
    assert_eq!(s, 403, "{v}");
    assert!(detail(&v).contains("your own roles"), "{v}");
    let (s, v) =
        call(&app, &opd, "POST", &format!("{ra}/bulk"), json!({ "action": "assign", "assignments": [mine] })).await;
    assert_eq!(s, 403, "{v}");
    assert!(detail(&v).starts_with("assignments[0]"), "{v}");
    assert!(!held(&app, &opd_id).await.iter().any(|r| r.ends_with(":operator")));
    roles::assign(&app.state.db, &own_viewer, &Holder::Account(opd_id.clone()), now()).await.unwrap();
    let viewer = json!({ "role": "viewer", "client_id": own.client_id, "account_id": opd_id });
    assert_eq!(call(&app, &opd, "DELETE", ra, viewer).await.0, 403);
    assert!(held(&app, &opd_id).await.iter().any(|r| r.ends_with(":viewer")), "kept");
    assert_eq!(changes(&app).await, before, "refusals write nothing");

    // Between two of their units that hold only their own applications' roles: allowed.
    let (s, v) =
        call(&app, &opd, "PATCH", &format!("/admin/api/v1/accounts/{mover_id}"), json!({ "opd_id": a3 })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(unit_of(&app, &mover_id).await.as_deref(), Some(a3.as_str()));
    let now_held = held(&app, &mover_id).await;
    assert!(now_held.iter().any(|r| r.ends_with(":viewer")) && now_held.iter().any(|r| r.ends_with(":operator")));
    let (s, v) = call(
        &app,
        &opd,
        "POST",
        "/admin/api/v1/accounts",
        json!({ "nip": unique_nip(), "name": "Baru", "opd_id": a2 }),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    // And a role they own, to someone else.
    let theirs = json!({ "role": "operator", "client_id": own.client_id, "account_id": staff_id });
    assert_eq!(call(&app, &opd, "POST", ra, theirs).await.0, 201);
}

#[tokio::test]
async fn a_diskominfo_admin_places_others_anywhere_but_never_changes_their_own_unit_or_roles() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let code_a = unique_code("A");
    let a = opd_unit(&app, &code_a, None).await;
    let d = opd_unit(&app, &unique_code("D"), Some(&code_a)).await;
    give_unit(&app, &global(&app, "diskominfo-admin").await, &d).await;
    global(&app, "auditor").await;
    let (sup_nip, sup_id) = staff(&app, "Admin Diskominfo", None, Some("diskominfo-admin")).await;
    let (_, staff_id) = staff(&app, "Pegawai A", Some(&a), None).await;
    let sup = console_token(&app, &sup_nip).await;
    let before = changes(&app).await;

    let me = format!("/admin/api/v1/accounts/{sup_id}");
    let (s, v) = call(&app, &sup, "PATCH", &me, json!({ "opd_id": a })).await;
    assert_eq!(s, 403, "{v}");
    assert!(detail(&v).contains("your own OPD unit"), "{v}");
    assert_eq!(unit_of(&app, &sup_id).await, None);
    let ra = "/admin/api/v1/role-assignments";
    let (s, v) =
        call(&app, &sup, "POST", ra, json!({ "role": "auditor", "client_id": null, "account_id": sup_id })).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) =
        call(&app, &sup, "DELETE", ra, json!({ "role": "diskominfo-admin", "client_id": null, "account_id": sup_id }))
            .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(held(&app, &sup_id).await, vec![":diskominfo-admin".to_string()]);
    assert_eq!(changes(&app).await, before, "refusals write nothing");

    // Renaming oneself stays allowed.
    let (s, v) = call(&app, &sup, "PATCH", &me, json!({ "name": "Admin Diskominfo Baru" })).await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Admin Diskominfo Baru")), "{v}");
    // Someone else into D: Diskominfo may give diskominfo-admin.
    let (s, v) = call(&app, &sup, "PATCH", &format!("/admin/api/v1/accounts/{staff_id}"), json!({ "opd_id": d })).await;
    assert_eq!(s, 200, "{v}");
    assert!(held(&app, &staff_id).await.contains(&":diskominfo-admin".to_string()));
}

#[tokio::test]
async fn the_console_refuses_moving_someone_into_a_unit_that_gives_a_role_the_admin_may_not_give() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let code_a = unique_code("A");
    let a = opd_unit(&app, &code_a, None).await;
    let d = opd_unit(&app, &unique_code("D"), Some(&code_a)).await;
    give_unit(&app, &global(&app, "diskominfo-admin").await, &d).await;
    let (opd_nip, _) = staff(&app, "Admin OPD", Some(&a), Some("opd-admin")).await;
    let (_, staff_id) = staff(&app, "Pegawai A", Some(&a), None).await;

    let b = browser();
    let res = b.get(app.url("/console/accounts")).send().await.unwrap();
    let res = b.get(app.url(&location(&res))).send().await.unwrap();
    let callback = login(&app, &b, &location(&res), &opd_nip, PASSWORD).await;
    assert_eq!(b.get(&callback).send().await.unwrap().status(), 303);
    let page = b.get(app.url(&format!("/console/accounts/{staff_id}"))).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    let res = b
        .post(app.url(&format!("/console/accounts/{staff_id}/edit")))
        .form(&[("csrf", csrf.as_str()), ("opd_id", d.as_str()), ("confirmed", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("diskominfo-admin"));
    assert_eq!(unit_of(&app, &staff_id).await.as_deref(), Some(a.as_str()));
}
