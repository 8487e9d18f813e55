//! Access tokens a key set verified lately, so an application that calls userinfo or
//! introspection with the same token again does not pay for the signature and the parsing again.
//!
//! An entry is the token's digest (with the issuer it was checked for) and its payload as it was
//! verified: the same bytes always carry the same signature, so while the key set is unchanged
//! the answer is the same, except for expiry, which is checked again at every use. The cache
//! belongs to one key set and goes with it at the next reload, so a retired or compromised key
//! leaves no entry behind. Only tokens that passed every check are stored, so forged tokens
//! cannot fill it. What may have changed since (revocation, logout, the account) is read from the
//! database at every use, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries kept at most; when full the cache starts again empty (simpler than an eviction order,
/// and a full cache means far more tokens in use than a minute's reload leaves room for anyway).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(super) struct Verified {
    map: Mutex<HashMap<[u8; 32], Entry>>,
}

#[derive(Clone)]
pub(super) struct Entry {
    /// The decoded payload (JSON).
    pub payload: Arc<[u8]>,
    pub exp: i64,
}

/// What names a token in the cache: its bytes and the issuer it was checked against.
pub(super) fn digest(token: &str, issuer: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(issuer.len() + 1 + token.len());
    input.extend_from_slice(issuer.as_bytes());
    input.push(0);
    input.extend_from_slice(token.as_bytes());
    crate::crypto::sha256(&input)
}

impl Verified {
    pub fn get(&self, key: &[u8; 32]) -> Option<Entry> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    pub fn put(&self, key: [u8; 32], entry: Entry) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(key, entry);
    }

    /// Keeps a verified access token's payload (the part of `message` after the header) with its
    /// expiry. A payload that cannot be read back is simply not kept.
    pub fn remember(&self, key: [u8; 32], message: &str) {
        #[derive(serde::Deserialize)]
        struct Exp {
            exp: i64,
        }
        let Some(payload) = message.split_once('.').and_then(|(_, p)| crate::crypto::b64url_decode(p)) else {
            return;
        };
        if let Ok(Exp { exp }) = serde_json::from_slice(&payload) {
            self.put(key, Entry { payload: payload.into(), exp });
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_part_of_the_name_and_a_full_cache_starts_again() {
        assert_ne!(digest("a.b.c", "https://sso.a"), digest("a.b.c", "https://sso.b"));
        assert_ne!(digest("a.b.c", "x"), digest("a.b.d", "x"));
        let v = Verified::default();
        let entry = Entry { payload: Arc::from(&b"{}"[..]), exp: 1 };
        for i in 0..CAPACITY {
            v.put(digest(&i.to_string(), "x"), entry.clone());
        }
        assert_eq!(v.len(), CAPACITY);
        assert!(v.get(&digest("0", "x")).is_some());
        v.put(digest("one more", "x"), entry);
        assert_eq!(v.len(), 1);
        assert!(v.get(&digest("one more", "x")).is_some());
    }
}
