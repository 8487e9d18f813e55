//! The lifecycle on a real (in-memory SQLite) database with `now` passed in: publish →
//! activate → retire → remove, scheduled rotation, two replicas stepping at once, and the
//! emergency switch after a compromise.

use super::*;
use crate::clock::Clock;
use crate::crypto::MasterKey;
use crate::oidc::keys::{TokenType, VerifyError};

const P: i64 = 3_600;
const R: i64 = 900;
const INTERVAL: i64 = 10 * 86_400;
const ISS: &str = "https://sso.example.go.id";
const POLICY: KeyPolicy = KeyPolicy { publish_delay: P, retire_after: R, rotation_interval: INTERVAL };

async fn db() -> Db {
    let db = Db::connect("sqlite::memory:", 1).await.unwrap();
    db.migrate().await.unwrap();
    db
}

async fn keys(db: &Db) -> Keys {
    Keys::load(db, MasterKey::new([5u8; 32]), POLICY, Clock::adjustable()).await.unwrap()
}

fn kids(keys: &Keys) -> Vec<String> {
    let jwks: serde_json::Value = serde_json::from_slice(&keys.jwks_json()).unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

fn token(keys: &Keys) -> String {
    let exp = chrono::Utc::now().timestamp() + 600;
    let claims = serde_json::json!({ "iss": ISS, "sub": "a", "exp": exp });
    keys.sign(Alg::RS256, TokenType::IdToken, &claims).unwrap()
}

fn verify(keys: &Keys, t: &str) -> Result<serde_json::Value, VerifyError> {
    keys.verify::<serde_json::Value>(t, TokenType::IdToken, ISS, true)
}

fn kid_of(t: &str) -> String {
    jsonwebtoken::decode_header(t).unwrap().kid.unwrap()
}

#[tokio::test]
async fn publish_activate_retire_remove() {
    let db = db().await;
    let keys = keys(&db).await;
    let t0 = chrono::Utc::now().timestamp();
    let old = keys.current_kid(Alg::RS256).unwrap();
    assert_eq!(kids(&keys).len(), 3);

    // Published at once, signing only after the publish delay.
    let t1 = t0 + 10;
    let new_kids = keys.rotate(&db, t1).await.unwrap();
    let new = new_kids.iter().find(|(_, alg)| *alg == Alg::RS256).unwrap().0.clone();
    assert!(new.starts_with("rs256-"));
    assert!(kids(&keys).contains(&new), "the next key is in JWKS before it signs");
    assert_eq!(keys.current_kid(Alg::RS256).unwrap(), old);
    assert!(matches!(keys.rotate(&db, t1 + 1).await, Err(KeyError::TooSoon(w)) if w == P - 1));
    assert_eq!(keys.step(&db, t1 + P - 1).await.unwrap(), Step::default());
    let signed_by_old = token(&keys);
    assert_eq!(kid_of(&signed_by_old), old);

    // At its time the next key signs, the old one stays published for the token lifetime.
    let step = keys.step(&db, t1 + P).await.unwrap();
    assert_eq!(step.activated.len(), 3);
    assert!(step.activated.contains(&(new.clone(), Alg::RS256, Some(old.clone()))));
    assert_eq!(keys.current_kid(Alg::RS256).unwrap(), new);
    assert_eq!(kid_of(&token(&keys)), new);
    let row = key_store::find(&db, &old).await.unwrap().unwrap();
    assert_eq!((row.state.as_str(), row.rotated_at, row.remove_at), ("previous", Some(t1 + P), Some(t1 + P + R)));
    // A later rotation does not take the previous key out early.
    keys.rotate(&db, t1 + P + 1).await.unwrap();
    assert!(kids(&keys).contains(&old));
    assert!(verify(&keys, &signed_by_old).is_ok(), "a token of the previous key verifies");

    // Just before its removal time it is still published and verifies; at it, it is gone.
    let step = keys.step(&db, t1 + P + R - 1).await.unwrap();
    assert!(step.retired.is_empty());
    assert!(verify(&keys, &signed_by_old).is_ok());
    let step = keys.step(&db, t1 + P + R).await.unwrap();
    assert_eq!(step.retired.len(), 3);
    assert!(step.retired.contains(&old));
    assert!(!kids(&keys).contains(&old));
    assert_eq!(verify(&keys, &signed_by_old), Err(VerifyError::UnknownKey));
    assert_eq!(key_store::find(&db, &old).await.unwrap().unwrap().state, "retired");
    // Archived statements still find it.
    assert!(keys.verify_archived::<serde_json::Value>(&db, &signed_by_old, TokenType::IdToken, ISS).await.is_ok());
}

#[tokio::test]
async fn scheduled_rotation_publishes_ahead_of_the_interval() {
    let db = db().await;
    let keys = keys(&db).await;
    let current = key_store::find(&db, &keys.current_kid(Alg::ES256).unwrap()).await.unwrap().unwrap();
    let due = current.activates_at + INTERVAL - P;
    assert!(keys.rotate_due(&db, due - 1).await.unwrap().is_empty());
    let published = keys.rotate_due(&db, due).await.unwrap();
    assert_eq!(published.len(), 3);
    assert!(keys.rotate_due(&db, due + 1).await.unwrap().is_empty(), "one waiting key per algorithm");
    let step = keys.step(&db, due + P).await.unwrap();
    assert_eq!(step.activated.len(), 3);
    let es = published.iter().find(|(_, a)| *a == Alg::ES256).unwrap();
    assert_eq!(keys.current_kid(Alg::ES256).unwrap(), es.0);

    let manual_only = KeyPolicy { rotation_interval: 0, ..POLICY };
    let other = Keys::load(&db, MasterKey::new([5u8; 32]), manual_only, Clock::adjustable()).await.unwrap();
    assert!(other.rotate_due(&db, due + 100 * INTERVAL).await.unwrap().is_empty());
}

#[tokio::test]
async fn replicas_take_each_step_once_and_agree_on_the_signer() {
    let db = db().await;
    let a = keys(&db).await;
    let b = keys(&db).await;
    let t0 = chrono::Utc::now().timestamp();
    let old = a.current_kid(Alg::EdDSA).unwrap();
    assert_eq!(b.current_kid(Alg::EdDSA).unwrap(), old, "the second replica loads the first one's keys");
    let (ra, rb) = tokio::join!(a.rotate_due(&db, t0 + INTERVAL), b.rotate_due(&db, t0 + INTERVAL));
    assert_eq!(ra.unwrap().len() + rb.unwrap().len(), 3, "one replica publishes each key");
    // The loser of a race publishes nothing; its next reload shows the winner's keys.
    a.reload_at(&db, t0 + INTERVAL).await.unwrap();
    b.reload_at(&db, t0 + INTERVAL).await.unwrap();
    assert_eq!(kids(&a).len(), 6);
    assert_eq!(kids(&a), kids(&b));
    // Past the activation time both sign with the new key, whichever records the step.
    let at = t0 + INTERVAL + P;
    a.reload_at(&db, at).await.unwrap();
    b.reload_at(&db, at).await.unwrap();
    assert_ne!(a.current_kid(Alg::EdDSA).unwrap(), old);
    assert_eq!(a.current_kid(Alg::EdDSA), b.current_kid(Alg::EdDSA));
    let (sa, sb) = tokio::join!(a.step(&db, at), b.step(&db, at));
    let (sa, sb) = (sa.unwrap(), sb.unwrap());
    assert_eq!(sa.activated.len() + sb.activated.len(), 3);
}

/// A rotation asked for while another replica's scheduled one runs: each next key is
/// published once, and returned (to be recorded) by the call that published it. A call that
/// published the first algorithm's key and then met the other's used to return an error, and
/// its key went unrecorded (the rounds make that interleaving likely, not certain).
#[tokio::test]
async fn a_rotation_racing_the_scheduled_one_returns_every_key_it_published() {
    for round in 0..8 {
        let db = db().await;
        let a = keys(&db).await;
        let b = keys(&db).await;
        let t = chrono::Utc::now().timestamp() + INTERVAL;
        let (ra, rb) = tokio::join!(a.rotate(&db, t), b.rotate_due(&db, t));
        let mut returned: Vec<String> = ra.map(|r| r.into_iter().map(|(kid, _)| kid).collect()).unwrap_or_default();
        returned.extend(rb.unwrap().into_iter().map(|(kid, _)| kid));
        returned.sort();
        let mut next: Vec<String> = key_store::list_published(&db)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.state == "next")
            .map(|r| r.kid)
            .collect();
        next.sort();
        assert_eq!(returned, next, "round {round}: every next key returned once by its publisher");
        assert_eq!(next.len(), 3);
    }
}

