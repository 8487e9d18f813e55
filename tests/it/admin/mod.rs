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

mod changes;
mod matrix;
mod powers;

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
