//! Generated hostile requests over HTTP against a real server: forms to the OAuth endpoints and
//! JSON to the admin API never get a 5xx, and every refusal is a 4xx that says why (an OAuth
//! `error`, a problem+json `detail`, or an error page). Also the admin OpenAPI document's
//! declarations that Schemathesis (bench/schemathesis.sh) checked the server against.
//!
//! Case counts: PROPTEST_HTTP_CASES (default 96 per test) so the suite stays fast; the long runs
//! are described in docs/fuzzing.md.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::common::*;

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_HTTP_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96);
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

/// Rate limits off: the generated requests are to reach the handlers, not the limiter (its own
/// tests are in limits.rs).
async fn unlimited() -> TestApp {
    TestApp::spawn_with(&[("GERBANG_RATE_LIMITS", "off")]).await
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Parameter names the endpoints read, and some they do not.
const NAMES: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "client_id",
    "client_secret",
    "code_verifier",
    "refresh_token",
    "token",
    "token_type_hint",
    "scope",
    "response_type",
    "response_mode",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "acr_values",
    "login_hint",
    "id_token_hint",
    "ui_locales",
    "claims",
    "request",
    "request_uri",
    "resource",
];

/// Values that reach deeper code (known grant types, the built-in console client) mixed with
/// arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("authorization_code".to_string()),
        Just("refresh_token".to_string()),
        Just("client_credentials".to_string()),
        Just("code".to_string()),
        Just("S256".to_string()),
        Just("openid profile roles".to_string()),
        Just("gerbang-console".to_string()),
        Just("none".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        "[A-Za-z0-9._~-]{0,64}",
        any::<String>(),
    ]
}

fn form() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![4 => prop::sample::select(NAMES).prop_map(String::from), 1 => any::<String>()];
    prop::collection::vec((name, value()), 0..10)
}

/// A body: an encoded form, raw bytes, or nothing; with the form content type or another one.
#[derive(Debug, Clone)]
struct Body {
    bytes: Vec<u8>,
    content_type: Option<&'static str>,
    authorization: Option<String>,
}

