//! Token endpoint grants, refresh rotation and reuse detection, introspection, revocation and
//! key rotation.

use gerbang::oidc::clients::GrantType;
use gerbang::oidc::keys::Alg;
use openidconnect::core::CoreProviderMetadata;
use openidconnect::{IssuerUrl, JsonWebKey, OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::common::*;
use crate::redis_outage::app_on;
use crate::services::RedisProc;

const CODE_AND_REFRESH: &[GrantType] = &[GrantType::AuthorizationCode, GrantType::RefreshToken];

async fn post_form(app: &TestApp, path: &str, c: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let res = http_client().post(app.url(path)).basic_auth(&c.id, c.secret.as_deref()).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn introspect(app: &TestApp, c: &TestClient, token: &str) -> bool {
    let (status, v) = post_form(app, "/introspect", c, &[("token", token)]).await;
    assert_eq!(status, 200);
    v["active"].as_bool().expect("active flag")
}

/// A server whose cache is Redis, as replicas need: the run's own, or else a private
/// `redis-server` (the second value, which must outlive the test).
async fn on_redis(extra: &[(&str, &str)]) -> (TestApp, Option<RedisProc>) {
    if std::env::var("GERBANG_TEST_REDIS_URL").is_ok() {
        return (TestApp::spawn_with(extra).await, None);
    }
    let redis = RedisProc::start(&[]).await;
    (app_on(&redis.url(), extra).await, Some(redis))
}

/// Logs a fresh person in and redeems the code by hand; returns (client, code, verifier).
async fn code_for(app: &TestApp, c: &TestClient) -> (String, String) {
    let nip = unique_nip();
    app.asn(&nip, "Pegawai").await;
    let rp = app.rp(c).await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(app, &browser(), &start.url, &nip, PASSWORD).await;
    (query(&cb)["code"].clone(), start.verifier.secret().clone())
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let rp = app.rp(&c).await;
    let nip = unique_nip();
    app.asn(&nip, "Hendra").await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let http = http_client();
    let first = redeem(&rp, &cb, start.verifier).await;
    let r1 = first.refresh_token().expect("refresh token").clone();

    let second = rp.exchange_refresh_token(&r1).unwrap().request_async(&http).await.expect("first refresh");
    let r2 = second.refresh_token().expect("rotated refresh token").clone();
    assert_ne!(r1.secret(), r2.secret());
    assert!(second.id_token().is_some());
    assert!(introspect(&app, &c, second.access_token().secret()).await);

    // Presenting the used token again: refused, and the whole family dies with it.
    let (status, body) =
        post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", r1.secret())]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) =
        post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", r2.secret())]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!introspect(&app, &c, second.access_token().secret()).await);
    assert!(!introspect(&app, &c, first.access_token().secret()).await);
    let res = http.get(app.url("/userinfo")).bearer_auth(second.access_token().secret()).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // Scope can be narrowed on refresh but never widened.
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let t = redeem(&rp, &cb, start.verifier).await;
    let rt = t.refresh_token().unwrap().secret().clone();
    let (status, body) = post_form(
        &app,
        "/token",
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt), ("scope", "openid profile nik")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    // A refused request does not spend the token: it still refreshes, once.
    let (status, body) =
        post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].as_str().is_some_and(|n| n != rt));
    let (status, body) =
        post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a second use is reuse");
}

#[tokio::test]
async fn code_reuse_is_refused_and_revokes_its_tokens() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let (code, verifier) = code_for(&app, &c).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", c.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, first) = post_form(&app, "/token", &c, &form).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap().to_string();
    let refresh = first["refresh_token"].as_str().unwrap().to_string();
    assert!(introspect(&app, &c, &access).await);

    let (status, again) = post_form(&app, "/token", &c, &form).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!introspect(&app, &c, &access).await, "tokens from a replayed code are revoked");
    assert!(!introspect(&app, &c, &refresh).await);
    let (_, r) = post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(r["error"], "invalid_grant");
}

