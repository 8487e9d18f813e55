//! Helpers of the level-4 tests: a signer binding made directly in the store, a browser holding
//! a session of a chosen level, the relying party's token requests.

use std::sync::Arc;

use gerbang::crypto;
use gerbang::oidc::clients::GrantType;
use gerbang::state::now;
use gerbang::store::certs::{self as cert_store, CertRow};
use serde_json::Value;

use crate::common::*;
use crate::pki::{Ca, PersonOpts, DAY};

/// Makes `account_id` a signer: a certificate of a test CA hierarchy bound with proof of
/// possession and a good revocation answer. The one place the tests make a binding, so it can
/// be swapped for the real proof-of-possession flow.
pub async fn make_signer(app: &TestApp, account_id: &str) -> String {
    make_signer_until(app, account_id, now() + 2 * 365 * DAY).await
}

/// [`make_signer`] with a certificate that ends at `not_after` (wall-clock seconds).
pub async fn make_signer_until(app: &TestApp, account_id: &str, not_after: i64) -> String {
    let root = Ca::root("Root CA Uji DS G1");
    let ca = root.intermediate("CA Uji DS G1");
    let person = ca.person(PersonOpts::new("Siti Rahmawati").valid(now() - DAY, not_after));
    let (_, cert) = x509_parser::parse_x509_certificate(&person.cert_der).unwrap();
    let row = CertRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account_id.into(),
        fingerprint: crypto::sha256_hex(&person.cert_der),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: person.serial_hex.clone(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        status: "active".into(),
        pem: person.cert_pem.clone(),
        bound_by: account_id.into(),
        created_at: now(),
        possession: "signature".into(),
        possession_at: Some(now()),
        name_match: "name".into(),
        check_status: "good".into(),
        check_source: "crl".into(),
        checked_at: Some(now()),
        check_valid_until: Some(now() + 7 * DAY),
        issuer_pem: ca.cert_pem.clone(),
        ..Default::default()
    };
    cert_store::insert(&app.state.db, &row).await.unwrap();
    row.id
}

/// The `x5t#S256` a certificate bound as `cert_id` must be released with.
pub async fn thumbprint(app: &TestApp, cert_id: &str) -> (String, String) {
    let row = cert_store::get(&app.state.db, cert_id).await.unwrap().unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(row.pem.as_bytes()).unwrap();
    (crypto::b64url(&crypto::sha256(&pem.contents)), row.serial)
}

/// A browser that holds a single sign-on session of `account_id` at `level` (as after a
/// password, or a passkey for 3), without going through the login pages.
pub async fn browser_at(app: &TestApp, account_id: &str, level: u8) -> reqwest::Client {
    let amr = if level >= 3 { vec![gerbang::auth::passkeys::AMR.to_string()] } else { vec!["pwd".to_string()] };
    let acr = gerbang::identity::levels::acr(level);
    let (cookie, _, _) = gerbang::auth::session::create(
        &app.state.cache,
        account_id,
        acr,
        amr,
        28_800,
        app.state.now(),
        "10.0.0.9",
        "uji",
        60,
    )
    .await
    .unwrap();
    let jar = Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("gerbang_sso={cookie}; Path=/"), &app.base.parse().unwrap());
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_provider(jar).build().unwrap()
}

/// A first-party application asking for `min_level`, with the scopes of these tests.
pub async fn application(app: &TestApp, min_level: u8, required_role: Option<&str>) -> TestClient {
    let scopes = ["openid", "profile", "roles", "signer", "offline_access"];
    app.client_where(&scopes, &[GrantType::AuthorizationCode, GrantType::RefreshToken], |n| {
        n.first_party = true;
        n.min_level = min_level;
        n.required_roles = required_role.map(|r| vec![r.to_string()]).unwrap_or_default();
    })
    .await
}

/// The tokens of a login in `browser` (which must already hold a strong enough session).
pub struct Tokens {
    pub id: Value,
    pub access: String,
    pub refresh: String,
}

pub async fn tokens(app: &TestApp, c: &TestClient, b: &reqwest::Client, extra: &str) -> Tokens {
    let rp = app.rp(c).await;
    let start = start_auth(&rp, &["profile", "roles", "signer", "offline_access"]);
    let res = b.get(format!("{}{extra}", start.url)).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    redeem_code(app, c, &location(&res), start.verifier.secret()).await
}

/// The token endpoint's answer to the code in `callback`.
pub async fn redeem_code(app: &TestApp, c: &TestClient, callback: &str, verifier: &str) -> Tokens {
    let (status, v) = token_request(
        app,
        c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query(callback)["code"]),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    Tokens {
        id: jwt_payload(v["id_token"].as_str().unwrap()),
        access: v["access_token"].as_str().unwrap().into(),
        refresh: v["refresh_token"].as_str().unwrap_or_default().into(),
    }
}

pub async fn token_request(app: &TestApp, c: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let res =
        http_client().post(app.url("/token")).basic_auth(&c.id, c.secret.as_deref()).form(form).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

pub async fn refresh(app: &TestApp, c: &TestClient, token: &str) -> (u16, Value) {
    token_request(app, c, &[("grant_type", "refresh_token"), ("refresh_token", token)]).await
}

pub async fn userinfo(app: &TestApp, access: &str) -> (u16, Value) {
    let res = http_client().get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

pub async fn introspect(app: &TestApp, c: &TestClient, token: &str) -> Value {
    let res = http_client()
        .post(app.url("/introspect"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Global role names in a token's or userinfo's `roles`.
pub fn roles(v: &Value) -> Vec<String> {
    v["roles"].as_array().map(|a| a.iter().filter_map(|r| r.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// The page of a refused authorization: status, text (entities undone), the way back's query.
pub async fn refusal(
    res: reqwest::Response,
    redirect_uri: &str,
) -> (u16, String, std::collections::HashMap<String, String>) {
    let status = res.status().as_u16();
    let page = res.text().await.unwrap().replace("&#x2f;", "/").replace("&amp;", "&");
    let back = page
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.starts_with(redirect_uri))
        .map(query)
        .unwrap_or_default();
    (status, page, back)
}
