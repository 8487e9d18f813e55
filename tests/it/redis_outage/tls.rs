//! `rediss://`: Redis behind TLS with a private CA, trusted through `redis_ca_file`.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::*;

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it.
fn pki() -> Pki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "CA Redis Uji");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let mut srv = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("names");
    srv.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = srv.signed_by(&key, &Issuer::from_params(&ca, &ca_key)).expect("server certificate");
    Pki { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

async fn tls_redis(pki: &Pki) -> (RedisProc, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write pem");
        path_str(&p)
    };
    let (ca, cert, key) =
        (write("ca.pem", &pki.ca_pem), write("redis.pem", &pki.cert_pem), write("redis.key", &pki.key_pem));
    let port = free_port();
    let args: Vec<String> = [
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let redis = RedisProc::run(port, args).await;
    let ca_copy = redis.config_file("ca.pem", &pki.ca_pem);
    (redis, ca_copy)
}

#[tokio::test]
async fn rediss_with_a_private_ca_serves_a_full_login() {
    let pki = pki();
    let (redis, ca) = tls_redis(&pki).await;
    let url = format!("rediss://localhost:{}", redis.port);
    let app = app_on(&url, &[("GERBANG_REDIS_CA_FILE", &path_str(&ca))]).await;
    full_login(&app).await;
    assert!(app.state.cache.count_prefix("").await.unwrap() > 0, "the flow's state went to the TLS Redis");
}

#[tokio::test]
async fn rediss_without_the_ca_refuses_to_start() {
    let pki = pki();
    let (redis, _ca) = tls_redis(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let env: std::collections::HashMap<String, String> = [
        ("GERBANG_REDIS_URL".to_string(), format!("rediss://localhost:{}", redis.port)),
        ("GERBANG_REDIS_CONNECT_TIMEOUT_MS".to_string(), "300".to_string()),
        ("GERBANG_DATA_DIR".to_string(), path_str(dir.path())),
        ("GERBANG_DATABASE_URL".to_string(), format!("sqlite://{}/g.db", dir.path().display())),
        ("GERBANG_THEMES_DIR".to_string(), concat!(env!("CARGO_MANIFEST_DIR"), "/themes").to_string()),
        ("GERBANG_BOOTSTRAP".to_string(), "false".to_string()),
    ]
    .into_iter()
    .collect();
    let config = gerbang::config::Config::load(None, &env).expect("config");
    // The system trust store does not know the private CA: start-up stops with a clear error.
    let started = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        gerbang::state::AppState::init_with_clock(config, gerbang::clock::Clock::system()),
    )
    .await
    .expect("refuses within the bounded start-up attempts");
    let err = format!("{:#}", started.err().expect("start-up fails"));
    assert!(err.contains("cannot connect to Redis"), "{err}");
}
