//! Bad input gets a clear, specific error: an error page where the client cannot be trusted,
//! an OAuth error body on protocol endpoints, and never a 500.

use gerbang::oidc::clients::GrantType;
use gerbang::oidc::keys::Alg;
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let cases = [
        format!(
            "/authorize?response_type=code&client_id={}&redirect_uri=https://evil.example.com/cb&scope=openid",
            c.id
        ),
        format!("/authorize?response_type=code&client_id={}&redirect_uri={}/extra&scope=openid", c.id, c.redirect_uri),
        format!("/authorize?response_type=code&client_id={}&scope=openid", c.id),
        "/authorize?response_type=code&client_id=nope&redirect_uri=https://evil.example.com/cb".to_string(),
        format!("/authorize?client_id={}&client_id=x&redirect_uri={}", c.id, c.redirect_uri),
    ];
    for path in cases {
        let res = b.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 400, "{path}");
        assert!(res.headers().get("location").is_none(), "no redirect for {path}");
        let html = res.text().await.unwrap();
        assert!(html.contains("<html"), "themed page for {path}");
    }
    // English on request.
    let res = b
        .get(app.url("/authorize?client_id=nope&redirect_uri=https://x.example/cb"))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("lang=\"en\""));
}

#[tokio::test]
async fn invalid_authorization_requests_are_redirected_with_oauth_errors() {
    let app = TestApp::spawn().await;
    let web = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let public = app.client_with(&["openid"], &[GrantType::AuthorizationCode], true, true, Alg::RS256).await;
    let b = browser();
    let base = |c: &TestClient| format!("/authorize?client_id={}&redirect_uri={}&state=st", c.id, c.redirect_uri);
    let cases: Vec<(String, &str)> = vec![
        (format!("{}&response_type=token", base(&web)), "unsupported_response_type"),
        (format!("{}&scope=openid", base(&web)), "invalid_request"),
        (format!("{}&response_type=code&scope=openid", base(&public)), "invalid_request"),
        (
            format!("{}&response_type=code&code_challenge=abc&code_challenge_method=plain", base(&web)),
            "invalid_request",
        ),
        (format!("{}&response_type=code&prompt=none%20login", base(&web)), "invalid_request"),
        (format!("{}&response_type=code&max_age=-1", base(&web)), "invalid_request"),
        (format!("{}&response_type=code&request=eyJ", base(&web)), "request_not_supported"),
        (format!("{}&response_type=code&prompt=none", base(&web)), "login_required"),
        (format!("{}&response_type=code&response_type=code", base(&web)), "invalid_request"),
    ];
    for (path, expected) in cases {
        let res = b.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        let loc = location(&res);
        let c = if path.contains(&public.id) { &public } else { &web };
        assert!(loc.starts_with(&c.redirect_uri), "{loc}");
        let q = query(&loc);
        assert_eq!(q["error"], expected, "{path}");
        assert_eq!(q["state"], "st");
        assert_eq!(q["iss"], app.base);
    }
}

