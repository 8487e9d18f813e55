//! The admin API's authorization matrix: every endpoint against every administrative role,
//! inside and outside the administrator's own OPD subtree.

use gerbang::auth::{recovery, Factors};
use gerbang::identity::accounts;
use gerbang::identity::roles::{self, Holder};
use gerbang::oidc::clients::{self, GrantType, NewClient};
use gerbang::state::now;
use gerbang::store::factors as factor_store;
use gerbang::store::passkeys::{self as passkey_store, PasskeyRow};
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::{json, Value};

use crate::common::*;

use crate::common::opd_unit as unit;

/// A staff member named "Pegawai Uji".
async fn person(app: &TestApp, unit: Option<&str>, role: Option<&str>) -> (String, String) {
    staff(app, "Pegawai Uji", unit, role).await
}

async fn call(app: &TestApp, token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let http = http_client();
    let url = app.url(path);
    let mut req = match method {
        "GET" => http.get(url),
        "PUT" => http.put(url),
        "POST" => http.post(url),
        "PATCH" => http.patch(url),
        "DELETE" => http.delete(url),
        other => panic!("method {other}"),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    if status >= 400 {
        assert_eq!(res.headers()["content-type"], "application/problem+json", "{method} {path}");
    }
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_endpoint_against_every_role() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let db = &app.state.db;
    let a = unit(&app, "A", None).await;
    let a1 = unit(&app, "A.1", Some("A")).await;
    let b = unit(&app, "B", None).await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (opd_nip, _) = person(&app, Some(&a), Some("opd-admin")).await;
    let (aud_nip, _) = person(&app, None, Some("auditor")).await;
    let (plain_nip, _) = person(&app, Some(&a1), None).await;
    let (_, staff_a1) = person(&app, Some(&a1), None).await;
    let (_, staff_b) = person(&app, Some(&b), None).await;

    let app_of = |owner: String| {
        let mut n = NewClient::web(
            "Aplikasi OPD",
            vec![format!("https://{}.example.go.id/cb", uuid::Uuid::new_v4().simple())],
            vec!["openid".into()],
            vec![GrantType::AuthorizationCode],
        );
        n.owner_opd_id = Some(owner);
        n
    };
    let (app_a, _) = clients::register(db, &app.state.redirect_policy, app_of(a.clone()), now()).await.unwrap();
    let (app_b, _) = clients::register(db, &app.state.redirect_policy, app_of(b.clone()), now()).await.unwrap();
    roles::create(db, Some(&app_a.id), "operator", "", now()).await.unwrap();
    roles::create(db, Some(&app_b.id), "operator", "", now()).await.unwrap();

    let sup = console_token(&app, &super_nip).await;
    let opd = console_token(&app, &opd_nip).await;
    let aud = console_token(&app, &aud_nip).await;
    let plain = console_token(&app, &plain_nip).await;

    // Authentication: no token 401; a token of another application 403.
    assert_eq!(call(&app, None, "GET", "/admin/api/v1/accounts", None).await.0, 401);
    let other = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&other).await;
    let start = start_auth(&rp, &[]);
    let cb = login(&app, &browser(), &start.url, &super_nip, PASSWORD).await;
    let foreign = redeem(&rp, &cb, start.verifier).await;
    assert_eq!(call(&app, Some(foreign.access_token().secret()), "GET", "/admin/api/v1/accounts", None).await.0, 403);

    let ids = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
    };

    // Accounts: search and read.
    let (s, v) = call(&app, Some(&sup), "GET", "/admin/api/v1/accounts?q=Pegawai&limit=100", None).await;
    assert_eq!(s, 200);
    assert!(ids(&v).contains(&staff_b) && ids(&v).contains(&staff_a1));
    let (s, v) = call(&app, Some(&opd), "GET", "/admin/api/v1/accounts?q=Pegawai&limit=100", None).await;
    assert_eq!(s, 200);
    assert!(ids(&v).contains(&staff_a1), "own subtree");
    assert!(!ids(&v).contains(&staff_b), "nothing outside it");
    for t in [&aud, &plain] {
        assert_eq!(call(&app, Some(t), "GET", "/admin/api/v1/accounts", None).await.0, 403);
    }
    let get = |id: &str| format!("/admin/api/v1/accounts/{id}");
    assert_eq!(call(&app, Some(&sup), "GET", &get(&staff_b), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &get(&staff_a1), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &get(&staff_b), None).await.0, 403);
    assert_eq!(call(&app, Some(&aud), "GET", &get(&staff_a1), None).await.0, 403);
    assert_eq!(call(&app, Some(&plain), "GET", &get(&staff_a1), None).await.0, 403);
    assert_eq!(call(&app, Some(&sup), "GET", &get("no-such-id"), None).await.0, 404);

    // Status changes: Diskominfo only; bad input 422.
    let status = |id: &str| format!("/admin/api/v1/accounts/{id}/status");
    for t in [&opd, &aud, &plain] {
        assert_eq!(call(&app, Some(t), "PUT", &status(&staff_a1), Some(json!({ "status": "suspended" }))).await.0, 403);
    }
    assert_eq!(call(&app, Some(&sup), "PUT", &status(&staff_b), Some(json!({ "status": "holiday" }))).await.0, 422);
    assert_eq!(call(&app, Some(&sup), "PUT", &status(&staff_b), Some(json!({ "nope": 1 }))).await.0, 422);
    let (s, v) = call(&app, Some(&sup), "PUT", &status(&staff_b), Some(json!({ "status": "retired" }))).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("retired")));

    // The OPD tree.
    let (s, v) = call(&app, Some(&sup), "GET", "/admin/api/v1/opd", None).await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 3));
    let (s, v) = call(&app, Some(&opd), "GET", "/admin/api/v1/opd", None).await;
    assert_eq!(s, 200);
    let mut seen = ids(&v);
    seen.sort();
    let mut want = vec![a.clone(), a1.clone()];
    want.sort();
    assert_eq!(seen, want);
    for t in [&aud, &plain] {
        assert_eq!(call(&app, Some(t), "GET", "/admin/api/v1/opd", None).await.0, 403);
    }

    // Role assignments.
    let ra = "/admin/api/v1/role-assignments";
    let body = |role: &str, client: Option<&str>, account: &str| json!({ "role": role, "client_id": client, "account_id": account });
    assert_eq!(
        call(&app, Some(&opd), "POST", ra, Some(body("operator", Some(&app_a.id), &staff_a1))).await.0,
        201,
        "own application, own staff"
    );
    assert_eq!(call(&app, Some(&opd), "POST", ra, Some(body("operator", Some(&app_a.id), &staff_a1))).await.0, 409);
    assert_eq!(
        call(&app, Some(&opd), "POST", ra, Some(body("operator", Some(&app_b.id), &staff_a1))).await.0,
        403,
        "another OPD's application"
    );
    assert_eq!(
        call(&app, Some(&opd), "POST", ra, Some(body("operator", Some(&app_a.id), &staff_b))).await.0,
        403,
        "staff outside the subtree"
    );
    assert_eq!(
        call(&app, Some(&opd), "POST", ra, Some(body("auditor", None, &staff_a1))).await.0,
        403,
        "global roles are Diskominfo's"
    );
    for t in [&aud, &plain] {
        assert_eq!(call(&app, Some(t), "POST", ra, Some(body("operator", Some(&app_a.id), &staff_a1))).await.0, 403);
    }
    assert_eq!(call(&app, Some(&sup), "POST", ra, Some(body("auditor", None, &staff_b))).await.0, 201);
    assert_eq!(call(&app, Some(&sup), "POST", ra, Some(body("no-such-role", None, &staff_b))).await.0, 404);
    assert_eq!(call(&app, Some(&aud), "DELETE", ra, Some(body("operator", Some(&app_a.id), &staff_a1))).await.0, 403);
    assert_eq!(call(&app, Some(&opd), "DELETE", ra, Some(body("operator", Some(&app_a.id), &staff_a1))).await.0, 204);
    assert_eq!(call(&app, Some(&sup), "DELETE", ra, Some(body("auditor", None, &staff_b))).await.0, 204);

    // The audit trail: Diskominfo and auditors; the changes above are in it, with the actor.
    for t in [&opd, &plain] {
        assert_eq!(call(&app, Some(t), "GET", "/admin/api/v1/audit", None).await.0, 403);
    }
    let (s, v) = call(&app, Some(&aud), "GET", &format!("/admin/api/v1/audit?account={staff_a1}"), None).await;
    assert_eq!(s, 200);
    let kinds: Vec<&str> = v.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["role.unassigned", "role.assigned"]);
    let (s, v) = call(&app, Some(&sup), "GET", &format!("/admin/api/v1/audit?account={staff_b}"), None).await;
    assert_eq!(s, 200);
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "account.status_changed" && e["detail"]["after"] == "retired"));

    // CSV export for reporting: auditors yes, OPD admins no.
    let export = format!("/admin/api/v1/audit/export?since=0&until={}", now() + 10);
    let res = http_client().get(app.url(&export)).bearer_auth(&aud).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(res.text().await.unwrap().starts_with("seq,time_utc,kind"));
    assert_eq!(call(&app, Some(&opd), "GET", &export, None).await.0, 403);

    // A removed role stops working at once.
    let role = roles::find(db, None, "auditor").await.unwrap();
    let aud_id = accounts::find(db, &aud_nip).await.unwrap().unwrap().id;
    roles::unassign(db, &role, &Holder::Account(aud_id), now()).await.unwrap();
    assert_ne!(call(&app, Some(&aud), "GET", "/admin/api/v1/audit", None).await.0, 200);
}

