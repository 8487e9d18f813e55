//! The rolling updates of a master-key rotation (docs/keys.md), with two replicas on one
//! database: one with the first rollout's settings (`master_key` = old, `master_key_next` = new)
//! and one already with the second's (`master_key` = new, `master_key_previous` = old). An
//! authenticator enrolled on either replica works at a login on the other; `gerbang master-key
//! status` shows what the updated replica sealed under the next key, and `gerbang master-key
//! rotate` refuses to run with the first rollout's settings.

use gerbang::auth::totp;
use gerbang::crypto::{decode_master_key, MasterKey};
use gerbang::oidc::clients::GrantType;
use gerbang::state::now;
use serde_json::Value;

use crate::common::*;
use crate::factors::{code_now, otp};
use crate::self_service::page;

const OLD: &str = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
const NEW: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";

/// `url`, made by `issuer` (whose base is the issuer), as served by `at`: without a shared cache
/// a login has to stay on the replica that started it.
fn on(at: &TestApp, issuer: &TestApp, url: &str) -> String {
    url.replacen(&issuer.base, &at.base, 1)
}

/// Signs in to the account page at `at` and enrols an authenticator there; returns its secret.
async fn enrol_at(at: &TestApp, issuer: &TestApp, nip: &str) -> String {
    let b = browser();
    let res = b.get(at.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = login(at, &b, &on(at, issuer, &location(&res)), nip, PASSWORD).await;
    assert!(back.starts_with(&issuer.url("/account")), "{back}");
    let html = page(&b, at, "/account/totp").await;
    let marker = "id=\"secret\">";
    let start = html.find(marker).unwrap() + marker.len();
    let secret = html[start..start + html[start..].find('<').unwrap()].trim().to_string();
    let res = b
        .post(at.url("/account/totp"))
        .form(&[("csrf", hidden(&html, "csrf")), ("code", code_now(&secret, 0))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "enrolled at {}", at.base);
    secret
}

/// A login with password and one-time code at `at`, the code redeemed there too; returns the
/// ID token's claims.
async fn totp_login_at(at: &TestApp, issuer: &TestApp, c: &TestClient, nip: &str, secret: &str) -> Value {
    let start = start_auth(&issuer.rp(c).await, &[]);
    let b = browser();
    let html = b.get(on(at, issuer, &start.url)).send().await.unwrap().text().await.unwrap();
    let res = submit_login(at, &b, &html, nip, PASSWORD).await;
    assert_eq!(res.status(), 200, "the second step follows the password");
    let html = res.text().await.unwrap();
    assert!(html.contains("name=\"code\""), "the second-factor page");
    let res = otp(at, &b, &html, "code", &code_now(secret, 1)).await;
    assert_eq!(res.status(), 303, "the code is accepted at {}", at.base);
    let code = query(&location(&res))["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", c.redirect_uri.as_str()),
        ("code_verifier", start.verifier.secret().as_str()),
    ];
    let res = http_client().post(at.url("/token")).basic_auth(&c.id, c.secret.as_deref()).form(&form);
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    jwt_payload(body["id_token"].as_str().unwrap())
}

/// The TOTP column's counts as a replica with `master` sees them.
async fn totp_counts(app: &TestApp, master: &MasterKey) -> gerbang::master_key::ColumnCount {
    let counts = gerbang::master_key::status(&app.state.db, master).await.unwrap();
    counts.into_iter().find(|c| c.column == "totp_factors.secret").unwrap()
}

#[tokio::test]
async fn replicas_in_the_two_rollouts_of_a_rotation_open_each_others_second_factors() {
    // The first rollout's settings here; the database's secrets are sealed under the old key.
    let a = TestApp::spawn_with(&[("GERBANG_MASTER_KEY", OLD), ("GERBANG_MASTER_KEY_NEXT", NEW)]).await;
    let b = a
        .replica_with(|c| {
            c.master_key = Some(gerbang::config::Secret::new(NEW.to_string()));
            c.keys.master_key_previous = Some(gerbang::config::Secret::new(OLD.to_string()));
            c.keys.master_key_next = None;
        })
        .await;
    let old_id = MasterKey::new(decode_master_key(OLD).unwrap()).id();
    let new_id = MasterKey::new(decode_master_key(NEW).unwrap()).id();
    assert_eq!((a.state.sealer.id(), a.state.sealer.next_id()), (old_id.clone(), Some(new_id.clone())));
    assert_eq!((b.state.sealer.id(), b.state.sealer.previous_id()), (new_id.clone(), Some(old_id.clone())));
    let c = a.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    // The command line on the same database; `on` passes this replica's master_key (the old one).
    let cli = |extra: &[(&str, &str)], args: &[&str]| {
        Gerbang::new(args).on(&a.state.config).envs(extra.iter().copied()).output()
    };
    let first = [("GERBANG_MASTER_KEY_NEXT", NEW)];
    let run = cli(&first, &["master-key", "status", "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.json();
    assert_eq!((out["next_key_id"].as_str(), out["under_next"].as_u64()), (Some(new_id.as_str()), Some(0)));
    assert_eq!(out["pending"], 0, "nothing sealed under the next key before a replica seals with it");

    // Enrolled at the updated replica: sealed under the new key, opened at the other.
    let (nip1, nip2) = (unique_nip(), unique_nip());
    let p1 = a.asn(&nip1, "Langkah Dua").await.id;
    a.asn(&nip2, "Langkah Satu").await;
    let secret1 = enrol_at(&b, &a, &nip1).await;
    let counts = totp_counts(&a, &a.state.sealer).await;
    assert_eq!((counts.current, counts.next), (0, 1), "{counts:?}");
    let later = now() + totp::STEP_SECONDS;
    let old_only = MasterKey::new(decode_master_key(OLD).unwrap());
    assert!(
        totp::verify(&a.state.db, &old_only, &p1, &code_now(&secret1, 1), later).await.is_err(),
        "a replica with the old key alone cannot open it: the window master_key_next closes"
    );
    let claims = totp_login_at(&a, &a, &c, &nip1, &secret1).await;
    assert_eq!(claims["acr"], "urn:gerbang:loa:2");

    // Enrolled at the replica not yet updated: sealed under the old key, opened at the other.
    let secret2 = enrol_at(&a, &a, &nip2).await;
    assert_eq!(totp_counts(&b, &b.state.sealer).await.previous, 1);
    let claims = totp_login_at(&b, &a, &c, &nip2, &secret2).await;
    assert_eq!(claims["acr"], "urn:gerbang:loa:2");

    // What the first rollout's settings report; re-sealing with them is refused, changes nothing.
    let run = cli(&first, &["master-key", "status"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("master key {old_id} (next {new_id})")), "{}", run.stdout);
    assert!(run.stdout.contains("totp_factors.secret: 1 current, 0 previous, 1 next key"), "{}", run.stdout);
    assert!(run.stdout.contains("1 value(s) under the next key: a server already seals with it"), "{}", run.stdout);
    let run = cli(&first, &["master-key", "rotate", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    let message = run.json()["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("master_key_next is set"), "{message}");
    let counts = totp_counts(&a, &a.state.sealer).await;
    assert_eq!((counts.current, counts.next), (1, 1), "nothing was re-sealed back under the old key");
    let refused: Vec<Value> = gerbang::store::audit::all(&a.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "master_key.reseal_refused")
        .map(|r| serde_json::from_str(&r.detail).unwrap())
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["keys"]["next_key_id"], new_id.as_str());

    // The second rollout's settings re-seal everything under the new key.
    let second = [("GERBANG_MASTER_KEY", NEW), ("GERBANG_MASTER_KEY_PREVIOUS", OLD)];
    let run = cli(&second, &["master-key", "rotate", "--json"]).await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    assert_eq!(run.json()["resealed"]["totp_factors.secret"], 1, "the one under the old key");
    let counts = totp_counts(&b, &b.state.sealer).await;
    assert_eq!((counts.current, counts.previous), (2, 0));
}
