//! Traffic keeps running through the proxy while one replica is killed (SIGKILL), Redis is
//! killed and started again empty, and PostgreSQL is restarted (`pg_ctl restart -m fast`).
//! Nothing may answer a 5xx other than 503, service must come back within 5 s of each
//! dependency's return, and grants (and, across a replica's death, sessions) made before each
//! fault must still work after it. The counts per phase are printed as a table.

use std::time::{Duration, Instant};

use super::flow::{grant_of, one_shot, Grant, Kind, Site, Tally};
use super::traffic::{Meter, Traffic};
use super::*;

const WORKERS: usize = 4;
const PHASES: [&str; 5] = ["steady", "replica 1 killed", "Redis restarted", "PostgreSQL restarted", "after"];
/// The longest a dependency's return may take to show in successful new cycles.
const RECOVERY: Duration = Duration::from_secs(5);
const SETTLE: Duration = Duration::from_secs(3);

/// A tally that prints what went wrong: the checks below panic with the kind only.
fn loud() -> Tally {
    Arc::new(|step, kind, detail| {
        if kind != Kind::Ok {
            eprintln!("check {step}: {kind:?} {}", detail.unwrap_or_default());
        }
    })
}

/// A grant made before a fault still refreshes and reaches userinfo after it.
async fn still_works(site: &Site, g: &mut Grant, what: &str) {
    let t = site.refresh(&g.refresh).await.unwrap_or_else(|k| panic!("{what}: refresh refused: {k:?}"));
    *g = grant_of(&t, g.browser.clone()).expect("tokens");
    site.userinfo(&g.access).await.unwrap_or_else(|k| panic!("{what}: userinfo refused: {k:?}"));
}

