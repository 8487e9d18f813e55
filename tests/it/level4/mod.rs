//! Security level 4 and the signer role (issue 13, item 5): a level-3 login by a person holding
//! a signer binding is answered at level 4 with the `signer` role and the `cert` claim; without
//! one, a clear refusal; revocation and expiry take it all away at the next use.

mod authenticator;
pub(crate) mod support;

use authenticator::SoftPasskey;
use gerbang::auth::passkeys;
use serde_json::{json, Value};

use crate::common::*;
use support::*;

/// Passwordless login on the login page of `auth_url` with `key`: the answer to the passkey form.
async fn passkey_login(app: &TestApp, b: &reqwest::Client, auth_url: &str, key: &mut SoftPasskey) -> reqwest::Response {
    let res = b.get(auth_url).send().await.unwrap();
    assert_eq!(res.status(), 200, "the login page");
    let html = res.text().await.unwrap();
    let form = [("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf"))];
    let options: Value =
        b.post(app.url("/login/passkey/options")).form(&form).send().await.unwrap().json().await.unwrap();
    let credential = key.assert(&options).to_string();
    let mut answer = form.to_vec();
    answer.push(("credential", credential));
    b.post(app.url("/login/passkey")).form(&answer).send().await.unwrap()
}

/// A civil servant with a passkey registered on a software authenticator: the account id and
/// the authenticator.
async fn with_passkey(app: &TestApp, name: &str) -> (String, SoftPasskey) {
    let st = &app.state;
    let (_, id) = staff(app, name, None, None).await;
    let mut key = SoftPasskey::new(&app.base);
    let wa = st.webauthn.as_ref();
    let options = passkeys::start_registration(wa, &st.cache, &st.db, &id, name, name).await.unwrap();
    let credential = serde_json::from_value(key.register(&options)).unwrap();
    passkeys::finish_registration(wa, &st.cache, &st.db, &id, "Kunci uji", &credential, gerbang::state::now())
        .await
        .unwrap();
    (id, key)
}

/// Answers the second-factor page `html` with the passkey: its options, then the assertion.
async fn second_step_with_passkey(
    app: &TestApp,
    b: &reqwest::Client,
    html: &str,
    key: &mut SoftPasskey,
) -> reqwest::Response {
    let form = [("login_id", hidden(html, "login_id")), ("csrf", hidden(html, "csrf"))];
    let options: Value =
        b.post(app.url("/login/otp/passkey-options")).form(&form).send().await.unwrap().json().await.unwrap();
    let mut answer = form.to_vec();
    answer.push(("credential", key.assert(&options).to_string()));
    b.post(app.url("/login/otp")).form(&answer).send().await.unwrap()
}

#[tokio::test]
async fn a_passkey_login_reaches_level_4_only_with_a_signer_binding() {
    let app = TestApp::spawn_localhost(&[]).await;
    let st = &app.state;
    let (siti, mut key) = with_passkey(&app, "Siti Rahmawati").await;
    let c = application(&app, 4, None).await;
    let rp = app.rp(&c).await;

    // The passkey alone (level 3) is not enough: refused with the page, and no code.
    let res = passkey_login(&app, &browser(), &start_auth(&rp, &["signer"]).url, &mut key).await;
    let (status, page, back) = refusal(res, &c.redirect_uri).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("href=\"/account\""));
    assert_eq!(back["error"], "unmet_authentication_requirements");

    let cert_id = make_signer(&app, &siti).await;
    let (x5t, _) = thumbprint(&app, &cert_id).await;
    let start = start_auth(&rp, &["roles", "signer"]);
    let res = passkey_login(&app, &browser(), &start.url, &mut key).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let t = redeem_code(&app, &c, &location(&res), start.verifier.secret()).await;
    assert_eq!(t.id["acr"], "urn:gerbang:loa:4");
    assert!(t.id["amr"].as_array().unwrap().iter().any(|a| a == passkeys::AMR), "{}", t.id);
    assert!(roles(&t.id).contains(&"signer".to_string()));
    assert_eq!(t.id["cert"]["x5t#S256"], x5t.as_str());

    // The password first, then the passkey as the second step: level 4 as well.
    let (b, start) = (browser(), start_auth(&rp, &[]));
    let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
    let nip = gerbang::identity::accounts::get(&st.db, &siti).await.unwrap().unwrap().nip.unwrap();
    let res = submit_login(&app, &b, &html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 200, "the second-factor page");
    let html = res.text().await.unwrap();
    let res = second_step_with_passkey(&app, &b, &html, &mut key).await;
    assert_eq!(res.status(), 303);
    let t = redeem_code(&app, &c, &location(&res), start.verifier.secret()).await;
    assert_eq!(t.id["acr"], "urn:gerbang:loa:4");
}

