//! The single-sign-on session: created at login, found again through the browser's cookie, and
//! ended at logout. The cookie value is a 256-bit secret; the cache key is its hash, and the
//! `sid` given to applications is a separate random id, so neither a cache dump nor a token
//! reveals a usable cookie.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::{Cache, CacheError};
use crate::crypto::{self, CryptoError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SsoSession {
    pub sid: String,
    pub account_id: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    pub expires_at: i64,
    /// Where it was opened, for the person's list of sessions.
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub user_agent: String,
}

/// Per-account list of session keys, so a person can see and end their sessions. Every live
/// session is in it (at most [`MAX_SESSIONS`]); entries whose session expired are skipped on read.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct Index {
    entries: Vec<IndexEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexEntry {
    key: String,
    sid: String,
    /// When the session expires (0 in entries listed by versions before it was kept): the index
    /// must live as long as its longest-lived session, not just its newest.
    #[serde(default)]
    expires_at: i64,
}

/// Live sessions an account may hold; the next login ends the oldest.
pub const MAX_SESSIONS: usize = 50;

fn index_key(account_id: &str) -> String {
    format!("sso-index:{account_id}")
}

/// Rounds of read-edit-swap on one account's index before giving up (as unavailable: retry).
/// Between rounds a contender waits a random while that doubles up to 32 ms, so a burst of logins
/// of one person settles in a few rounds instead of all of them colliding again.
const INDEX_ROUNDS: usize = 32;

async fn back_off(round: usize) {
    let cap = 1u64 << round.min(5);
    let draw = crypto::random_bytes::<2>().map(u16::from_le_bytes).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(u64::from(draw) % cap)).await;
}

/// The account's index as stored (raw, to swap against) and decoded.
async fn read_index(cache: &Cache, k: &str) -> Result<(Option<Vec<u8>>, Index), SessionError> {
    let raw = cache.get(k).await?;
    let index = match &raw {
        Some(bytes) => serde_json::from_slice(bytes).map_err(CacheError::from)?,
        None => Index::default(),
    };
    Ok((raw, index))
}

fn contended() -> SessionError {
    CacheError::Unavailable(format!("the session list of one account kept changing for {INDEX_ROUNDS} rounds")).into()
}