/// The time from now until a whole new cycle succeeds (polled; at most 30 s).
async fn recovery(site: &Site, nip: &str, what: &str) -> Duration {
    let t = Instant::now();
    loop {
        if site.cycle(nip).await.is_ok() {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{what}: no new cycle succeeded within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL server binaries (initdb, pg_ctl) and redis-server; .ci/run step 2d runs it"]
async fn traffic_survives_a_killed_replica_and_restarts_of_redis_and_postgresql() {
    let mut cl = Cluster::start().await;
    let meter = Meter::default();
    let site = cl.site(meter.tally()).await;
    let check = Site { tally: loud(), ..site.clone() };
    let (nip, probe) = (cl.person("Saksi Tahan Lama").await, cl.person("Penguji Pulih").await);
    let mut before = check.cycle(&nip).await.expect("a grant before any fault");
    let mut traffic = Traffic::start(&cl, &site, WORKERS, meter).await;
    let mut entered = vec![Instant::now()];
    tokio::time::sleep(SETTLE).await;

    // 1. A replica dies. A session and a grant made through it carry on through the others.
    cl.proxy.pin(Some(1));
    cl.proxy.take_served();
    let (b, callback, verifier) = check.login(&nip).await.expect("login through replica 1");
    let t = check.redeem(&callback, &verifier).await.expect("code through replica 1");
    // Read before unpinning: the traffic keeps opening connections, and once unpinned they go
    // to every replica.
    let served = cl.proxy.take_served();
    cl.proxy.pin(None);
    assert!(served.iter().all(|i| *i == 1), "made through replica 1: {served:?}");
    let mut victim = grant_of(&t, b).expect("tokens");
    traffic.enter(1);
    eprintln!("phase: {}", PHASES[1]);
    entered.push(Instant::now());
    cl.replicas[1].kill().await;
    let killed = Instant::now();
    tokio::time::sleep(SETTLE).await;
    still_works(&check, &mut victim, "grant made through the killed replica").await;
    let again = start_auth(&check.rp, &["profile"]);
    let answer = check.authorize(&victim.browser, &again.url).await.expect("authorize");
    let callback = answer.expect("the SSO session made through the killed replica still answers");
    check.redeem(&callback, &again.verifier).await.expect("its code redeemed elsewhere");
    still_works(&check, &mut before, "grant from before").await;
    // A password check in flight on the killed replica leaves its account reserved: that person
    // is refused (429) until the others see the replica's liveness key lapse (4 s, see
    // cache::liveness) and take the reservation over, then logs in again; not for the whole
    // lease (the request timeout + 5 s: 20 s by default), as before. Everyone else carries on.
    while !traffic.all_ok_since(killed) {
        assert!(killed.elapsed() < Duration::from_secs(10), "the workers log in again once the holder is seen dead");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lease_back = killed.elapsed();
    cl.replicas[1].start_again().await;

    // 2. Redis dies and comes back empty. A login page and a code from before fail cleanly.
    let mut w2 = check.cycle(&nip).await.expect("a grant before the Redis restart");
    let pending = one_shot(true);
    let page = check.authorize(&pending, &start_auth(&check.rp, &["profile"]).url).await.unwrap().unwrap_err();
    let (_, code_cb, code_verifier) = check.login(&nip).await.expect("a code before the Redis restart");
    traffic.enter(2);
    eprintln!("phase: {}", PHASES[2]);
    entered.push(Instant::now());
    cl.redis.kill();
    let res = check.password(&pending, &page, &nip, PASSWORD).await;
    assert_eq!(res.err(), Some(Kind::Unavailable), "a password posted while Redis is down: 503");
    tokio::time::sleep(Duration::from_secs(1)).await;
    cl.redis.start_again().await;
    let redis_back = recovery(&site, &probe, "Redis").await;
    let res = check.redeem(&code_cb, &code_verifier).await;
    assert!(matches!(res, Err(Kind::Client | Kind::Unavailable)), "a code from before: an OAuth error: {res:?}");
    tokio::time::sleep(SETTLE).await;
    still_works(&check, &mut w2, "grant from before the Redis restart").await;
    still_works(&check, &mut before, "grant from before").await;

    // 3. PostgreSQL restarts: every pooled connection is cut.
    let mut w3 = check.cycle(&nip).await.expect("a grant before the PostgreSQL restart");
    traffic.enter(3);
    eprintln!("phase: {}", PHASES[3]);
    entered.push(Instant::now());
    let t = Instant::now();
    cl.pg.restart().await;
    let pg_down = t.elapsed();
    let pg_back = recovery(&site, &probe, "PostgreSQL").await;
    tokio::time::sleep(SETTLE).await;
    for (g, what) in [(&mut w3, "PostgreSQL"), (&mut w2, "Redis"), (&mut before, "any fault")] {
        still_works(&check, g, &format!("grant from before the {what} restart")).await;
    }

    traffic.enter(4);
    eprintln!("phase: {}", PHASES[4]);
    entered.push(Instant::now());
    tokio::time::sleep(SETTLE).await;
    traffic.finish().await;
    entered.push(Instant::now());
    let seconds: Vec<f64> = entered.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    eprintln!("{}", traffic.table(&PHASES, &seconds));
    eprintln!(
        "recovery: every worker through a cycle {} ms after the kill; Redis {} ms after it was back; PostgreSQL {} ms after `pg_ctl restart` returned ({} ms)",
        lease_back.as_millis(),
        redis_back.as_millis(),
        pg_back.as_millis(),
        pg_down.as_millis()
    );
    let m = &traffic.meter;
    let samples = m.samples.lock().unwrap().clone();
    for s in &samples {
        eprintln!("{:>22} {:>9} {:?}: {}", PHASES[s.0], s.1, s.2, s.3);
    }
    assert_eq!(m.total(Kind::Server), 0, "no 5xx but 503\n{}", cl.logs());
    assert_eq!(m.total(Kind::Unexpected), 0, "every 2xx/3xx carried the flow on");
    for p in [0, 4] {
        let bad: u64 = [Kind::Client, Kind::Unavailable, Kind::Connection].iter().map(|k| m.count(p, *k)).sum();
        assert_eq!(bad, 0, "{}: only successes", PHASES[p]);
    }
    assert!(m.count(0, Kind::Ok) > 0 && m.count(4, Kind::Ok) > 0, "traffic ran");
    assert!(redis_back <= RECOVERY, "new cycles {redis_back:?} after Redis was back");
    assert!(pg_back <= RECOVERY, "new cycles {pg_back:?} after PostgreSQL was back");
}