#[tokio::test]
async fn a_compromise_retires_every_published_key_at_once_and_new_ones_sign_at_once() {
    let db = db().await;
    let a = keys(&db).await;
    let b = keys(&db).await;
    let t0 = chrono::Utc::now().timestamp();
    // A previous, a current and a next key of each algorithm, and a token of each signer.
    a.rotate(&db, t0).await.unwrap();
    let previous = token(&a);
    a.step(&db, t0 + P).await.unwrap();
    a.rotate(&db, t0 + P + 1).await.unwrap();
    let t = t0 + P + 2;
    let current = token(&a);
    b.reload_at(&db, t).await.unwrap();
    assert_eq!(kids(&a).len(), 9);

    let done = a.replace_compromised(&db, t).await.unwrap();
    let was = |s: &str| done.retired.iter().filter(|k| k.was == s).count();
    assert_eq!((was("next"), was("current"), was("previous")), (3, 3, 3));
    let new: Vec<String> = done.signing.iter().map(|(kid, _)| kid.clone()).collect();
    assert_eq!(done.signing.iter().map(|(_, alg)| *alg).collect::<Vec<_>>(), Alg::ALL);
    // This replica: only the new keys are published, they sign now, and the old tokens are refused.
    assert_eq!(kids(&a).into_iter().collect::<std::collections::BTreeSet<_>>(), new.iter().cloned().collect());
    assert!(new.contains(&kid_of(&token(&a))));
    assert_eq!(verify(&a, &current), Err(VerifyError::UnknownKey));
    assert_eq!(verify(&a, &previous), Err(VerifyError::UnknownKey));
    let signer = key_store::find(&db, &kid_of(&current)).await.unwrap().unwrap();
    assert_eq!((signer.state.as_str(), signer.rotated_at, signer.remove_at), ("retired", Some(t), Some(t)));
    let before = key_store::find(&db, &kid_of(&previous)).await.unwrap().unwrap();
    assert_eq!((before.rotated_at, before.remove_at), (Some(t0 + P), Some(t)), "it stopped signing earlier");

    // Another replica trusts what it loaded until its next reload, then no more.
    assert!(verify(&b, &current).is_ok());
    b.reload_at(&db, t + 1).await.unwrap();
    assert_eq!(verify(&b, &current), Err(VerifyError::UnknownKey));
    assert!(new.contains(&kid_of(&token(&b))));
    assert!(verify(&b, &token(&a)).is_ok());

    // The lifecycle goes on from the new keys: nothing waits, a rotation is taken.
    assert_eq!(a.step(&db, t + 1).await.unwrap(), Step::default());
    assert_eq!(a.rotate(&db, t + 2).await.unwrap().len(), 3);
}