#[tokio::test]
async fn the_admin_api_requires_the_configured_security_level_and_documents_itself() {
    let app = TestApp::spawn().await;
    let (nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &nip).await;
    let (s, v) = call(&app, Some(&token), "GET", "/admin/api/v1/accounts", None).await;
    assert_eq!(s, 403, "a password-only token does not administer");
    assert!(v["detail"].as_str().unwrap().contains("level 3"));
    let doc: Value = http_client().get(app.url("/admin/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/admin/api/v1/accounts",
        "/admin/api/v1/accounts/{id}/status",
        "/admin/api/v1/role-assignments",
        "/admin/api/v1/audit",
        "/admin/api/v1/opd",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} documented");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
    // The bearer scheme is declared, and every operation needs it.
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!((bearer["type"].as_str(), bearer["scheme"].as_str()), (Some("http"), Some("bearer")), "{bearer}");
    assert_eq!(doc["security"], json!([{ "bearer": [] }]));
}

#[tokio::test]
async fn application_registration_workflow_end_to_end() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_REDIRECT_DOMAINS", "jemberkab.go.id,*.jemberkab.go.id"),
    ])
    .await;
    let a = unit(&app, "A", None).await;
    let b = unit(&app, "B", None).await;
    let (dev_nip, dev_id) = person(&app, Some(&a), Some("opd-developer")).await;
    let (other_nip, _) = person(&app, Some(&b), Some("opd-admin")).await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (plain_nip, _) = person(&app, Some(&a), None).await;
    let dev = console_token(&app, &dev_nip).await;
    let other = console_token(&app, &other_nip).await;
    let sup = console_token(&app, &super_nip).await;
    let plain = console_token(&app, &plain_nip).await;
    let path = "/admin/api/v1/app-requests";
    let request = |uri: &str| json!({ "name": "SIMPEG Dinas A", "category": "khusus", "redirect_uris": [uri], "scopes": ["openid", "profile", "nip"], "min_level": 1 });

    let (s, v) = call(&app, Some(&dev), "POST", path, Some(request("https://simpeg.example.com/cb"))).await;
    assert_eq!(s, 422, "outside the region's domains");
    assert!(v["detail"].as_str().unwrap().contains("redirect_uri"));
    assert_eq!(call(&app, Some(&plain), "POST", path, Some(request("https://simpeg.jemberkab.go.id/cb"))).await.0, 403);
    let (s, v) = call(&app, Some(&dev), "POST", path, Some(request("https://simpeg.jemberkab.go.id/cb"))).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["status"], "pending");
    let id = v["id"].as_str().unwrap().to_string();

    let listed = |v: &Value| v.as_array().unwrap().iter().any(|r| r["id"] == id.as_str());
    assert!(listed(&call(&app, Some(&sup), "GET", path, None).await.1));
    assert!(listed(&call(&app, Some(&dev), "GET", path, None).await.1));
    assert!(!listed(&call(&app, Some(&other), "GET", path, None).await.1), "another OPD's admin does not see it");

    let decision = format!("{path}/{id}/decision");
    assert_eq!(call(&app, Some(&dev), "POST", &decision, Some(json!({ "decision": "approve" }))).await.0, 403);
    assert_eq!(
        call(&app, Some(&sup), "POST", &decision, Some(json!({ "decision": "reject" }))).await.0,
        422,
        "a rejection needs a reason"
    );
    let mut corrected = request("https://simpeg.jemberkab.go.id/oidc/callback");
    corrected["name"] = json!("SIMPEG Dinas A (dikoreksi)");
    let (s, v) =
        call(&app, Some(&sup), "POST", &decision, Some(json!({ "decision": "approve", "corrected": corrected }))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "approved");
    assert_eq!(v["request"]["name"], "SIMPEG Dinas A (dikoreksi)");
    let client_id = v["client_id"].as_str().unwrap().to_string();
    assert_eq!(
        call(&app, Some(&sup), "POST", &decision, Some(json!({ "decision": "reject", "reason": "x" }))).await.0,
        409
    );

    let creds = format!("{path}/{id}/credentials");
    assert_eq!(call(&app, Some(&sup), "POST", &creds, None).await.0, 403, "only the requester");
    let (s, v) = call(&app, Some(&dev), "POST", &creds, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["client_id"], client_id.as_str());
    let secret = v["client_secret"].as_str().unwrap().to_string();
    assert_eq!(call(&app, Some(&dev), "POST", &creds, None).await.0, 410, "once");
    // The credentials work, and the application belongs to the requester's OPD unit.
    let res = http_client()
        .post(app.url("/introspect"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let c = app.state.clients.get(&app.state.db, &client_id).await.unwrap().unwrap();
    assert_eq!(c.owner_opd_id.as_deref(), Some(a.as_str()));
    assert_eq!(c.category.as_str(), "khusus");
    assert!(c.has_redirect_uri("https://simpeg.jemberkab.go.id/oidc/callback"));

    // A rejection carries its reason back to the requester.
    let (_, v) = call(&app, Some(&dev), "POST", path, Some(request("https://lain.jemberkab.go.id/cb"))).await;
    let second = v["id"].as_str().unwrap().to_string();
    call(
        &app,
        Some(&sup),
        "POST",
        &format!("{path}/{second}/decision"),
        Some(json!({ "decision": "reject", "reason": "Sudah ada aplikasi umum untuk ini" })),
    )
    .await;
    let (_, v) = call(&app, Some(&dev), "GET", path, None).await;
    let r = v.as_array().unwrap().iter().find(|r| r["id"] == second.as_str()).unwrap().clone();
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some("rejected"), Some("Sudah ada aplikasi umum untuk ini"))
    );
    let kinds: Vec<String> =
        gerbang::audit::list(&app.state.db, 50, Some(&dev_id)).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"app_request.approved".to_string()) && kinds.contains(&"app_request.rejected".to_string()));
}

