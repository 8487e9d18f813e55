//! One person's cycle across the replicas: login on replica 0, the code redeemed on 1, the
//! refresh on 2, userinfo on each, logout on 0 seen by 1 and 2; failed logins spread over the
//! three reach the lockout once, not three times; a signing-key rotation reaches every
//! replica's JWKS and new tokens within a bounded time.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use gerbang::config::keys::RELOAD_SECONDS;
use openidconnect::{AuthorizationCode, Nonce, OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use super::flow::{grant_of, no_tally, one_shot, Kind, Site};
use super::*;
use crate::services::Gerbang;

/// Pins the proxy to replica `i` for `f`, and checks that `i` alone served it.
macro_rules! on {
    ($cl:expr, $i:expr, $what:expr, $f:expr) => {{
        $cl.proxy.take_served();
        $cl.proxy.pin(Some($i));
        let out = $f;
        let served = $cl.proxy.take_served();
        $cl.proxy.pin(None);
        assert!(!served.is_empty() && served.iter().all(|s| *s == $i), "{}: served by {served:?}, not {}", $what, $i);
        out
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL server binaries (initdb, pg_ctl) and redis-server; .ci/run step 2d runs it"]
async fn a_login_crosses_replicas_and_logout_rotation_and_throttling_reach_them_all() {
    let cl = Cluster::start().await;
    let site = cl.site(no_tally()).await;
    let nip = cl.person("Lintas Replika").await;

    // Login (authorization request, login page, password) on replica 0.
    let start = start_auth(&site.rp, &["profile"]);
    let b = one_shot(true);
    let callback = on!(cl, 0, "login", {
        let html = site.authorize(&b, &start.url).await.expect("login page").expect_err("no session yet");
        site.password(&b, &html, &nip, PASSWORD).await.expect("code")
    });

    // The code, redeemed by the relying party on replica 1; its ID token verifies.
    let tokens = on!(cl, 1, "code", {
        site.rp
            .exchange_code(AuthorizationCode::new(query(&callback)["code"].clone()))
            .expect("token request")
            .set_pkce_verifier(start.verifier)
            .request_async(&one_shot(false))
            .await
            .expect("tokens from replica 1")
    });
    let claims = tokens.id_token().expect("ID token").claims(&site.rp.id_token_verifier(), &start.nonce).unwrap();
    let sub = claims.subject().to_string();
    let rt = tokens.refresh_token().expect("refresh token").secret().clone();

    // Refreshed on replica 2; userinfo on each.
    let t = on!(cl, 2, "refresh", site.refresh(&rt).await.expect("refresh on replica 2"));
    let grant = grant_of(&t, b.clone()).expect("tokens");
    for i in 0..REPLICAS {
        let info = on!(cl, i, "userinfo", site.userinfo(&grant.access).await.expect("userinfo"));
        assert_eq!(info["sub"], sub.as_str(), "replica {i}");
    }

    // Logout on replica 0 ends the tokens on 1 and 2, and the session everywhere.
    on!(cl, 0, "logout", {
        let html = b.get(site.url("/logout")).send().await.unwrap().text().await.unwrap();
        let csrf = hidden(&html, "csrf");
        let form = [("decision", "logout"), ("csrf", csrf.as_str())];
        let res = b.post(site.url("/logout/confirm")).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 200, "logged out");
    });
    for i in [1, 2] {
        assert_eq!(on!(cl, i, "refresh after logout", site.refresh(&grant.refresh).await.err()), Some(Kind::Client));
        assert_eq!(on!(cl, i, "userinfo after logout", site.userinfo(&grant.access).await.err()), Some(Kind::Client));
        let again = start_auth(&site.rp, &["profile"]);
        let page = on!(cl, i, "authorize after logout", site.authorize(&b, &again.url).await.expect("answer"));
        assert!(page.is_err(), "replica {i}: the login page again, no session");
    }

    throttling_is_shared(&cl, &site).await;
    rotation_reaches_every_replica(&cl, &site).await;
}

async fn post_password(b: &reqwest::Client, site: &Site, html: &str, nip: &str, password: &str) -> u16 {
    let form = [
        ("login_id", hidden(html, "login_id")),
        ("csrf", hidden(html, "csrf")),
        ("username", nip.to_string()),
        ("password", password.to_string()),
    ];
    b.post(site.url("/login")).form(&form).send().await.expect("login").status().as_u16()
}

/// `login_max_failures` (5) wrong passwords, round robin over the replicas, lock the account on
/// all of them: the counters live in Redis, not in each process.
async fn throttling_is_shared(cl: &Cluster, site: &Site) {
    let nip = unique_nip();
    let account = cl.seed.asn(&nip, "Dikunci Bersama").await;
    let max = cl.seed.state.config.login_max_failures as usize;
    let b = one_shot(true);
    let html = site.authorize(&b, &start_auth(&site.rp, &["profile"]).url).await.unwrap().unwrap_err();
    cl.proxy.take_served();
    let mut statuses = Vec::new();
    // Beyond the free failures each attempt waits a growing delay (1 s, 2 s, …; whole seconds),
    // else it is refused unjudged: wait it out, so each of the `max` attempts is judged.
    let free = max.saturating_sub(2).min(3);
    for k in 0..max {
        if k > free {
            tokio::time::sleep(Duration::from_secs((1 << (k - free - 1)) + 1)).await;
        }
        statuses.push(post_password(&b, site, &html, &nip, "salah-sekali-1234").await);
    }
    let spread: BTreeSet<usize> = cl.proxy.take_served().into_iter().collect();
    assert_eq!(spread.len(), REPLICAS, "the failures were spread over every replica");
    assert_eq!(statuses, vec![401; max], "each failure judged");
    for i in 0..REPLICAS {
        let status = on!(cl, i, "locked", post_password(&b, site, &html, &nip, PASSWORD).await);
        assert_eq!(status, 429, "replica {i}: locked after {max} failures in all, the right password refused");
    }
    let trail = gerbang::audit::list(&cl.seed.state.db, 1000, Some(&account.id)).await.unwrap();
    assert_eq!(trail.iter().filter(|e| e.kind == "login.failed").count(), max, "judged {max} times, not {max}×3");
}

async fn kids(site: &Site) -> Vec<String> {
    let res = one_shot(false).get(site.url("/jwks")).send().await.expect("jwks");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

/// `gerbang keys rotate` on the shared database (an operator on one pod): every replica
/// publishes the new keys within a reload, and signs with them once the publish delay is over.
async fn rotation_reaches_every_replica(cl: &Cluster, site: &Site) {
    let nip = cl.person("Rotasi Kunci").await;
    let mut grant = site.cycle(&nip).await.expect("a grant to refresh");
    let old_kid = jwt_header(&grant.id_token)["kid"].as_str().unwrap().to_string();

    let run = Gerbang::new(&["keys", "rotate", "--json"])
        .envs(cl.settings.clone())
        .env("GERBANG_DATA_DIR", cl.scratch())
        .output()
        .await;
    assert_eq!(run.code, 0, "{} / {}", run.stdout, run.stderr);
    let rotated = Instant::now();
    let new: Vec<String> =
        run.json()["rotated"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    assert_eq!(new.len(), 3, "one key per algorithm: {new:?}");

    let publish = 60;
    let mut published: [Option<Duration>; REPLICAS] = [None; REPLICAS];
    let mut signing: [Option<Duration>; REPLICAS] = [None; REPLICAS];
    while rotated.elapsed() < Duration::from_secs(publish + 60)
        && (published.contains(&None) || signing.contains(&None))
    {
        for i in 0..REPLICAS {
            if published[i].is_none() {
                let k = on!(cl, i, "jwks", kids(site).await);
                if new.iter().all(|n| k.contains(n)) {
                    assert!(k.contains(&old_kid), "replica {i}: the old key stays published");
                    published[i] = Some(rotated.elapsed());
                }
            }
            if signing[i].is_none() {
                let t = on!(cl, i, "refresh", site.refresh(&grant.refresh).await.expect("refresh"));
                grant = grant_of(&t, grant.browser.clone()).expect("tokens");
                let kid = jwt_header(&grant.id_token)["kid"].as_str().unwrap().to_string();
                if new.contains(&kid) {
                    if published[i].is_none() {
                        let k = on!(cl, i, "jwks", kids(site).await);
                        assert!(k.contains(&kid), "replica {i} signs with a key it does not publish");
                        published[i] = Some(rotated.elapsed());
                    }
                    signing[i] = Some(rotated.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("key rotation: in JWKS after {published:?}, signing after {signing:?} (publish delay {publish} s)");
    for i in 0..REPLICAS {
        let p = published[i].unwrap_or_else(|| panic!("replica {i} never published the new keys"));
        assert!(p <= Duration::from_secs(RELOAD_SECONDS as u64 + 5), "replica {i}: published after {p:?}");
        let s = signing[i].unwrap_or_else(|| panic!("replica {i} never signed with the new keys"));
        // Every replica loaded the new key before its activation and switches at that time.
        assert!(s <= Duration::from_secs(publish + 10), "replica {i}: signing after {s:?}");
    }
    // An access token signed by the new key on any replica is accepted by every replica.
    for i in 0..REPLICAS {
        let t = on!(cl, i, "refresh", site.refresh(&grant.refresh).await.expect("refresh"));
        grant = grant_of(&t, grant.browser.clone()).expect("tokens");
        assert!(new.contains(&jwt_header(&grant.access)["kid"].as_str().unwrap().to_string()));
        for j in 0..REPLICAS {
            on!(cl, j, "userinfo", site.userinfo(&grant.access).await)
                .unwrap_or_else(|k| panic!("signed on replica {i}, refused by replica {j}: {k:?}"));
        }
    }
    // A relying party that fetches the JWKS now, through any replica, verifies the new tokens.
    let fresh = cl.seed.rp(&site.client).await;
    let id_token: openidconnect::core::CoreIdToken = grant.id_token.parse().expect("ID token");
    id_token.claims(&fresh.id_token_verifier(), |_: Option<&Nonce>| Ok(())).expect("new ID token verifies");
}