/// Takes the entries `gone` picks out of the account's session index atomically: the index is
/// written back, keeping its lifetime (see `drop_from_index`), only if nobody wrote it in
/// between, else read and edited again. Two logins of one person at the
/// same moment, or a login during a password change, on any replicas, must never drop each
/// other's entries: a session left out of the index could be ended neither by its person nor by
/// a password change. An index that expired meanwhile is not written again.
async fn remove_from_index(
    cache: &Cache,
    account_id: &str,
    gone: impl Fn(&IndexEntry) -> bool,
) -> Result<(), SessionError> {
    let k = index_key(account_id);
    for round in 0..INDEX_ROUNDS {
        let (raw, mut index) = read_index(cache, &k).await?;
        let Some(expected) = raw else { return Ok(()) };
        let before = index.entries.len();
        index.entries.retain(|e| !gone(e));
        if index.entries.len() == before {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&index).map_err(CacheError::from)?;
        if cache.swap_keep_ttl(&k, &expected, &bytes).await? {
            return Ok(());
        }
        back_off(round).await;
    }
    Err(contended())
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Every session's cache key starts with this (and no other key does: the index uses
/// `sso-index:`), so live sessions can be counted by prefix.
pub const KEY_PREFIX: &str = "sso:";

fn key(cookie: &str) -> String {
    format!("{KEY_PREFIX}{}", crypto::sha256_hex(cookie.as_bytes()))
}

/// Starts a new session (always a new cookie value: no session fixation). Returns the cookie
/// value, the session, and the public ids of the account's oldest sessions it pushed out
/// beyond [`MAX_SESSIONS`]: those ended now, and the caller revokes what was made under them.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    cache: &Cache,
    account_id: &str,
    acr: &str,
    amr: Vec<String>,
    ttl: i64,
    now: i64,
    ip: &str,
    user_agent: &str,
    remember: i64,
) -> Result<(String, SsoSession, Vec<String>), SessionError> {
    let cookie = crypto::random_token(32)?;
    let session = SsoSession {
        sid: crypto::random_token(16)?,
        account_id: account_id.to_string(),
        auth_time: now,
        acr: acr.to_string(),
        amr,
        expires_at: now + ttl,
        ip: ip.chars().take(64).collect(),
        user_agent: user_agent.chars().take(200).collect(),
    };
    let ttl_d = Duration::from_secs(ttl.max(1) as u64);
    cache.put_json(&key(&cookie), &session, ttl_d).await?;
    // Listed with a compare-and-swap (see `remove_from_index`); the index lives as long as its
    // longest-lived session, so a `session_ttl` lowered between two logins cannot let it expire
    // before an older session it lists. The oldest sessions beyond the limit are ended before the
    // write that drops their entries, so none is ever live and unlisted; one ended in a round
    // that lost the swap stays listed, ended, and is reported all the same.
    let k = index_key(account_id);
    let mut evicted: Vec<String> = Vec::new();
    for round in 0..INDEX_ROUNDS {
        let (raw, mut index) = read_index(cache, &k).await?;
        index.entries.push(IndexEntry { key: key(&cookie), sid: session.sid.clone(), expires_at: session.expires_at });
        let over = index.entries.len().saturating_sub(MAX_SESSIONS);
        for oldest in index.entries.drain(..over) {
            remember_fate(cache, &oldest.sid, &Fate::Ended, remember).await?;
            cache.delete(&oldest.key).await?;
            if !evicted.contains(&oldest.sid) {
                evicted.push(oldest.sid);
            }
        }
        let bytes = serde_json::to_vec(&index).map_err(CacheError::from)?;
        let until = index.entries.iter().map(|e| e.expires_at).fold(session.expires_at, i64::max);
        let index_ttl = Duration::from_secs(u64::try_from(until - now).unwrap_or(0).max(1));
        if cache.swap(&k, raw.as_deref(), &bytes, index_ttl).await? {
            return Ok((cookie, session, evicted));
        }
        back_off(round).await;
    }
    Err(contended())
}

/// The account's live sessions, newest first.
pub async fn list_for_account(cache: &Cache, account_id: &str, now: i64) -> Result<Vec<SsoSession>, SessionError> {
    let index: Index = cache.get_json(&index_key(account_id)).await?.unwrap_or_default();
    let mut out = Vec::new();
    for e in &index.entries {
        if let Some(s) = cache.get_json::<SsoSession>(&e.key).await? {
            if s.expires_at > now && s.account_id == account_id {
                out.push(s);
            }
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.auth_time));
    Ok(out)
}

/// Ends one of the account's sessions by its public id, remembering it as ended for `remember`
/// seconds. False when there is no such session.
pub async fn end_by_sid(cache: &Cache, account_id: &str, sid: &str, remember: i64) -> Result<bool, SessionError> {
    let index: Index = cache.get_json(&index_key(account_id)).await?.unwrap_or_default();
    // Only a session of this account: a sid alone must never end someone else's.
    if !index.entries.iter().any(|e| e.sid == sid) {
        return Ok(false);
    }
    remember_fate(cache, sid, &Fate::Ended, remember).await?;
    drop_by_sid(cache, account_id, sid).await
}

/// Removes one of the account's sessions without remembering an end, which is what its expiry
/// amounts to: whatever was made under it lives on. False when there is no such session.
pub async fn drop_by_sid(cache: &Cache, account_id: &str, sid: &str) -> Result<bool, SessionError> {
    // The session first: were the index written and the deletion then lost, a live session
    // would be listed nowhere. Keeps the index's lifetime (see `drop_from_index`).
    let (_, index) = read_index(cache, &index_key(account_id)).await?;
    let Some(entry) = index.entries.iter().find(|e| e.sid == sid) else { return Ok(false) };
    cache.delete(&entry.key).await?;
    remove_from_index(cache, account_id, |e| e.sid == sid).await?;
    Ok(true)
}