#[tokio::test]
async fn applications_can_be_listed_rotated_and_disabled_by_the_right_people() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let db = &app.state.db;
    let a = unit(&app, "A", None).await;
    let b = unit(&app, "B", None).await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (opd_nip, _) = person(&app, Some(&a), Some("opd-admin")).await;
    let sup = console_token(&app, &super_nip).await;
    let opd = console_token(&app, &opd_nip).await;
    let mut own = NewClient::web(
        "Milik A",
        vec!["https://a.example.go.id/cb".into()],
        vec!["openid".into()],
        vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
    );
    own.owner_opd_id = Some(a.clone());
    own.scopes = vec!["openid".into(), "laporan".into()];
    let (own, old_secret) = clients::register(db, &app.state.redirect_policy, own, now()).await.unwrap();
    let mut foreign = NewClient::web(
        "Milik B",
        vec!["https://b.example.go.id/cb".into()],
        vec!["openid".into()],
        vec![GrantType::AuthorizationCode],
    );
    foreign.owner_opd_id = Some(b.clone());
    let (foreign, _) = clients::register(db, &app.state.redirect_policy, foreign, now()).await.unwrap();

    let (s, v) = call(&app, Some(&opd), "GET", "/admin/api/v1/applications", None).await;
    assert_eq!(s, 200);
    let seen: Vec<&str> = v.as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap()).collect();
    assert!(seen.contains(&own.id.as_str()) && !seen.contains(&foreign.id.as_str()));

    assert_eq!(
        call(&app, Some(&opd), "POST", &format!("/admin/api/v1/applications/{}/secret", foreign.id), None).await.0,
        403
    );
    let (s, v) = call(&app, Some(&opd), "POST", &format!("/admin/api/v1/applications/{}/secret", own.id), None).await;
    assert_eq!(s, 200);
    let new_secret = v["client_secret"].as_str().unwrap().to_string();
    let token = |secret: String| {
        let id = own.id.clone();
        let url = app.url("/token");
        async move {
            http_client()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(token(old_secret.unwrap().expose().clone()).await, 401, "the old secret stops working");
    assert_eq!(token(new_secret.clone()).await, 200);

    let enabled = |id: &str| format!("/admin/api/v1/applications/{id}/enabled");
    assert_eq!(
        call(&app, Some(&opd), "PUT", &enabled(&own.id), Some(json!({ "enabled": false }))).await.0,
        403,
        "Diskominfo only"
    );
    let (s, v) = call(&app, Some(&sup), "PUT", &enabled(&own.id), Some(json!({ "enabled": false }))).await;
    assert_eq!((s, v["disabled"].as_bool()), (200, Some(true)));
    assert_eq!(token(new_secret.clone()).await, 401, "a disabled application gets no tokens");
    let res = browser()
        .get(app.url(&format!(
            "/authorize?response_type=code&client_id={}&redirect_uri=https://a.example.go.id/cb",
            own.id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "and logs nobody in");
    assert!(res.headers().get("location").is_none());
    call(&app, Some(&sup), "PUT", &enabled(&own.id), Some(json!({ "enabled": true }))).await;
    assert_eq!(token(new_secret).await, 200);
}

// ------------------------------------------------------------------ helpers for the endpoints
// added with the shared admin operations

/// An application owned by an OPD unit, with its credentials.
async fn owned_client(app: &TestApp, owner: &str) -> TestClient {
    let redirect = format!("https://opd-{}.example.go.id/cb", uuid::Uuid::new_v4().simple());
    let mut n = NewClient::web(
        "Aplikasi OPD",
        vec![redirect.clone()],
        vec!["openid".into(), "profile".into()],
        vec![GrantType::AuthorizationCode],
    );
    n.owner_opd_id = Some(owner.to_string());
    let (c, secret) = clients::register(&app.state.db, &app.state.redirect_policy, n, now()).await.unwrap();
    TestClient {
        id: c.id,
        secret: secret.map(|s| s.expose().clone()),
        redirect_uri: redirect,
        post_logout_uri: String::new(),
    }
}

/// A person signed in through a browser at an application: the browser (holding the SSO
/// cookie), the access token, and the session id the ID token names.
struct SignedIn {
    browser: reqwest::Client,
    access: String,
    sid: String,
}

async fn sign_in(app: &TestApp, c: &TestClient, nip: &str) -> SignedIn {
    let rp = app.rp(c).await;
    let start = start_auth(&rp, &["profile"]);
    let b = browser();
    let cb = login(app, &b, &start.url, nip, PASSWORD).await;
    assert!(cb.starts_with(&c.redirect_uri), "{cb}");
    let t = redeem(&rp, &cb, start.verifier).await;
    let sid = jwt_payload(&t.id_token().unwrap().to_string())["sid"].as_str().unwrap().to_string();
    SignedIn { browser: b, access: t.access_token().secret().clone(), sid }
}

/// The status /userinfo answers an access token with.
async fn userinfo(app: &TestApp, token: &str) -> u16 {
    http_client().get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

/// Whether introspection (by the application the token was issued to) says the token is active.
async fn active(app: &TestApp, c: &TestClient, token: &str) -> bool {
    let res = http_client()
        .post(app.url("/introspect"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["active"].as_bool().unwrap()
}

/// Whether the browser's SSO session still logs it in silently (`prompt=none`).
async fn still_signed_in(app: &TestApp, c: &TestClient, b: &reqwest::Client) -> bool {
    let rp = app.rp(c).await;
    let res = b.get(format!("{}&prompt=none", start_auth(&rp, &[]).url)).send().await.unwrap();
    let q = query(&location(&res));
    assert!(q.contains_key("code") || q.get("error").map(String::as_str) == Some("login_required"), "{q:?}");
    q.contains_key("code")
}

fn sids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v.as_array().unwrap().iter().map(|s| s["sid"].as_str().unwrap().to_string()).collect();
    out.sort();
    out
}

/// (client_id, name) of each role in a list, sorted.
fn role_pairs(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["client_id"].as_str().unwrap().to_string(), r["name"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

fn pair(client: &str, name: &str) -> (String, String) {
    (client.to_string(), name.to_string())
}

/// The roles assigned to the account itself, as an administrator sees them.
async fn direct_roles(app: &TestApp, token: &str, account: &str) -> Vec<(String, String)> {
    let (s, v) = call(app, Some(token), "GET", &format!("/admin/api/v1/accounts/{account}/roles"), None).await;
    assert_eq!(s, 200, "{v}");
    role_pairs(&v["direct"])
}

/// Name and unit as stored.
async fn stored(app: &TestApp, id: &str) -> (String, Option<String>) {
    let a = accounts::get(&app.state.db, id).await.unwrap().unwrap();
    (a.name, a.opd_id)
}

async fn exists(app: &TestApp, nip: &str) -> bool {
    accounts::find(&app.state.db, nip).await.unwrap().is_some()
}

/// Audit records through the API (newest first).
async fn audit_rows(app: &TestApp, token: &str, filter: &str) -> Vec<Value> {
    let (s, v) = call(app, Some(token), "GET", &format!("/admin/api/v1/audit?limit=1000{filter}"), None).await;
    assert_eq!(s, 200, "{filter}: {v}");
    v.as_array().unwrap().clone()
}

fn bulk_item(role: &str, client: Option<&str>, account: &str) -> Value {
    json!({ "role": role, "client_id": client, "account_id": account })
}

const BULK: &str = "/admin/api/v1/role-assignments/bulk";

/// The endpoints added with the shared admin operations, against every role: Diskominfo, an OPD
/// admin inside and outside its subtree (and the admin of the other OPD), an auditor, an OPD
/// developer and a person without any administrative role. Refusals are checked to have changed
/// nothing.
#[tokio::test]
async fn newer_endpoints_against_every_role() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_REDIRECT_DOMAINS", "example.go.id,*.example.go.id"),
    ])
    .await;
    let db = &app.state.db;
    let a = unit(&app, "A", None).await;
    let a1 = unit(&app, "A.1", Some("A")).await;
    let b = unit(&app, "B", None).await;
    let (super_nip, super_id) = person(&app, None, Some("diskominfo-admin")).await;
    let (opd_nip, opd_id) = person(&app, Some(&a), Some("opd-admin")).await;
    let (opd_b_nip, _) = person(&app, Some(&b), Some("opd-admin")).await;
    let (aud_nip, _) = person(&app, None, Some("auditor")).await;
    let (dev_nip, _) = person(&app, Some(&a), Some("opd-developer")).await;
    let (plain_nip, _) = person(&app, Some(&a1), None).await;
    let (a1_nip, staff_a1) = person(&app, Some(&a1), None).await;
    let (b_nip, staff_b) = person(&app, Some(&b), None).await;
    let app_a = owned_client(&app, &a).await;
    let app_b = owned_client(&app, &b).await;
    for (client, name) in [(&app_a.id, "operator"), (&app_a.id, "viewer"), (&app_b.id, "operator")] {
        roles::create(db, Some(client), name, "", now()).await.unwrap();
    }
    let sup = console_token(&app, &super_nip).await;
    let opd = console_token(&app, &opd_nip).await;
    let opd_b = console_token(&app, &opd_b_nip).await;
    let aud = console_token(&app, &aud_nip).await;
    let dev = console_token(&app, &dev_nip).await;
    let plain = console_token(&app, &plain_nip).await;
    // No power over accounts or applications at all.
    let outsiders = [&aud, &dev, &plain];
    // Both staff members are signed in somewhere.
    let web = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;

    // ---- POST /accounts: Diskominfo anywhere, an OPD admin only into its own units.
    let create = "/admin/api/v1/accounts";
    for (t, into) in [(&aud, &a1), (&dev, &a1), (&plain, &a1), (&opd, &b), (&opd_b, &a1)] {
        let nip = unique_nip();
        let (s, v) =
            call(&app, Some(t), "POST", create, Some(json!({ "nip": nip, "name": "Pegawai Baru", "opd_id": into })))
                .await;
        assert_eq!(s, 403, "{v}");
        assert!(!exists(&app, &nip).await, "a refused creation leaves no account");
    }
    let nip = unique_nip();
    assert_eq!(
        call(&app, Some(&opd), "POST", create, Some(json!({ "nip": nip, "name": "Pegawai Baru" }))).await.0,
        403,
        "an OPD admin's accounts belong to a unit"
    );
    assert!(!exists(&app, &nip).await);
    let nip = unique_nip();
    let (s, v) =
        call(&app, Some(&opd), "POST", create, Some(json!({ "nip": nip, "name": "Pegawai Baru A.1", "opd_id": a1 })))
            .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["account"]["opd_id"].as_str(), v["account"]["account_type"].as_str()),
        (Some(a1.as_str()), Some("asn"))
    );
    assert_eq!(accounts::find(db, &nip).await.unwrap().unwrap().opd_id.as_deref(), Some(a1.as_str()));
    let (s, v) = call(
        &app,
        Some(&sup),
        "POST",
        create,
        Some(json!({ "nip": unique_nip(), "name": "Pegawai Baru B", "opd_id": b })),
    )
    .await;
    assert_eq!((s, v["account"]["opd_id"].as_str()), (201, Some(b.as_str())));
    let nik = unique_nik();
    let (s, v) = call(&app, Some(&sup), "POST", create, Some(json!({ "nik": nik, "name": "Warga Baru" }))).await;
    assert_eq!((s, v["account"]["account_type"].as_str()), (201, Some("citizen")), "{v}");
    assert!(v["account"]["opd_id"].is_null() && v["warnings"].is_array());
    assert_eq!(
        call(&app, Some(&sup), "POST", create, Some(json!({ "nip": b_nip, "name": "Kembar" }))).await.0,
        409,
        "NIP taken"
    );
    assert_eq!(
        call(&app, Some(&sup), "POST", create, Some(json!({ "nik": nik, "name": "Kembar" }))).await.0,
        409,
        "NIK taken"
    );
    for body in [
        json!({ "nip": "19850312", "name": "NIP pendek" }),
        json!({ "nip": "1985031220100110xx", "name": "NIP bukan angka" }),
        json!({ "nik": "3509014203", "name": "NIK pendek" }),
        json!({ "nip": unique_nip(), "name": "   " }),
        json!({ "nip": unique_nip(), "name": "Tanda\u{7}bel" }),
        json!({ "nip": unique_nip(), "name": "x".repeat(201) }),
        json!({ "name": "Tanpa nomor" }),
        json!({ "nip": unique_nip(), "name": "Unit tak dikenal", "opd_id": "no-such-unit" }),
        json!({ "nip": unique_nip() }),
    ] {
        let (s, v) = call(&app, Some(&sup), "POST", create, Some(body.clone())).await;
        assert_eq!(s, 422, "{body} -> {v}");
        if let Some(nip) = body["nip"].as_str() {
            assert!(!exists(&app, nip).await, "{body}");
        }
    }

    // ---- PATCH /accounts/{id}: power over the account, and over the new unit when moving.
    let acct = |id: &str| format!("/admin/api/v1/accounts/{id}");
    for t in [&aud, &dev, &plain, &opd_b] {
        assert_eq!(call(&app, Some(t), "PATCH", &acct(&staff_a1), Some(json!({ "name": "Diubah" }))).await.0, 403);
    }
    assert_eq!(
        call(&app, Some(&opd), "PATCH", &acct(&staff_b), Some(json!({ "name": "Diubah" }))).await.0,
        403,
        "staff of another OPD"
    );
    assert_eq!(stored(&app, &staff_a1).await, ("Pegawai Uji".to_string(), Some(a1.clone())));
    assert_eq!(stored(&app, &staff_b).await, ("Pegawai Uji".to_string(), Some(b.clone())));
    let (s, v) =
        call(&app, Some(&opd), "PATCH", &acct(&staff_a1), Some(json!({ "name": "Pegawai A.1", "opd_id": a }))).await;
    assert_eq!(
        (s, v["name"].as_str(), v["opd_id"].as_str()),
        (200, Some("Pegawai A.1"), Some(a.as_str())),
        "renamed and moved inside the subtree"
    );
    // Out of the subtree, or out of every unit: refused, and a refused edit changes nothing, not
    // even the name sent along with it.
    for body in [
        json!({ "opd_id": b }),
        json!({ "opd_id": "" }),
        json!({ "name": "Nama Sela", "opd_id": b }),
        json!({ "name": "Nama Sela", "opd_id": "" }),
    ] {
        assert_eq!(call(&app, Some(&opd), "PATCH", &acct(&staff_a1), Some(body.clone())).await.0, 403, "{body}");
    }
    assert_eq!(
        call(
            &app,
            Some(&opd),
            "PATCH",
            &acct(&staff_a1),
            Some(json!({ "name": "Nama Sela", "opd_id": "no-such-unit" }))
        )
        .await
        .0,
        422
    );
    assert_eq!(stored(&app, &staff_a1).await, ("Pegawai A.1".to_string(), Some(a.clone())));
    for body in [
        json!({ "name": "" }),
        json!({ "name": "x".repeat(201) }),
        json!({ "name": "Baris\nbaru" }),
        json!({ "opd_id": "no-such-unit" }),
        json!({ "name": 5 }),
    ] {
        assert_eq!(call(&app, Some(&sup), "PATCH", &acct(&staff_b), Some(body.clone())).await.0, 422, "{body}");
    }
    assert_eq!(stored(&app, &staff_b).await, ("Pegawai Uji".to_string(), Some(b.clone())));
    assert_eq!(call(&app, Some(&sup), "PATCH", &acct("no-such-id"), Some(json!({ "name": "X" }))).await.0, 404);
    for t in outsiders {
        assert_eq!(
            call(&app, Some(t), "PATCH", &acct("no-such-id"), Some(json!({ "name": "X" }))).await.0,
            403,
            "without account powers, not even whether an id exists"
        );
        assert_eq!(call(&app, Some(t), "GET", &acct("no-such-id"), None).await.0, 403);
    }
    let (s, v) = call(&app, Some(&sup), "PATCH", &acct(&staff_b), Some(json!({ "opd_id": "" }))).await;
    assert_eq!((s, v["opd_id"].is_null()), (200, true), "Diskominfo may take someone out of every unit");
    assert_eq!(
        call(&app, Some(&sup), "PATCH", &acct(&staff_b), Some(json!({ "name": "Pegawai B", "opd_id": b }))).await.0,
        200
    );
    assert_eq!(stored(&app, &staff_b).await, ("Pegawai B".to_string(), Some(b.clone())));
    // Signed in after the moves above, which revoke tokens (they carried the old unit).
    let s_a1 = sign_in(&app, &web, &a1_nip).await;
    let s_b = sign_in(&app, &web, &b_nip).await;

    // ---- PUT /accounts/{id}/status on oneself.
    let status = |id: &str| format!("/admin/api/v1/accounts/{id}/status");
    assert_eq!(
        call(&app, Some(&sup), "PUT", &status(&super_id), Some(json!({ "status": "suspended" }))).await.0,
        409,
        "not one's own status"
    );
    assert_eq!(call(&app, Some(&opd), "PUT", &status(&opd_id), Some(json!({ "status": "retired" }))).await.0, 403);
    assert_eq!(accounts::get(db, &super_id).await.unwrap().unwrap().status.as_str(), "active");
    assert_eq!(call(&app, Some(&sup), "GET", "/admin/api/v1/accounts", None).await.0, 200, "still an administrator");

    // ---- GET /accounts/{id}/sessions and DELETE /accounts/{id}/sessions/{sid}.
    let sessions = |id: &str| format!("/admin/api/v1/accounts/{id}/sessions");
    let end = |id: &str, sid: &str| format!("/admin/api/v1/accounts/{id}/sessions/{sid}");
    for t in [&sup, &opd] {
        let (s, v) = call(&app, Some(t), "GET", &sessions(&staff_a1), None).await;
        assert_eq!((s, sids(&v)), (200, vec![s_a1.sid.clone()]));
    }
    for t in [&aud, &dev, &plain, &opd_b] {
        assert_eq!(call(&app, Some(t), "GET", &sessions(&staff_a1), None).await.0, 403);
        assert_eq!(call(&app, Some(t), "DELETE", &end(&staff_a1, &s_a1.sid), None).await.0, 403);
    }
    assert_eq!(call(&app, Some(&opd), "GET", &sessions(&staff_b), None).await.0, 403);
    assert_eq!(call(&app, Some(&opd), "DELETE", &end(&staff_b, &s_b.sid), None).await.0, 403);
    assert_eq!(
        call(&app, Some(&opd), "DELETE", &end(&staff_a1, &s_b.sid), None).await.0,
        404,
        "another OPD's session is not reachable through one's own staff"
    );
    assert_eq!(call(&app, Some(&opd), "DELETE", &end(&staff_a1, "no-such-sid"), None).await.0, 404);
    assert_eq!(call(&app, Some(&sup), "GET", &sessions("no-such-id"), None).await.0, 404);
    assert_eq!(
        sids(&call(&app, Some(&sup), "GET", &sessions(&staff_b), None).await.1),
        vec![s_b.sid.clone()],
        "the refusals ended nothing"
    );
    assert_eq!((userinfo(&app, &s_a1.access).await, userinfo(&app, &s_b.access).await), (200, 200));
    assert_eq!(
        call(&app, Some(&opd), "DELETE", &end(&staff_a1, &s_a1.sid), None).await.0,
        204,
        "an OPD admin ends its own staff's session"
    );
    assert_eq!(userinfo(&app, &s_a1.access).await, 401);
    assert!(sids(&call(&app, Some(&opd), "GET", &sessions(&staff_a1), None).await.1).is_empty());
    assert_eq!(call(&app, Some(&opd), "DELETE", &end(&staff_a1, &s_a1.sid), None).await.0, 404, "already ended");

    // ---- POST /accounts/{id}/factor-reset: Diskominfo only, even for an OPD admin's own staff.
    let reset = |id: &str| format!("/admin/api/v1/accounts/{id}/factor-reset");
    for t in [&opd, &opd_b, &aud, &dev, &plain] {
        assert_eq!(call(&app, Some(t), "POST", &reset(&staff_b), None).await.0, 403);
    }
    assert_eq!(call(&app, Some(&opd), "POST", &reset(&staff_a1), None).await.0, 403);
    assert_eq!(userinfo(&app, &s_b.access).await, 200, "the refusals ended nothing");
    assert_eq!(call(&app, Some(&sup), "POST", &reset("no-such-id"), None).await.0, 404);
    let (s, v) = call(&app, Some(&sup), "POST", &reset(&staff_b), None).await;
    assert_eq!((s, v["sessions_ended"].as_u64()), (200, Some(1)));
    assert_eq!(userinfo(&app, &s_b.access).await, 401);

    // ---- GET /accounts/{id}/roles.
    let roles_of = |id: &str| format!("/admin/api/v1/accounts/{id}/roles");
    let (s, v) = call(&app, Some(&sup), "GET", &roles_of(&opd_id), None).await;
    assert_eq!(s, 200);
    assert_eq!(role_pairs(&v["direct"]), vec![pair("", "opd-admin")]);
    assert_eq!(role_pairs(&v["effective"]), vec![pair("", "opd-admin")]);
    assert_eq!(call(&app, Some(&sup), "GET", &roles_of(&staff_b), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &roles_of(&staff_a1), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &roles_of(&staff_b), None).await.0, 403);
    for t in [&aud, &dev, &plain, &opd_b] {
        assert_eq!(call(&app, Some(t), "GET", &roles_of(&staff_a1), None).await.0, 403);
    }
    assert_eq!(call(&app, Some(&sup), "GET", &roles_of("no-such-id"), None).await.0, 404);

    // ---- GET /roles: everything for Diskominfo, the own applications' roles for an OPD admin.
    let (s, v) = call(&app, Some(&sup), "GET", "/admin/api/v1/roles", None).await;
    assert_eq!(s, 200);
    let all = role_pairs(&v);
    for want in [
        pair("", "diskominfo-admin"),
        pair("", "auditor"),
        pair("", "opd-admin"),
        pair(&app_a.id, "operator"),
        pair(&app_b.id, "operator"),
    ] {
        assert!(all.contains(&want), "{want:?} in {all:?}");
    }
    let (s, v) = call(&app, Some(&opd), "GET", "/admin/api/v1/roles", None).await;
    assert_eq!((s, role_pairs(&v)), (200, vec![pair(&app_a.id, "operator"), pair(&app_a.id, "viewer")]));
    let (s, v) = call(&app, Some(&opd_b), "GET", "/admin/api/v1/roles", None).await;
    assert_eq!((s, role_pairs(&v)), (200, vec![pair(&app_b.id, "operator")]));
    for t in outsiders {
        assert_eq!(call(&app, Some(t), "GET", "/admin/api/v1/roles", None).await.0, 403);
    }

    // ---- POST /role-assignments/bulk: all or nothing.
    let own = bulk_item("operator", Some(&app_a.id), &staff_a1);
    let own2 = bulk_item("viewer", Some(&app_a.id), &staff_a1);
    for t in outsiders {
        assert_eq!(
            call(&app, Some(t), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own] }))).await.0,
            403
        );
    }
    for bad in [
        bulk_item("operator", Some(&app_b.id), &staff_a1),
        bulk_item("operator", Some(&app_a.id), &staff_b),
        bulk_item("auditor", None, &staff_a1),
        // Unknown to an OPD admin reads like out of reach: no existence oracle.
        bulk_item("operator", Some(&app_a.id), "no-such-id"),
    ] {
        let (s, v) =
            call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own, bad] }))).await;
        assert_eq!(s, 403, "{bad}");
        assert!(v["detail"].as_str().unwrap().starts_with("assignments[1]"), "{v}");
    }
    for bad in
        [bulk_item("no-such-role", Some(&app_a.id), &staff_a1), bulk_item("operator", Some("no-such-app"), &staff_a1)]
    {
        assert_eq!(
            call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own, bad] })))
                .await
                .0,
            422,
            "{bad}"
        );
    }
    let too_many: Vec<Value> = (0..=gerbang::ops::roles::MAX_BULK).map(|_| own.clone()).collect();
    for body in [
        json!({ "action": "toggle", "assignments": [own] }),
        json!({ "action": "assign", "assignments": [] }),
        json!({ "action": "assign", "assignments": too_many }),
        json!({ "action": "assign" }),
    ] {
        assert_eq!(call(&app, Some(&opd), "POST", BULK, Some(body)).await.0, 422);
    }
    assert!(direct_roles(&app, &sup, &staff_a1).await.is_empty(), "nothing was applied");
    assert!(direct_roles(&app, &sup, &staff_b).await.is_empty());
    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own, own2] }))).await;
    assert_eq!((s, v["changed"].as_u64(), v["unchanged"].as_u64()), (200, Some(2), Some(0)), "{v}");
    assert_eq!(direct_roles(&app, &opd, &staff_a1).await, vec![pair(&app_a.id, "operator"), pair(&app_a.id, "viewer")]);
    assert_eq!(
        call(&app, Some(&opd_b), "POST", BULK, Some(json!({ "action": "unassign", "assignments": [own] }))).await.0,
        403
    );
    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "unassign", "assignments": [own, own2] }))).await;
    assert_eq!((s, v["changed"].as_u64(), v["unchanged"].as_u64()), (200, Some(2), Some(0)), "{v}");
    assert!(direct_roles(&app, &opd, &staff_a1).await.is_empty());
    let global = bulk_item("auditor", None, &staff_b);
    assert_eq!(
        call(&app, Some(&sup), "POST", BULK, Some(json!({ "action": "assign", "assignments": [global] }))).await.1
            ["changed"],
        1
    );
    assert_eq!(direct_roles(&app, &sup, &staff_b).await, vec![pair("", "auditor")]);
    assert_eq!(
        call(&app, Some(&sup), "POST", BULK, Some(json!({ "action": "unassign", "assignments": [global] }))).await.1
            ["changed"],
        1
    );

    // ---- POST /applications: direct registration is Diskominfo's.
    let apps = "/admin/api/v1/applications";
    let registration = |id: &str, uri: &str, owner: &str| json!({ "client_id": id, "owner_opd_id": owner, "name": "Aplikasi Langsung", "category": "umum", "redirect_uris": [uri], "scopes": ["openid", "profile"], "min_level": 1 });
    for t in [&opd, &opd_b, &aud, &dev, &plain] {
        assert_eq!(
            call(&app, Some(t), "POST", apps, Some(registration("langsung", "https://langsung.example.go.id/cb", &a)))
                .await
                .0,
            403
        );
    }
    assert!(app.state.clients.get(db, "langsung").await.unwrap().is_none());
    let (s, v) =
        call(&app, Some(&sup), "POST", apps, Some(registration("langsung", "https://langsung.example.go.id/cb", &a)))
            .await;
    assert_eq!(s, 201, "{v}");
    assert!(v["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(
        (v["application"]["client_id"].as_str(), v["application"]["owner_opd_id"].as_str()),
        (Some("langsung"), Some(a.as_str()))
    );
    assert_eq!(
        call(&app, Some(&sup), "POST", apps, Some(registration("langsung", "https://langsung.example.go.id/cb", &a)))
            .await
            .0,
        409
    );
    let (s, v) =
        call(&app, Some(&sup), "POST", apps, Some(registration("luar", "https://luar.example.com/cb", &a))).await;
    assert_eq!(s, 422, "outside the region");
    assert!(v["detail"].as_str().unwrap().contains("redirect_uri"), "{v}");
    assert_eq!(
        call(
            &app,
            Some(&sup),
            "POST",
            apps,
            Some(registration("tanpa-unit", "https://t.example.go.id/cb", "no-such-unit"))
        )
        .await
        .0,
        422
    );
    for id in ["luar", "tanpa-unit"] {
        assert!(app.state.clients.get(db, id).await.unwrap().is_none());
    }

    // ---- GET and PATCH /applications/{id}.
    let one = |id: &str| format!("/admin/api/v1/applications/{id}");
    let (s, v) = call(&app, Some(&opd), "GET", &one("langsung"), None).await;
    assert_eq!(s, 200);
    assert!(v.get("client_secret").is_none(), "the secret is shown once only");
    assert_eq!(call(&app, Some(&sup), "GET", &one(&app_a.id), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &one(&app_a.id), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &one(&app_b.id), None).await.0, 403);
    for t in [&opd_b, &aud, &dev, &plain] {
        assert_eq!(call(&app, Some(t), "GET", &one(&app_a.id), None).await.0, 403);
        assert_eq!(call(&app, Some(t), "PATCH", &one(&app_a.id), Some(json!({ "name": "Diambil alih" }))).await.0, 403);
    }
    assert_eq!(call(&app, Some(&sup), "GET", &one("no-such-app"), None).await.0, 404);
    assert_eq!(call(&app, Some(&sup), "PATCH", &one("no-such-app"), Some(json!({ "name": "X" }))).await.0, 404);
    // A malformed client id names no application: missing for those who may look, refused for the rest.
    let long = "x".repeat(65);
    for bad in ["bukan%20id", "a%2Fb", long.as_str()] {
        assert_eq!(call(&app, Some(&sup), "GET", &one(bad), None).await.0, 404, "{bad}");
        assert_eq!(call(&app, Some(&sup), "PATCH", &one(bad), Some(json!({ "name": "X" }))).await.0, 404, "{bad}");
        assert_eq!(call(&app, Some(&sup), "POST", &format!("{}/secret", one(bad)), None).await.0, 404, "{bad}");
        let enabled = Some(json!({ "enabled": false }));
        assert_eq!(call(&app, Some(&sup), "PUT", &format!("{}/enabled", one(bad)), enabled).await.0, 404, "{bad}");
        assert_eq!(call(&app, Some(&aud), "GET", &one(bad), None).await.0, 403, "{bad}");
    }
    let (s, v) = call(&app, Some(&opd), "PATCH", &one(&app_a.id), Some(json!({ "name": "Aplikasi A" }))).await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Aplikasi A")), "{v}");
    assert_eq!(call(&app, Some(&opd), "PATCH", &one(&app_a.id), Some(json!({ "category": "khusus" }))).await.0, 403);
    assert_eq!(
        call(&app, Some(&opd), "PATCH", &one(&app_a.id), Some(json!({ "name": "Pindah", "owner_opd_id": b }))).await.0,
        403
    );
    assert_eq!(
        call(
            &app,
            Some(&opd),
            "PATCH",
            &one(&app_a.id),
            Some(json!({ "redirect_uris": ["https://a.example.com/cb"] }))
        )
        .await
        .0,
        422
    );
    assert_eq!(call(&app, Some(&sup), "PATCH", &one(&app_a.id), Some(json!({ "category": "semua" }))).await.0, 422);
    let c = app.state.clients.get(db, &app_a.id).await.unwrap().unwrap();
    assert_eq!(
        (c.name.as_str(), c.category.as_str(), c.owner_opd_id.as_deref()),
        ("Aplikasi A", "umum", Some(a.as_str()))
    );
    assert_eq!(c.redirect_uris, vec![app_a.redirect_uri.clone()]);
    let (s, v) =
        call(&app, Some(&sup), "PATCH", &one(&app_a.id), Some(json!({ "category": "khusus", "owner_opd_id": b })))
            .await;
    assert_eq!((s, v["category"].as_str(), v["owner_opd_id"].as_str()), (200, Some("khusus"), Some(b.as_str())));
    assert_eq!(call(&app, Some(&opd), "GET", &one(&app_a.id), None).await.0, 403, "given to B, out of A's hands");
    assert_eq!(call(&app, Some(&opd_b), "GET", &one(&app_a.id), None).await.0, 200);

    // ---- GET /audit with filters: Diskominfo and auditors only.
    for t in [&opd, &opd_b, &dev, &plain] {
        assert_eq!(
            call(&app, Some(t), "GET", &format!("/admin/api/v1/audit?kind=account.&account={staff_a1}"), None).await.0,
            403
        );
    }
    for t in [&sup, &aud] {
        assert!(!audit_rows(&app, t, &format!("&kind=account.&account={staff_a1}")).await.is_empty());
    }
}

