//! `rediss://`: Redis behind TLS with a private CA, trusted through `redis_ca_file`, and Redis
//! (and Sentinel) that require a client certificate (`redis_client_cert_file`,
//! `redis_client_key_file`).

use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

use super::*;

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

/// A CA, a server certificate for `localhost` and 127.0.0.1, and a client certificate (for
/// client authentication only), both signed by the CA.
fn pki() -> Pki {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::default();
    ca.distinguished_name.push(DnType::CommonName, "CA Redis Uji");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::from_params(&ca, &ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut srv = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("names");
    srv.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = srv.signed_by(&key, &issuer).expect("server certificate");
    let client_key = KeyPair::generate().expect("client key");
    let mut client = CertificateParams::default();
    client.distinguished_name.push(DnType::CommonName, "gerbang");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &issuer).expect("client certificate");
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// The TLS settings of a server (Redis or Sentinel) with the test PKI's files written into
/// `dir`: its certificate, the CA clients are checked against, and whether they must present
/// a certificate.
fn tls_args(pki: &Pki, dir: &Path, auth_clients: bool) -> Vec<String> {
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write pem");
        path_str(&p)
    };
    let auth = if auth_clients { "yes" } else { "no" };
    vec![
        "--tls-cert-file".into(),
        write("redis.pem", &pki.cert_pem),
        "--tls-key-file".into(),
        write("redis.key", &pki.key_pem),
        "--tls-ca-cert-file".into(),
        write("ca.pem", &pki.ca_pem),
        "--tls-auth-clients".into(),
        auth.into(),
    ]
}