#[tokio::test]
async fn a_signer_logs_in_at_level_4_with_the_signer_role_and_the_cert_claim() {
    let app = TestApp::spawn().await;
    let (_, siti) = staff(&app, "Siti Rahmawati", None, None).await;
    let cert_id = make_signer(&app, &siti).await;
    let (x5t, serial) = thumbprint(&app, &cert_id).await;
    let c = application(&app, 4, None).await;
    let b = browser_at(&app, &siti, 3).await;

    let t = tokens(&app, &c, &b, "").await;
    assert_eq!(t.id["acr"], "urn:gerbang:loa:4");
    assert_eq!(t.id["security_level"], 4);
    assert!(roles(&t.id).contains(&"signer".to_string()), "{}", t.id);
    let cert = &t.id["cert"];
    assert_eq!(cert["x5t#S256"], x5t.as_str());
    assert_eq!(cert["serial"], serial.as_str());
    assert_eq!(cert["status"], "valid");
    assert!(cert["issuer"].as_str().unwrap().contains("CA Uji DS G1"), "{cert}");
    assert!(cert["not_after"].as_i64().unwrap() > gerbang::state::now());
    let at = jwt_payload(&t.access);
    assert_eq!((at["acr"].as_str(), at["security_level"].as_u64()), (Some("urn:gerbang:loa:4"), Some(4)));
    assert!(roles(&at).contains(&"signer".to_string()));
    let (s, info) = userinfo(&app, &t.access).await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["cert"]["x5t#S256"], x5t.as_str());
    assert!(roles(&info).contains(&"signer".to_string()));
    assert_eq!(introspect(&app, &c, &t.access).await["active"], true);
    // The grant keeps the level: refreshed tokens say 4 too.
    let (s, v) = refresh(&app, &c, &t.refresh).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(jwt_payload(v["id_token"].as_str().unwrap())["acr"], "urn:gerbang:loa:4");

    // An application asking for less gets the login's own level, and the cert claim with the scope.
    let lenient = application(&app, 1, None).await;
    let t = tokens(&app, &lenient, &b, "").await;
    assert_eq!(t.id["acr"], "urn:gerbang:loa:3", "level 4 only when asked for");
    assert_eq!(t.id["cert"]["serial"], serial.as_str());
    // acr_values naming level 4 gets it.
    let t = tokens(&app, &lenient, &b, "&acr_values=urn:gerbang:loa:4").await;
    assert_eq!(t.id["acr"], "urn:gerbang:loa:4");

    let d: Value =
        http_client().get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let has = |k: &str, v: &str| d[k].as_array().unwrap().iter().any(|x| x == v);
    assert!(has("scopes_supported", "signer") && has("claims_supported", "cert"), "{d}");
    assert!(has("acr_values_supported", "urn:gerbang:loa:4"));
}

