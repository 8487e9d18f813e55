//! A direct (non-Sentinel) connection that stays broken while a new one would work: the
//! connection goes silent (a firewall or NAT drops its state, and packets vanish) or still
//! reaches the old primary, now read-only, after a failover by DNS. The library replaces its
//! connection only after errors it takes for fatal (refused, reset), so before the fix every
//! request answered 503 until the kernel gave up the socket, minutes later.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::*;

/// A relay in front of Redis standing in for the network: new connections go to `target`;
/// [`Relay::stall`] makes every connection open so far stop passing bytes, still open.
struct Relay {
    port: u16,
    target: Arc<AtomicU16>,
    stall: watch::Sender<u64>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let port = listener.local_addr().expect("relay address").port();
        let target = Arc::new(AtomicU16::new(target));
        let (stall, _) = watch::channel(0u64);
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let (t, s, k) = (target.clone(), stall.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let task = tokio::spawn(pass(client, t.load(Ordering::SeqCst), s.subscribe()));
                k.lock().expect("tasks").push(task);
            }
        });
        tasks.lock().expect("tasks").push(accept);
        Relay { port, target, stall, tasks }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Connections opened from now on go to the Redis on `port`.
    fn retarget(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }

    /// Every connection open now goes silent; later ones pass bytes as before.
    fn stall(&self) {
        self.stall.send_modify(|g| *g += 1);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for t in self.tasks.lock().expect("tasks").iter() {
            t.abort();
        }
    }
}

async fn pass(mut client: TcpStream, port: u16, mut stall: watch::Receiver<u64>) {
    let opened = *stall.borrow_and_update();
    let Ok(mut backend) = TcpStream::connect(("127.0.0.1", port)).await else { return };
    let stalled = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut backend) => false,
        r = stall.wait_for(|g| *g > opened) => r.is_ok(),
    };
    if stalled {
        // Both sockets stay open and nothing passes: what a dropped route looks like.
        std::future::pending::<()>().await;
    }
    drop((client, backend));
}

/// Tries full logins until one succeeds, within `limit`; returns how long it took.
async fn login_within(app: &TestApp, limit: Duration) -> Duration {
    let t = Instant::now();
    loop {
        let attempt = tokio::time::timeout(Duration::from_secs(5), try_login(app)).await;
        if let Ok(true) = attempt {
            return t.elapsed();
        }
        assert!(t.elapsed() < limit, "no login succeeded within {limit:?}: the broken connection was kept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A full login, answering whether it succeeded (503s are expected while the connection is
/// being replaced; anything else fails the test).
async fn try_login(app: &TestApp) -> bool {
    let nip = unique_nip();
    app.asn(&nip, "Rina Uji").await;
    let c = app.web_client(&["openid"], &[gerbang::oidc::clients::GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &[]);
    let b = browser();
    let res = b.get(&start.url).send().await.expect("GET /authorize");
    if res.status() == 503 {
        return false;
    }
    assert_eq!(res.status(), 200, "the login page or 503, nothing else");
    let callback = login(app, &b, &start.url, &nip, PASSWORD).await;
    callback.starts_with(&c.redirect_uri)
}

#[tokio::test]
async fn a_connection_gone_silent_is_replaced() {
    let redis = RedisProc::start(&[]).await;
    let relay = Relay::start(redis.port).await;
    let app = app_on(&relay.url(), &[]).await;
    full_login(&app).await;
    relay.stall();
    let took = login_within(&app, Duration::from_secs(15)).await;
    eprintln!("a login succeeded {took:?} after the connection went silent");
    assert!(keys_in(redis.port, &app).await > 0);
}

#[tokio::test]
async fn a_connection_to_a_primary_turned_read_only_is_replaced() {
    let old = RedisProc::start(&[]).await;
    let new = RedisProc::start(&[]).await;
    let relay = Relay::start(old.port).await;
    let app = app_on(&relay.url(), &[]).await;
    full_login(&app).await;
    // The failover: the old primary follows the new one (read-only now), and the name the
    // server was given leads to the new one from now on.
    let client = redis::Client::open(old.url()).expect("client");
    let mut c = client.get_multiplexed_async_connection().await.expect("connect to the old primary");
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(new.port).query_async(&mut c).await.expect("REPLICAOF");
    relay.retarget(new.port);
    let took = login_within(&app, Duration::from_secs(15)).await;
    eprintln!("a login succeeded {took:?} after the primary turned read-only");
    assert!(keys_in(new.port, &app).await > 0, "the state goes to the new primary");
}