fn body() -> impl Strategy<Value = Body> {
    let bytes = prop_oneof![
        4 => form().prop_map(|f| url::form_urlencoded::Serializer::new(String::new()).extend_pairs(f).finish().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ];
    let content_type = prop_oneof![
        6 => Just(Some("application/x-www-form-urlencoded")),
        1 => Just(Some("application/json")),
        1 => Just(Some("text/plain; charset=utf-8")),
        1 => Just(None),
    ];
    let authorization = prop_oneof![
        4 => Just(None),
        1 => "Basic [A-Za-z0-9+/=]{0,40}".prop_map(Some),
        1 => "(Bearer|Basic|basic|Digest) .{0,40}".prop_map(Some),
    ];
    (bytes, content_type, authorization).prop_map(|(bytes, content_type, authorization)| Body {
        bytes,
        content_type,
        authorization,
    })
}

async fn send(app: &TestApp, method: reqwest::Method, path: &str, b: &Body) -> (u16, String, Vec<u8>) {
    let mut req = http_client().request(method, app.url(path)).body(b.bytes.clone());
    if let Some(ct) = b.content_type {
        req = req.header("content-type", ct);
    }
    if let Some(a) = &b.authorization {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(a) {
            req = req.header("authorization", v);
        }
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, ct, res.bytes().await.unwrap().to_vec())
}

/// A refusal from a protocol endpoint is a 4xx with an RFC 6749 `error` (a 429 would be a
/// refusal too, should a limit be on).
fn oauth_refusal(status: u16, body: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!((400..500).contains(&status), "status {status}: {}", String::from_utf8_lossy(body));
    if status != 429 {
        let v: Value = serde_json::from_slice(body).map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
        prop_assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    Ok(())
}

#[test]
fn generated_forms_to_the_token_endpoint_get_oauth_errors() {
    let rt = runtime();
    let app = rt.block_on(unlimited());
    runner()
        .run(&body(), |b| {
            let (status, _, body) = rt.block_on(send(&app, reqwest::Method::POST, "/token", &b));
            oauth_refusal(status, &body)
        })
        .unwrap();
}

#[test]
fn generated_forms_to_introspection_and_revocation_get_oauth_errors() {
    let rt = runtime();
    let app = rt.block_on(unlimited());
    runner()
        .run(&(prop::sample::select(vec!["/introspect", "/revoke"]), body()), |(path, b)| {
            let (status, _, body) = rt.block_on(send(&app, reqwest::Method::POST, path, &b));
            // A public client may revoke with its id alone, and an unknown token is "revoked"
            // (RFC 7009 §2.2); everything else is a refusal.
            if status == 200 {
                prop_assert_eq!(path, "/revoke");
                return Ok(());
            }
            oauth_refusal(status, &body)
        })
        .unwrap();
}

#[test]
fn generated_authorization_requests_never_fail_the_server() {
    let rt = runtime();
    let app = rt.block_on(unlimited());
    let callback = app.url("/console/callback");
    let with_console = (form(), any::<bool>(), any::<bool>()).prop_map(move |(mut f, console, post)| {
        if console {
            f.push(("client_id".into(), "gerbang-console".into()));
            f.push(("redirect_uri".into(), callback.clone()));
        }
        (f, post)
    });
    runner()
        .run(&with_console, |(f, post)| {
            let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&f).finish();
            let (status, _, body) = rt.block_on(async {
                let b = Body {
                    bytes: encoded.clone().into_bytes(),
                    content_type: Some("application/x-www-form-urlencoded"),
                    authorization: None,
                };
                if post {
                    send(&app, reqwest::Method::POST, "/authorize", &b).await
                } else {
                    let none = Body { bytes: Vec::new(), content_type: None, authorization: None };
                    send(&app, reqwest::Method::GET, &format!("/authorize?{encoded}"), &none).await
                }
            });
            // The login page, a redirect with the error to a registered redirect URI, or an
            // error page that says what is wrong.
            prop_assert!(matches!(status, 200 | 302 | 303 | 400..=499), "status {status}");
            if (400..500).contains(&status) && status != 429 {
                prop_assert!(!body.is_empty());
            }
            Ok(())
        })
        .unwrap();
}

/// Keys the admin API's bodies read, with leaves of every JSON type.
fn json_body() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::num::f64::NORMAL.prop_map(Value::from),
        value().prop_map(Value::String),
        Just(Value::String(unique_nip())),
    ];
    let any_json = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let keys = prop::sample::select(vec![
        "nip",
        "nik",
        "name",
        "password",
        "opd",
        "opd_id",
        "code",
        "kind",
        "parent",
        "role",
        "account",
        "unit",
        "client",
        "client_id",
        "description",
        "status",
        "reason",
        "redirect_uris",
        "scopes",
        "certificate",
        "enabled",
        "assignments",
    ]);
    prop_oneof![
        4 => prop::collection::btree_map(keys, any_json.clone(), 0..6).prop_map(|m| {
            Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        }),
        1 => any_json,
    ]
}

#[test]
fn generated_json_to_the_admin_api_gets_problem_details() {
    let rt = runtime();
    let (app, token) = rt.block_on(async {
        let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1"), ("GERBANG_RATE_LIMITS", "off")]).await;
        let unit = opd_unit(&app, &format!("F{}", unique_nip()), None).await;
        let (nip, _) = staff(&app, "Rina Wulandari", Some(&unit), Some("diskominfo-admin")).await;
        let token = console_token(&app, &nip).await;
        (app, token)
    });
    let target = prop::sample::select(vec![
        ("POST", "/admin/api/v1/accounts"),
        ("POST", "/admin/api/v1/opd"),
        ("POST", "/admin/api/v1/roles"),
        ("POST", "/admin/api/v1/role-assignments"),
        ("DELETE", "/admin/api/v1/role-assignments"),
        ("POST", "/admin/api/v1/role-assignments/bulk"),
        ("POST", "/admin/api/v1/applications"),
        ("POST", "/admin/api/v1/app-requests"),
    ]);
    let raw = prop_oneof![
        5 => json_body().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ];
    let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
    runner()
        .run(&(target, raw), |((method, path), bytes)| {
            let b =
                Body { bytes, content_type: Some("application/json"), authorization: Some(format!("Bearer {token}")) };
            let (status, ct, body) = rt.block_on(send(&app, method.parse().unwrap(), path, &b));
            seen.borrow_mut().insert(status);
            // Generated input is sometimes valid, and then it is simply done.
            if (200..300).contains(&status) {
                return Ok(());
            }
            prop_assert!((400..500).contains(&status), "status {status}: {}", String::from_utf8_lossy(&body));
            if status != 429 {
                prop_assert_eq!(ct.as_str(), "application/problem+json");
                let v: Value = serde_json::from_slice(&body).unwrap();
                prop_assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
                prop_assert_eq!(v["status"].as_u64(), Some(u64::from(status)));
            }
            Ok(())
        })
        .unwrap();
    // The token held: the bodies reached the operations rather than the door.
    let seen = seen.into_inner();
    assert!(!seen.contains(&401) && seen.contains(&422), "{seen:?}");
}

