//! SCIM refusals and guards: errors for every bad request, the OPD subtree limit, races on one
//! NIP, token revocation, deactivation ending sessions, generated bodies.

use super::*;

#[tokio::test]
async fn every_refusal_is_a_scim_error() {
    let app = TestApp::spawn().await;
    opd_unit(&app, "3509.15", None).await;
    let t = token(&app, "simpeg", None).await;
    let nip = unique_nip();
    let created = send(&app, &t, "POST", "/Users", Some(user(&nip, "Siti", "3509.15")), None).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    send(&app, "", "GET", "/Users", None, None).await.scim_error(401, None);
    send(&app, "gsc_wrong", "GET", "/Users", None, None).await.scim_error(401, None);
    let raw = http_client().post(app.url("/scim/v2/Users")).bearer_auth(&t).body("{not json").send().await.unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(raw.json::<Value>().await.unwrap()["scimType"], "invalidSyntax");
    let big = "x".repeat(app.state.config.max_body_bytes + 10);
    let raw = http_client().post(app.url("/scim/v2/Users")).bearer_auth(&t).body(big).send().await.unwrap();
    assert_eq!(raw.status(), 413);
    assert_eq!(raw.json::<Value>().await.unwrap()["status"], "413");
    let mut no_schema = user(&unique_nip(), "A", "3509.15");
    no_schema.as_object_mut().unwrap().remove("schemas");
    let cases: Vec<(Value, u16, Option<&str>)> = vec![
        (no_schema, 400, Some("invalidSyntax")),
        (user("12345", "A", "3509.15"), 400, Some("invalidValue")),
        (user(&nip, "Lagi", "3509.15"), 409, Some("uniqueness")),
        (user(&unique_nip(), "A", "9999"), 400, Some("invalidValue")),
        (
            json!({ "schemas": [USER], "userName": unique_nip(), "displayName": "A", ASN: { "golongan": "Z/z", "unit": "3509.15" } }),
            400,
            Some("invalidValue"),
        ),
        (json!({ "schemas": [USER], "userName": unique_nip(), ASN: { "unit": "3509.15" } }), 400, Some("invalidValue")),
        (json!({ "schemas": [USER], "userName": unique_nip(), "displayName": "A" }), 400, Some("invalidValue")),
        (
            json!({ "schemas": [USER], "userName": unique_nip(), "displayName": "A", "active": "yes", ASN: { "unit": "3509.15" } }),
            400,
            Some("invalidValue"),
        ),
        (json!([1, 2]), 400, Some("invalidSyntax")),
    ];
    for (body, status, scim_type) in cases {
        send(&app, &t, "POST", "/Users", Some(body.clone()), None).await.scim_error(status, scim_type);
    }
    let path = format!("/Users/{id}");
    let patches: Vec<(Value, Option<&str>)> = vec![
        (patch(json!([{ "op": "replace", "path": "userName", "value": unique_nip() }])), Some("mutability")),
        (patch(json!([{ "op": "replace", "path": "id", "value": "x" }])), Some("mutability")),
        (patch(json!([{ "op": "jump", "path": "displayName", "value": "x" }])), Some("invalidSyntax")),
        (patch(json!([{ "op": "remove" }])), Some("noTarget")),
        (
            patch(json!([{ "op": "replace", "path": "emails[type eq \"home\"].value", "value": "a@b.id" }])),
            Some("noTarget"),
        ),
        (patch(json!([{ "op": "replace", "path": "a..b", "value": "x" }])), Some("invalidPath")),
        (
            patch(json!([{ "op": "replace", "path": "emails", "value": [{ "value": "bukan-alamat" }] }])),
            Some("invalidValue"),
        ),
        (json!({ "Operations": [] }), Some("invalidSyntax")),
    ];
    for (body, scim_type) in patches {
        send(&app, &t, "PATCH", &path, Some(body), None).await.scim_error(400, scim_type);
    }
    send(&app, &t, "GET", "/Users/no-such-id", None, None).await.scim_error(404, None);
    send(&app, &t, "PATCH", "/Users/5f0c6a53-2d7e-4c1b-9a8e-0b1f2c3d4e5f", Some(patch(json!([]))), None)
        .await
        .scim_error(404, None);
    send(&app, &t, "DELETE", &path, None, None).await.scim_error(501, None);
    send(&app, &t, "GET", "/Nothing", None, None).await.scim_error(404, None);
    send(&app, &t, "DELETE", "/Users", None, None).await.scim_error(405, None);
    let after = send(&app, &t, "GET", &path, None, None).await;
    assert_eq!(after.body, created.body, "no refused request changed anything");
}

