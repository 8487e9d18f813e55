//! The hasher: PHC strings, the reused-memory path against argon2's own, and the queue.

use argon2::password_hash::{PasswordHasher as _, SaltString};

use super::*;

fn pw(s: &str) -> Secret<String> {
    Secret::new(s.to_string())
}

#[tokio::test]
async fn hash_and_verify() {
    let h = Hasher::new(2, 0);
    let p = pw("kata-sandi-yang-panjang");
    let stored = h.hash(&p).await.unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(h.verify(&p, Some(&stored)).await.unwrap());
    assert!(!h.verify(&pw("salah"), Some(&stored)).await.unwrap());
    assert!(!h.verify(&p, None).await.unwrap());
    assert!(!h.verify(&p, None).await.unwrap(), "the dummy hash again: still no account");
}

#[tokio::test]
async fn a_hash_from_argon2s_own_path_verifies_and_ours_verifies_there() {
    let h = Hasher::new(1, 0);
    let p = pw("kata-sandi-yang-panjang");
    // What the hasher wrote before the pool: argon2's PasswordHasher with our parameters.
    let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
    let old = argon2().unwrap().hash_password(p.expose().as_bytes(), &salt).unwrap().to_string();
    assert!(h.verify(&p, Some(&old)).await.unwrap());
    assert!(!h.verify(&pw("kata-sandi-yang-salah"), Some(&old)).await.unwrap());
    // Same salt and password through the pool: the very same string.
    let mut memory = Memory::default();
    assert_eq!(hash_into(&mut memory, p.expose().as_bytes(), &[7u8; 16]).unwrap(), old);
    let new = h.hash(&p).await.unwrap();
    let parsed = PasswordHash::new(&new).unwrap();
    assert!(argon2().unwrap().verify_password(p.expose().as_bytes(), &parsed).is_ok());
}

#[tokio::test]
async fn foreign_parameters_verify_as_argon2_computes_them() {
    let h = Hasher::new(1, 0);
    let p = pw("kata-sandi-yang-panjang");
    let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
    let cases = [
        Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 1, 1, None).unwrap()),
        Argon2::new(Algorithm::Argon2i, Version::V0x13, params().unwrap()),
        Argon2::new(Algorithm::Argon2id, Version::V0x10, params().unwrap()),
        Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(M_COST, T_COST, P_COST, Some(16)).unwrap()),
        Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(40 * 1024, 1, 2, None).unwrap()),
    ];
    for a in cases {
        let stored = a.hash_password(p.expose().as_bytes(), &salt).unwrap().to_string();
        assert!(h.verify(&p, Some(&stored)).await.unwrap(), "{stored}");
        assert!(!h.verify(&pw("bukan-kata-sandinya"), Some(&stored)).await.unwrap(), "{stored}");
    }
    assert!(h.verify(&p, Some("bukan PHC")).await.is_err(), "an unreadable stored hash is an error, as before");
}

#[tokio::test]
async fn a_full_queue_turns_verifications_away() {
    let h = Hasher::new(1, 1);
    let held = (h.admit().unwrap(), h.admit().unwrap());
    let p = pw("kata-sandi-yang-panjang");
    assert!(matches!(h.verify(&p, None).await, Err(HashError::Busy)));
    drop(held);
    assert!(!h.verify(&p, None).await.unwrap(), "a place again once one is given back");
}

#[tokio::test]
async fn more_hashes_than_threads_all_finish() {
    let h = Hasher::new(2, 8);
    let p = pw("kata-sandi-yang-panjang");
    let stored = h.hash(&p).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (h, stored) = (h.clone(), stored.clone());
        let guess = if i % 2 == 0 { "kata-sandi-yang-panjang" } else { "kata-sandi-yang-keliru" };
        tasks.spawn(async move { (i, h.verify(&pw(guess), Some(&stored)).await.unwrap()) });
    }
    let mut seen = 0;
    while let Some(r) = tasks.join_next().await {
        let (i, ok) = r.unwrap();
        assert_eq!(ok, i % 2 == 0);
        seen += 1;
    }
    assert_eq!(seen, 8);
}