#[tokio::test]
async fn a_created_account_is_found_and_its_edits_are_audited_with_before_and_after() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let a = unit(&app, "A", None).await;
    let a1 = unit(&app, "A.1", Some("A")).await;
    let (super_nip, super_id) = person(&app, None, Some("diskominfo-admin")).await;
    let (aud_nip, _) = person(&app, None, Some("auditor")).await;
    let sup = console_token(&app, &super_nip).await;
    let aud = console_token(&app, &aud_nip).await;

    let nip = unique_nip();
    let name = format!("Sekar Ayu {}", uuid::Uuid::new_v4().simple());
    let body = json!({ "nip": nip, "name": name, "opd_id": a, "password": PASSWORD });
    let (s, v) = call(&app, Some(&sup), "POST", "/admin/api/v1/accounts", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let id = v["account"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        (v["account"]["nip"].as_str(), v["account"]["name"].as_str(), v["account"]["status"].as_str()),
        (Some(nip.as_str()), Some(name.as_str()), Some("active"))
    );

    // Found by part of the name and by the NIP's beginning.
    let found = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
    };
    let q = &name[name.len() - 12..];
    let (s, v) = call(&app, Some(&sup), "GET", &format!("/admin/api/v1/accounts?q={q}"), None).await;
    assert_eq!((s, found(&v)), (200, vec![id.clone()]));
    let (s, v) = call(&app, Some(&sup), "GET", &format!("/admin/api/v1/accounts?q={nip}"), None).await;
    assert_eq!((s, found(&v)), (200, vec![id.clone()]));
    // The initial password works.
    let web = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let before_move = sign_in(&app, &web, &nip).await;
    assert_eq!(userinfo(&app, &before_move.access).await, 200);

    let (s, v) = call(
        &app,
        Some(&sup),
        "PATCH",
        &format!("/admin/api/v1/accounts/{id}"),
        Some(json!({ "name": "  Sekar Ayu Lestari ", "opd_id": a1 })),
    )
    .await;
    assert_eq!(
        (s, v["name"].as_str(), v["opd_id"].as_str()),
        (200, Some("Sekar Ayu Lestari"), Some(a1.as_str())),
        "{v}"
    );
    let (_, v) = call(&app, Some(&sup), "GET", &format!("/admin/api/v1/accounts/{id}"), None).await;
    assert_eq!((v["name"].as_str(), v["opd_id"].as_str()), (Some("Sekar Ayu Lestari"), Some(a1.as_str())));

    let updates = audit_rows(&app, &aud, &format!("&kind=account.updated&account={id}")).await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    let e = &updates[0];
    assert_eq!((e["actor"].as_str(), e["subject"].as_str()), (Some(super_id.as_str()), Some(id.as_str())));
    assert_eq!(e["detail"]["before"], json!({ "name": name, "opd_id": a }));
    assert_eq!(e["detail"]["after"], json!({ "name": "Sekar Ayu Lestari", "opd_id": a1 }));
    // The token carried the old unit (and roles inherited through it): the move revoked it.
    assert_eq!(e["detail"]["revoked_grants"], 1);
    assert_eq!(userinfo(&app, &before_move.access).await, 401);
    // An edit that changes nothing records nothing.
    let (s, _) = call(
        &app,
        Some(&sup),
        "PATCH",
        &format!("/admin/api/v1/accounts/{id}"),
        Some(json!({ "name": "Sekar Ayu Lestari", "opd_id": a1 })),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(audit_rows(&app, &aud, &format!("&kind=account.updated&account={id}")).await.len(), 1);
    let created = audit_rows(&app, &aud, &format!("&kind=account.created&account={id}")).await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0]["actor"].as_str(), created[0]["detail"]["opd_id"].as_str()),
        (Some(super_id.as_str()), Some(a.as_str()))
    );
}

