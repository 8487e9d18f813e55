//! Signing-key lifecycle and master-key rotation over the real server and the `gerbang` binary:
//! the next key in JWKS before it signs, the JWKS max-age, scheduled rotation by moving the
//! clock, retirement after the token lifetime, and re-sealing every secret under a new master
//! key, after which second factors, signing, derived values and the audit chain still work; and
//! the emergency switch after a compromise, after which the old key's tokens count for nothing
//! while sessions go on with the new key.

use std::sync::Arc;

use gerbang::auth::totp;
use gerbang::clock::Clock;
use gerbang::config::{Config, Secret};
use gerbang::oidc::clients::GrantType;
use gerbang::oidc::keys::{Alg, TokenType};
use gerbang::state::{now, AppState};
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::common::*;

async fn jwks(app: &TestApp) -> (Vec<String>, String) {
    let res = http_client().get(app.url("/jwks")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cache = res.headers()["cache-control"].to_str().unwrap().to_string();
    let body: Value = res.json().await.unwrap();
    let kids = body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
    (kids, cache)
}

async fn kinds(app: &TestApp) -> Vec<(String, String, Value)> {
    gerbang::store::audit::all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind.starts_with("keys.") || r.kind.starts_with("master_key."))
        .map(|r| (r.kind, r.actor, serde_json::from_str(&r.detail).unwrap()))
        .collect()
}

#[tokio::test]
async fn keys_are_published_before_they_sign_rotate_on_schedule_and_retire_after_the_token_lifetime() {
    let app = TestApp::spawn_with(&[("GERBANG_SIGNING_KEY_ROTATION_DAYS", "1")]).await;
    let c = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let nip = unique_nip();
    app.asn(&nip, "Rotasi").await;
    let (first, cache) = jwks(&app).await;
    assert_eq!(cache, "public, max-age=60", "the max-age the publish delay was checked against");
    assert_eq!(first.len(), 3, "one key per algorithm");

    let rp = app.rp(&c).await;
    let start0 = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start0.url, &nip, PASSWORD).await;
    let before = redeem(&rp, &cb, start0.verifier).await;
    let old_kid = jwt_header(&before.id_token().unwrap().to_string())["kid"].as_str().unwrap().to_string();
    assert!(first.contains(&old_kid));

    // Shortly before the rotation is due nothing happens; at it the next key is published, a
    // publish delay ahead of the day's end so it signs on the day.
    let delay = app.state.keys.publish_delay();
    assert_eq!(delay, 120);
    let current = gerbang::store::keys::find(&app.state.db, &old_kid).await.unwrap().unwrap();
    let due = current.activates_at + 86_400 - delay;
    app.advance(due - app.state.now() - 30);
    gerbang::ops::upkeep::round(&app.state, 1, app.state.now()).await;
    assert_eq!(jwks(&app).await.0, first);
    app.advance(30);
    gerbang::ops::upkeep::round(&app.state, 2, app.state.now()).await;
    let (published, _) = jwks(&app).await;
    assert_eq!(published.len(), 6);
    let new_kid = published.iter().find(|k| k.starts_with("rs256-") && !first.contains(k)).unwrap().clone();
    // ...and does not sign yet: every relying party's cached JWKS gets it first.
    let signed = app.state.keys.sign(Alg::RS256, TokenType::IdToken, &serde_json::json!({})).unwrap();
    assert_eq!(jwt_header(&signed)["kid"], old_kid.as_str());

    // After the publish delay it signs; the old key stays published.
    app.advance(delay);
    gerbang::ops::upkeep::round(&app.state, 3, app.state.now()).await;
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let after = redeem(&rp, &cb, start.verifier).await;
    assert_eq!(jwt_header(&after.id_token().unwrap().to_string())["kid"], new_kid.as_str());
    let (published, _) = jwks(&app).await;
    assert!(published.contains(&old_kid) && published.contains(&new_kid));
    // An ID token from before the rotation verifies against the JWKS a relying party fetches now.
    let fresh = app.rp(&c).await;
    before.id_token().unwrap().claims(&fresh.id_token_verifier(), &start0.nonce).expect("old token verifies");

    // The old key leaves JWKS once every token it signed has expired, not before.
    let cfg = &app.state.config;
    let lifetime = cfg.access_token_ttl.max(cfg.id_token_ttl).max(cfg.session_ttl);
    let new_row = gerbang::store::keys::find(&app.state.db, &new_kid).await.unwrap().unwrap();
    let remove_at = gerbang::store::keys::find(&app.state.db, &old_kid).await.unwrap().unwrap().remove_at.unwrap();
    assert_eq!(remove_at, new_row.activates_at + lifetime + gerbang::oidc::key_lifecycle::RETIRE_GRACE);
    app.advance(remove_at - app.state.now() - 30);
    gerbang::ops::upkeep::round(&app.state, 4, app.state.now()).await;
    assert!(jwks(&app).await.0.contains(&old_kid));
    app.advance(30);
    gerbang::ops::upkeep::round(&app.state, 5, app.state.now()).await;
    let (published, _) = jwks(&app).await;
    assert_eq!(published.len(), 3);
    assert!(!published.contains(&old_kid) && published.contains(&new_kid));

    let trail = kinds(&app).await;
    let names: Vec<(&str, &str)> = trail.iter().map(|(k, a, _)| (k.as_str(), a.as_str())).collect();
    let activated = ("keys.activated", "system");
    assert_eq!(names, [("keys.rotated", "system"), activated, activated, activated, ("keys.retired", "system")]);
    assert_eq!(trail[0].2["scheduled"], true);
    assert!(trail[1..4].iter().any(|(_, _, d)| d["kid"] == new_kid.as_str() && d["replaced"] == old_kid.as_str()));
    assert!(trail[4].2["keys"].as_array().unwrap().iter().any(|k| k == old_kid.as_str()));
}