#[tokio::test]
async fn without_a_signer_binding_level_4_is_refused_with_the_way_to_the_account_page() {
    let app = TestApp::spawn().await;
    let (_, agus) = staff(&app, "Agus Prasetyo", None, None).await;
    let strict = application(&app, 4, None).await;
    let lenient = application(&app, 1, None).await;
    let b = browser_at(&app, &agus, 3).await;

    for (c, extra) in [(&strict, ""), (&lenient, "&acr_values=urn:gerbang:loa:4")] {
        let url = format!("{}{extra}", start_auth(&app.rp(c).await, &["signer"]).url);
        let (status, page, back) = refusal(b.get(&url).send().await.unwrap(), &c.redirect_uri).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("belum memiliki sertifikat elektronik yang sah dan terikat"), "{page}");
        assert!(page.contains("href=\"/account\""), "a way to bind a certificate");
        assert_eq!(back["error"], "unmet_authentication_requirements");
        let res = b.get(format!("{url}&prompt=none")).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(query(&location(&res))["error"], "unmet_authentication_requirements", "never a lower level");
    }
    // Without the scope or level 4, the person is let in; no signer role, no cert claim.
    let t = tokens(&app, &lenient, &b, "").await;
    assert!(!roles(&t.id).contains(&"signer".to_string()) && t.id.get("cert").is_none(), "{}", t.id);

    // A signer with a weaker session is asked for the passkey first (the step-up), not refused.
    let (_, siti) = staff(&app, "Siti Rahmawati", None, None).await;
    make_signer(&app, &siti).await;
    let key = gerbang::store::passkeys::PasskeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: siti.clone(),
        cred_id: uuid::Uuid::new_v4().simple().to_string(),
        name: "Kunci".into(),
        credential: "{}".into(),
        created_at: gerbang::state::now(),
        last_used_at: None,
        enrolled_via: None,
        enrolled_level: None,
    };
    gerbang::store::passkeys::insert(&app.state.db, &key).await.unwrap();
    let weak = browser_at(&app, &siti, 1).await;
    let res = weak.get(&start_auth(&app.rp(&strict).await, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("passkey"), "the second-factor page");
    // Without any passkey, the non-signer at level 1 is refused at once: a login cannot help.
    let res = browser_at(&app, &agus, 1).await.get(&start_auth(&app.rp(&strict).await, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn revoking_the_certificate_ends_level_4_and_the_signer_role_at_the_next_use() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (sup_nip, _) = staff(&app, "Rina Wulandari", None, Some("diskominfo-admin")).await;
    let sup = console_token(&app, &sup_nip).await;
    let (_, siti) = staff(&app, "Siti Rahmawati", None, None).await;
    let cert_id = make_signer(&app, &siti).await;
    let (strict, lenient) = (application(&app, 4, None).await, application(&app, 1, None).await);
    let b = browser_at(&app, &siti, 3).await;
    let high = tokens(&app, &strict, &b, "").await;
    let low = tokens(&app, &lenient, &b, "").await;
    assert!(roles(&low.id).contains(&"signer".to_string()));

    let res = http_client()
        .post(app.url(&format!("/admin/api/v1/certificates/{cert_id}/revocation")))
        .bearer_auth(&sup)
        .json(&json!({ "reason": "Dicabut BSrE: kunci hilang" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The level-4 grant: refresh refused, its tokens no longer active.
    assert_eq!(introspect(&app, &strict, &high.access).await, json!({ "active": false }));
    assert_eq!(introspect(&app, &strict, &high.refresh).await, json!({ "active": false }));
    assert_eq!(userinfo(&app, &high.access).await.0, 401);
    let (s, v) = refresh(&app, &strict, &high.refresh).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{v}");
    assert!(v["error_description"].as_str().unwrap().contains("signing certificate"), "{v}");
    // The level-3 grant lives on, without the role or the claim.
    let (s, info) = userinfo(&app, &low.access).await;
    assert_eq!(s, 200, "{info}");
    assert!(!roles(&info).contains(&"signer".to_string()) && info.get("cert").is_none(), "{info}");
    let (s, v) = refresh(&app, &lenient, &low.refresh).await;
    assert_eq!(s, 200, "{v}");
    assert!(!roles(&jwt_payload(v["id_token"].as_str().unwrap())).contains(&"signer".to_string()));
    // The next login to the level-4 application is refused.
    let url = start_auth(&app.rp(&strict).await, &[]).url;
    let (status, page, _) = refusal(b.get(&url).send().await.unwrap(), &strict.redirect_uri).await;
    assert_eq!(status, 403, "{page}");
}

#[tokio::test]
async fn expiry_ends_level_4_without_anyone_acting() {
    let app = TestApp::spawn().await;
    let (_, siti) = staff(&app, "Siti Rahmawati", None, None).await;
    make_signer_until(&app, &siti, gerbang::state::now() + 3600).await;
    let c = application(&app, 4, None).await;
    let t = tokens(&app, &c, &browser_at(&app, &siti, 3).await, "").await;
    assert_eq!(t.id["acr"], "urn:gerbang:loa:4");
    assert_eq!(introspect(&app, &c, &t.refresh).await["active"], true);

    app.advance(2 * 3600);
    assert_eq!(introspect(&app, &c, &t.refresh).await, json!({ "active": false }));
    let (s, v) = refresh(&app, &c, &t.refresh).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")), "{v}");
    // A new session at level 3 (the old one is still alive too): refused all the same.
    let b = browser_at(&app, &siti, 3).await;
    let res = b.get(&start_auth(&app.rp(&c).await, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_signer_role_is_computed_reserved_and_admits_only_signers() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (sup_nip, _) = staff(&app, "Rina Wulandari", None, Some("diskominfo-admin")).await;
    let sup = console_token(&app, &sup_nip).await;
    for client_id in [Value::Null, json!("gerbang-console")] {
        let res = http_client()
            .post(app.url("/admin/api/v1/roles"))
            .bearer_auth(&sup)
            .json(&json!({ "name": "signer", "client_id": client_id, "description": "Penandatangan" }))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let v: Value = res.json().await.unwrap();
        assert_eq!(status, 409, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("reserved"), "{v}");
    }

    let c = application(&app, 1, Some("signer")).await;
    let (_, agus) = staff(&app, "Agus Prasetyo", None, None).await;
    let url = start_auth(&app.rp(&c).await, &[]).url;
    let (status, _, back) =
        refusal(browser_at(&app, &agus, 3).await.get(&url).send().await.unwrap(), &c.redirect_uri).await;
    assert_eq!((status, back["error"].as_str()), (403, "access_denied"));
    let (_, siti) = staff(&app, "Siti Rahmawati", None, None).await;
    make_signer(&app, &siti).await;
    let t = tokens(&app, &c, &browser_at(&app, &siti, 1).await, "").await;
    assert_eq!(t.id["acr"], "urn:gerbang:loa:1", "the role needs the certificate, not level 4");
    assert!(roles(&t.id).contains(&"signer".to_string()));
}

/// A passkey answer at the second step whose ceremony could not be read (the cache failed, or
/// held a damaged value) was never compared with anything: it is taken back, as a one-time code
/// the database could not judge. Counted, retries locked the person's second step.
#[tokio::test]
async fn a_passkey_answer_whose_ceremony_was_unreadable_locks_nobody_out() {
    let app = TestApp::spawn_localhost(&[]).await;
    let st = &app.state;
    let (siti, mut key) = with_passkey(&app, "Siti Rahmawati").await;
    let c = application(&app, 3, None).await;
    let (b, start) = (browser(), start_auth(&app.rp(&c).await, &[]));
    let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
    let nip = gerbang::identity::accounts::get(&st.db, &siti).await.unwrap().unwrap().nip.unwrap();
    let res = submit_login(&app, &b, &html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 200, "the second-factor page");
    let html = res.text().await.unwrap();
    let form = [("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf"))];
    let answer = |key: &mut SoftPasskey, options: &Value| {
        let mut answer = form.to_vec();
        answer.push(("credential", key.assert(options).to_string()));
        b.post(app.url("/login/otp")).form(&answer).send()
    };
    let attempts = 2 * st.config.login_max_failures + 2;
    for i in 0..attempts {
        let options: Value =
            b.post(app.url("/login/otp/passkey-options")).form(&form).send().await.unwrap().json().await.unwrap();
        let ceremony = format!("webauthn-auth:{}", form[0].1);
        st.cache.put(&ceremony, b"rusak", std::time::Duration::from_secs(60)).await.unwrap();
        let res = answer(&mut key, &options).await.unwrap();
        assert_eq!(res.status(), 500, "attempt {i} of {attempts}");
    }
    let options: Value =
        b.post(app.url("/login/otp/passkey-options")).form(&form).send().await.unwrap().json().await.unwrap();
    let res = answer(&mut key, &options).await.unwrap();
    assert_eq!(res.status(), 303, "accepted at once, not locked");
    assert!(location(&res).contains("code="), "{}", location(&res));
}

/// The day's cap on wrong codes stops codes, not passkeys: a passkey cannot be guessed, so the
/// owner's still signs in after someone with the password used up the day's codes.
#[tokio::test]
async fn a_passkey_still_works_after_the_days_wrong_codes() {
    let app = TestApp::spawn_localhost(&[]).await;
    let (id, mut key) = with_passkey(&app, "Rina Kartika").await;
    let nip = gerbang::identity::accounts::get(&app.state.db, &id).await.unwrap().unwrap().nip.unwrap();
    let c = application(&app, 2, None).await;
    let rp = app.rp(&c).await;
    let second_step = || async {
        let b = browser();
        let start = start_auth(&rp, &[]);
        let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
        let res = submit_login(&app, &b, &html, &nip, PASSWORD).await;
        assert_eq!(res.status(), 200, "the second-factor page");
        (b, start, res.text().await.unwrap())
    };
    for _ in 0..gerbang::ops::login::DAILY_FAILURES {
        app.advance(400);
        let (b, _, html) = second_step().await;
        assert_eq!(crate::factors::otp(&app, &b, &html, "code", "000000").await.status(), 401);
    }
    app.advance(400);
    let (b, start, html) = second_step().await;
    assert_eq!(crate::factors::otp(&app, &b, &html, "code", "000000").await.status(), 429, "codes are capped");
    let res = second_step_with_passkey(&app, &b, &html, &mut key).await;
    assert_eq!(res.status(), 303, "the passkey is not capped");
    let t = redeem_code(&app, &c, &location(&res), start.verifier.secret()).await;
    assert_eq!(t.id["acr"], "urn:gerbang:loa:3");
}
