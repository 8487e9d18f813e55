//! Throttling holds under parallel attempts: each attempt takes one atomic reservation before its
//! secret is verified, so a burst of wrong passwords or one-time codes (on one server, or split
//! across two replicas sharing Redis) is judged no more often than the policy allows. "Judged" is
//! counted from the audit trail (`login.failed`, `second_factor.failed`), never from timing. The
//! address-wide limit catches spraying without locking out an office behind one NAT address, and
//! a full password hashing queue answers 503 with Retry-After.

use gerbang::audit;
use gerbang::auth::totp;
use gerbang::config::Secret;
use gerbang::oidc::clients::GrantType;
use gerbang::ops::login::{password_login, LoginError};
use gerbang::state::now;

use crate::common::*;

/// The servers a burst is spread over: this one, and a replica when they share a cache (Redis);
/// on the in-process cache a replica would have counters of its own, so the burst stays here.
async fn servers(app: &TestApp) -> (Vec<String>, Option<TestApp>) {
    let mut bases = vec![app.base.clone()];
    let replica = if app.shared_cache() { Some(app.replica().await) } else { None };
    if let Some(r) = &replica {
        bases.push(r.base.clone());
    }
    (bases, replica)
}

async fn count(app: &TestApp, subject: &str, kind: &str) -> usize {
    audit::list(&app.state.db, 1000, Some(subject)).await.unwrap().iter().filter(|e| e.kind == kind).count()
}

/// Posts `n` copies of a form at once, spread round-robin over `bases`; returns the statuses.
async fn burst(
    b: &reqwest::Client,
    bases: &[String],
    path: &str,
    form: Vec<(&'static str, String)>,
    n: usize,
) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (b, url, form) = (b.clone(), format!("{}{path}", bases[i % bases.len()]), form.clone());
            tokio::spawn(async move { b.post(url).form(&form).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

fn has_session_cookie(res: &reqwest::Response) -> bool {
    res.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap_or("").contains("sso"))
}

#[tokio::test]
async fn fifty_parallel_wrong_passwords_are_judged_no_more_often_than_the_limit() {
    for max in [1usize, 5] {
        let app = TestApp::spawn_with(&[("GERBANG_LOGIN_MAX_FAILURES", &max.to_string())]).await;
        let (bases, _replica) = servers(&app).await;
        let nip = unique_nip();
        let account = app.asn(&nip, "Diserbu Paralel").await;
        let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
        let b = browser();
        let html = b.get(start_auth(&app.rp(&c).await, &[]).url).send().await.unwrap().text().await.unwrap();
        let form = vec![
            ("login_id", hidden(&html, "login_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", nip.clone()),
            ("password", "salah-sekali-1234".to_string()),
        ];
        let statuses = burst(&b, &bases, "/login", form, 50).await;
        assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "max {max}: only refusals: {statuses:?}");
        let judged = count(&app, &account.id, "login.failed").await;
        assert!((1..=max).contains(&judged), "max {max}: {judged} of 50 judged on {} server(s)", bases.len());
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), judged, "every other attempt refused unjudged");
        if max == 1 {
            // Locked by the one failure allowed: the right password is refused unjudged too, on
            // every server.
            for base in &bases {
                let res = b
                    .post(format!("{base}/login"))
                    .form(&[
                        ("login_id", hidden(&html, "login_id")),
                        ("csrf", hidden(&html, "csrf")),
                        ("username", nip.clone()),
                        ("password", PASSWORD.to_string()),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 429, "{base}: locked");
                assert!(!has_session_cookie(&res), "{base}: no session");
            }
            assert_eq!(count(&app, &account.id, "login.failed").await, 1);
        }
    }
}

fn code_at(secret: &[u8], offset_steps: i64) -> String {
    format!("{:06}", totp::hotp(secret, (totp::step_at(now()) + offset_steps) as u64))
}

#[tokio::test]
async fn two_hundred_parallel_wrong_codes_are_judged_no_more_often_than_the_limit() {
    for max in [1usize, 5] {
        let app = TestApp::spawn_with(&[("GERBANG_LOGIN_MAX_FAILURES", &max.to_string())]).await;
        let (bases, _replica) = servers(&app).await;
        let st = &app.state;
        let nip = unique_nip();
        let account = app.asn(&nip, "Kode Paralel").await;
        let (secret, b, html) = crate::factors::at_second_step(&app, &nip, &account.id).await;
        let secret = data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap();
        let near: Vec<String> = (-2..=2).map(|o| code_at(&secret, o)).collect();
        let wrong = ["000000", "111111", "222222", "333333"].into_iter().find(|w| !near.iter().any(|n| n == w));
        let form = |code: String| {
            vec![("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf")), ("code", code)]
        };

        let statuses = burst(&b, &bases, "/login/otp", form(wrong.unwrap().to_string()), 200).await;
        assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "max {max}: only refusals: {statuses:?}");
        let judged = count(&app, &account.id, "second_factor.failed").await;
        assert!((1..=max).contains(&judged), "max {max}: {judged} of 200 judged on {} server(s)", bases.len());
        assert_eq!(statuses.iter().filter(|s| **s == 401).count(), judged, "every other attempt refused unjudged");
        if max == 1 {
            for base in &bases {
                let res = b.post(format!("{base}/login/otp")).form(&form(code_at(&secret, 0))).send().await.unwrap();
                assert_eq!(res.status(), 429, "{base}: locked, the right code is refused");
                assert!(!has_session_cookie(&res), "{base}: no session");
            }
            assert!(
                totp::verify(&st.db, &st.sealer, &account.id, &code_at(&secret, 0), now()).await.unwrap(),
                "unspent"
            );
        }
    }
}