/// A scheduled rotation whose second algorithm's key cannot be stored keeps (and records) the
/// key it already published; the others follow at a later round.
#[tokio::test]
async fn a_rotation_that_fails_part_way_records_the_keys_it_published() {
    let app = TestApp::spawn_with(&[("GERBANG_SIGNING_KEY_ROTATION_DAYS", "1")]).await;
    let (first, _) = jwks(&app).await;
    // The database refuses the ES256 key (a stand-in for a failure after the RS256 one).
    let (make, drop) = match &app.state.db {
        gerbang::store::Db::Sqlite(_) => (
            vec![
                "CREATE TRIGGER t_no_es256 BEFORE INSERT ON signing_keys WHEN NEW.alg = 'ES256' \
                  BEGIN SELECT RAISE(ABORT, 'refused'); END",
            ],
            "DROP TRIGGER t_no_es256",
        ),
        gerbang::store::Db::Postgres(_) => (
            vec![
                "CREATE FUNCTION no_es256() RETURNS trigger AS $$ BEGIN IF NEW.alg = 'ES256' THEN \
                 RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER t_no_es256 BEFORE INSERT ON signing_keys FOR EACH ROW EXECUTE FUNCTION no_es256()",
            ],
            "DROP TRIGGER t_no_es256 ON signing_keys",
        ),
    };
    let run = |sql: &'static str| {
        let db = app.state.db.clone();
        async move {
            match &db {
                gerbang::store::Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
                gerbang::store::Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            }
            .unwrap()
        }
    };
    for sql in make {
        run(sql).await;
    }
    let current = gerbang::store::keys::find(&app.state.db, &first[0]).await.unwrap().unwrap();
    app.advance(current.activates_at + 86_400 - app.state.keys.publish_delay() - app.state.now());
    gerbang::ops::upkeep::round(&app.state, 1, app.state.now()).await;
    let (published, _) = jwks(&app).await;
    let new: Vec<&String> = published.iter().filter(|k| !first.contains(k)).collect();
    assert_eq!(new.len(), 1, "{published:?}");
    assert!(new[0].starts_with("rs256-"), "{new:?}");
    let trail = kinds(&app).await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!((trail[0].0.as_str(), trail[0].1.as_str()), ("keys.rotated", "system"));
    let keys: Vec<&str> = trail[0].2["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(keys, [new[0].as_str()], "the published key is on the record");

    // Once the database takes keys again, the next round publishes the two left, and the RS256
    // key already waiting is not doubled.
    run(drop).await;
    app.advance(60);
    gerbang::ops::upkeep::round(&app.state, 2, app.state.now()).await;
    let (published, _) = jwks(&app).await;
    assert_eq!(published.len(), 6, "{published:?}");
    let trail = kinds(&app).await;
    assert_eq!(trail.len(), 2, "{trail:?}");
    let mut algs: Vec<&str> =
        trail[1].2["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort();
    assert_eq!(algs, ["ES256", "EdDSA"]);
}

const KEY_A: &str = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
const KEY_B: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
const KEY_C: &str = "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M=";

/// The `gerbang` binary on the server's database with the given master keys.
async fn gerbang(c: &Config, master: &str, previous: Option<&str>, args: &[&str]) -> Run {
    let g = Gerbang::new(args).on(c).env("GERBANG_MASTER_KEY", master);
    match previous {
        Some(p) => g.env("GERBANG_MASTER_KEY_PREVIOUS", p),
        None => g,
    }
    .output()
    .await
}

/// Another server on the same database with other master keys.
async fn restarted(app: &TestApp, master: &str, previous: Option<&str>) -> anyhow::Result<Arc<AppState>> {
    let mut config: Config = (*app.state.config).clone();
    config.master_key = Some(Secret::new(master.to_string()));
    config.keys.master_key_previous = previous.map(|p| Secret::new(p.to_string()));
    AppState::init_with_clock(config, Clock::adjustable()).await
}

fn code(secret_b32: &str) -> String {
    let secret = data_encoding::BASE32_NOPAD.decode(secret_b32.as_bytes()).expect("base32");
    format!("{:06}", totp::hotp(&secret, totp::step_at(now()) as u64))
}

#[tokio::test]
async fn master_key_rotate_reseals_every_secret_and_derived_values_stay() {
    let app = TestApp::spawn_with(&[("GERBANG_MASTER_KEY", KEY_A)]).await;
    let st = &app.state;
    let (a, b) = (app.asn(&unique_nip(), "Satu").await, app.asn(&unique_nip(), "Dua").await);
    let enrolled = totp::start_enrolment(&st.db, &st.sealer, &a.id, "satu", "Gerbang", now()).await.unwrap();
    assert!(totp::confirm_enrolment(&st.db, &st.sealer, &a.id, &code(&enrolled.secret_base32), now()).await.unwrap());
    gerbang::audit::record(&st.db, gerbang::audit::Event::new("test.before"), now()).await;
    let login_id_hash = st.login_ids.hash(b"196501011990031001");
    let cfg = &st.config;

    // The new key alone cannot start: the signing keys are sealed under the old one.
    let run = gerbang(cfg, KEY_B, None, &["master-key", "status", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("cannot load signing keys"), "{}", run.stderr);

    let run = gerbang(cfg, KEY_B, Some(KEY_A), &["master-key", "status", "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = run.json();
    assert_eq!(status["previous_key_id"], st.sealer.id().as_str(), "the old key is now the previous one");
    let pending = status["pending"].as_u64().unwrap();
    assert_eq!(pending, 5, "3 signing keys, a TOTP secret and the root secret: {status}");

    // A value that opens with neither key: refused, and nothing changes.
    let stray = gerbang::crypto::MasterKey::new(gerbang::crypto::decode_master_key(KEY_C).unwrap());
    let sealed = stray.seal(&format!("totp:{}", b.id), b"12345678901234567890").unwrap();
    gerbang::store::factors::put_pending_totp(&st.db, &b.id, &sealed, now()).await.unwrap();
    let run = gerbang(cfg, KEY_B, Some(KEY_A), &["master-key", "rotate", "--json"]).await;
    assert_eq!(run.code, 1);
    let out = run.json();
    assert_eq!(out["error"], "conflict");
    let message = out["message"].as_str().unwrap();
    assert!(message.contains("1 sealed value(s) open with neither master_key nor master_key_previous"), "{message}");
    assert!(message.contains(&format!("totp_factors.secret of row {}", b.id)), "{message}");
    let run = gerbang(cfg, KEY_B, Some(KEY_A), &["master-key", "status", "--json"]).await;
    assert_eq!(run.json()["pending"].as_u64().unwrap(), pending + 1, "nothing was re-sealed");
    assert!(gerbang::auth::totp::remove(&st.db, &b.id).await.unwrap());

    // Re-sealed; a second run finds nothing to do.
    let run = gerbang(cfg, KEY_B, Some(KEY_A), &["master-key", "rotate", "--json"]).await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    let out = run.json();
    assert_eq!(out["resealed"]["signing_keys.private_key"], 3);
    assert_eq!(out["resealed"]["totp_factors.secret"], 1);
    assert_eq!(out["resealed"]["root_secret.sealed"], 1);
    let run = gerbang(cfg, KEY_B, Some(KEY_A), &["master-key", "rotate", "--json"]).await;
    assert_eq!(run.json()["resealed"]["signing_keys.private_key"], 0);
    let run = gerbang(cfg, KEY_B, None, &["master-key", "status", "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["pending"], 0);

    // A server with only the new key: signs, checks the second factor, derives the same values.
    let new = restarted(&app, KEY_B, None).await.expect("starts with the new key alone");
    assert!(new.keys.sign(Alg::ES256, TokenType::IdToken, &serde_json::json!({})).is_ok());
    assert_eq!(new.login_ids.hash(b"196501011990031001"), login_id_hash);
    let later = now() + totp::STEP_SECONDS;
    let next_code = {
        let secret = data_encoding::BASE32_NOPAD.decode(enrolled.secret_base32.as_bytes()).unwrap();
        format!("{:06}", totp::hotp(&secret, totp::step_at(later) as u64))
    };
    assert!(totp::verify(&new.db, &new.sealer, &a.id, &next_code, later).await.unwrap(), "TOTP under the new key");
    let run = gerbang(cfg, KEY_B, None, &["keys", "status", "--json"]).await;
    let states: Vec<Value> = run.json()["keys"].as_array().unwrap().iter().map(|k| k["state"].clone()).collect();
    assert_eq!(states, ["current", "current", "current"]);
    // The old key no longer opens anything.
    assert!(restarted(&app, KEY_A, None).await.is_err());

    gerbang::audit::record(&new.db, gerbang::audit::Event::new("test.after"), now()).await;
    let run = gerbang(cfg, KEY_B, None, &["audit", "verify"]).await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("audit trail intact: "), "{}", run.stdout);

    let trail = kinds(&app).await;
    let names: Vec<&str> = trail.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(names, ["master_key.reseal_refused", "master_key.resealed", "master_key.resealed"]);
    assert_eq!(trail[1].1, "cli:local");
    assert_eq!(trail[1].2["keys"]["previous_key_id"], st.sealer.id().as_str());
    assert_eq!(trail[1].2["resealed"]["totp_factors.secret"], 1);
}

async fn userinfo(app: &TestApp, token: &str) -> (u16, String) {
    let res = http_client().get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap();
    let challenge = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    (res.status().as_u16(), challenge.unwrap_or_default())
}

async fn introspect(app: &TestApp, c: &TestClient, token: &str) -> Value {
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

#[tokio::test]
async fn a_compromised_key_is_refused_at_once_and_sessions_go_on_with_the_new_key() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    let c =
        app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true).await;
    let nip = unique_nip();
    app.asn(&nip, "Bocor").await;
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let tokens = redeem(&rp, &cb, start.verifier).await;
    let access = tokens.access_token().secret().clone();
    let id_token = tokens.id_token().unwrap().to_string();
    let old_kid = jwt_header(&id_token)["kid"].as_str().unwrap().to_string();
    assert_eq!(jwt_header(&access)["kid"], old_kid.as_str(), "the client signs with RS256");
    assert_eq!(userinfo(&app, &access).await.0, 200);
    assert_eq!(userinfo(&replica, &access).await.0, 200, "the other replica has the key loaded");
    let (before, _) = jwks(&app).await;

    // Only the power that rotates keys may switch them.
    let app_itself = gerbang::ops::Principal::Application(c.id.clone());
    let refused = gerbang::ops::keys::replace_compromised(&app.state, &app_itself, app.state.now()).await;
    assert!(matches!(refused, Err(gerbang::ops::AdminError::Forbidden(_))), "{refused:?}");
    assert_eq!(jwks(&app).await.0, before);

    let operator = gerbang::ops::Principal::Operator(gerbang::ops::Operator::local());
    let done = gerbang::ops::keys::replace_compromised(&app.state, &operator, app.state.now()).await.unwrap();
    let retired: Vec<&str> = done.retired.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(retired.len(), 3);
    assert!(before.iter().all(|k| retired.contains(&k.as_str())), "{before:?} / {retired:?}");
    let new_rs = done.signing.iter().find(|(_, alg)| *alg == Alg::RS256).unwrap().0.clone();

    // On this replica at once: the old tokens count for nothing, JWKS holds only the new keys.
    let (status, challenge) = userinfo(&app, &access).await;
    assert_eq!(status, 401);
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    assert_eq!(introspect(&app, &c, &access).await, serde_json::json!({ "active": false }));
    let (published, _) = jwks(&app).await;
    assert!(!published.contains(&old_kid) && published.contains(&new_rs), "{published:?}");
    assert_eq!(published.len(), 3);
    let hint = format!("/logout?id_token_hint={id_token}&client_id={}", c.id);
    assert_eq!(browser().get(app.url(&hint)).send().await.unwrap().status(), 400, "an old ID token is no hint");

    // The other replica at its next key reload (the upkeep round, every minute).
    gerbang::ops::upkeep::round(&replica.state, 1, replica.state.now()).await;
    let (status, challenge) = userinfo(&replica, &access).await;
    assert_eq!(status, 401);
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    assert_eq!(jwks(&replica).await.0, published);

    // The refresh token is opaque: the session goes on with tokens of the new key.
    let refresh = tokens.refresh_token().expect("refresh token");
    let refreshed = rp.exchange_refresh_token(refresh).unwrap().request_async(&http_client()).await.expect("refresh");
    let new_id = refreshed.id_token().expect("ID token").to_string();
    assert_eq!(jwt_header(&new_id)["kid"], new_rs.as_str());
    let fresh = app.rp(&c).await;
    let no_nonce = |_: Option<&openidconnect::Nonce>| Ok(());
    refreshed.id_token().unwrap().claims(&fresh.id_token_verifier(), no_nonce).expect("verifies against JWKS now");
    let new_access = refreshed.access_token().secret();
    assert_eq!(userinfo(&app, new_access).await.0, 200);
    assert_eq!(userinfo(&replica, new_access).await.0, 200);

    let trail = kinds(&app).await;
    let (kind, actor, detail) = trail.last().unwrap();
    assert_eq!((kind.as_str(), actor.as_str()), ("keys.compromised", "cli:local"));
    let signing: Vec<Value> =
        done.signing.iter().map(|(kid, alg)| serde_json::json!({ "kid": kid, "alg": alg.as_str() })).collect();
    assert_eq!(detail["signing"], Value::from(signing));
    let old = detail["retired"].as_array().unwrap().iter().find(|k| k["kid"] == old_kid.as_str()).unwrap();
    assert_eq!(old, &serde_json::json!({ "kid": old_kid, "alg": "RS256", "state": "current" }));
    assert_eq!(trail.iter().filter(|(k, _, _)| k == "keys.compromised").count(), 1, "the refusal changed nothing");
}

#[tokio::test]
async fn two_emergency_switches_at_once_leave_one_signing_key_per_algorithm() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    let operator = gerbang::ops::Principal::Operator(gerbang::ops::Operator::local());
    let now = app.state.now();
    let (a, b) = tokio::join!(
        gerbang::ops::keys::replace_compromised(&app.state, &operator, now),
        gerbang::ops::keys::replace_compromised(&replica.state, &operator, now),
    );
    // One after the other both succeed (always so on SQLite, whose transaction takes the write
    // lock first); overlapping on PostgreSQL, the second meets the first's new keys in the unique
    // index and changes nothing. Either way one set of keys is left.
    for r in [&a, &b] {
        assert!(matches!(r, Ok(_) | Err(gerbang::ops::AdminError::Conflict(_))), "{r:?}");
    }
    assert!(a.is_ok() || b.is_ok());
    let published = gerbang::store::keys::list_published(&app.state.db).await.unwrap();
    let mut algs: Vec<&str> = published.iter().map(|r| r.alg.as_str()).collect();
    algs.sort();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    assert!(published.iter().all(|r| r.state == "current"));
    app.state.keys.reload(&app.state.db).await.unwrap();
    replica.state.keys.reload(&replica.state.db).await.unwrap();
    let mut kids: Vec<String> = published.iter().map(|r| r.kid.clone()).collect();
    kids.sort();
    for server in [&app, &replica] {
        let mut served = jwks(server).await.0;
        served.sort();
        assert_eq!(served, kids);
    }
}
