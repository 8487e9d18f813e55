//! The SPBE model through a real relying party: OPD units, roles and their inheritance,
//! profile claims by scope, access decisions, and security levels.

use gerbang::identity::accounts::{self, AccountKind};
use gerbang::identity::opd::{self, NewOpd};
use gerbang::identity::profile;
use gerbang::identity::roles::{self, Holder};
use gerbang::oidc::clients::{self, GrantType, NewClient};
use gerbang::state::now;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, TokenResponse};
use serde_json::{json, Value};

use crate::common::*;

const ALL: &[&str] = &["openid", "profile", "nip", "nik", "opd", "roles", "asn_profile", "citizen_profile"];

async fn unit(app: &TestApp, code: &str, name: &str, kind: &str, parent: Option<&str>) -> String {
    let new = NewOpd { code: code.into(), name: name.into(), kind: kind.into(), parent: parent.map(String::from) };
    opd::create(&app.state.db, new, now()).await.expect("opd").id
}

async fn register(app: &TestApp, f: impl FnOnce(&mut NewClient)) -> TestClient {
    let redirect = format!("https://app-{}.jemberkab.go.id/cb", uuid::Uuid::new_v4().simple());
    let mut new = NewClient::web(
        "SIMPEG",
        vec![redirect.clone()],
        ALL.iter().map(|s| s.to_string()).collect(),
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
    );
    f(&mut new);
    let (c, secret) = clients::register(&app.state.db, &app.state.redirect_policy, new, now()).await.expect("register");
    TestClient {
        id: c.id,
        secret: secret.map(|s| s.expose().clone()),
        redirect_uri: redirect,
        post_logout_uri: String::new(),
    }
}

/// Logs in through the RP and returns (ID token claims, token response as JSON-ish parts).
async fn tokens_for(app: &TestApp, c: &TestClient, login_id: &str, scopes: &[&str]) -> (Value, String, Option<String>) {
    let rp = app.rp(c).await;
    let start = start_auth(&rp, scopes);
    let cb = login(app, &browser(), &start.url, login_id, PASSWORD).await;
    let q = query(&cb);
    assert!(q.contains_key("code"), "login refused: {cb}");
    let t = rp
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .unwrap()
        .set_pkce_verifier(start.verifier)
        .request_async(&http_client())
        .await
        .expect("exchange");
    let id = t.id_token().expect("id token");
    id.claims(&rp.id_token_verifier(), &start.nonce).expect("valid");
    (jwt_payload(&id.to_string()), t.access_token().secret().clone(), t.refresh_token().map(|r| r.secret().clone()))
}

#[tokio::test]
async fn claims_follow_scopes_and_roles_are_inherited_from_opd_units() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let dinkes = unit(&app, "1.02", "Dinas Kesehatan", "dinas", None).await;
    let bidang = unit(&app, "1.02.01", "Bidang Pelayanan Kesehatan", "bidang", Some("1.02")).await;
    let nip = unique_nip();
    let mut a = app.asn(&nip, "dr. Sari").await;
    a.opd_id = Some(bidang.clone());
    profile::set(&mut a.profile, AccountKind::Asn, "jabatan", "Kepala Bidang").unwrap();
    profile::set(&mut a.profile, AccountKind::Asn, "golongan", "IV/a").unwrap();
    accounts::save_profile(db, &a, now()).await.unwrap();

    let c = register(&app, |_| {}).await;
    let other = register(&app, |_| {}).await;
    let auditor = roles::create(db, None, "auditor", "", now()).await.unwrap();
    let operator = roles::create(db, Some(&c.id), "operator", "", now()).await.unwrap();
    let foreign = roles::create(db, Some(&other.id), "admin", "", now()).await.unwrap();
    // Assigned to the parent unit: staff of units below inherit it.
    roles::assign(db, &auditor, &Holder::Opd(dinkes), now()).await.unwrap();
    roles::assign(db, &operator, &Holder::Account(a.id.clone()), now()).await.unwrap();
    roles::assign(db, &foreign, &Holder::Account(a.id.clone()), now()).await.unwrap();

    let (bare, _, _) = tokens_for(&app, &c, &nip, &[]).await;
    for k in ["name", "nip", "opd", "roles", "app_roles", "jabatan", "golongan"] {
        assert!(bare.get(k).is_none(), "{k} must need its scope: {bare}");
    }
    assert_eq!(bare["security_level"], 1);
    assert_eq!(bare["acr"], "urn:gerbang:loa:1");

    let (full, access, _) =
        tokens_for(&app, &c, &nip, &["profile", "nip", "opd", "roles", "asn_profile", "citizen_profile"]).await;
    assert_eq!(full["roles"], json!(["auditor"]), "inherited from Dinas Kesehatan");
    assert_eq!(full["app_roles"], json!(["operator"]), "only this application's roles");
    assert_eq!(full["opd"]["code"], "1.02.01");
    assert_eq!(full["opd"]["path"], json!(["Dinas Kesehatan", "Bidang Pelayanan Kesehatan"]));
    assert_eq!(full["jabatan"], "Kepala Bidang");
    assert_eq!(full["golongan"], "IV/a");
    assert!(full.get("region").is_none());
    let at = jwt_payload(&access);
    assert_eq!(at["roles"], json!(["auditor"]));
    assert_eq!(at["app_roles"], json!(["operator"]));
    let info: Value =
        http_client().get(app.url("/userinfo")).bearer_auth(&access).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["opd"]["name"], "Bidang Pelayanan Kesehatan");
    assert_eq!(info["app_roles"], json!(["operator"]));

    // Citizens get their NIK region under citizen_profile, never ASN claims.
    let nik = unique_nik();
    app.citizen(&nik, "Warga").await;
    let (cit, _, _) = tokens_for(&app, &c, &nik, &["profile", "citizen_profile", "asn_profile", "opd"]).await;
    assert_eq!(cit["region"]["regency"]["name"], "Kabupaten Jember");
    assert_eq!(cit["verified"], false);
    assert!(cit.get("opd").is_none() && cit.get("jabatan").is_none());
}