#[tokio::test]
async fn one_attacked_account_does_not_lock_out_its_office() {
    let app = TestApp::spawn().await;
    let st = &app.state;
    let (victim, colleague) = (unique_nip(), unique_nip());
    app.asn(&victim, "Diserang").await;
    app.asn(&colleague, "Rekan Sekantor").await;
    let (office, wrong, right) =
        ("10.20.0.1", Secret::new("salah-sekali-1234".to_string()), Secret::new(PASSWORD.into()));
    let t = now();
    // 25 lockouts' worth of failures on one account from the office's address, over hours:
    // 125 judged failures, more than the address-wide limit (100 a window).
    for round in 0..25 {
        let mut end = t;
        for i in 0..5 {
            end = t + 400 * round + 10 * i;
            let res = password_login(st, &victim, &wrong, office, end).await;
            assert_eq!(res.unwrap_err(), LoginError::InvalidCredentials, "round {round}, attempt {i}");
        }
        let res = password_login(st, &victim, &right, office, end + 1).await;
        assert!(
            matches!(res, Err(LoginError::TooManyAttempts { .. })),
            "round {round}: the account is locked: {res:?}"
        );
        let res = password_login(st, &colleague, &right, office, end + 1).await;
        assert!(res.is_ok(), "round {round}: the rest of the office still logs in: {res:?}");
    }
}