#[tokio::test]
async fn bulk_assignment_gives_a_role_to_many_people_and_takes_it_back() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let a = unit(&app, "A", None).await;
    let (opd_nip, _) = person(&app, Some(&a), Some("opd-admin")).await;
    let opd = console_token(&app, &opd_nip).await;
    let client = owned_client(&app, &a).await;
    roles::create(&app.state.db, Some(&client.id), "operator", "", now()).await.unwrap();
    let mut people = Vec::new();
    for _ in 0..3 {
        people.push(person(&app, Some(&a), None).await);
    }
    let items: Vec<Value> = people.iter().map(|(_, id)| bulk_item("operator", Some(&client.id), id)).collect();
    let report = |v: &Value| {
        (v["changed"].as_u64().unwrap(), v["unchanged"].as_u64().unwrap(), v["revoked_grants"].as_u64().unwrap())
    };

    let (s, v) = call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": items }))).await;
    assert_eq!((s, report(&v)), (200, (3, 0, 0)), "{v}");
    for (_, id) in &people {
        let (_, v) = call(&app, Some(&opd), "GET", &format!("/admin/api/v1/accounts/{id}/roles"), None).await;
        assert_eq!(role_pairs(&v["direct"]), vec![pair(&client.id, "operator")]);
        assert_eq!(role_pairs(&v["effective"]), vec![pair(&client.id, "operator")]);
    }
    let (s, v) = call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": items }))).await;
    assert_eq!((s, report(&v)), (200, (0, 3, 0)), "already held");

    // The first person signs in while holding the role: the token carries it.
    let signed = sign_in(&app, &client, &people[0].0).await;
    assert_eq!(userinfo(&app, &signed.access).await, 200);

    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "unassign", "assignments": items }))).await;
    assert_eq!((s, report(&v)), (200, (3, 0, 1)), "{v}");
    assert_eq!(userinfo(&app, &signed.access).await, 401, "a token that carried the role is revoked");
    for (_, id) in &people {
        assert!(direct_roles(&app, &opd, id).await.is_empty());
    }
    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "unassign", "assignments": items }))).await;
    assert_eq!((s, report(&v)), (200, (0, 3, 0)), "no longer held");
}