#[test]
fn the_signer_is_the_last_activated_published_key() {
    let row = |kid: &str, state: &str, activates_at: i64, remove_at: Option<i64>| KeyRow {
        kid: kid.into(),
        alg: "RS256".into(),
        state: state.into(),
        private_key: Vec::new(),
        public_jwk: String::new(),
        created_at: activates_at - 10,
        rotated_at: None,
        activates_at,
        remove_at,
    };
    let rows = vec![row("c", "next", 200, None), row("b", "current", 100, None), row("a", "previous", 50, Some(150))];
    assert_eq!(signer_for(&rows, "RS256", 199).unwrap().kid, "b");
    assert_eq!(signer_for(&rows, "RS256", 200).unwrap().kid, "c");
    assert!(signer_for(&rows, "ES256", 200).is_none());
    assert!(is_published(&rows[2], 149) && !is_published(&rows[2], 150));
    // Clocks apart: nothing has activated yet by this one; the earliest key signs.
    assert_eq!(signer_for(&rows[..2], "RS256", 0).unwrap().kid, "b");
}

/// Access tokens verified once are remembered by the key set (see `verified`): the same answer
/// again, the expiry checked again at every use, and nothing left once the set is replaced.
#[tokio::test]
async fn verified_access_tokens_are_remembered_only_while_valid_and_only_by_their_key_set() {
    let db = db().await;
    let keys = keys(&db).await;
    let now = chrono::Utc::now().timestamp();
    let at = |exp: i64| {
        let claims = serde_json::json!({ "iss": ISS, "sub": "a", "exp": exp, "jti": exp.to_string() });
        keys.sign(Alg::RS256, TokenType::AccessToken, &claims).unwrap()
    };
    let check = |t: &str, check_exp: bool| keys.verify::<serde_json::Value>(t, TokenType::AccessToken, ISS, check_exp);
    let live = at(now + 600);
    for _ in 0..3 {
        assert_eq!(check(&live, true).unwrap()["sub"], "a");
    }
    assert_eq!(keys.remembered(), 1);
    // Another issuer, another type: never answered from what was remembered.
    assert!(keys.verify::<serde_json::Value>(&live, TokenType::AccessToken, "https://lain", true).is_err());
    assert_eq!(keys.verify::<serde_json::Value>(&live, TokenType::IdToken, ISS, true), Err(VerifyError::WrongType));
    // A token remembered without its expiry checked is refused once the expiry counts.
    let expired = at(now - 10);
    assert!(check(&expired, false).is_ok());
    assert_eq!(keys.remembered(), 2);
    assert_eq!(check(&expired, true), Err(VerifyError::Invalid("ExpiredSignature".into())));
    // A forged signature is never remembered.
    let forged = format!("{}x", &live[..live.len() - 1]);
    assert!(check(&forged, true).is_err());
    assert_eq!(keys.remembered(), 2);
    // After a compromise the new key set remembers nothing, and the old key's tokens are refused.
    keys.replace_compromised(&db, now).await.unwrap();
    assert_eq!(keys.remembered(), 0);
    assert_eq!(check(&live, true), Err(VerifyError::UnknownKey));
}