#[tokio::test]
async fn bad_pkce_verifier_and_wrong_redirect_are_invalid_grant() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let (code, verifier) = code_for(&app, &c).await;
    let wrong = "x".repeat(43);
    let (status, body) = post_form(
        &app,
        "/token",
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", &wrong),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    // The code is spent by the failed attempt: single use even when the attempt fails.
    let (_, body) = post_form(
        &app,
        "/token",
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    let (code, verifier) = code_for(&app, &c).await;
    let (_, body) = post_form(
        &app,
        "/token",
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://other.example.go.id/cb"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // Another client cannot redeem the code.
    let other = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let (code, verifier) = code_for(&app, &c).await;
    let (_, body) = post_form(
        &app,
        "/token",
        &other,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn client_credentials_tokens_for_each_algorithm_verify_against_jwks() {
    let app = TestApp::spawn().await;
    let jwks: Value = http_client().get(app.url("/jwks")).send().await.unwrap().json().await.unwrap();
    for alg in [Alg::ES256, Alg::RS256, Alg::EdDSA] {
        let c = app.client_with(&["laporan.baca"], &[GrantType::ClientCredentials], true, false, alg).await;
        let (status, body) = post_form(&app, "/token", &c, &[("grant_type", "client_credentials")]).await;
        assert_eq!(status, 200, "{body}");
        let at = body["access_token"].as_str().unwrap();
        let header = jwt_header(at);
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["typ"], "at+jwt");
        let kid = header["kid"].as_str().unwrap();
        let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid).expect("key in JWKS").clone();
        verify_with_jwk(at, &jwk, alg);
        let claims = jwt_payload(at);
        assert_eq!(claims["sub"], c.id.as_str());
        assert_eq!(claims["scope"], "laporan.baca");
        assert!(introspect(&app, &c, at).await);

        // client_secret_post works too; a wrong secret does not.
        let res = http_client()
            .post(app.url("/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &c.id),
                ("client_secret", c.secret.as_deref().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = http_client()
            .post(app.url("/token"))
            .basic_auth(&c.id, Some("salah"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers().contains_key("www-authenticate"));
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"], "invalid_client");
    }
    // A client registered only for the code flow may not use client_credentials.
    let web = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let (_, body) = post_form(&app, "/token", &web, &[("grant_type", "client_credentials")]).await;
    assert_eq!(body["error"], "unauthorized_client");
    let m2m = app.client_with(&["laporan.baca"], &[GrantType::ClientCredentials], true, false, Alg::ES256).await;
    let (_, body) =
        post_form(&app, "/token", &m2m, &[("grant_type", "client_credentials"), ("scope", "laporan.tulis")]).await;
    assert_eq!(body["error"], "invalid_scope");
}

fn verify_with_jwk(token: &str, jwk: &Value, alg: Alg) {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let s = |k: &str| jwk[k].as_str().unwrap().to_string();
    let (key, a) = match alg {
        Alg::RS256 => (DecodingKey::from_rsa_components(&s("n"), &s("e")).unwrap(), Algorithm::RS256),
        Alg::ES256 => (DecodingKey::from_ec_components(&s("x"), &s("y")).unwrap(), Algorithm::ES256),
        Alg::EdDSA => (DecodingKey::from_ed_components(&s("x")).unwrap(), Algorithm::EdDSA),
    };
    let mut v = Validation::new(a);
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &v).expect("signature verifies against the published key");
}

#[tokio::test]
async fn introspection_requires_authentication_and_revocation_works() {
    let app = TestApp::spawn().await;
    let c = app.client_with(&["api"], &[GrantType::ClientCredentials], true, false, Alg::ES256).await;
    let other = app.client_with(&["api"], &[GrantType::ClientCredentials], true, false, Alg::ES256).await;
    let (_, body) = post_form(&app, "/token", &c, &[("grant_type", "client_credentials")]).await;
    let at = body["access_token"].as_str().unwrap().to_string();

    let res = http_client().post(app.url("/introspect")).form(&[("token", at.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 401, "anonymous introspection is refused");
    assert!(introspect(&app, &c, &at).await);
    assert!(!introspect(&app, &other, &at).await, "another client learns nothing");
    assert!(!introspect(&app, &c, "not-a-token").await);

    // Revoking someone else's token does nothing; revoking one's own ends it.
    let (status, _) = post_form(&app, "/revoke", &other, &[("token", &at)]).await;
    assert_eq!(status, 200);
    assert!(introspect(&app, &c, &at).await);
    let (status, _) = post_form(&app, "/revoke", &c, &[("token", &at), ("token_type_hint", "access_token")]).await;
    assert_eq!(status, 200);
    assert!(!introspect(&app, &c, &at).await);
    let (status, _) = post_form(&app, "/revoke", &c, &[("token", "unknown-token")]).await;
    assert_eq!(status, 200, "unknown tokens are answered with 200 (RFC 7009 §2.2)");

    // A refresh token revoked through the endpoint takes its access tokens with it.
    let web = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let (code, verifier) = code_for(&app, &web).await;
    let (_, t) = post_form(
        &app,
        "/token",
        &web,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &web.redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    let (rt, at) = (t["refresh_token"].as_str().unwrap(), t["access_token"].as_str().unwrap());
    assert!(introspect(&app, &web, rt).await);
    let (status, _) = post_form(&app, "/revoke", &web, &[("token", rt), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(status, 200);
    assert!(!introspect(&app, &web, rt).await);
    assert!(!introspect(&app, &web, at).await);
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_verifiable() {
    let app = TestApp::spawn().await;
    let c = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let nip = unique_nip();
    app.asn(&nip, "Yanti").await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let http = http_client();
    let old = redeem(&rp, &cb, start.verifier).await;
    let old_kid = jwt_header(&old.id_token().unwrap().to_string())["kid"].as_str().unwrap().to_string();

    let rotated = app.state.keys.rotate(&app.state.db, gerbang::state::now()).await.expect("rotate");
    let new_kid = rotated.iter().find(|(_, alg)| *alg == Alg::RS256).unwrap().0.clone();
    assert_ne!(old_kid, new_kid);
    // The new key is published at once but signs only after the publish delay, so every
    // replica and every relying party's cached JWKS knows it first.
    assert_eq!(app.state.keys.current_kid(Alg::RS256).unwrap(), old_kid);
    // A second rotation while the first is being published is refused: it would retire the key
    // that still signs and sign with one the relying parties may not know yet.
    use gerbang::ops::{keys::rotate_keys, AdminError, Operator, Principal};
    let operator = Principal::Operator(Operator::local());
    let again = rotate_keys(&app.state, &operator, gerbang::state::now()).await;
    assert!(matches!(&again, Err(AdminError::Conflict(m)) if m.contains("rotate again")), "{again:?}");
    assert_eq!(app.state.keys.current_kid(Alg::RS256).unwrap(), old_kid, "the signing key was not retired");
    let later = gerbang::state::now() + app.state.keys.publish_delay();
    app.state.keys.reload_at(&app.state.db, later).await.unwrap();
    assert_eq!(app.state.keys.current_kid(Alg::RS256).unwrap(), new_kid);

    // A relying party that fetches the key set afresh still verifies the old token...
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http).await.unwrap();
    let kids: Vec<String> = meta.jwks().keys().iter().filter_map(|k| k.key_id().map(|i| i.to_string())).collect();
    assert!(kids.contains(&old_kid) && kids.contains(&new_kid));
    let fresh_rp = app.rp(&c).await;
    old.id_token().unwrap().claims(&fresh_rp.id_token_verifier(), &start.nonce).expect("old token still verifies");
    assert!(http
        .get(app.url("/userinfo"))
        .bearer_auth(old.access_token().secret())
        .send()
        .await
        .unwrap()
        .status()
        .is_success());

    // ...and new tokens are signed with the new key.
    let start = start_auth(&fresh_rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let new = redeem(&fresh_rp, &cb, start.verifier).await;
    assert_eq!(jwt_header(&new.id_token().unwrap().to_string())["kid"], new_kid.as_str());
    new.id_token().unwrap().claims(&fresh_rp.id_token_verifier(), &start.nonce).expect("new token verifies");
}

#[tokio::test]
async fn a_code_redeemed_at_two_replicas_at_once_is_accepted_once() {
    let (app, _redis) = on_redis(&[]).await;
    let other = app.replica().await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    for _ in 0..5 {
        let (code, verifier) = code_for(&app, &c).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", c.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let (a, b) = tokio::join!(post_form(&app, "/token", &c, &form), post_form(&other, "/token", &c, &form));
        // One takes the code, the other is a replay (RFC 6749 §4.1.2): whatever the first was
        // given is revoked, even when the replay came before its grant was stored (then the
        // first is refused too).
        let replays = [&a, &b].into_iter().filter(|r| r.0 == 400).count();
        assert!(replays >= 1, "a code is redeemed at most once: {a:?} {b:?}");
        for (status, body) in [&a, &b] {
            match status {
                200 => {
                    let at = body["access_token"].as_str().unwrap();
                    assert!(!introspect(&app, &c, at).await, "the replay revoked the first redemption's tokens");
                }
                400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
                other => panic!("{other}: {body}"),
            }
        }
    }
    // A session started on one replica is known to the other (SSO across replicas).
    let nip = unique_nip();
    app.asn(&nip, "Replika").await;
    let b = browser();
    let start = start_auth(&app.rp(&c).await, &[]);
    login(&app, &b, &start.url, &nip, PASSWORD).await;
    let again = start_auth(&app.rp(&c).await, &[]).url.replace(&app.base, &other.base);
    let res = b.get(&again).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(query(&location(&res)).contains_key("code"));
}

#[tokio::test]
async fn a_lockout_on_one_replica_holds_on_the_other() {
    let (app, _redis) = on_redis(&[("GERBANG_LOGIN_MAX_FAILURES", "3")]).await;
    let other = app.replica().await;
    let nip = unique_nip();
    app.asn(&nip, "Dua Replika").await;
    let wrong = gerbang::config::Secret::new("salah-sekali-1234".to_string());
    let t = gerbang::state::now();
    for i in 0..3 {
        let _ = gerbang::ops::login::password_login(&app.state, &nip, &wrong, "10.2.2.2", t + 10 * i).await;
    }
    let right = gerbang::config::Secret::new(PASSWORD.to_string());
    let res = gerbang::ops::login::password_login(&other.state, &nip, &right, "10.3.3.3", t + 25).await;
    assert!(matches!(res, Err(gerbang::ops::login::LoginError::TooManyAttempts { .. })), "{res:?}");
}

#[tokio::test]
async fn narrowing_an_applications_registration_ends_the_grants_it_made_before() {
    use gerbang::ops::{applications::edit_application, Operator, Principal};
    let app = TestApp::spawn().await;
    let c = app
        .web_client(&["openid", "profile", "nik"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true)
        .await;
    let rp = app.rp(&c).await;
    let nik = unique_nik();
    app.citizen(&nik, "Warga Uji").await;
    let http = http_client();
    let start = start_auth(&rp, &["profile", "nik"]);
    let cb = login(&app, &browser(), &start.url, &nik, PASSWORD).await;
    let t = redeem(&rp, &cb, start.verifier).await;
    let rt = t.refresh_token().unwrap().secret().clone();
    // A rename changes nothing the person agreed to: the grant lives on.
    let operator = Principal::Operator(Operator::local());
    let id = gerbang::ids::ClientId::parse(&c.id).unwrap();
    let rename = gerbang::oidc::clients::ClientEdit { name: Some("Aplikasi Uji Baru".into()), ..Default::default() };
    edit_application(&app.state, &operator, &id, rename, gerbang::state::now()).await.unwrap();
    let (status, body) =
        post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
    assert_eq!(status, 200, "{body}");
    let (rt, at) =
        (body["refresh_token"].as_str().unwrap().to_string(), body["access_token"].as_str().unwrap().to_string());

    // Diskominfo takes the NIK away and raises the level: what was granted before ends now.
    let narrow = gerbang::oidc::clients::ClientEdit {
        scopes: Some(vec!["openid".into(), "profile".into()]),
        min_level: Some(2),
        ..Default::default()
    };
    edit_application(&app.state, &operator, &id, narrow, gerbang::state::now()).await.unwrap();
    let (status, body) =
        post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let res = http.get(app.url("/userinfo")).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status(), 401, "the NIK is no longer served to the application");
}

#[tokio::test]
async fn a_refresh_token_sent_many_times_at_once_is_spent_once_and_its_family_revoked() {
    // Spread over two replicas, as behind a load balancer.
    let (app, _redis) = on_redis(&[]).await;
    let other = app.replica().await;
    let c = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let rp = app.rp(&c).await;
    let nip = unique_nip();
    app.asn(&nip, "Serentak").await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let first = redeem(&rp, &cb, start.verifier).await;
    let rt = first.refresh_token().expect("refresh token").secret().clone();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
    let sends = (0..10).map(|i| post_form(if i % 2 == 1 { &other } else { &app }, "/token", &c, &form));
    let answers = futures_util::future::join_all(sends).await;
    let won: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    assert_eq!(won.len(), 1, "exactly one request spends the token: {answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
    // The others were reuse: the family is revoked, the winner's new token with it.
    let next = won[0]["refresh_token"].as_str().expect("rotated refresh token");
    let (status, body) =
        post_form(&app, "/token", &c, &[("grant_type", "refresh_token"), ("refresh_token", next)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}

/// A server, a web application, a person of it and the tokens of their login (code redeemed).
async fn person_with_tokens() -> (TestApp, TestClient, gerbang::identity::accounts::Account, Value) {
    let app = TestApp::spawn().await;
    let web = app.web_client(&["openid", "profile"], CODE_AND_REFRESH, true).await;
    let nip = unique_nip();
    let person = app.asn(&nip, "Pegawai").await;
    let rp = app.rp(&web).await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let code = query(&cb)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", web.redirect_uri.as_str()),
        ("code_verifier", start.verifier.secret().as_str()),
    ];
    let (status, t) = post_form(&app, "/token", &web, &form).await;
    assert_eq!(status, 200, "{t}");
    (app, web, person, t)
}

#[tokio::test]
async fn a_suspended_persons_refresh_token_introspects_inactive_even_where_its_grant_stands() {
    let (app, web, person, t) = person_with_tokens().await;
    let (rt, at) = (t["refresh_token"].as_str().unwrap(), t["access_token"].as_str().unwrap());
    assert!(introspect(&app, &web, rt).await);

    // The status alone, as when ending the person's sessions failed after the change: the
    // grant is not revoked, and the account is what must stop the tokens.
    let now = app.state.clock.now();
    assert!(gerbang::store::accounts::set_status(&app.state.db, &person.id, "suspended", now).await.unwrap());
    assert!(!introspect(&app, &web, at).await, "the access token");
    assert!(!introspect(&app, &web, rt).await, "the refresh token");
    let (status, body) =
        post_form(&app, "/token", &web, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}

/// Introspection answers what a refresh would: a refresh token whose login session has ended
/// is not active, even where its grant was not revoked with the session (a grant made while
/// the session was ending).
#[tokio::test]
async fn a_refresh_token_of_an_ended_session_introspects_inactive() {
    let (app, web, person, t) = person_with_tokens().await;
    let rt = t["refresh_token"].as_str().unwrap();
    assert!(introspect(&app, &web, rt).await);

    // The session alone ends; its grant stays unrevoked.
    let st = &app.state;
    let sessions = gerbang::auth::session::list_for_account(&st.cache, &person.id, st.now()).await.unwrap();
    assert_eq!(sessions.len(), 1);
    let memory = gerbang::oidc::logout::session_memory(&st.config);
    assert!(gerbang::auth::session::end_by_sid(&st.cache, &person.id, &sessions[0].sid, memory).await.unwrap());
    assert!(!introspect(&app, &web, rt).await, "the session has ended");
    let (status, body) =
        post_form(&app, "/token", &web, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}

/// Introspection applies the application's current rules as a refresh does: once it requires a
/// role the person lacks, their refresh token is not active (a refresh would be refused), even
/// though adding a required role revokes no grant by itself.
#[tokio::test]
async fn a_refresh_token_introspects_inactive_once_the_application_requires_a_role_its_holder_lacks() {
    use gerbang::ops::{applications::edit_application, Operator, Principal};
    let (app, web, _person, t) = person_with_tokens().await;
    let rt = t["refresh_token"].as_str().unwrap();
    assert!(introspect(&app, &web, rt).await);

    let operator = Principal::Operator(Operator::local());
    let id = gerbang::ids::ClientId::parse(&web.id).unwrap();
    let edit =
        gerbang::oidc::clients::ClientEdit { required_roles: Some(vec!["operator".into()]), ..Default::default() };
    edit_application(&app.state, &operator, &id, edit, app.state.now()).await.unwrap();
    assert!(!introspect(&app, &web, rt).await, "the role the application now requires is missing");
    let (status, body) =
        post_form(&app, "/token", &web, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}