#[tokio::test]
async fn removing_a_role_takes_effect_and_revokes_refresh_tokens() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let nip = unique_nip();
    let a = app.asn(&nip, "Operator").await;
    let c = register(&app, |_| {}).await;
    let op = roles::create(db, Some(&c.id), "operator", "", now()).await.unwrap();
    let keep = app.asn(&unique_nip(), "Tetap").await;
    roles::assign(db, &op, &Holder::Account(a.id.clone()), now()).await.unwrap();
    let (claims, access, refresh) = tokens_for(&app, &c, &nip, &["roles"]).await;
    assert_eq!(claims["app_roles"], json!(["operator"]));
    let refresh = refresh.expect("refresh token");

    // Someone unaffected keeps working; the person who lost the role loses the tokens.
    let revoked = roles::unassign(db, &op, &Holder::Account(keep.id.clone()), now()).await.unwrap();
    assert_eq!(revoked, 0);
    let revoked = roles::unassign(db, &op, &Holder::Account(a.id.clone()), now()).await.unwrap();
    assert_eq!(revoked, 1);
    let res = http_client()
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(http_client().get(app.url("/userinfo")).bearer_auth(&access).send().await.unwrap().status(), 401);
    let (claims, _, _) = tokens_for(&app, &c, &nip, &["roles"]).await;
    assert_eq!(claims["app_roles"], json!([]), "the next token no longer carries it");
}