async fn admin(app: &TestApp) -> String {
    let unit = opd_unit(app, &format!("Q{}", unique_nip()), None).await;
    let (nip, _) = staff(app, "Rina Wulandari", Some(&unit), Some("diskominfo-admin")).await;
    console_token(app, &nip).await
}

/// Found by Schemathesis: unparsable query parameters got axum's plain-text 400 instead of a
/// problem.
#[tokio::test]
async fn unparsable_admin_query_parameters_get_a_problem() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let token = admin(&app).await;
    for path in [
        "/admin/api/v1/audit/export",
        "/admin/api/v1/audit/export?since=1&until=x",
        "/admin/api/v1/accounts?limit=banyak",
        "/admin/api/v1/audit?since=kemarin",
        "/admin/api/v1/certificates?attention=mungkin",
    ] {
        let res = http_client().get(app.url(path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 400, "{path}");
        assert_eq!(res.headers()["content-type"], "application/problem+json", "{path}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], 400, "{path}");
        assert!(v["detail"].as_str().unwrap().contains("query"), "{path}: {v}");
    }
}

/// Found by Schemathesis: the document must say what the server answers. Query parameters were
/// declared as required path parameters; errors were declared `application/json` while the
/// server sends `application/problem+json`; 401, and the refusals below, were missing.
#[tokio::test]
async fn the_openapi_document_declares_what_the_server_answers() {
    let app = TestApp::spawn().await;
    let doc: Value = http_client().get(app.url("/admin/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let op = |path: &str, method: &str| paths[path][method].clone();

    let search = op("/admin/api/v1/accounts", "get");
    for p in search["parameters"].as_array().unwrap() {
        assert_eq!(p["in"], "query", "{p}");
        assert_ne!(p["required"], true, "{p}");
    }
    for p in op("/admin/api/v1/audit/export", "get")["parameters"].as_array().unwrap() {
        assert_eq!(p["in"], "query", "{p}");
    }

    for (path, item) in paths {
        for (method, o) in item.as_object().unwrap() {
            let responses = o["responses"].as_object().unwrap();
            assert!(responses.contains_key("401"), "{method} {path}: no 401");
            assert!(responses.contains_key("429"), "{method} {path}: no 429");
            for (status, r) in responses {
                if !status.starts_with('2') {
                    let content = r["content"].as_object().unwrap();
                    assert!(content.contains_key("application/problem+json"), "{method} {path} {status}: {r}");
                    assert!(!content.contains_key("application/json"), "{method} {path} {status}: {r}");
                }
            }
            if o.get("requestBody").is_some() {
                assert!(responses.contains_key("422"), "{method} {path}: no 422");
            }
        }
    }
    let declares = |path: &str, method: &str, status: &str| {
        assert!(op(path, method)["responses"].get(status).is_some(), "{method} {path}: no {status}");
    };
    declares("/admin/api/v1/accounts/{id}/status", "put", "409");
    declares("/admin/api/v1/accounts/{id}/status", "put", "404");
    declares("/admin/api/v1/roles", "post", "404");
    declares("/admin/api/v1/audit/export", "get", "422");
    declares("/admin/api/v1/audit/export", "get", "400");
    declares("/admin/api/v1/applications/{id}/enabled", "put", "409");
    declares("/admin/api/v1/app-requests/{id}/credentials", "post", "409");
    declares("/admin/api/v1/app-requests/{id}/credentials", "post", "404");
}

/// Schemathesis's stateful phase found the administrator's own account and tried to suspend
/// it: the server refused with a 409 the document did not declare (it does now, checked above).
#[tokio::test]
async fn own_status_change_is_the_declared_conflict() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let unit = opd_unit(&app, &format!("S{}", unique_nip()), None).await;
    let (nip, id) = staff(&app, "Rina Wulandari", Some(&unit), Some("diskominfo-admin")).await;
    let token = console_token(&app, &nip).await;
    let res = http_client()
        .put(app.url(&format!("/admin/api/v1/accounts/{id}/status")))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "status": "suspended" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}