/// Whether `sid` names one of the account's sessions (its index entry; the session may have
/// expired since).
pub async fn has_sid(cache: &Cache, account_id: &str, sid: &str) -> Result<bool, SessionError> {
    let index: Index = cache.get_json(&index_key(account_id)).await?.unwrap_or_default();
    Ok(index.entries.iter().any(|e| e.sid == sid))
}

/// Ends every session of the account except `keep` (the one in use), remembering them as ended
/// for `remember` seconds. Returns the public ids of those that were still live.
pub async fn end_all_but(
    cache: &Cache,
    account_id: &str,
    keep: &str,
    now: i64,
    remember: i64,
) -> Result<Vec<String>, SessionError> {
    // Each round ends what the index lists besides `keep`, then takes exactly those entries out;
    // a session a concurrent login listed meanwhile stays listed, and the next round ends it too.
    // Sessions are ended before their entries go, so none is ever live and unlisted.
    let mut ended = Vec::new();
    for _ in 0..INDEX_ROUNDS {
        let index: Index = cache.get_json(&index_key(account_id)).await?.unwrap_or_default();
        let others: Vec<IndexEntry> = index.entries.iter().filter(|e| e.sid != keep).cloned().collect();
        if others.is_empty() {
            return Ok(ended);
        }
        for e in &others {
            let live = cache.get_json::<SsoSession>(&e.key).await?.is_some_and(|s| s.expires_at > now);
            remember_fate(cache, &e.sid, &Fate::Ended, remember).await?;
            cache.delete(&e.key).await?;
            if live && !ended.contains(&e.sid) {
                ended.push(e.sid.clone());
            }
        }
        let gone: Vec<&str> = others.iter().map(|e| e.sid.as_str()).collect();
        remove_from_index(cache, account_id, |e| gone.contains(&e.sid.as_str())).await?;
    }
    Err(contended())
}

pub async fn load(cache: &Cache, cookie: &str, now: i64) -> Result<Option<SsoSession>, SessionError> {
    if cookie.len() != 43 {
        return Ok(None);
    }
    let s: Option<SsoSession> = cache.get_json(&key(cookie)).await?;
    Ok(s.filter(|s| s.expires_at > now))
}

/// Ends the session behind `cookie` (logout). A live one is remembered as ended for `remember`
/// seconds and returned.
pub async fn end(cache: &Cache, cookie: &str, now: i64, remember: i64) -> Result<Option<SsoSession>, SessionError> {
    if cookie.len() != 43 {
        return Ok(None);
    }
    let taken: Option<SsoSession> = cache.take_json(&key(cookie)).await?;
    let Some(s) = taken.filter(|s| s.expires_at > now) else { return Ok(None) };
    remember_fate(cache, &s.sid, &Fate::Ended, remember).await?;
    drop_from_index(cache, &s.account_id, &s.sid).await?;
    Ok(Some(s))
}

/// What became of a session that is gone: applications may still hold a code or a grant made
/// under its `sid`, and those must follow it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "fate", rename_all = "snake_case")]
enum Fate {
    /// Logged out or ended: nothing made under it may be used any more.
    Ended,
    /// The same person authenticated again in the same browser (`prompt=login`, `max_age`, a
    /// step-up): what was made under it now belongs to the session `by`.
    Replaced { by: String },
}

fn fate_key(sid: &str) -> String {
    format!("sso-fate:{sid}")
}

async fn remember_fate(cache: &Cache, sid: &str, fate: &Fate, remember: i64) -> Result<(), SessionError> {
    cache.put_json(&fate_key(sid), fate, Duration::from_secs(remember.max(1) as u64)).await?;
    Ok(())
}