#[tokio::test]
async fn a_token_limited_to_a_unit_sees_and_changes_only_its_subtree() {
    let app = TestApp::spawn().await;
    let a = opd_unit(&app, "3509.20", None).await;
    opd_unit(&app, "3509.20.1", Some("3509.20")).await;
    opd_unit(&app, "3509.21", None).await;
    let region = token(&app, "bkpsdm", None).await;
    let limited = token(&app, "dinas-20", Some("3509.20")).await;
    let inside = send(&app, &region, "POST", "/Users", Some(user(&unique_nip(), "Di Dalam", "3509.20.1")), None).await;
    let outside = send(&app, &region, "POST", "/Users", Some(user(&unique_nip(), "Di Luar", "3509.21")), None).await;
    let (inside, outside) =
        (inside.body["id"].as_str().unwrap().to_string(), outside.body["id"].as_str().unwrap().to_string());
    let r = send(&app, &limited, "GET", "/Users", None, None).await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], inside.as_str());
    send(&app, &limited, "GET", &format!("/Users/{outside}"), None, None).await.scim_error(404, None);
    let off = patch(json!([{ "op": "replace", "path": "active", "value": false }]));
    send(&app, &limited, "PATCH", &format!("/Users/{outside}"), Some(off), None).await.scim_error(404, None);
    send(&app, &limited, "POST", "/Users", Some(user(&unique_nip(), "Baru", "3509.21")), None)
        .await
        .scim_error(403, None);
    let away = patch(json!([{ "op": "replace", "path": format!("{ASN}:unit"), "value": { "code": "3509.21" } }]));
    send(&app, &limited, "PATCH", &format!("/Users/{inside}"), Some(away), None).await.scim_error(403, None);
    let r = send(&app, &limited, "GET", "/Groups", None, None).await;
    let codes: Vec<&str> =
        r.body["Resources"].as_array().unwrap().iter().map(|g| g[OPD]["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["3509.20", "3509.20.1"]);
    let top = json!({ "schemas": [GROUP], "displayName": "Badan Baru", OPD: { "code": "3509.30", "kind": "badan" } });
    send(&app, &limited, "POST", "/Groups", Some(top.clone()), None).await.scim_error(403, None);
    let below = json!({ "schemas": [GROUP], "displayName": "Bidang Baru", OPD: { "code": "3509.20.2", "kind": "bidang", "parent": { "value": a } } });
    assert_eq!(send(&app, &limited, "POST", "/Groups", Some(below), None).await.status, 201);
    assert_eq!(
        send(&app, &region, "POST", "/Groups", Some(top), None).await.status,
        201,
        "a region-wide token makes top-level units"
    );
}

#[tokio::test]
async fn groups_are_created_renamed_and_list_their_members() {
    let app = TestApp::spawn().await;
    let t = token(&app, "simpeg", None).await;
    let body = json!({ "schemas": [GROUP, OPD], "displayName": "Dinas Kesehatan", "externalId": "unor-17", OPD: { "code": "3509.40", "kind": "dinas" } });
    let g = send(&app, &t, "POST", "/Groups", Some(body), None).await;
    assert_eq!(g.status, 201, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_string();
    assert_eq!(g.body["externalId"], "unor-17");
    let u = send(&app, &t, "POST", "/Users", Some(user(&unique_nip(), "Dokter", "3509.40")), None).await;
    let uid = u.body["id"].as_str().unwrap();
    let g = send(&app, &t, "GET", &format!("/Groups/{gid}"), None, None).await;
    assert_eq!(g.body["members"][0]["value"], uid);
    let slim = send(&app, &t, "GET", "/Groups?excludedAttributes=members", None, None).await;
    assert!(slim.body["Resources"][0].get("members").is_none() && slim.body["Resources"][0]["id"] == gid.as_str());
    let only = send(&app, &t, "GET", &format!("/Users/{uid}?attributes=userName,{ASN}:golongan"), None, None).await;
    let mut keys: Vec<&String> = only.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["id", "meta", "schemas", ASN, "userName"]);
    assert_eq!(only.body[ASN], json!({ "golongan": "III/b" }));
    let rename = patch(json!([{ "op": "replace", "path": "displayName", "value": "Dinas Kesehatan Kabupaten" }]));
    let r = send(
        &app,
        &t,
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(rename),
        Some(g.body["meta"]["version"].as_str().unwrap()),
    )
    .await;
    assert_eq!((r.status, r.body["displayName"].as_str()), (200, Some("Dinas Kesehatan Kabupaten")));
    let members = patch(json!([{ "op": "add", "path": "members", "value": [{ "value": "someone" }] }]));
    send(&app, &t, "PATCH", &format!("/Groups/{gid}"), Some(members), None).await.scim_error(400, Some("mutability"));
    let code = patch(json!([{ "op": "replace", "path": format!("{OPD}:code"), "value": "9" }]));
    send(&app, &t, "PATCH", &format!("/Groups/{gid}"), Some(code), None).await.scim_error(400, Some("mutability"));
    let r = send(&app, &t, "GET", "/Groups?filter=displayName%20sw%20%22dinas%20kes%22", None, None).await;
    assert_eq!(r.body["totalResults"], 1);
    let dup = json!({ "schemas": [GROUP], "displayName": "Lagi", OPD: { "code": "3509.40", "kind": "dinas" } });
    send(&app, &t, "POST", "/Groups", Some(dup), None).await.scim_error(409, Some("uniqueness"));
    send(&app, &t, "DELETE", &format!("/Groups/{gid}"), None, None).await.scim_error(501, None);
    let trail = gerbang::audit::search(
        &app.state.db,
        &gerbang::audit::Filter { kind: "opd.".into(), limit: 50, ..Default::default() },
    )
    .await
    .unwrap();
    assert!(trail.iter().any(|r| r.kind == "opd.updated" && r.actor == "scim:simpeg"), "{trail:?}");
}

#[tokio::test]
async fn concurrent_creation_of_one_nip_makes_one_account() {
    let app = TestApp::spawn().await;
    opd_unit(&app, "3509.50", None).await;
    let t = token(&app, "simpeg", None).await;
    let body = user(&unique_nip(), "Kembar", "3509.50").to_string();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (url, t, body) = (app.url("/scim/v2/Users"), t.clone(), body.clone());
            tokio::spawn(async move {
                http_client().post(url).bearer_auth(t).body(body).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![201, 409, 409, 409, 409]);
}

#[tokio::test]
async fn tokens_come_from_the_command_line_and_revocation_is_immediate() {
    let app = TestApp::spawn().await;
    let cfg = &app.state.config;
    let run = |args: &[&str]| {
        let out = Gerbang::new(args).on(cfg).run();
        (Some(out.code), serde_json::from_str::<Value>(out.stdout.trim()).unwrap_or(Value::String(out.stdout)))
    };
    opd_unit(&app, "3509.60", None).await;
    let (code, out) = run(&["scim", "token", "create", "--name", "simpeg", "--opd", "3509.60", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    let t = out["token"].as_str().unwrap().to_string();
    assert!(t.starts_with("gsc_"));
    assert_eq!(send(&app, &t, "GET", "/Users", None, None).await.status, 200);
    let (code, out) = run(&["scim", "token", "create", "--name", "simpeg", "--json"]);
    assert_eq!((code, out["error"].as_str()), (Some(1), Some("conflict")), "{out}");
    let (_, out) = run(&["scim", "token", "create", "--name", "x", "--opd", "0000", "--json"]);
    assert_eq!(out["error"], "not_found");
    let (_, out) = run(&["scim", "token", "list", "--json"]);
    assert_eq!(out["tokens"][0]["name"], "simpeg");
    assert!(out.to_string().find(&t).is_none(), "the list never shows a token");
    let (code, _) = run(&["scim", "token", "revoke", "--name", "simpeg", "--json"]);
    assert_eq!(code, Some(0));
    send(&app, &t, "GET", "/Users", None, None).await.scim_error(401, None);
    let trail = gerbang::audit::search(
        &app.state.db,
        &gerbang::audit::Filter { kind: "scim.".into(), limit: 10, ..Default::default() },
    )
    .await
    .unwrap();
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert!(trail.iter().all(|r| r.actor == "cli:local"));
}

#[tokio::test]
async fn deactivation_through_scim_ends_the_persons_tokens_and_single_sign_on() {
    use crate::common::{browser, location, login, redeem, start_auth, PASSWORD};
    use gerbang::oidc::clients::GrantType;
    let app = TestApp::spawn().await;
    let unit = opd_unit(&app, "3509.70", None).await;
    let nip = unique_nip();
    let mut person = app.asn(&nip, "Akan Pensiun").await;
    person.opd_id = Some(unit);
    gerbang::identity::accounts::save_profile(&app.state.db, &person, now()).await.unwrap();
    let c =
        app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true).await;
    let rp = app.rp(&c).await;
    let b = browser();
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &b, &start.url, &nip, PASSWORD).await;
    let tokens = redeem(&rp, &cb, start.verifier).await;
    use openidconnect::OAuth2TokenResponse;
    let refresh = tokens.refresh_token().expect("refresh token").secret().clone();
    let access = tokens.access_token().secret().clone();
    let again = b.get(start_auth(&rp, &["profile"]).url).send().await.unwrap();
    assert_eq!(again.status(), 303, "single sign-on works before");

    let t = token(&app, "simpeg", None).await;
    let off = patch(json!([{ "op": "replace", "path": "active", "value": false }]));
    let r = send(&app, &t, "PATCH", &format!("/Users/{}", person.id), Some(off), None).await;
    assert_eq!((r.status, r.body["active"].as_bool()), (200, Some(false)), "{}", r.body);

    let res = http_client()
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let res = http_client().get(app.url("/userinfo")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let after = b.get(start_auth(&rp, &["profile"]).url).send().await.unwrap();
    let code_issued = after.status() == 303 && location(&after).contains("code=");
    assert!(!code_issued, "the single sign-on session no longer logs the person in");
}

/// Generated JSON (SCIM-shaped keys, hostile values) and raw bytes to every writing endpoint:
/// never a 5xx, and every refusal a SCIM error with a detail.
#[test]
fn generated_bodies_get_scim_errors_never_server_errors() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, t, user_id, group_id) = rt.block_on(async {
        let app = TestApp::spawn_with(&[("GERBANG_RATE_LIMITS", "off")]).await;
        let group_id = opd_unit(&app, "3509.90", None).await;
        let t = token(&app, "fuzz", None).await;
        let r = send(&app, &t, "POST", "/Users", Some(user(&unique_nip(), "Uji", "3509.90")), None).await;
        (app, t, r.body["id"].as_str().unwrap().to_string(), group_id)
    });
    let keys = prop::sample::select(vec![
        "schemas",
        "userName",
        "name",
        "formatted",
        "givenName",
        "displayName",
        "active",
        "emails",
        "value",
        "primary",
        "type",
        "phoneNumbers",
        "externalId",
        ASN,
        OPD,
        "unit",
        "code",
        "kind",
        "parent",
        "golongan",
        "eselon",
        "status",
        "nip",
        "members",
        "Operations",
        "op",
        "path",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9 @.:/é%_\\[\\]\"-]{0,24}".prop_map(Value::String),
        prop::sample::select(vec![USER, ASN, GROUP, OPD, PATCH_OP, "3509.90", "add", "replace", "remove", "III/a"])
            .prop_map(|s| json!(s)),
    ];
    let value = leaf.prop_recursive(3, 40, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    });
    let body = prop_oneof![
        4 => value.prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..100),
    ];
    let targets = prop::sample::select(vec![
        ("POST", "/Users".to_string()),
        ("PUT", format!("/Users/{user_id}")),
        ("PATCH", format!("/Users/{user_id}")),
        ("POST", "/Groups".to_string()),
        ("PUT", format!("/Groups/{group_id}")),
        ("PATCH", format!("/Groups/{group_id}")),
    ]);
    let cases = std::env::var("PROPTEST_HTTP_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&(targets, body), |((method, path), bytes)| {
            let (status, body) = rt.block_on(async {
                let res = http_client()
                    .request(method.parse().unwrap(), app.url(&format!("/scim/v2{path}")))
                    .bearer_auth(&t)
                    .header(CONTENT_TYPE, "application/scim+json")
                    .body(bytes)
                    .send()
                    .await
                    .unwrap();
                (res.status().as_u16(), res.text().await.unwrap())
            });
            if (200..300).contains(&status) {
                return Ok(());
            }
            prop_assert!((400..500).contains(&status), "status {status}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            prop_assert_eq!(v["status"].as_str().map(String::from), Some(status.to_string()));
            prop_assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
            Ok(())
        })
        .unwrap();
}

