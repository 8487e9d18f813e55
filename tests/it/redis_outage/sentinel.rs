//! Sentinel: the server asks the Sentinels for the master, and asks again after a failover.

use std::time::Duration;

use super::*;

/// One Sentinel on a free port monitoring `master` as `gerbang-uji`, deciding alone (quorum 1).
async fn sentinel_for(master: &RedisProc) -> RedisProc {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\nsentinel monitor gerbang-uji 127.0.0.1 {} 1\n\
             sentinel down-after-milliseconds gerbang-uji 1000\nsentinel failover-timeout gerbang-uji 5000\n",
            master.port
        ),
    )
    .expect("sentinel.conf");
    let s = RedisProc::run(port, vec![path_str(&conf), "--sentinel".into()]).await;
    // Sentinel rewrites its config file: it must outlive the process.
    std::mem::forget(dir);
    s
}

async fn app_via(sentinel: &RedisProc) -> TestApp {
    let addr = format!("127.0.0.1:{}", sentinel.port);
    app_on(
        "redis://sentinel/0",
        &[("GERBANG_REDIS_SENTINELS", addr.as_str()), ("GERBANG_REDIS_SENTINEL_MASTER", "gerbang-uji")],
    )
    .await
}

#[tokio::test]
async fn sentinel_names_the_master_and_a_login_works() {
    let master = RedisProc::start(&[]).await;
    let sentinel = sentinel_for(&master).await;
    let app = app_via(&sentinel).await;
    full_login(&app).await;
    assert!(keys_in(master.port, &app).await > 0, "the state went to the master the Sentinel named");
}

#[tokio::test]
async fn after_a_failover_the_new_master_serves() {
    let mut master = RedisProc::start(&[]).await;
    let replica = RedisProc::start(&["--replicaof", "127.0.0.1", &master.port.to_string()]).await;
    let sentinel = sentinel_for(&master).await;
    let app = app_via(&sentinel).await;
    full_login(&app).await;
    // Let the Sentinel discover the replica (it asks the master with INFO every 10 s at first).
    let discovered = async {
        loop {
            let c = redis::Client::open(format!("redis://127.0.0.1:{}", sentinel.port)).unwrap();
            let mut c = c.get_multiplexed_async_connection().await.unwrap();
            let replicas: Vec<redis::Value> =
                redis::cmd("SENTINEL").arg("REPLICAS").arg("gerbang-uji").query_async(&mut c).await.unwrap();
            if !replicas.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), discovered).await.expect("Sentinel sees the replica");
    master.kill();
    // Failover takes down-after (1 s) plus the election; until then requests answer 503.
    let served = async {
        loop {
            let c = app.web_client(&["openid"], &[gerbang::oidc::clients::GrantType::AuthorizationCode], true).await;
            let rp = app.rp(&c).await;
            let res = browser().get(&start_auth(&rp, &["openid"]).url).send().await.unwrap();
            if res.status() == 200 {
                return;
            }
            assert_eq!(res.status(), 503, "only 503 during the failover");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(40), served).await.expect("served by the promoted replica");
    full_login(&app).await;
    assert!(keys_in(replica.port, &app).await > 0, "the state now goes to the promoted replica");
}

/// A Sentinel that takes connections but never answers (its host gone dark) is listed first:
/// the other one is asked at the same time and names the master. Asked in turn, every lookup
/// waited out the silent one first, and the server did not start.
#[tokio::test]
async fn a_silent_sentinel_listed_first_holds_up_nothing() {
    let master = RedisProc::start(&[]).await;
    let sentinel = sentinel_for(&master).await;
    // The kernel completes connections to a listener nobody accepts from; nothing is answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("silent listener");
    let addrs = format!("{},127.0.0.1:{}", silent.local_addr().unwrap(), sentinel.port);
    let app = app_on(
        "redis://sentinel/0",
        &[("GERBANG_REDIS_SENTINELS", addrs.as_str()), ("GERBANG_REDIS_SENTINEL_MASTER", "gerbang-uji")],
    )
    .await;
    full_login(&app).await;
    assert!(keys_in(master.port, &app).await > 0, "the state went to the master the answering Sentinel named");
    drop(silent);
}