async fn drop_from_index(cache: &Cache, account_id: &str, sid: &str) -> Result<(), SessionError> {
    // The index keeps the lifetime its newest session gave it: a fixed one could end it before
    // sessions it still lists, which a password change could then no longer find.
    remove_from_index(cache, account_id, |e| e.sid == sid).await?;
    Ok(())
}

/// How a browser's earlier session was replaced by a new login in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// The same person again: the old session's grants carry over to the new one.
    Continued(SsoSession),
    /// Someone else logged in: the old session ended, and its person's grants with it.
    Ended(SsoSession),
}

/// Retires the browser's earlier session (`old_cookie`) now that `new` is open in its place,
/// remembering its fate for `remember` seconds. `None` when there was no live earlier session.
pub async fn replace(
    cache: &Cache,
    old_cookie: &str,
    new: &SsoSession,
    now: i64,
    remember: i64,
) -> Result<Option<Replaced>, SessionError> {
    if old_cookie.len() != 43 {
        return Ok(None);
    }
    // Taken atomically: of two logins finishing at once in one browser, one retires it.
    let taken: Option<SsoSession> = cache.take_json(&key(old_cookie)).await?;
    let Some(old) = taken.filter(|s| s.expires_at > now) else { return Ok(None) };
    let same = old.account_id == new.account_id && old.sid != new.sid;
    let fate = if same { Fate::Replaced { by: new.sid.clone() } } else { Fate::Ended };
    remember_fate(cache, &old.sid, &fate, remember).await?;
    drop_from_index(cache, &old.account_id, &old.sid).await?;
    Ok(Some(if same { Replaced::Continued(old) } else { Replaced::Ended(old) }))
}

/// Replacements followed before giving up: far more than re-authentications within a code's
/// lifetime, and a grant is moved to the end of its chain whenever it is refreshed.
const MAX_HOPS: usize = 32;