/// An administrator's powers follow their unit, and Diskominfo suspends one for a reason: a
/// provisioning client may end an administrator's access (a leaver) but neither brings one
/// back nor moves one to another unit; Diskominfo does both.
#[tokio::test]
async fn a_provisioning_client_neither_reactivates_nor_moves_an_administrator() {
    let app = TestApp::spawn().await;
    let home = opd_unit(&app, "3509.50", None).await;
    opd_unit(&app, "3509.51", None).await;
    let t = token(&app, "simpeg", None).await;
    let nip = unique_nip();
    let created = send(&app, &t, "POST", "/Users", Some(user(&nip, "Kepala Bidang", "3509.50")), None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let role = match gerbang::identity::roles::find(&app.state.db, None, "opd-admin").await {
        Ok(r) => r,
        Err(_) => gerbang::identity::roles::create(&app.state.db, None, "opd-admin", "", now()).await.unwrap(),
    };
    let holder = gerbang::identity::roles::Holder::Account(id.clone());
    gerbang::identity::roles::assign(&app.state.db, &role, &holder, now()).await.unwrap();
    let path = format!("/Users/{id}");

    let away = patch(json!([{ "op": "replace", "path": format!("{ASN}:unit"), "value": { "code": "3509.51" } }]));
    send(&app, &t, "PATCH", &path, Some(away.clone()), None).await.scim_error(403, None);
    let off = patch(json!([{ "op": "replace", "path": "active", "value": false }]));
    let r = send(&app, &t, "PATCH", &path, Some(off), None).await;
    assert_eq!((r.status, &r.body["active"]), (200, &json!(false)), "a leaver's access ends: {}", r.body);
    let on = patch(json!([{ "op": "replace", "path": "active", "value": true }]));
    send(&app, &t, "PATCH", &path, Some(on.clone()), None).await.scim_error(403, None);
    let mut back = user(&nip, "Kepala Bidang", "3509.50");
    back["active"] = json!(true);
    send(&app, &t, "PUT", &path, Some(back), None).await.scim_error(403, None);
    let a = gerbang::identity::accounts::get(&app.state.db, &id).await.unwrap().unwrap();
    assert_eq!((a.is_active(), a.opd_id.as_deref()), (false, Some(home.as_str())));

    // Diskominfo (here the operator) decides.
    let operator = Principal::Operator(Operator::local());
    let aid = operator.parse_account_id(&id).unwrap();
    gerbang::ops::accounts::set_status(
        &app.state,
        &operator,
        &aid,
        gerbang::identity::accounts::AccountStatus::Active,
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        send(
            &app,
            &t,
            "PATCH",
            &path,
            Some(patch(json!([{ "op": "replace", "path": "displayName", "value": "Kabid" }]))),
            None
        )
        .await
        .status,
        200,
        "other changes stay the provisioner's"
    );
}