#[tokio::test]
async fn spraying_from_one_address_reaches_the_address_limit_even_in_parallel() {
    // Limit 2 per account: the address may fail 40 times a window, on any number of identifiers.
    // The hashing queue is long enough for the whole burst.
    let settings =
        [("GERBANG_LOGIN_MAX_FAILURES", "2"), ("GERBANG_LOGIN_LOCKOUT_SECONDS", "300"), ("GERBANG_HASH_QUEUE", "500")];
    let app = TestApp::spawn_with(&settings).await;
    let nip = unique_nip();
    app.asn(&nip, "Di Alamat Penyemprot").await;
    let t = 3600 * (now() / 3600) + 10; // early in a window of an hour (12 lockouts)
    let tasks: Vec<_> = (0..120)
        .map(|_| {
            let st = app.state.clone();
            let id = unique_nip();
            tokio::spawn(async move {
                password_login(&st, &id, &Secret::new("salah-sekali-1234".into()), "10.30.0.1", t).await.unwrap_err()
            })
        })
        .collect();
    let mut judged = 0;
    for task in tasks {
        match task.await.unwrap() {
            LoginError::InvalidCredentials => judged += 1,
            LoginError::TooManyAttempts { retry_after } => assert_eq!(retry_after, 3590),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(judged, 40, "of 120 parallel guesses on different identifiers, the address limit allows 40");
    let right = Secret::new(PASSWORD.to_string());
    let res = password_login(&app.state, &nip, &right, "10.30.0.1", t + 1).await;
    assert_eq!(res.unwrap_err(), LoginError::TooManyAttempts { retry_after: 3589 }, "the address is refused");
    assert!(password_login(&app.state, &nip, &right, "10.30.0.2", t + 1).await.is_ok(), "another address is not");
    assert!(password_login(&app.state, &nip, &right, "10.30.0.1", t + 3590).await.is_ok(), "the next window");
}

/// IPv6 addresses count per /64, as the rate limits do: someone walking through their own block
/// (a new address for every guess) still meets the address limit. Each address had a budget of
/// its own, so spraying from one /64 was limited only per account.
#[tokio::test]
async fn spraying_from_one_ipv6_block_reaches_the_address_limit() {
    let app =
        TestApp::spawn_with(&[("GERBANG_LOGIN_MAX_FAILURES", "2"), ("GERBANG_LOGIN_LOCKOUT_SECONDS", "300")]).await;
    let nip = unique_nip();
    app.asn(&nip, "Di Blok Penyemprot").await;
    let t = 3600 * (now() / 3600) + 10;
    let wrong = Secret::new("salah-sekali-1234".to_string());
    let mut judged = 0;
    for i in 1..=45 {
        let ip = format!("2001:db8:7:1::{i:x}");
        match password_login(&app.state, &unique_nip(), &wrong, &ip, t).await.unwrap_err() {
            LoginError::InvalidCredentials => judged += 1,
            LoginError::TooManyAttempts { retry_after } => assert_eq!(retry_after, 3590),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(judged, 40, "one /64, one address budget");
    let right = Secret::new(PASSWORD.to_string());
    let res = password_login(&app.state, &nip, &right, "2001:db8:7:1:ffff::1", t + 1).await;
    assert_eq!(res.unwrap_err(), LoginError::TooManyAttempts { retry_after: 3589 }, "the block is refused");
    assert!(password_login(&app.state, &nip, &right, "2001:db8:7:2::1", t + 1).await.is_ok(), "the next /64 is not");
}

#[tokio::test]
async fn throttled_attempts_are_summarised_once_per_window_in_the_audit_trail() {
    let app =
        TestApp::spawn_with(&[("GERBANG_LOGIN_MAX_FAILURES", "1"), ("GERBANG_LOGIN_LOCKOUT_SECONDS", "300")]).await;
    let (st, nip) = (&app.state, unique_nip());
    app.asn(&nip, "Diringkas").await;
    let wrong = Secret::new("salah-sekali-1234".to_string());
    let t = 300 * (now() / 300) + 1;
    assert_eq!(password_login(st, &nip, &wrong, "10.40.0.1", t).await.unwrap_err(), LoginError::InvalidCredentials);
    for i in 0..20 {
        let res = password_login(st, &nip, &wrong, "10.40.0.1", t + i).await;
        assert!(matches!(res, Err(LoginError::TooManyAttempts { .. })), "{res:?}");
    }
    let key = gerbang::auth::login::login_key(&st.login_ids, &nip);
    assert_eq!(count(&app, &key, "login.throttled").await, 1, "one record for the window, not twenty");
    let res = password_login(st, &nip, &wrong, "10.40.0.1", t + 299).await;
    assert!(
        matches!(res, Err(LoginError::TooManyAttempts { .. })),
        "still locked (until t + 300), a new window: {res:?}"
    );
    assert_eq!(count(&app, &key, "login.throttled").await, 2, "the next window gets its own");
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_with_retry_after_and_counts_nothing() {
    let app = TestApp::spawn_with(&[("GERBANG_MAX_CONCURRENT_HASHES", "1"), ("GERBANG_HASH_QUEUE", "1")]).await;
    let nip = unique_nip();
    let account = app.asn(&nip, "Antre").await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let html = b.get(start_auth(&app.rp(&c).await, &[]).url).send().await.unwrap().text().await.unwrap();
    let held = (app.state.hasher.admit().unwrap(), app.state.hasher.admit().unwrap());
    for password in ["salah-sekali-1234", PASSWORD] {
        let res = submit_login(&app, &b, &html, &nip, password).await;
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers().get("retry-after").unwrap(), "2");
        assert!(!has_session_cookie(&res));
        assert!(res.text().await.unwrap().contains("Server sedang sibuk"), "explained, in Bahasa Indonesia");
    }
    assert_eq!(count(&app, &account.id, "login.failed").await, 0, "nothing judged");
    let key = gerbang::auth::login::account_key(&app.state.login_ids, &account.id);
    let failures = || async { gerbang::auth::throttle::load(&app.state.cache, "acct", &key).await.unwrap().failures };
    assert_eq!(failures().await, 0, "or counted");
    drop(held);
    assert_eq!(submit_login(&app, &b, &html, &nip, "salah-sekali-1234").await.status(), 401, "a place again");
    assert_eq!(count(&app, &account.id, "login.failed").await, 1);
    assert_eq!(failures().await, 1, "counted under the account's key");
}

/// A replica killed while it checks a password leaves that account's reservation behind. With a
/// shared cache the others see the holder's liveness key lapse and take the reservation over at
/// once, where they used to wait for the whole lease; a holder that is alive (a replica here),
/// or unnamed (a record from an earlier version), keeps it. In-process no other process can hold
/// it, and the hold lasts its lease.
#[tokio::test]
async fn a_hold_left_by_a_dead_replica_ends_at_once() {
    use gerbang::auth::login::account_key;
    use gerbang::auth::throttle::Record;

    let app = TestApp::spawn().await;
    let st = &app.state;
    let nip = unique_nip();
    let account = app.asn(&nip, "Ditinggal Replika").await;
    let right = Secret::new(PASSWORD.to_string());
    let key = format!("throttle:acct:{}", account_key(&st.login_ids, &account.id));
    let t = now();
    let hold = |holder: u64| {
        let record = Record { failures: 1, last_failure: t - 100, locked_until: 0, busy_until: t + 600, holder };
        let (cache, key) = (st.cache.clone(), key.clone());
        async move { cache.put_json(&key, &record, std::time::Duration::from_secs(900)).await.unwrap() }
    };
    let wait = Err(LoginError::TooManyAttempts { retry_after: 1 });
    // A process that never showed itself (as one killed a few seconds ago).
    hold(0x5eed_dead_0000_0001).await;
    let res = password_login(st, &nip, &right, "10.50.0.1", t).await.map(|_| ());
    if app.shared_cache() {
        assert_eq!(res, Ok(()), "the dead holder's hold is taken over");
        let replica = app.replica().await;
        hold(replica.state.cache.instance()).await;
        let res = password_login(st, &nip, &right, "10.50.0.1", t).await.map(|_| ());
        assert_eq!(res, wait, "a live replica's hold is kept");
        hold(0).await;
        let res = password_login(st, &nip, &right, "10.50.0.1", t).await.map(|_| ());
        assert_eq!(res, wait, "an unnamed hold is kept until its lease lapses");
        // Liveness is in real time: moving this server's clock forward (as tests do) does not
        // make a live replica look dead. (It did, by a few seconds, and its hold was taken.)
        hold(replica.state.cache.instance()).await;
        app.advance(5);
        let res = password_login(st, &nip, &right, "10.50.0.1", t + 5).await.map(|_| ());
        assert_eq!(res, wait, "a live replica's hold is kept after the clock moved");
    } else {
        assert_eq!(res, wait, "in-process: the hold lasts its lease");
    }
}

/// One account, two identifiers (a civil servant's NIP and NIK): the limit is the account's, so
/// the second identifier gives no guesses of its own (it gave as many again as the first).
#[tokio::test]
async fn an_accounts_nip_and_nik_share_one_limit() {
    let app = TestApp::spawn_with(&[("GERBANG_LOGIN_MAX_FAILURES", "1")]).await;
    let st = &app.state;
    let (nip, nik) = (unique_nip(), unique_nik());
    let new = gerbang::identity::accounts::NewAccount {
        nip: Some(nip.clone()),
        nik: Some(nik.clone()),
        name: "Dua Pengenal".into(),
        password: Some(Secret::new(PASSWORD.into())),
        is_admin: false,
    };
    let account = gerbang::identity::accounts::create(&st.db, &st.hasher, new, now()).await.unwrap().0;
    let (wrong, right) = (Secret::new("salah-sekali-1234".to_string()), Secret::new(PASSWORD.to_string()));
    let t = now();
    let first = password_login(st, &nip, &wrong, "192.0.2.7", t).await;
    assert!(matches!(first, Err(LoginError::InvalidCredentials)), "{first:?}");
    for (login, password) in [(&nik, &wrong), (&nip, &wrong), (&nik, &right)] {
        let r = password_login(st, login, password, "192.0.2.7", t + 1).await;
        assert!(matches!(r, Err(LoginError::TooManyAttempts { .. })), "{login}: {r:?}");
    }
    assert_eq!(count(&app, &account.id, "login.failed").await, 1, "one attempt judged");
}

/// A login dropped while its password waits to be checked (the client went away, or the request
/// timed out) stays counted, but the account is free at once: the hold used to last its lease
/// (20 s), so one dropped request per lease kept the account's owner out.
#[tokio::test]
async fn a_login_dropped_mid_check_frees_the_account_at_once() {
    use std::time::{Duration, Instant};

    let app = TestApp::spawn_with(&[("GERBANG_MAX_CONCURRENT_HASHES", "1")]).await;
    let st = app.state.clone();
    let nip = unique_nip();
    let account = app.asn(&nip, "Ditinggal Klien").await;
    let key = gerbang::auth::login::account_key(&st.login_ids, &account.id);
    let load = || gerbang::auth::throttle::load(&st.cache, "acct", &key);
    let t = now();
    // The one hashing thread is kept busy, so the attempt waits in the queue, holding the account.
    let busy: Vec<_> = (0..8)
        .map(|_| {
            let h = st.hasher.clone();
            tokio::spawn(async move { h.hash(&Secret::new("sibuk-menghitung".to_string())).await })
        })
        .collect();
    let attempt = {
        let (st, nip) = (st.clone(), nip.clone());
        let wrong = Secret::new("salah-sekali-1234".to_string());
        tokio::spawn(async move { password_login(&st, &nip, &wrong, "10.50.0.2", t).await.map(|_| ()) })
    };
    let started = Instant::now();
    while load().await.unwrap().busy_until == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the attempt never held the account");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    attempt.abort();
    assert!(attempt.await.unwrap_err().is_cancelled(), "dropped before it was judged");
    let dropped = Instant::now();
    let record = loop {
        let r = load().await.unwrap();
        if r.busy_until == 0 {
            break r;
        }
        assert!(dropped.elapsed() < Duration::from_secs(5), "the hold was kept for its lease");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(record.failures, 1, "the dropped attempt still counts");
    for b in busy {
        b.await.unwrap().unwrap();
    }
    let right = Secret::new(PASSWORD.to_string());
    assert_eq!(password_login(&st, &nip, &right, "10.50.0.2", t).await.map(|_| ()), Ok(()), "the owner gets in");
}