#[tokio::test]
async fn a_bulk_request_with_one_refused_item_applies_nothing() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let db = &app.state.db;
    let a = unit(&app, "A", None).await;
    let b = unit(&app, "B", None).await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (opd_nip, _) = person(&app, Some(&a), Some("opd-admin")).await;
    let sup = console_token(&app, &super_nip).await;
    let opd = console_token(&app, &opd_nip).await;
    let app_a = owned_client(&app, &a).await;
    let app_b = owned_client(&app, &b).await;
    roles::create(db, Some(&app_a.id), "operator", "", now()).await.unwrap();
    roles::create(db, Some(&app_b.id), "operator", "", now()).await.unwrap();
    let (_, x) = person(&app, Some(&a), None).await;
    let (_, y) = person(&app, Some(&a), None).await;
    let (_, foreign) = person(&app, Some(&b), None).await;
    let own = |id: &str| bulk_item("operator", Some(&app_a.id), id);
    let everyone = [&x, &y, &foreign];

    for (assignments, status, at) in [
        (vec![own(&x), own(&y), own(&foreign)], 403, 2),
        (vec![own(&x), bulk_item("operator", Some(&app_b.id), &y), own(&y)], 403, 1),
        (vec![own(&x), own(&y), bulk_item("auditor", None, &y)], 403, 2),
        // An account an OPD admin cannot find looks like one out of reach: no existence oracle.
        (vec![own(&x), own("no-such-id"), own(&y)], 403, 1),
        (vec![own(&x), own(&y), bulk_item("no-such-role", Some(&app_a.id), &y)], 422, 2),
    ] {
        let (s, v) =
            call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": assignments }))).await;
        assert_eq!(s, status, "{v}");
        assert!(
            v["detail"].as_str().unwrap().starts_with(&format!("assignments[{at}]")),
            "the refused item is named: {v}"
        );
        for id in everyone {
            assert!(direct_roles(&app, &sup, id).await.is_empty(), "nothing applied");
        }
    }
    // The same for removals: the valid items stay assigned.
    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own(&x), own(&y)] })))
            .await;
    assert_eq!((s, v["changed"].as_u64()), (200, Some(2)));
    let (s, _) = call(
        &app,
        Some(&opd),
        "POST",
        BULK,
        Some(json!({ "action": "unassign", "assignments": [own(&x), own(&y), own(&foreign)] })),
    )
    .await;
    assert_eq!(s, 403);
    for id in [&x, &y] {
        assert_eq!(direct_roles(&app, &sup, id).await, vec![pair(&app_a.id, "operator")]);
    }
    let kinds: Vec<String> =
        audit_rows(&app, &sup, "&kind=role.").await.iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, vec!["role.assigned", "role.assigned"], "only the successful request is in the trail");
}