/// The session that what was made under `sid` belongs to now: `sid` itself while it has no
/// recorded fate (live, or merely expired), its successor after re-authentication, or `None`
/// when it (or a successor) was ended.
pub async fn current_sid(cache: &Cache, sid: &str) -> Result<Option<String>, SessionError> {
    let mut sid = sid.to_string();
    for _ in 0..MAX_HOPS {
        match cache.get_json::<Fate>(&fate_key(&sid)).await? {
            None => return Ok(Some(sid)),
            Some(Fate::Ended) => return Ok(None),
            Some(Fate::Replaced { by }) => sid = by,
        }
    }
    // An endless chain is not something a browser makes: refuse rather than guess.
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_session_past_the_limit_ends_the_oldest_which_is_never_left_untracked() {
        let cache = Cache::memory(crate::clock::Clock::system());
        let now = 1_800_000_000;
        let (mut cookies, mut sids, mut evicted) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..=MAX_SESSIONS {
            let (cookie, s, out) =
                create(&cache, "acc-1", "1", vec!["pwd".into()], 3600, now + i as i64, "10.0.0.1", "uji", 600)
                    .await
                    .expect("session");
            cookies.push(cookie);
            sids.push(s.sid);
            evicted.extend(out);
        }
        assert_eq!(evicted, vec![sids[0].clone()], "the oldest is reported, for its grants to be revoked");
        assert_eq!(current_sid(&cache, &sids[0]).await.expect("fate"), None, "remembered as ended");
        let live = list_for_account(&cache, "acc-1", now + 100).await.expect("list");
        assert_eq!(live.len(), MAX_SESSIONS);
        assert!(load(&cache, &cookies[0], now + 100).await.expect("load").is_none(), "the oldest has ended");
        assert!(load(&cache, &cookies[1], now + 100).await.expect("load").is_some());
        assert!(load(&cache, &cookies[MAX_SESSIONS], now + 100).await.expect("load").is_some());
    }

    /// With `session_ttl` lowered between two logins, the list still holds the older, longer
    /// session once the newer one expired: a password change can still find and end it.
    #[tokio::test]
    async fn the_list_lives_as_long_as_its_longest_session() {
        let clock = crate::clock::Clock::adjustable();
        let cache = Cache::memory(clock.clone());
        let now = clock.now();
        let (_, long, _) =
            create(&cache, "acc-1", "1", vec!["pwd".into()], 3600, now, "10.0.0.1", "uji", 600).await.unwrap();
        let (_, short, _) =
            create(&cache, "acc-1", "1", vec!["pwd".into()], 60, now, "10.0.0.1", "uji", 600).await.unwrap();
        assert!(clock.advance(120));
        let later = clock.now();
        let live: Vec<String> =
            list_for_account(&cache, "acc-1", later).await.unwrap().into_iter().map(|s| s.sid).collect();
        assert_eq!(live, vec![long.sid.clone()], "the longer session is still listed; {} expired", short.sid);
        assert!(has_sid(&cache, "acc-1", &long.sid).await.unwrap());
        let ended = end_all_but(&cache, "acc-1", "", later, 600).await.unwrap();
        assert_eq!(ended, vec![long.sid.clone()]);
        assert_eq!(current_sid(&cache, &long.sid).await.unwrap(), None, "ended");
    }

    async fn open(cache: &Cache, account: &str, now: i64) -> (String, SsoSession) {
        let (cookie, s, _) =
            create(cache, account, "1", vec!["pwd".into()], 3600, now, "10.0.0.1", "uji", 600).await.expect("session");
        (cookie, s)
    }

    #[tokio::test]
    async fn a_new_login_of_the_same_person_continues_the_session_and_logout_ends_the_chain() {
        let cache = Cache::memory(crate::clock::Clock::system());
        let now = 1_800_000_000;
        let (c1, s1) = open(&cache, "acc-1", now).await;
        assert_eq!(current_sid(&cache, &s1.sid).await.unwrap(), Some(s1.sid.clone()), "live: itself");
        let (c2, s2) = open(&cache, "acc-1", now + 5).await;
        let replaced = replace(&cache, &c1, &s2, now + 5, 600).await.unwrap();
        assert_eq!(replaced, Some(Replaced::Continued(s1.clone())));
        assert!(load(&cache, &c1, now + 6).await.unwrap().is_none());
        assert!(!has_sid(&cache, "acc-1", &s1.sid).await.unwrap(), "no longer listed");
        assert_eq!(current_sid(&cache, &s1.sid).await.unwrap(), Some(s2.sid.clone()));
        assert_eq!(end(&cache, &c2, now + 7, 600).await.unwrap(), Some(s2.clone()));
        assert_eq!(current_sid(&cache, &s1.sid).await.unwrap(), None, "ended through its successor");
        assert_eq!(current_sid(&cache, &s2.sid).await.unwrap(), None);
    }

    #[tokio::test]
    async fn another_persons_login_ends_the_earlier_session_and_no_sid_ends_anothers() {
        let cache = Cache::memory(crate::clock::Clock::system());
        let now = 1_800_000_000;
        let (c1, s1) = open(&cache, "ayu", now).await;
        let (_, s2) = open(&cache, "budi", now + 5).await;
        assert_eq!(replace(&cache, &c1, &s2, now + 5, 600).await.unwrap(), Some(Replaced::Ended(s1.clone())));
        assert_eq!(current_sid(&cache, &s1.sid).await.unwrap(), None);
        assert!(!end_by_sid(&cache, "ayu", &s2.sid, 600).await.unwrap(), "Budi's session is not Ayu's to end");
        assert_eq!(current_sid(&cache, &s2.sid).await.unwrap(), Some(s2.sid.clone()));
        assert!(end_by_sid(&cache, "budi", &s2.sid, 600).await.unwrap());
        assert_eq!(current_sid(&cache, &s2.sid).await.unwrap(), None);
    }
}