/// A TLS-only Redis, and the CA bundle for Gerbang's `redis_ca_file`.
async fn tls_redis(pki: &Pki, auth_clients: bool) -> (RedisProc, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut args: Vec<String> =
        ["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(tls_args(pki, dir.path(), auth_clients));
    let redis = RedisProc::run(port, args).await;
    // The server reads its files at start; the copies in the process's directory outlive `dir`.
    let ca_copy = redis.config_file("ca.pem", &pki.ca_pem);
    (redis, ca_copy)
}

/// Gerbang's client certificate and key, written next to `redis`'s files, as settings.
fn client_files(redis: &RedisProc, pki: &Pki) -> (String, String) {
    let cert = redis.config_file("client.pem", &pki.client_cert_pem);
    let key = redis.config_file("client.key", &pki.client_key_pem);
    (path_str(&cert), path_str(&key))
}

/// Starts a server on `url` with `extra` settings, expecting it to refuse: the error chain and
/// how long it took to give up.
async fn start_error(url: &str, extra: &[(&str, &str)]) -> (String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let mut env: std::collections::HashMap<String, String> = [
        ("GERBANG_REDIS_URL".to_string(), url.to_string()),
        ("GERBANG_REDIS_CONNECT_TIMEOUT_MS".to_string(), "300".to_string()),
        ("GERBANG_DATA_DIR".to_string(), path_str(dir.path())),
        ("GERBANG_DATABASE_URL".to_string(), format!("sqlite://{}/g.db", dir.path().display())),
        ("GERBANG_THEMES_DIR".to_string(), concat!(env!("CARGO_MANIFEST_DIR"), "/themes").to_string()),
        ("GERBANG_BOOTSTRAP".to_string(), "false".to_string()),
    ]
    .into_iter()
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = gerbang::config::Config::load(None, &env).expect("config");
    let began = Instant::now();
    let started = tokio::time::timeout(
        Duration::from_secs(30),
        gerbang::state::AppState::init_with_clock(config, gerbang::clock::Clock::system()),
    )
    .await
    .expect("refuses within the bounded start-up attempts");
    (format!("{:#}", started.err().expect("start-up fails")), began.elapsed())
}

#[tokio::test]
async fn rediss_with_a_private_ca_serves_a_full_login() {
    let pki = pki();
    let (redis, ca) = tls_redis(&pki, false).await;
    let url = format!("rediss://localhost:{}", redis.port);
    let app = app_on(&url, &[("GERBANG_REDIS_CA_FILE", &path_str(&ca))]).await;
    full_login(&app).await;
    assert!(app.state.cache.count_prefix("").await.unwrap() > 0, "the flow's state went to the TLS Redis");
}

#[tokio::test]
async fn rediss_without_the_ca_refuses_to_start() {
    let pki = pki();
    let (redis, _ca) = tls_redis(&pki, false).await;
    // The system trust store does not know the private CA: start-up stops with a clear error.
    let (err, _) = start_error(&format!("rediss://localhost:{}", redis.port), &[]).await;
    assert!(err.contains("cannot connect to Redis"), "{err}");
}

#[tokio::test]
async fn a_redis_that_requires_client_certificates_serves_a_full_login_with_one() {
    let pki = pki();
    let (redis, ca) = tls_redis(&pki, true).await;
    let (cert, key) = client_files(&redis, &pki);
    let url = format!("rediss://localhost:{}", redis.port);
    let app = app_on(
        &url,
        &[
            ("GERBANG_REDIS_CA_FILE", &path_str(&ca)),
            ("GERBANG_REDIS_CLIENT_CERT_FILE", &cert),
            ("GERBANG_REDIS_CLIENT_KEY_FILE", &key),
        ],
    )
    .await;
    full_login(&app).await;
    assert!(app.state.cache.count_prefix("").await.unwrap() > 0, "the flow's state went to the mutual-TLS Redis");
}

#[tokio::test]
async fn without_the_client_certificate_start_up_stops_with_the_servers_refusal() {
    let pki = pki();
    let (redis, ca) = tls_redis(&pki, true).await;
    let url = format!("rediss://localhost:{}", redis.port);
    let (err, took) = start_error(&url, &[("GERBANG_REDIS_CA_FILE", &path_str(&ca))]).await;
    eprintln!("refused after {took:?}: {err}");
    assert!(err.starts_with(&format!("cannot connect to Redis (rediss://localhost:{})", redis.port)), "{err}");
    assert!(err.contains("CertificateRequired"), "the server's TLS alert is named: {err}");
    // Three attempts a second apart, each refused at once: no hanging.
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
}

/// Sentinel and master both behind mutual TLS: the client certificate goes to each.
#[tokio::test]
async fn sentinel_with_client_certificates_names_the_master_and_a_login_works() {
    let pki = pki();
    let (master, ca) = tls_redis(&pki, true).await;
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("sentinel.conf");
    // `tls-replication yes`: the Sentinel talks TLS to the master too, with its certificate as
    // client certificate (it has no client-only usage, so the master accepts it).
    let mut text = format!(
        "port 0\ntls-port {port}\nbind 127.0.0.1\ntls-replication yes\n\
         sentinel monitor gerbang-uji 127.0.0.1 {} 1\n",
        master.port
    );
    let args = tls_args(&pki, dir.path(), true);
    for pair in args.chunks(2) {
        text.push_str(&format!("{} {}\n", pair[0].trim_start_matches("--"), pair[1]));
    }
    std::fs::write(&conf, text).expect("sentinel.conf");
    let sentinel = RedisProc::run(port, vec![path_str(&conf), "--sentinel".into()]).await;
    // Sentinel rewrites its config file: it must outlive the process.
    std::mem::forget(dir);
    let (cert, key) = client_files(&master, &pki);
    let addr = format!("127.0.0.1:{}", sentinel.port);
    let app = app_on(
        "rediss://sentinel/0",
        &[
            ("GERBANG_REDIS_SENTINELS", &addr),
            ("GERBANG_REDIS_SENTINEL_MASTER", "gerbang-uji"),
            ("GERBANG_REDIS_CA_FILE", &path_str(&ca)),
            ("GERBANG_REDIS_CLIENT_CERT_FILE", &cert),
            ("GERBANG_REDIS_CLIENT_KEY_FILE", &key),
        ],
    )
    .await;
    full_login(&app).await;
    assert!(app.state.cache.count_prefix("").await.unwrap() > 0, "the state went to the master the Sentinel named");
}
