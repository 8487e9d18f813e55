//! The authorization code flow through a real relying party (the `openidconnect` crate).

use gerbang::oidc::clients::GrantType;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, TokenResponse};

use crate::common::*;

#[tokio::test]
async fn code_flow_with_pkce_and_nonce_then_userinfo() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let person = app.asn(&nip, "Siti Rahayu").await;
    let c = app.web_client(&["openid", "profile", "nip"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["profile", "nip"]);
    let b = browser();
    let callback = login(&app, &b, &start.url, &format!(" {}.{} ", &nip[..8], &nip[8..]), PASSWORD).await;
    assert!(callback.starts_with(&c.redirect_uri), "redirected to the registered URI: {callback}");
    let q = query(&callback);
    assert_eq!(q.get("state").map(String::as_str), Some(start.csrf.secret().as_str()));
    assert_eq!(q.get("iss").map(String::as_str), Some(app.base.as_str()), "RFC 9207 iss");

    let http = http_client();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .expect("token endpoint")
        .set_pkce_verifier(start.verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id token");
    // Signature against JWKS, issuer, audience, expiry and nonce are all checked here.
    let claims = id_token.claims(&rp.id_token_verifier(), &start.nonce).expect("valid ID token");
    assert_eq!(claims.subject().as_str(), person.id);
    let raw = jwt_payload(&id_token.to_string());
    assert_eq!(raw["name"], "Siti Rahayu");
    assert_eq!(raw["account_type"], "asn");
    assert_eq!(raw["nip"], nip.as_str());
    assert_eq!(raw["acr"], "urn:gerbang:loa:1");
    assert_eq!(raw["amr"], serde_json::json!(["pwd"]));
    assert!(raw["sid"].is_string() && raw["auth_time"].is_i64());
    assert!(raw.get("nik").is_none());
    assert_eq!(jwt_header(tokens.access_token().secret())["typ"], "at+jwt");

    let info: serde_json::Value = http
        .get(app.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], person.id.as_str());
    assert_eq!(info["nip"], nip.as_str());
    assert_eq!(info["name"], "Siti Rahayu");

    // The ID token is not an access token.
    let res = http.get(app.url("/userinfo")).bearer_auth(id_token.to_string()).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn second_application_logs_in_without_password() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Budi").await;
    let a = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let b_client = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let first = start_auth(&app.rp(&a).await, &["profile"]);
    let cb = login(&app, &b, &first.url, &nip, PASSWORD).await;
    assert!(query(&cb).contains_key("code"));

    let rp2 = app.rp(&b_client).await;
    let second = start_auth(&rp2, &["profile"]);
    let res = b.get(&second.url).send().await.unwrap();
    assert_eq!(res.status(), 303, "SSO: straight back with a code, no login page");
    let cb2 = location(&res);
    assert!(cb2.starts_with(&b_client.redirect_uri));
    let tokens = redeem(&rp2, &cb2, second.verifier).await;
    let claims = tokens.id_token().unwrap().claims(&rp2.id_token_verifier(), &second.nonce).unwrap();
    assert_eq!(jwt_payload(&tokens.id_token().unwrap().to_string())["amr"], serde_json::json!(["pwd"]));
    assert!(claims.auth_time().is_some());

    // prompt=login forces the password again even with a session.
    let forced = format!("{}&prompt=login", start_auth(&rp2, &["profile"]).url);
    let res = b.get(&forced).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("name=\"password\""));
}