#[tokio::test]
async fn malformed_token_requests_get_oauth_errors_not_500s() {
    let app = TestApp::spawn().await;
    let c = app.client_with(&["api"], &[GrantType::ClientCredentials], true, false, Alg::ES256).await;
    let http = http_client();
    let token = app.url("/token");
    let secret = c.secret.clone().unwrap();

    let check = |res: reqwest::Response, status: u16, error: &'static str| async move {
        assert_eq!(res.status().as_u16(), status);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let v: Value = res.json().await.expect("JSON error body");
        assert_eq!(v["error"], error, "{v}");
        assert!(v["error_description"].is_string());
    };
    check(
        http.post(&token).basic_auth(&c.id, Some(&secret)).body("grant_type=client_credentials").send().await.unwrap(),
        415,
        "invalid_request",
    )
    .await;
    check(
        http.post(&token).basic_auth(&c.id, Some(&secret)).form(&[("x", "y")]).send().await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    check(
        http.post(&token).basic_auth(&c.id, Some(&secret)).form(&[("grant_type", "password")]).send().await.unwrap(),
        400,
        "unsupported_grant_type",
    )
    .await;
    check(http.post(&token).form(&[("grant_type", "client_credentials")]).send().await.unwrap(), 401, "invalid_client")
        .await;
    check(
        http.post(&token)
            .header("authorization", "Basic !!!")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
        401,
        "invalid_client",
    )
    .await;
    check(
        http.post(&token)
            .basic_auth(&c.id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    check(
        http.post(&token)
            .basic_auth(&c.id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "bad\"scope")])
            .send()
            .await
            .unwrap(),
        400,
        "invalid_scope",
    )
    .await;
    check(
        http.post(&token)
            .basic_auth(&c.id, Some(&secret))
            .form(&[("grant_type", "authorization_code"), ("code", "x")])
            .send()
            .await
            .unwrap(),
        400,
        "unauthorized_client",
    )
    .await;
    let huge = "a".repeat(200_000);
    check(
        http.post(&token)
            .basic_auth(&c.id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("scope", huge.as_str())])
            .send()
            .await
            .unwrap(),
        413,
        "invalid_request",
    )
    .await;
    check(
        http.post(app.url("/revoke"))
            .basic_auth(&c.id, Some(&secret))
            .form(&[("token", "x"), ("token_type_hint", "id_token")])
            .send()
            .await
            .unwrap(),
        400,
        "unsupported_token_type",
    )
    .await;
    check(
        http.post(app.url("/introspect"))
            .basic_auth(&c.id, Some(&secret))
            .form(&[("nothing", "here")])
            .send()
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;

    // Bearer errors follow RFC 6750.
    let res = http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let res = http.get(app.url("/userinfo")).bearer_auth("a.b.c").send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    let (_, cc) = {
        let r = http
            .post(&token)
            .basic_auth(&c.id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    let res = http.get(app.url("/userinfo")).bearer_auth(cc["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), 403, "a machine token has no person behind it");
    // A token with a forged signature.
    let at = cc["access_token"].as_str().unwrap();
    let forged = format!("{}.{}", &at[..at.rfind('.').unwrap()], "AAAA");
    let res = http.get(app.url("/userinfo")).bearer_auth(forged).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // Sent two ways at once (RFC 6750 §2): a bad request, whatever the token.
    let res = http.post(app.url("/userinfo")).bearer_auth(at).form(&[("access_token", at)]).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_request\""));
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_request");

    // Login form posted without a flow: a friendly page, not a 500.
    let res = http.post(app.url("/login")).form(&[("username", "x")]).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let res = http.post(app.url("/login")).body("%%%").header("content-type", "text/plain").send().await.unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn discovery_health_and_security_headers() {
    let app = TestApp::spawn().await;
    let http = http_client();
    let res = http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(res.headers().contains_key("x-request-id"));
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["issuer"], app.base);
    for k in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ] {
        let url = d[k].as_str().unwrap_or_else(|| panic!("{k} advertised"));
        assert!(url.starts_with(&app.base));
    }
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let jwks: Value = http.get(app.url("/jwks")).send().await.unwrap().json().await.unwrap();
    let algs: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
    for a in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&a));
    }
    assert!(jwks["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none()), "no private parts");
    assert_eq!(http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let ready: Value = http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["cache"], "ok");
    let res = http.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = http.get(app.url("/static/style.css")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
}

#[tokio::test]
async fn request_ids_are_ours_and_callback_errors_are_never_echoed() {
    let app = TestApp::spawn().await;
    let res = http_client()
        .get(app.url("/.well-known/openid-configuration"))
        .header("x-request-id", "pilihan-penyerang")
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, "pilihan-penyerang", "a client's id is replaced");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    // An error parameter made up by whoever sent the browser to the callback is not shown.
    let forged = "<b>Hubungi 0812-PENIPU</b>";
    for path in ["/console/callback", "/demo/callback"] {
        let url = format!(
            "{}?error={}&state=x",
            app.url(path),
            url::form_urlencoded::byte_serialize(forged.as_bytes()).collect::<String>()
        );
        let res = browser().get(url).send().await.unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let html = res.text().await.unwrap();
        assert!(!html.contains("PENIPU"), "{path} shows the forged text");
    }
}

/// A NUL character in a parameter or a path is refused as an invalid request, on both databases
/// alike: PostgreSQL cannot compare text holding one, so `/authorize?client_id=%00` answered
/// `server_error` there (and counted a database error) where SQLite said the client was unknown.
#[tokio::test]
async fn a_nul_character_is_an_invalid_request_never_a_database_error() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let res = b.get(app.url("/authorize?response_type=code&client_id=%00&scope=openid")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("<html") && html.contains("invalid_request"), "{html}");
    let res = b
        .get(app.url(&format!("/authorize?response_type=code&client_id={}&scope=openid&state=a%00b", c.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "in any parameter");
    for (what, req) in [
        (
            "token form",
            http_client().post(app.url("/token")).form(&[("grant_type", "authorization_code"), ("code", "\0")]),
        ),
        (
            "token form, client",
            http_client().post(app.url("/token")).form(&[("grant_type", "client_credentials"), ("client_id", "a\0")]),
        ),
        ("introspection", http_client().post(app.url("/introspect")).form(&[("token", "\0")])),
        ("userinfo query", http_client().get(app.url("/userinfo?x=%00"))),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 400, "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{what}: {body}");
    }
    // The admin API and SCIM answer in their own error forms.
    // An id holding a NUL names nothing (404); a query parameter holding one does not parse (400).
    let res = http_client().get(app.url("/admin/api/v1/accounts/%00")).send().await.unwrap();
    assert_eq!(
        (res.status().as_u16(), res.headers()["content-type"].to_str().unwrap()),
        (404, "application/problem+json")
    );
    let res = http_client().get(app.url("/admin/api/v1/accounts?q=%00")).send().await.unwrap();
    assert_eq!(
        (res.status().as_u16(), res.headers()["content-type"].to_str().unwrap()),
        (400, "application/problem+json")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["status"].as_u64(), body["title"].as_str()), (Some(400), Some("Bad Request")), "{body}");
    let res = http_client().get(app.url("/scim/v2/Users?filter=userName%20eq%20%22a%00%22")).send().await.unwrap();
    assert_eq!(
        (res.status().as_u16(), res.headers()["content-type"].to_str().unwrap()),
        (400, "application/scim+json")
    );
    let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(body["scimType"], "invalidValue", "{body}");
    // Basic client credentials: a NUL encoded (`%00`) or raw is a malformed header.
    use base64::Engine as _;
    for (user, secret) in [("a%00", "x"), ("a\0", "x"), (c.id.as_str(), "s%00")] {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        for path in ["/token", "/introspect", "/revoke"] {
            let res = http_client()
                .post(app.url(path))
                .header("authorization", format!("Basic {basic}"))
                .form(&[("grant_type", "client_credentials"), ("token", "t")])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 401, "{path} {user:?}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client", "{path}: {body}");
        }
    }
}
