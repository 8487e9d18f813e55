//! SCIM 2.0 at /scim/v2: a provisioning client creates, finds, changes and deactivates civil
//! servants and units with a bearer token; every refusal is a SCIM error with the exact status
//! and scimType; a token limited to an OPD unit sees and touches only that subtree.

use gerbang::ops::{Operator, Principal};
use gerbang::scim::{ASN, GROUP, OPD, PATCH_OP, USER};
use gerbang::state::now;
use reqwest::header::{HeaderMap, CONTENT_TYPE, ETAG, LOCATION};
use serde_json::{json, Value};

use crate::common::{http_client, opd_unit, unique_nip, Gerbang, TestApp};

mod guards;

async fn token(app: &TestApp, name: &str, opd: Option<&str>) -> String {
    let who = Principal::Operator(Operator::local());
    let (_, t) = gerbang::ops::scim::create_token(&app.state, &who, name, opd, now()).await.expect("token");
    t.expose().clone()
}

struct Res {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Res {
    fn scim_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]), "{}", self.body);
        assert_eq!(self.body["status"], status.to_string());
        assert_eq!(self.body["scimType"].as_str(), scim_type, "{}", self.body);
        assert_eq!(self.headers[CONTENT_TYPE], "application/scim+json");
    }
}

async fn send(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Res {
    let mut req = http_client().request(method.parse().unwrap(), app.url(&format!("/scim/v2{path}")));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(b) = body {
        req = req.header(CONTENT_TYPE, "application/scim+json").body(b.to_string());
    }
    if let Some(m) = if_match {
        req = req.header("if-match", m);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Res { status, headers, body }
}

fn user(nip: &str, name: &str, unit_code: &str) -> Value {
    json!({
        "schemas": [USER, ASN],
        "userName": nip,
        "externalId": format!("simpeg-{nip}"),
        "name": { "formatted": name },
        "emails": [{ "value": format!("{nip}@jemberkab.go.id"), "type": "work", "primary": true }],
        ASN: { "nip": nip, "unit": { "code": unit_code }, "jabatan": "Analis Kebijakan", "golongan": "III/b", "eselon": "non-eselon" },
    })
}

fn patch(ops: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": ops })
}

#[tokio::test]
async fn discovery_documents_describe_users_groups_and_the_extensions() {
    let app = TestApp::spawn().await;
    let r = send(&app, "", "GET", "/ServiceProviderConfig", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers[CONTENT_TYPE], "application/scim+json");
    assert_eq!(
        (r.body["patch"]["supported"].as_bool(), r.body["etag"]["supported"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(r.body["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let r = send(&app, "", "GET", "/ResourceTypes", None, None).await;
    assert_eq!(r.body["totalResults"], 2);
    let r = send(&app, "", "GET", "/ResourceTypes/User", None, None).await;
    assert_eq!(r.body["schemaExtensions"][0]["schema"], ASN);
    let r = send(&app, "", "GET", &format!("/Schemas/{ASN}"), None, None).await;
    let names: Vec<&str> = r.body["attributes"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    for n in ["nip", "unit", "jabatan", "golongan", "pangkat", "eselon"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    let r = send(&app, "", "GET", "/Schemas", None, None).await;
    assert_eq!(r.body["totalResults"], 4);
    send(&app, "", "GET", "/Schemas/urn:nope", None, None).await.scim_error(404, None);
}

#[tokio::test]
async fn users_are_created_read_filtered_and_audited() {
    let app = TestApp::spawn().await;
    opd_unit(&app, "3509.10", None).await;
    let t = token(&app, "simpeg", None).await;
    let (n1, n2, n3) = (unique_nip(), unique_nip(), unique_nip());
    let created = send(&app, &t, "POST", "/Users", Some(user(&n1, "Siti Aminah", "3509.10")), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.headers[LOCATION].to_str().unwrap(), app.url(&format!("/scim/v2/Users/{id}")));
    assert_eq!(created.headers[ETAG].to_str().unwrap(), created.body["meta"]["version"].as_str().unwrap());
    assert_eq!(created.body["userName"], n1.as_str());
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body[ASN]["golongan"], "III/b");
    assert_eq!(created.body[ASN]["unit"]["code"], "3509.10");
    let got = send(&app, &t, "GET", &format!("/Users/{id}"), None, None).await;
    assert_eq!(got.body, created.body);
    // A listing reads its rows in one query: each must still be exactly what a GET shows.
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("filter", &format!("userName eq \"{n1}\""))
        .finish();
    let listed = send(&app, &t, "GET", &format!("/Users?{q}"), None, None).await;
    assert_eq!(listed.body["Resources"], json!([got.body]), "{}", listed.body);
    for (nip, name) in [(&n2, "Budi Santoso"), (&n3, "Budi Hartono")] {
        assert_eq!(send(&app, &t, "POST", "/Users", Some(user(nip, name, "3509.10")), None).await.status, 201);
    }
    let find = |f: String| {
        let (app, t) = (&app, &t);
        async move {
            let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("filter", &f).finish();
            let r = send(app, t, "GET", &format!("/Users?{q}"), None, None).await;
            assert_eq!(r.status, 200, "{f}: {}", r.body);
            let mut names: Vec<String> = r.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_string())
                .collect();
            names.sort();
            assert_eq!(r.body["totalResults"], names.len());
            names
        }
    };
    let mut all = vec![n1.clone(), n2.clone(), n3.clone()];
    all.sort();
    assert_eq!(find(format!("userName eq \"{n1}\"")).await, vec![n1.clone()]);
    assert_eq!(find(format!("externalId eq \"simpeg-{n2}\"")).await, vec![n2.clone()]);
    assert_eq!(find(format!("emails co \"{}@JEMBERKAB\"", &n3[10..])).await, vec![n3.clone()]);
    assert_eq!(find(format!("{ASN}:nip eq \"{n2}\"")).await, vec![n2.clone()]);
    assert_eq!(find(format!("userName sw \"{}\"", &n1[..8])).await, all);
    assert_eq!(find("externalId pr and active eq true".into()).await, all);
    assert_eq!(find(format!("userName eq \"{n1}\" or userName eq \"{n3}\"")).await, {
        let mut v = vec![n1.clone(), n3.clone()];
        v.sort();
        v
    });
    assert_eq!(find(format!("not (userName eq \"{n1}\") and displayName sw \"budi\"")).await.len(), 2);
    assert!(find("emails co \"%\"".into()).await.is_empty(), "LIKE wildcards in values are literal");
    // externalId is case-exact (RFC 7643): substring operators honour case on both databases.
    assert_eq!(find("externalId sw \"simpeg-\"".into()).await, all);
    assert!(find("externalId sw \"SIMPEG-\"".into()).await.is_empty());
    assert!(find("externalId co \"PEG-\"".into()).await.is_empty());
    assert_eq!(find("externalId co \"peg-\"".into()).await, all);
    assert_eq!(find(format!("externalId ew \"{}\"", &n2[4..])).await, vec![n2.clone()]);
    assert!(find(format!("externalId ew \"X{n2}\"")).await.is_empty());
    assert!(find(format!("externalId ew \"-simpeg-{n2}\"")).await.is_empty(), "longer than the value");
    assert!(find("externalId sw \"simpeg_\"".into()).await.is_empty(), "`_` is literal");
    assert_eq!(find("externalId co \"\"".into()).await, all);
    send(&app, &t, "GET", "/Users?filter=userName%20gt%20%221%22", None, None)
        .await
        .scim_error(400, Some("invalidFilter"));
    send(&app, &t, "GET", "/Users?filter=password%20eq%20%221%22", None, None)
        .await
        .scim_error(400, Some("invalidFilter"));
    let trail = gerbang::audit::list(&app.state.db, 100, Some(&id)).await.unwrap();
    assert!(trail.iter().any(|r| r.kind == "account.created" && r.actor == "scim:simpeg"), "{trail:?}");
}

#[tokio::test]
async fn listings_are_paginated() {
    let app = TestApp::spawn().await;
    opd_unit(&app, "3509.11", None).await;
    let t = token(&app, "simpeg", None).await;
    for i in 0..5 {
        let r =
            send(&app, &t, "POST", "/Users", Some(user(&unique_nip(), &format!("Pegawai {i}"), "3509.11")), None).await;
        assert_eq!(r.status, 201);
    }
    let mut seen = Vec::new();
    for start in [1, 3, 5] {
        let r = send(&app, &t, "GET", &format!("/Users?startIndex={start}&count=2"), None, None).await;
        assert_eq!((r.body["totalResults"].as_i64(), r.body["startIndex"].as_i64()), (Some(5), Some(start)));
        assert_eq!(r.body["itemsPerPage"], if start == 5 { 1 } else { 2 });
        seen.extend(r.body["Resources"].as_array().unwrap().iter().map(|u| u["id"].clone()));
    }
    seen.dedup();
    assert_eq!(seen.len(), 5, "pages do not overlap");
    let r = send(&app, &t, "GET", "/Users?count=0", None, None).await;
    assert_eq!((r.body["totalResults"].as_i64(), r.body["itemsPerPage"].as_i64()), (Some(5), Some(0)));
    let r = send(&app, &t, "GET", "/Users?startIndex=0&count=1", None, None).await;
    assert_eq!(r.body["startIndex"], 1, "startIndex below 1 is 1");
    send(&app, &t, "GET", "/Users?startIndex=x", None, None).await.scim_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn patch_adds_replaces_and_removes_with_etags() {
    let app = TestApp::spawn().await;
    opd_unit(&app, "3509.12", None).await;
    opd_unit(&app, "3509.13", None).await;
    let t = token(&app, "simpeg", None).await;
    let nip = unique_nip();
    let created = send(&app, &t, "POST", "/Users", Some(user(&nip, "Siti Aminah", "3509.12")), None).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let v1 = created.body["meta"]["version"].as_str().unwrap().to_string();
    let ops = patch(json!([
        { "op": "replace", "path": "name.formatted", "value": "Siti Aminah, S.Kom." },
        { "op": "add", "path": "phoneNumbers", "value": [{ "value": "081234567890", "type": "work" }] },
        { "op": "remove", "path": format!("{ASN}:jabatan") },
        { "op": "replace", "path": format!("{ASN}:unit"), "value": { "code": "3509.13" } },
        { "op": "replace", "value": { ASN: { "golongan": "iv/a", "pangkat": "Pembina" } } },
        { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "siti@jemberkab.go.id" },
    ]));
    let r = send(&app, &t, "PATCH", &format!("/Users/{id}"), Some(ops), Some(&v1)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "Siti Aminah, S.Kom.");
    assert_eq!(r.body["phoneNumbers"][0]["value"], "+6281234567890");
    assert_eq!(r.body["emails"][0]["value"], "siti@jemberkab.go.id");
    assert!(r.body[ASN].get("jabatan").is_none());
    assert_eq!((r.body[ASN]["golongan"].as_str(), r.body[ASN]["pangkat"].as_str()), (Some("IV/a"), Some("Pembina")));
    assert_eq!(r.body[ASN]["unit"]["code"], "3509.13");
    let v2 = r.body["meta"]["version"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);
    let again = patch(json!([{ "op": "replace", "path": "displayName", "value": "X" }]));
    send(&app, &t, "PATCH", &format!("/Users/{id}"), Some(again.clone()), Some(&v1)).await.scim_error(412, None);
    // Two changes made against the same version: exactly one is applied.
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (app_url, t, v2) = (app.url(&format!("/scim/v2/Users/{id}")), t.clone(), v2.clone());
            tokio::spawn(async move {
                let body = patch(json!([{ "op": "replace", "path": "displayName", "value": format!("Nama {i}") }]));
                http_client()
                    .patch(app_url)
                    .bearer_auth(t)
                    .header("if-match", v2)
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 412, 412, 412]);
    // PUT replaces: what it leaves out is removed.
    let mut body = user(&nip, "Siti Aminah", "3509.12");
    body[ASN] = json!({ "unit": { "code": "3509.12" } });
    body.as_object_mut().unwrap().remove("emails");
    let r = send(&app, &t, "PUT", &format!("/Users/{id}"), Some(body), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("emails").is_none() && r.body[ASN].get("golongan").is_none());
    let trail = gerbang::audit::list(&app.state.db, 100, Some(&id)).await.unwrap();
    assert!(trail.iter().filter(|r| r.kind == "account.updated" && r.actor == "scim:simpeg").count() >= 3, "{trail:?}");
}

#[tokio::test]
async fn deactivation_suspends_the_account_and_reactivation_restores_it() {
    let app = TestApp::spawn().await;
    opd_unit(&app, "3509.14", None).await;
    let t = token(&app, "simpeg", None).await;
    let created = send(&app, &t, "POST", "/Users", Some(user(&unique_nip(), "Pensiunan", "3509.14")), None).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let off = patch(json!([{ "op": "replace", "path": "active", "value": false }]));
    let r = send(&app, &t, "PATCH", &format!("/Users/{id}"), Some(off), None).await;
    assert_eq!(
        (r.status, r.body["active"].as_bool(), r.body[ASN]["status"].as_str()),
        (200, Some(false), Some("suspended"))
    );
    let a = gerbang::identity::accounts::get(&app.state.db, &id).await.unwrap().unwrap();
    assert_eq!(a.status.as_str(), "suspended");
    let retired = patch(json!([{ "op": "replace", "path": format!("{ASN}:status"), "value": "retired" }]));
    let r = send(&app, &t, "PATCH", &format!("/Users/{id}"), Some(retired), None).await;
    assert_eq!(r.body[ASN]["status"], "retired");
    let filtered = send(&app, &t, "GET", "/Users?filter=active%20eq%20false", None, None).await;
    assert_eq!(filtered.body["totalResults"], 1);
    let on = patch(json!([{ "op": "replace", "value": { "active": true } }]));
    let r = send(&app, &t, "PATCH", &format!("/Users/{id}"), Some(on), None).await;
    assert_eq!(r.body[ASN]["status"], "active");
    let trail = gerbang::audit::list(&app.state.db, 100, Some(&id)).await.unwrap();
    let changes = trail.iter().filter(|r| r.kind == "account.status_changed" && r.actor == "scim:simpeg").count();
    assert_eq!(changes, 3, "{trail:?}");
}