#[tokio::test]
async fn an_ended_session_takes_its_tokens_with_it() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (nip, id) = person(&app, None, None).await;
    let sup = console_token(&app, &super_nip).await;
    let web = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let list = format!("/admin/api/v1/accounts/{id}/sessions");
    assert!(sids(&call(&app, Some(&sup), "GET", &list, None).await.1).is_empty());

    let laptop = sign_in(&app, &web, &nip).await;
    let phone = sign_in(&app, &web, &nip).await;
    let (s, v) = call(&app, Some(&sup), "GET", &list, None).await;
    assert_eq!(s, 200);
    let mut both = vec![laptop.sid.clone(), phone.sid.clone()];
    both.sort();
    assert_eq!(sids(&v), both, "both browser logins are listed under the sids their ID tokens name");
    for s in v.as_array().unwrap() {
        assert!(s["expires_at"].as_i64().unwrap() > s["auth_time"].as_i64().unwrap());
        assert!(!s["amr"].as_array().unwrap().is_empty());
    }

    let (s, _) = call(&app, Some(&sup), "DELETE", &format!("{list}/{}", phone.sid), None).await;
    assert_eq!(s, 204);
    assert_eq!(sids(&call(&app, Some(&sup), "GET", &list, None).await.1), vec![laptop.sid.clone()]);
    assert_eq!(userinfo(&app, &phone.access).await, 401, "the ended session's token is refused");
    assert!(!active(&app, &web, &phone.access).await);
    assert_eq!(userinfo(&app, &laptop.access).await, 200, "the other session's token still works");
    assert!(active(&app, &web, &laptop.access).await);
    assert!(!still_signed_in(&app, &web, &phone.browser).await, "the phone must log in again");
    assert!(still_signed_in(&app, &web, &laptop.browser).await);
    assert_eq!(call(&app, Some(&sup), "DELETE", &format!("{list}/{}", phone.sid), None).await.0, 404);

    let ended = audit_rows(&app, &sup, &format!("&kind=session.ended&account={id}")).await;
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (ended[0]["detail"]["sid"].as_str(), ended[0]["detail"]["revoked_grants"].as_u64()),
        (Some(phone.sid.as_str()), Some(1))
    );
}

#[tokio::test]
async fn a_factor_reset_removes_every_factor_and_ends_every_session() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let db = &app.state.db;
    let (super_nip, super_id) = person(&app, None, Some("diskominfo-admin")).await;
    let (nip, id) = person(&app, None, None).await;
    let sup = console_token(&app, &super_nip).await;
    let web = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let one = sign_in(&app, &web, &nip).await;
    let two = sign_in(&app, &web, &nip).await;
    // Second factors as enrolment leaves them: a confirmed authenticator, a passkey, recovery codes.
    assert!(factor_store::put_pending_totp(db, &id, b"sealed-secret", now()).await.unwrap());
    assert!(factor_store::confirm_totp(db, &id, 1).await.unwrap());
    let key = PasskeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: id.clone(),
        cred_id: format!("cred-{}", uuid::Uuid::new_v4().simple()),
        name: "Kunci keamanan".into(),
        credential: "{}".into(),
        created_at: now(),
        last_used_at: None,
        enrolled_via: None,
        enrolled_level: None,
    };
    passkey_store::insert(db, &key).await.unwrap();
    recovery::generate(db, &app.state.recovery, &id, now()).await.unwrap();
    assert_eq!(Factors::of(db, &id).await.unwrap(), Factors { totp: true, passkeys: true });
    assert_eq!(recovery::remaining(db, &id).await.unwrap(), recovery::COUNT as i64);

    let (s, v) = call(&app, Some(&sup), "POST", &format!("/admin/api/v1/accounts/{id}/factor-reset"), None).await;
    assert_eq!((s, v["sessions_ended"].as_u64()), (200, Some(2)), "{v}");
    assert!(!Factors::of(db, &id).await.unwrap().any());
    assert_eq!(recovery::remaining(db, &id).await.unwrap(), 0);
    assert!(
        sids(&call(&app, Some(&sup), "GET", &format!("/admin/api/v1/accounts/{id}/sessions"), None).await.1).is_empty()
    );
    assert_eq!((userinfo(&app, &one.access).await, userinfo(&app, &two.access).await), (401, 401));
    assert!(!still_signed_in(&app, &web, &one.browser).await && !still_signed_in(&app, &web, &two.browser).await);
    // The password alone logs in again, to enrol anew.
    assert_eq!(userinfo(&app, &sign_in(&app, &web, &nip).await.access).await, 200);

    let rows = audit_rows(&app, &sup, &format!("&kind=account.factors_reset&account={id}")).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["actor"].as_str(), rows[0]["detail"]["sessions_ended"].as_u64()),
        (Some(super_id.as_str()), Some(2))
    );
}

