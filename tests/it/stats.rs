//! Usage figures: tokens issued per application reach the audit trail once, however often an
//! hour is flushed, and the dashboard shows logins, failures and live sessions on the region's
//! local day.

use std::collections::HashMap;

use gerbang::audit;
use gerbang::oidc::clients::GrantType;
use gerbang::oidc::keys::Alg;
use gerbang::ops::upkeep::flush_token_counts;
use gerbang::state::now;
use gerbang::stats::dashboard;
use openidconnect::OAuth2TokenResponse;
use serde_json::Value;

use crate::common::*;

async fn client_credentials(app: &TestApp, c: &TestClient, scope: Option<&str>) -> u16 {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let res =
        http_client().post(app.url("/token")).basic_auth(&c.id, c.secret.as_deref()).form(&form).send().await.unwrap();
    res.status().as_u16()
}

/// Per-client sums over every `token.issued` record, and how many such records there are.
async fn recorded_tokens(app: &TestApp) -> (HashMap<String, u64>, usize) {
    let events = audit::list(&app.state.db, 1000, None).await.unwrap();
    let mut sums = HashMap::new();
    let mut records = 0;
    for e in events.iter().filter(|e| e.kind == "token.issued") {
        records += 1;
        let d: Value = serde_json::from_str(&e.detail).unwrap();
        assert_eq!(d["hour_start"].as_i64().unwrap() % 3600, 0, "{d}");
        for (id, n) in d["clients"].as_object().unwrap() {
            *sums.entry(id.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    (sums, records)
}

async fn flush(app: &TestApp, hours: &[i64]) -> u64 {
    gerbang::stats::push_tally(&app.state.token_tally, &app.state.cache).await.unwrap();
    let mut total = 0;
    for &h in hours {
        total += flush_token_counts(&app.state, h, now()).await.unwrap();
    }
    total
}

#[tokio::test]
async fn token_counts_reach_the_audit_trail_once_and_the_dashboard_shows_the_day() {
    let app = TestApp::spawn().await;
    let st = &app.state;
    let m2m = app.client_with(&["laporan.baca"], &[GrantType::ClientCredentials], true, false, Alg::ES256).await;
    let other = app.client_with(&["laporan.baca"], &[GrantType::ClientCredentials], true, false, Alg::RS256).await;
    let web =
        app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true).await;
    // The test may straddle an hour boundary; every hour it touched is flushed.
    let first_hour = now() / 3600;

    for _ in 0..3 {
        assert_eq!(client_credentials(&app, &m2m, None).await, 200);
    }
    assert_eq!(client_credentials(&app, &other, None).await, 200);
    assert_eq!(client_credentials(&app, &m2m, Some("nik")).await, 400, "refused requests are not counted");

    // A failed password login, then a person's login whose code and refresh token give two
    // token responses to the web application.
    let rp = app.rp(&web).await;
    let unlucky = unique_nip();
    app.asn(&unlucky, "Salah Ketik").await;
    let b = browser();
    let html = b.get(&start_auth(&rp, &[]).url).send().await.unwrap().text().await.unwrap();
    assert_eq!(submit_login(&app, &b, &html, &unlucky, "salah-sekali-123").await.status(), 401);
    let nip = unique_nip();
    app.asn(&nip, "Sri Rahayu").await;
    let start = start_auth(&rp, &["profile"]);
    let cb = login(&app, &browser(), &start.url, &nip, PASSWORD).await;
    let http = http_client();
    let t = redeem(&rp, &cb, start.verifier).await;
    rp.exchange_refresh_token(t.refresh_token().unwrap()).unwrap().request_async(&http).await.unwrap();

    let last_hour = now() / 3600;
    let hours: Vec<i64> = (first_hour..=last_hour).collect();
    assert_eq!(flush(&app, &hours).await, 6);
    let (sums, records) = recorded_tokens(&app).await;
    assert_eq!(sums.get(&m2m.id), Some(&3), "{sums:?}");
    assert_eq!(sums.get(&other.id), Some(&1));
    assert_eq!(sums.get(&web.id), Some(&2));
    assert_eq!(sums.len(), 3, "applications without tokens are left out: {sums:?}");
    assert!((1..=hours.len()).contains(&records), "one record per hour with tokens: {records}");

    // Flushing again (another replica, or the next upkeep round) records nothing more.
    assert_eq!(flush(&app, &hours).await, 0);
    assert_eq!(recorded_tokens(&app).await, (sums.clone(), records));

    // One more token, not flushed yet: the dashboard adds it from the cache without taking it.
    let hour = now() / 3600;
    assert_eq!(client_credentials(&app, &other, None).await, 200);
    assert_eq!(
        gerbang::stats::push_tally(&st.token_tally, &st.cache).await.unwrap(),
        1,
        "the replica's tally reaches the cache"
    );
    let offset = st.config.utc_offset_minutes;
    let t = now();
    let d = dashboard(&st.db, &st.cache, t, 7, offset).await.unwrap();
    assert_eq!(d.days.len(), 7);
    let today = chrono::DateTime::from_timestamp(t + i64::from(offset) * 60, 0).unwrap().format("%Y-%m-%d").to_string();
    let last = d.days.last().unwrap();
    assert_eq!(last.date, today, "{d:?}");
    assert_eq!((last.logins, last.failures, last.step_ups, last.lockouts), (1, 1, 0, 0), "{d:?}");
    assert!(d.days[..6].iter().all(|f| f.logins + f.failures + f.step_ups + f.lockouts == 0), "{d:?}");
    assert!(d.active_sessions >= 1, "{d:?}");
    let tokens: HashMap<&str, u64> = d.applications.iter().map(|a| (a.client_id.as_str(), a.tokens)).collect();
    assert_eq!(tokens, HashMap::from([(m2m.id.as_str(), 3), (other.id.as_str(), 2), (web.id.as_str(), 2)]));
    assert_eq!(d.applications[0].client_id, m2m.id, "busiest first");
    assert_eq!((d.totals.logins, d.totals.failures, d.totals.tokens), (1, 1, 7));
    // Peeking left the counter in place for the real flush.
    assert_eq!(flush(&app, &(hour..=t / 3600).collect::<Vec<_>>()).await, 1);

    let v = audit::verify(&st.db).await.unwrap();
    assert!(v.ok, "{v:?}");
}

#[tokio::test]
async fn live_sessions_are_counted_by_their_cache_keys_only() {
    let app = TestApp::spawn().await;
    let st = &app.state;
    let before = dashboard(&st.db, &st.cache, now(), 1, 420).await.unwrap().active_sessions;
    assert_eq!(before, 0);
    let web = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&web).await;
    for _ in 0..2 {
        let nip = unique_nip();
        app.asn(&nip, "Pegawai").await;
        login(&app, &browser(), &start_auth(&rp, &[]).url, &nip, PASSWORD).await;
    }
    // Each login also wrote an `sso-index:` key; those are not sessions.
    assert_eq!(st.cache.count_prefix("sso-index:").await.unwrap(), 2);
    assert_eq!(dashboard(&st.db, &st.cache, now(), 1, 420).await.unwrap().active_sessions, 2);
}
