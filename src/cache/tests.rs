//! The in-process cache backend: single use, counters, prefix counts, swaps, expiry by the clock.

use super::*;

#[tokio::test]
async fn memory_take_is_single_use_and_expiry_works() {
    let c = Cache::memory(Clock::system());
    c.put("a", b"1", Duration::from_secs(60)).await.unwrap();
    assert_eq!(c.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(c.take("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(c.take("a").await.unwrap(), None);
    c.put("b", b"2", Duration::from_millis(0)).await.unwrap();
    assert_eq!(c.get("b").await.unwrap(), None);
    assert_eq!(c.incr("n", Duration::from_secs(60)).await.unwrap(), 1);
    assert_eq!(c.incr("n", Duration::from_secs(60)).await.unwrap(), 2);
}

#[tokio::test]
async fn memory_counters_read_back_as_numbers() {
    let c = Cache::memory(Clock::system());
    for _ in 0..3 {
        c.incr("k", Duration::from_secs(60)).await.unwrap();
    }
    assert_eq!(c.get("k").await.unwrap().as_deref(), Some(&b"3"[..]), "decimal text, as in Redis");
    assert_eq!(c.peek_count("k").await.unwrap(), 3);
    assert_eq!(c.take_count("k").await.unwrap(), 3);
    assert_eq!(c.take_count("k").await.unwrap(), 0);
    assert_eq!(c.peek_count("absent").await.unwrap(), 0);
    c.put("bad", b"{}", Duration::from_secs(60)).await.unwrap();
    assert!(matches!(c.peek_count("bad").await, Err(CacheError::NotACounter(_))));
}

#[tokio::test]
async fn memory_count_prefix_counts_only_live_matching_keys() {
    let c = Cache::memory(Clock::system());
    let minute = Duration::from_secs(60);
    c.put("sso:a", b"1", minute).await.unwrap();
    c.put("sso:b", b"1", minute).await.unwrap();
    c.put("sso:gone", b"1", Duration::from_millis(0)).await.unwrap();
    c.put("sso-index:acct", b"1", minute).await.unwrap();
    c.put("code:x", b"1", minute).await.unwrap();
    assert_eq!(c.count_prefix("sso:").await.unwrap(), 2);
    assert_eq!(c.count_prefix("nothing:").await.unwrap(), 0);
}

#[tokio::test]
async fn memory_swap_and_bounded_counters() {
    let c = Cache::memory(Clock::system());
    let minute = Duration::from_secs(60);
    assert!(c.swap("r", None, b"1", minute).await.unwrap());
    assert!(!c.swap("r", None, b"2", minute).await.unwrap(), "present: a swap from absent fails");
    assert!(!c.swap("r", Some(b"0"), b"2", minute).await.unwrap(), "changed since it was read");
    assert!(c.swap("r", Some(b"1"), b"2", minute).await.unwrap());
    assert_eq!(c.get("r").await.unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(c.count_below("n", 2, minute).await.unwrap(), Some(1));
    assert_eq!(c.count_below("n", 2, minute).await.unwrap(), Some(2));
    assert_eq!(c.count_below("n", 2, minute).await.unwrap(), None, "the limit is not passed");
    c.refund("n").await.unwrap();
    assert_eq!(c.peek_count("n").await.unwrap(), 1);
    c.refund("absent").await.unwrap();
    assert_eq!(c.peek_count("absent").await.unwrap(), 0, "a refund creates nothing");
}

#[tokio::test]
async fn memory_entries_expire_by_the_clock() {
    let clock = Clock::adjustable();
    let c = Cache::memory(clock.clone());
    let minute = Duration::from_secs(60);
    c.put("v", b"1", minute).await.unwrap();
    c.incr("n", minute).await.unwrap();
    assert!(c.swap("r", None, b"1", minute).await.unwrap());
    clock.advance(59);
    assert_eq!(c.get("v").await.unwrap().as_deref(), Some(&b"1"[..]));
    clock.advance(1);
    assert_eq!(c.get("v").await.unwrap(), None);
    assert_eq!(c.peek_count("n").await.unwrap(), 0);
    assert_eq!(c.incr("n", minute).await.unwrap(), 1, "a new window");
    assert!(c.swap("r", None, b"2", minute).await.unwrap(), "an expired record counts as absent");
    assert_eq!(c.count_prefix("v").await.unwrap(), 0);
}

#[test]
fn glob_metacharacters_are_escaped() {
    assert_eq!(glob_escape("gerbang:sso:"), "gerbang:sso:");
    assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
}

#[tokio::test]
async fn memory_swap_keep_ttl_writes_only_over_the_expected_live_value_and_keeps_its_expiry() {
    let clock = Clock::adjustable();
    let c = Cache::memory(clock.clone());
    c.put("i", b"a", Duration::from_secs(60)).await.unwrap();
    assert!(!c.swap_keep_ttl("i", b"x", b"b").await.unwrap(), "changed since it was read");
    assert!(c.swap_keep_ttl("i", b"a", b"b").await.unwrap());
    assert!(!c.swap_keep_ttl("absent", b"", b"b").await.unwrap(), "nothing is created");
    clock.advance(59);
    assert_eq!(c.get("i").await.unwrap().as_deref(), Some(&b"b"[..]));
    clock.advance(1);
    assert_eq!(c.get("i").await.unwrap(), None, "the expiry it had");
    assert!(!c.swap_keep_ttl("i", b"b", b"c").await.unwrap(), "an expired value is not written over");
    assert_eq!(c.get("i").await.unwrap(), None);
}

#[tokio::test]
async fn memory_count_both_counts_both_or_neither_and_settle_takes_counts_back() {
    let c = Cache::memory(Clock::system());
    let minute = Duration::from_secs(60);
    assert_eq!(c.count_both(["p", "a"], [2, 3], minute).await.unwrap(), BothCounted::Both);
    assert_eq!(c.count_both(["p", "a"], [2, 3], minute).await.unwrap(), BothCounted::Both);
    assert_eq!(c.count_both(["p", "a"], [2, 3], minute).await.unwrap(), BothCounted::FirstFull { second: 2 });
    assert_eq!((c.peek_count("p").await.unwrap(), c.peek_count("a").await.unwrap()), (2, 2), "neither counted");
    assert_eq!(c.count_both(["q", "a"], [2, 3], minute).await.unwrap(), BothCounted::Both);
    assert_eq!(c.count_both(["r", "a"], [2, 3], minute).await.unwrap(), BothCounted::SecondFull);
    assert_eq!(c.peek_count("r").await.unwrap(), 0, "the first is not counted when the second is full");
    c.put("record", b"x", minute).await.unwrap();
    c.settle("record", &["q", "a", "absent"]).await.unwrap();
    assert_eq!(c.get("record").await.unwrap(), None);
    assert_eq!((c.peek_count("q").await.unwrap(), c.peek_count("a").await.unwrap()), (0, 2));
    assert_eq!(c.peek_count("absent").await.unwrap(), 0, "a refund creates nothing");
    c.settle("record", &["q"]).await.unwrap();
    assert_eq!(c.peek_count("q").await.unwrap(), 0, "never below zero");
}

#[tokio::test]
async fn memory_take_marking_is_single_use_and_leaves_the_named_member() {
    let c = Cache::memory(Clock::system());
    let minute = Duration::from_secs(60);
    c.put("code", br#"{"grant_id":"g-1","scope":"openid"}"#, minute).await.unwrap();
    let taken = c.take_marking("code", "used", "grant_id", minute).await.unwrap();
    assert_eq!(taken.as_deref(), Some(&br#"{"grant_id":"g-1","scope":"openid"}"#[..]));
    assert_eq!(c.get_json::<String>("used").await.unwrap().as_deref(), Some("g-1"));
    assert_eq!(c.take_marking("code", "used2", "grant_id", minute).await.unwrap(), None, "used once");
    assert_eq!(c.get("used2").await.unwrap(), None, "nothing taken, nothing marked");
    c.put("other", b"not json", minute).await.unwrap();
    assert!(c.take_marking("other", "used3", "grant_id", minute).await.unwrap().is_some());
    assert_eq!(c.get("used3").await.unwrap(), None, "no such member, no mark");
}