#[tokio::test]
async fn an_edited_redirect_uri_replaces_the_old_one_at_authorize() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_REDIRECT_DOMAINS", "example.go.id,*.example.go.id"),
    ])
    .await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (nip, _) = person(&app, None, None).await;
    let sup = console_token(&app, &super_nip).await;
    let (old, new) =
        ("https://simpeg.example.go.id/lama/cb".to_string(), "https://simpeg.example.go.id/baru/cb".to_string());
    let body = json!({ "client_id": "simpeg-uji", "name": "SIMPEG", "category": "umum", "redirect_uris": [old], "scopes": ["openid", "profile"], "min_level": 1 });
    let (s, v) = call(&app, Some(&sup), "POST", "/admin/api/v1/applications", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let registered = TestClient {
        id: "simpeg-uji".into(),
        secret: v["client_secret"].as_str().map(String::from),
        redirect_uri: old.clone(),
        post_logout_uri: String::new(),
    };
    let rp_old = app.rp(&registered).await;
    let res = browser().get(start_auth(&rp_old, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 200, "the registered URI leads to the login page");

    let (s, v) = call(
        &app,
        Some(&sup),
        "PATCH",
        "/admin/api/v1/applications/simpeg-uji",
        Some(json!({ "redirect_uris": [new] })),
    )
    .await;
    assert_eq!((s, v["redirect_uris"].clone()), (200, json!([new])), "{v}");
    let res = browser().get(start_auth(&rp_old, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 400, "the old URI is refused");
    assert!(res.headers().get("location").is_none(), "and nobody is sent to it");
    let moved = TestClient { redirect_uri: new.clone(), ..registered };
    assert_eq!(
        userinfo(&app, &sign_in(&app, &moved, &nip).await.access).await,
        200,
        "the new URI completes a login, with the secret given at registration"
    );

    let rows = audit_rows(&app, &sup, "&kind=application.updated").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["detail"]["client_id"], "simpeg-uji");
    assert_eq!(
        (rows[0]["detail"]["before"]["redirect_uris"].clone(), rows[0]["detail"]["after"]["redirect_uris"].clone()),
        (json!([old]), json!([new]))
    );
}

#[tokio::test]
async fn audit_filters_return_exactly_the_matching_rows() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let a = unit(&app, "A", None).await;
    let (super_nip, super_id) = person(&app, None, Some("diskominfo-admin")).await;
    let (opd_nip, opd_id) = person(&app, Some(&a), Some("opd-admin")).await;
    let (aud_nip, _) = person(&app, None, Some("auditor")).await;
    let (_, x) = person(&app, Some(&a), None).await;
    let (y_nip, y) = person(&app, Some(&a), None).await;
    let sup = console_token(&app, &super_nip).await;
    let opd = console_token(&app, &opd_nip).await;
    let aud = console_token(&app, &aud_nip).await;
    let client = owned_client(&app, &a).await;
    roles::create(&app.state.db, Some(&client.id), "operator", "", now()).await.unwrap();

    // Events of several kinds, actors and subjects.
    let acct = |id: &str| format!("/admin/api/v1/accounts/{id}");
    assert_eq!(call(&app, Some(&sup), "PATCH", &acct(&x), Some(json!({ "name": "Pegawai X" }))).await.0, 200);
    assert_eq!(
        call(&app, Some(&sup), "PUT", &format!("{}/status", acct(&y)), Some(json!({ "status": "suspended" }))).await.0,
        200
    );
    assert_eq!(
        call(
            &app,
            Some(&opd),
            "POST",
            BULK,
            Some(json!({ "action": "assign", "assignments": [bulk_item("operator", Some(&client.id), &x)] }))
        )
        .await
        .0,
        200
    );
    assert_eq!(call(&app, Some(&sup), "PATCH", &acct(&opd_id), Some(json!({ "name": "Admin OPD A" }))).await.0, 200);
    assert_eq!(
        call(&app, Some(&sup), "POST", "/admin/api/v1/accounts", Some(json!({ "nip": unique_nip(), "name": "Baru" })))
            .await
            .0,
        201
    );
    let rp = app.rp(&client).await;
    let b = browser();
    let html = b.get(start_auth(&rp, &[]).url).send().await.unwrap().text().await.unwrap();
    submit_login(&app, &b, &html, &y_nip, "bukan-kata-sandinya").await;

    let all = audit_rows(&app, &aud, "").await;
    let seqs = |rows: &[Value]| -> Vec<i64> { rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect() };
    let kind = |r: &Value| r["kind"].as_str().unwrap().to_string();
    let involves = |r: &Value, id: &str| r["actor"] == id || r["subject"] == id;
    // Each filter returns exactly the rows of the whole trail that match it, newest first.
    let (app_r, aud_r, all_r) = (&app, &aud, &all);
    let check = move |filter: String, keep: Box<dyn Fn(&Value) -> bool>| {
        let want: Vec<i64> = all_r.iter().filter(|r| keep(r)).map(|r| r["seq"].as_i64().unwrap()).collect();
        async move {
            let got = seqs(&audit_rows(app_r, aud_r, &filter).await);
            assert_eq!(got, want, "{filter}");
            got.len()
        }
    };
    assert!(check("&kind=account.".into(), Box::new(move |r: &Value| kind(r).starts_with("account."))).await >= 4);
    assert_eq!(
        check("&kind=account.status_changed".into(), Box::new(move |r: &Value| kind(r) == "account.status_changed"))
            .await,
        1
    );
    assert_eq!(
        check("&kind=account.status".into(), Box::new(move |r: &Value| kind(r).starts_with("account.status"))).await,
        1
    );
    assert_eq!(check("&kind=role.".into(), Box::new(move |r: &Value| kind(r).starts_with("role."))).await, 1);
    assert_eq!(
        check("&kind=login.".into(), Box::new(move |r: &Value| kind(r).starts_with("login."))).await,
        4,
        "three console logins and the failure"
    );
    // `%` and `_` are characters of a prefix, not wildcards.
    assert_eq!(check("&kind=%25".into(), Box::new(move |r: &Value| kind(r).starts_with('%'))).await, 0);
    assert_eq!(check("&kind=account_".into(), Box::new(move |r: &Value| kind(r).starts_with("account_"))).await, 0);
    assert_eq!(
        check("&kind=account%25updated".into(), Box::new(move |r: &Value| kind(r).starts_with("account%updated")))
            .await,
        0
    );
    let xs = x.clone();
    assert!(check(format!("&account={x}"), Box::new(move |r: &Value| involves(r, &xs))).await >= 2);
    let ys = y.clone();
    assert!(
        check(format!("&account={y}"), Box::new(move |r: &Value| involves(r, &ys))).await >= 2,
        "the status change and the failed login"
    );
    let os = opd_id.clone();
    let opd_rows = audit_rows(&app, &aud, &format!("&account={opd_id}")).await;
    assert!(
        opd_rows.iter().any(|r| r["actor"] == opd_id.as_str() && r["kind"] == "role.assigned"),
        "rows where the account acted"
    );
    assert!(
        opd_rows.iter().any(|r| r["subject"] == opd_id.as_str()
            && r["kind"] == "account.updated"
            && r["actor"] == super_id.as_str()),
        "and rows about it"
    );
    assert_eq!(
        check(
            format!("&kind=role.&account={opd_id}"),
            Box::new(move |r: &Value| kind(r).starts_with("role.") && involves(r, &os))
        )
        .await,
        1
    );
    assert_eq!(check("&account=no-such-id".into(), Box::new(|_: &Value| false)).await, 0);
    // Time bounds: `since` inclusive, `until` exclusive.
    let status_row = all.iter().find(|r| r["kind"] == "account.status_changed").unwrap().clone();
    let t = status_row["at"].as_i64().unwrap();
    let s = status_row["seq"].as_i64().unwrap();
    assert!(seqs(&audit_rows(&app, &aud, &format!("&since={t}")).await).contains(&s));
    assert!(!seqs(&audit_rows(&app, &aud, &format!("&until={t}")).await).contains(&s));
    assert!(seqs(&audit_rows(&app, &aud, &format!("&since={t}&until={}", t + 1)).await).contains(&s));
    assert!(!seqs(&audit_rows(&app, &aud, &format!("&since={}", t + 1)).await).contains(&s));
    assert!(check(format!("&since={t}"), Box::new(move |r: &Value| r["at"].as_i64().unwrap() >= t)).await >= 1);
    check(format!("&until={t}"), Box::new(move |r: &Value| r["at"].as_i64().unwrap() < t)).await;
    check(format!("&since={t}&until={}", t + 1), Box::new(move |r: &Value| r["at"].as_i64().unwrap() == t)).await;
}

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

    // Twenty approvals at once: one wins, the rest are told it was decided, one client exists.
    let before = clients::list(&app.state.db).await.unwrap().len();
    let mut racing = Vec::new();
    for _ in 0..20 {
        let (url, sup) = (app.url(&decision), sup.clone());
        racing.push(tokio::spawn(async move {
            let res = http_client().post(url).bearer_auth(sup).json(&json!({ "decision": "approve" })).send().await;
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