#[tokio::test]
async fn third_party_client_asks_consent_once_and_deny_returns_access_denied() {
    let app = TestApp::spawn().await;
    let nik = unique_nik();
    app.citizen(&nik, "Dewi").await;
    let c = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], false).await;
    let rp = app.rp(&c).await;
    let b = browser();
    let start = start_auth(&rp, &["profile"]);
    let res = b.get(&start.url).send().await.unwrap();
    let html = res.text().await.unwrap();
    let res = submit_login(&app, &b, &html, &nik, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let consent_page = res.text().await.unwrap();
    assert!(consent_page.contains("value=\"deny\""));
    let denied = consent(&app, &b, &consent_page, "deny").await;
    assert_eq!(query(&denied)["error"], "access_denied");

    // Allow once; the next request for the same scopes goes straight through.
    let again = start_auth(&rp, &["profile"]);
    let res = b.get(&again.url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cb = consent(&app, &b, &res.text().await.unwrap(), "allow").await;
    assert!(query(&cb).contains_key("code"));
    let third = start_auth(&rp, &["profile"]);
    let res = b.get(&third.url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(query(&location(&res)).contains_key("code"));
}

#[tokio::test]
async fn nik_is_released_only_to_clients_registered_for_it() {
    let app = TestApp::spawn().await;
    let nik = unique_nik();
    let person = app.citizen(&nik, "Rina").await;
    let without = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let with = app.web_client(&["openid", "profile", "nik"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let http = http_client();

    let rp = app.rp(&without).await;
    let start = start_auth(&rp, &["profile", "nik"]);
    let cb = login(&app, &b, &start.url, &nik, PASSWORD).await;
    let tokens = redeem(&rp, &cb, start.verifier).await;
    let granted: Vec<String> = tokens.scopes().unwrap().iter().map(|s| s.to_string()).collect();
    assert!(!granted.contains(&"nik".to_string()), "nik scope must not be granted: {granted:?}");
    assert!(jwt_payload(&tokens.id_token().unwrap().to_string()).get("nik").is_none());
    let info: serde_json::Value = http
        .get(app.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info.get("nik").is_none());
    assert_eq!(info["sub"], person.id.as_str());

    let rp = app.rp(&with).await;
    let start = start_auth(&rp, &["profile", "nik"]);
    let cb = login(&app, &b, &start.url, &nik, PASSWORD).await;
    let tokens = redeem(&rp, &cb, start.verifier).await;
    assert_eq!(jwt_payload(&tokens.id_token().unwrap().to_string())["nik"], nik.as_str());
    assert_eq!(jwt_payload(&tokens.id_token().unwrap().to_string())["account_type"], "citizen");
}

#[tokio::test]
async fn logout_ends_the_sso_session() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Agus").await;
    let c = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let b = browser();
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &b, &start.url, &nip, PASSWORD).await;
    let tokens = redeem(&rp, &cb, start.verifier).await;
    let id_token = tokens.id_token().unwrap().to_string();

    // A post_logout_redirect_uri that is not registered is refused with a page, not followed.
    let res = b
        .get(app.url("/logout"))
        .query(&[("id_token_hint", id_token.as_str()), ("post_logout_redirect_uri", "https://evil.example.com/")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());

    let res = b
        .get(app.url("/logout"))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", c.post_logout_uri.as_str()),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{}?state=s1", c.post_logout_uri));

    let silent = format!("{}&prompt=none", start_auth(&rp, &["profile"]).url);
    let res = b.get(&silent).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(query(&location(&res))["error"], "login_required");
}

#[tokio::test]
async fn logout_without_hint_asks_for_confirmation_with_csrf() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Wati").await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let b = browser();
    login(&app, &b, &start_auth(&rp, &[]).url, &nip, PASSWORD).await;
    let res = b.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    // A forged confirmation (no CSRF token) does not end the session.
    let res = b.post(app.url("/logout/confirm")).form(&[("decision", "logout")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let silent = format!("{}&prompt=none", start_auth(&rp, &[]).url);
    assert!(query(&location(&b.get(&silent).send().await.unwrap())).contains_key("code"));
    let res = b
        .post(app.url("/logout/confirm"))
        .form(&[("decision", "logout"), ("csrf", hidden(&html, "csrf").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = b.get(&silent).send().await.unwrap();
    assert_eq!(query(&location(&res))["error"], "login_required");
}

#[tokio::test]
async fn wrong_password_and_unknown_account_look_the_same() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Joko").await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let b = browser();
    let mut bodies = Vec::new();
    for user in [nip.as_str(), "199001012015031999"] {
        let res = b.get(&start_auth(&rp, &[]).url).send().await.unwrap();
        let html = res.text().await.unwrap();
        let res = submit_login(&app, &b, &html, user, "salah-sekali-123").await;
        assert_eq!(res.status(), 401);
        let body = res.text().await.unwrap();
        bodies.push(body.replace(&hidden(&body, "login_id"), "").replace(user, ""));
    }
    assert_eq!(bodies[0], bodies[1]);

    // Without the CSRF token the form is refused.
    let res = b.get(&start_auth(&rp, &[]).url).send().await.unwrap();
    let html = res.text().await.unwrap();
    let res = b
        .post(app.url("/login"))
        .form(&[("login_id", hidden(&html, "login_id")), ("username", nip.clone()), ("password", PASSWORD.into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // A login flow started in another browser is not usable here.
    let res = browser()
        .post(app.url("/login"))
        .form(&[
            ("login_id", hidden(&html, "login_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", nip.clone()),
            ("password", PASSWORD.into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn repeated_failures_slow_down_then_lock_and_the_lock_expires() {
    use gerbang::config::Secret;
    use gerbang::ops::login::{password_login, LoginError};
    let app =
        TestApp::spawn_with(&[("GERBANG_LOGIN_MAX_FAILURES", "5"), ("GERBANG_LOGIN_LOCKOUT_SECONDS", "300")]).await;
    let nip = unique_nip();
    app.asn(&nip, "Rudi").await;
    let st = &app.state;
    let wrong = Secret::new("salah-sekali-1234".to_string());
    let right = Secret::new(PASSWORD.to_string());
    let t = gerbang::state::now();
    for _ in 0..4 {
        assert_eq!(password_login(st, &nip, &wrong, "10.1.1.1", t).await.unwrap_err(), LoginError::InvalidCredentials);
    }
    // After the free failures each attempt waits a growing delay, judged or not.
    assert_eq!(
        password_login(st, &nip, &right, "10.1.1.1", t).await.unwrap_err(),
        LoginError::TooManyAttempts { retry_after: 1 }
    );
    assert_eq!(password_login(st, &nip, &wrong, "10.1.1.1", t + 1).await.unwrap_err(), LoginError::InvalidCredentials);
    // The fifth failure locks the account, whatever the address and even with the right password.
    assert_eq!(
        password_login(st, &nip, &right, "10.9.9.9", t + 2).await.unwrap_err(),
        LoginError::TooManyAttempts { retry_after: 299 }
    );
    assert!(password_login(st, &nip, &right, "10.1.1.1", t + 301).await.is_ok(), "the lockout expires");

    // Through the page: a locked account answers 429 with an explanation.
    let later = gerbang::state::now() + 400;
    for i in 0..5 {
        assert_eq!(
            password_login(st, &nip, &wrong, "10.1.1.1", later + 2 * i).await.unwrap_err(),
            LoginError::InvalidCredentials
        );
    }
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let html = b.get(&start_auth(&app.rp(&c).await, &[]).url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(&app, &b, &html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn max_age_and_login_hint_are_honoured() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Sri").await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let b = browser();
    let hinted = format!("{}&login_hint={}", start_auth(&rp, &[]).url, nip);
    let res = b.get(&hinted).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains(&format!("value=\"{nip}\"")), "login_hint prefills the NIP");
    login(&app, &b, &start_auth(&rp, &[]).url, &nip, PASSWORD).await;

    // A generous max_age reuses the session; max_age=0 always demands a new login.
    let res = b.get(format!("{}&max_age=3600", start_auth(&rp, &[]).url)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = b.get(format!("{}&max_age=0", start_auth(&rp, &[]).url)).send().await.unwrap();
    assert_eq!(res.status(), 200, "login page again");
    let res = b.get(format!("{}&max_age=0&prompt=none", start_auth(&rp, &[]).url)).send().await.unwrap();
    assert_eq!(query(&location(&res))["error"], "login_required");
}

#[tokio::test]
async fn logging_out_revokes_the_tokens_issued_under_that_session() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    app.asn(&nip, "Wulan Sari").await;
    let c =
        app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true).await;
    let rp = app.rp(&c).await;
    let b = browser();
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &b, &start.url, &nip, PASSWORD).await;
    let http = http_client();
    let t = redeem(&rp, &cb, start.verifier).await;
    let access = t.access_token().secret().clone();
    let refresh = t.refresh_token().unwrap().clone();
    let userinfo = |token: String| {
        let http = http.clone();
        let url = app.url("/userinfo");
        async move { http.get(url).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(userinfo(access.clone()).await, 200);

    let html = b.get(app.url("/logout")).send().await.unwrap().text().await.unwrap();
    let res = b
        .post(app.url("/logout/confirm"))
        .form(&[("decision", "logout"), ("csrf", hidden(&html, "csrf").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    assert_eq!(userinfo(access).await, 401, "the access token went with the session");
    assert!(
        rp.exchange_refresh_token(&refresh).unwrap().request_async(&http).await.is_err(),
        "so did the refresh token"
    );
    let trail = gerbang::audit::list(&app.state.db, 50, None).await.unwrap();
    let logout = trail.iter().find(|e| e.kind == "logout").expect("logout recorded");
    assert!(logout.detail.contains("\"revoked_grants\":1"), "{}", logout.detail);
}

#[tokio::test]
async fn prompt_none_answers_only_for_the_person_the_hint_names() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let (ayu, budi) = (unique_nip(), unique_nip());
    app.asn(&ayu, "Ayu").await;
    app.asn(&budi, "Budi").await;
    let mut id_tokens = Vec::new();
    let mut browsers = Vec::new();
    for nip in [&ayu, &budi] {
        let b = browser();
        let start = start_auth(&rp, &[]);
        let cb = login(&app, &b, &start.url, nip, PASSWORD).await;
        let t = redeem(&rp, &cb, start.verifier).await;
        id_tokens.push(openidconnect::TokenResponse::id_token(&t).unwrap().to_string());
        browsers.push(b);
    }
    // Ayu's browser, asked silently about Budi: Budi is not logged in here.
    let silent = |hint: &str| format!("{}&prompt=none&id_token_hint={hint}", start_auth(&rp, &[]).url);
    let res = browsers[0].get(silent(&id_tokens[1])).send().await.unwrap();
    assert_eq!(query(&location(&res)).get("error").map(String::as_str), Some("login_required"));
    // About Ayu herself: answered.
    let res = browsers[0].get(silent(&id_tokens[0])).send().await.unwrap();
    assert!(query(&location(&res)).contains_key("code"));
    // A hint that is no ID token of ours is refused.
    let res = browsers[0].get(silent("bukan.token.sah")).send().await.unwrap();
    assert_eq!(query(&location(&res)).get("error").map(String::as_str), Some("invalid_request"));
}