#[tokio::test]
async fn applications_refuse_the_wrong_people_with_an_explanation() {
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let asn_only = register(&app, |n| n.account_types = vec![AccountKind::Asn]).await;
    let nik = unique_nik();
    app.citizen(&nik, "Warga").await;
    let rp = app.rp(&asn_only).await;
    let b = browser();
    let start = start_auth(&rp, &[]);
    let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(&app, &b, &html, &nik, PASSWORD).await;
    assert_eq!(res.status(), 403, "a page explains the refusal");
    let page = res.text().await.unwrap().replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(page.contains("NIP"), "explains that the application is for civil servants");
    let back = page
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.starts_with(&asn_only.redirect_uri))
        .expect("a way back to the application");
    assert_eq!(query(back)["error"], "access_denied");
    assert!(!query(back).contains_key("code"), "never a code");

    // With an SSO session already open the refusal is the same, and prompt=none gets the error.
    let res = b.get(&start_auth(&rp, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = b.get(format!("{}&prompt=none", start_auth(&rp, &[]).url)).send().await.unwrap();
    assert_eq!(query(&location(&res))["error"], "access_denied");

    // Required roles: refused without, admitted with.
    let needs_role = register(&app, |n| n.required_roles = vec!["operator".into()]).await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Calon Operator").await;
    let rp = app.rp(&needs_role).await;
    let b = browser();
    let html = b.get(&start_auth(&rp, &[]).url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(&app, &b, &html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 403);
    let op = roles::create(db, Some(&needs_role.id), "operator", "", now()).await.unwrap();
    roles::assign(db, &op, &Holder::Account(a.id), now()).await.unwrap();
    let res = b.get(&start_auth(&rp, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(query(&location(&res)).contains_key("code"));
}

#[tokio::test]
async fn a_suspended_account_is_refused_everywhere_and_its_sessions_end() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Dibekukan").await;
    let c = register(&app, |_| {}).await;
    let rp = app.rp(&c).await;
    let b = browser();
    let start = start_auth(&rp, &[]);
    let cb = login(&app, &b, &start.url, &nip, PASSWORD).await;
    let t = redeem(&rp, &cb, start.verifier).await;
    let refresh = t.refresh_token().unwrap().secret().clone();

    assert!(accounts::set_status(&app.state.db, &a.id, accounts::AccountStatus::Suspended, now()).await.unwrap());
    assert_eq!(
        http_client().get(app.url("/userinfo")).bearer_auth(t.access_token().secret()).send().await.unwrap().status(),
        401
    );
    let res = http_client()
        .post(app.url("/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let res = b.get(format!("{}&prompt=none", start_auth(&rp, &[]).url)).send().await.unwrap();
    assert_eq!(query(&location(&res))["error"], "login_required", "the SSO session no longer counts");
    let html = b.get(&start_auth(&rp, &[]).url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(&app, &b, &html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 401, "the right password does not help");
    let right = res.text().await.unwrap();
    let html = b.get(&start_auth(&rp, &[]).url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(&app, &b, &html, &nip, "salah-sekali-kata-sandinya").await;
    assert_eq!(res.status(), 401);
    let wrong = res.text().await.unwrap();
    let message = |page: &str| page.split("role=\"alert\"").nth(1).map(|m| m.chars().take(200).collect::<String>());
    assert_eq!(message(&right), message(&wrong), "a suspended account does not tell a right password from a wrong one");
    assert!(message(&right).is_some());
    assert!(accounts::set_status(&app.state.db, &a.id, accounts::AccountStatus::Active, now()).await.unwrap());
    assert!(query(&login(&app, &browser(), &start_auth(&rp, &[]).url, &nip, PASSWORD).await).contains_key("code"));
}

#[tokio::test]
async fn levels_out_of_reach_are_refused_clearly_never_lowered() {
    let app = TestApp::spawn().await;
    let d: Value =
        http_client().get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        d["acr_values_supported"],
        json!(["urn:gerbang:loa:1", "urn:gerbang:loa:2", "urn:gerbang:loa:3", "urn:gerbang:loa:4"])
    );
    let nip = unique_nip();
    app.asn(&nip, "Penandatangan").await;
    let c = register(&app, |_| {}).await;
    let rp = app.rp(&c).await;
    let b = browser();
    // Level 1 asked for: fine.
    let url = format!("{}&acr_values=urn:gerbang:loa:1", start_auth(&rp, &[]).url);
    assert!(query(&login(&app, &b, &url, &nip, PASSWORD).await).contains_key("code"));

    let essential = serde_json::to_string(
        &json!({ "id_token": { "acr": { "essential": true, "values": ["urn:gerbang:loa:3"] } } }),
    )
    .unwrap();
    let cases = [
        format!("{}&acr_values=urn:gerbang:loa:2", start_auth(&rp, &[]).url),
        format!("{}&claims={}", start_auth(&rp, &[]).url, urlencode(&essential)),
    ];
    for url in cases {
        let res = b.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 403, "{url}");
        let page = res.text().await.unwrap().replace("&#x2f;", "/").replace("&amp;", "&");
        // Level 2 needs an authenticator this person has not enrolled; level 3 needs passkeys.
        assert!(page.contains("tingkat keamanan"), "explains the level in Indonesian");
        let back = page
            .split("href=\"")
            .filter_map(|s| s.split('"').next())
            .find(|h| h.starts_with(&c.redirect_uri))
            .expect("way back");
        assert_eq!(query(back)["error"], "unmet_authentication_requirements");
        let res = b.get(format!("{url}&prompt=none")).send().await.unwrap();
        assert_eq!(query(&location(&res))["error"], "unmet_authentication_requirements", "never a lower level");
    }
    // Level 4 is a level-3 login by a signer: a password alone is refused after the login page.
    let signer = register(&app, |n| n.min_level = 4).await;
    let b4 = browser();
    let res = b4.get(&start_auth(&app.rp(&signer).await, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(submit_login(&app, &b4, &res.text().await.unwrap(), &nip, PASSWORD).await.status(), 403);
    // Level 3 needs a passkey: someone without one is refused after the password, with no session.
    let strict = register(&app, |n| n.min_level = 3).await;
    let b = browser();
    let html = b.get(&start_auth(&app.rp(&strict).await, &[]).url).send().await.unwrap().text().await.unwrap();
    assert_eq!(submit_login(&app, &b, &html, &nip, PASSWORD).await.status(), 403);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn pairwise_subjects_differ_per_application_and_stay_stable() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Nasabah").await;
    let bank = register(&app, |n| n.pairwise = true).await;
    let insurer = register(&app, |n| n.pairwise = true).await;
    let public = register(&app, |_| {}).await;
    let (b1, at, _) = tokens_for(&app, &bank, &nip, &["profile"]).await;
    let (b2, _, _) = tokens_for(&app, &bank, &nip, &["profile"]).await;
    let (i1, _, _) = tokens_for(&app, &insurer, &nip, &["profile"]).await;
    let (p1, _, _) = tokens_for(&app, &public, &nip, &["profile"]).await;
    assert_eq!(b1["sub"], b2["sub"], "stable across logins");
    assert_ne!(b1["sub"], i1["sub"], "different per application");
    assert_ne!(b1["sub"], a.id.as_str());
    assert_eq!(p1["sub"], a.id.as_str(), "public subject is the account id");
    assert_eq!(jwt_payload(&at)["sub"], b1["sub"]);
    let info: Value =
        http_client().get(app.url("/userinfo")).bearer_auth(&at).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["sub"], b1["sub"]);
    assert_eq!(info["name"], "Nasabah");
}

#[tokio::test]
async fn redirect_uris_outside_the_region_are_rejected_at_registration() {
    let app = TestApp::spawn_with(&[("GERBANG_REDIRECT_DOMAINS", "jemberkab.go.id,*.jemberkab.go.id")]).await;
    let try_register = |uri: &str, dev: bool| {
        let mut n =
            NewClient::web("X", vec![uri.to_string()], vec!["openid".into()], vec![GrantType::AuthorizationCode]);
        n.development = dev;
        n
    };
    let p = &app.state.redirect_policy;
    let db = &app.state.db;
    assert!(clients::register(db, p, try_register("https://simpeg.jemberkab.go.id/cb", false), now()).await.is_ok());
    for (uri, dev) in [
        ("https://simpeg.example.com/cb", false),
        ("https://jemberkab.go.id.evil.com/cb", false),
        ("http://localhost:3000/cb", false),
    ] {
        match clients::register(db, p, try_register(uri, dev), now()).await {
            Err(clients::ClientError::Invalid { field, message }) => {
                assert_eq!(field, "redirect_uri");
                assert!(message.contains(uri), "{message}");
            }
            other => panic!("{uri} must be refused, got {other:?}"),
        }
    }
    assert!(
        clients::register(db, p, try_register("http://localhost:3000/cb", true), now()).await.is_ok(),
        "development clients may use localhost"
    );
}

/// Userinfo keeps the OPD tree and the roles (not anyone's own) in memory for
/// `directory_cache_seconds`: a role given to a unit shows within that time, while the person's
/// own roles, their unit and the token itself are read at every request.
#[tokio::test]
async fn userinfo_sees_unit_roles_within_the_directory_ttl_and_personal_changes_at_once() {
    let app = TestApp::spawn_with(&[("GERBANG_DIRECTORY_CACHE_SECONDS", "1")]).await;
    let db = &app.state.db;
    let dinas = unit(&app, "7.01", "Dinas Uji Tembolok", "dinas", None).await;
    let bidang = unit(&app, "7.01.01", "Bidang Uji Tembolok", "bidang", Some("7.01")).await;
    let nip = unique_nip();
    let mut a = app.asn(&nip, "Pegawai Tembolok").await;
    a.opd_id = Some(bidang.clone());
    accounts::save_profile(db, &a, now()).await.unwrap();
    let c = register(&app, |_| {}).await;
    let (_, access, _) = tokens_for(&app, &c, &nip, &["opd", "roles"]).await;
    let before = userinfo_of(&app, &access).await;
    assert_eq!(before["opd"]["path"], json!(["Dinas Uji Tembolok", "Bidang Uji Tembolok"]));
    assert_eq!(before["roles"], json!([]));

    // The person's own new role is read with the token, so it shows at once (through the exact
    // queries: the snapshot does not know the role yet).
    let own = roles::create(db, Some(&c.id), "operator", "", now()).await.unwrap();
    roles::assign(db, &own, &Holder::Account(a.id.clone()), now()).await.unwrap();
    assert_eq!(userinfo_of(&app, &access).await["app_roles"], json!(["operator"]));

    // A role given to the unit above shows once the snapshot is read again.
    let auditor = roles::create(db, None, "auditor", "", now()).await.unwrap();
    roles::assign(db, &auditor, &Holder::Opd(dinas), now()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = userinfo_of(&app, &access).await;
    assert_eq!((after["roles"].clone(), after["app_roles"].clone()), (json!(["auditor"]), json!(["operator"])));

    // Taking the person's own role away counts at the very next request (the token, issued
    // before the role was given, did not carry it, so it stays good without it).
    roles::unassign(db, &own, &Holder::Account(a.id.clone()), now()).await.unwrap();
    assert_eq!(userinfo_of(&app, &access).await["app_roles"], json!([]));
}

async fn userinfo_of(app: &TestApp, access: &str) -> Value {
    let res = http_client().get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}
