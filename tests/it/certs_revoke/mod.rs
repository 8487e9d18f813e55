//! Revocation checking (issue 13, item 3) and the BSrE connector: CRLs served by a local
//! distribution point and uploaded by an administrator, a real OCSP responder (`openssl ocsp`),
//! slow and absent responders, and BSrE's status service played by a local server.

mod bsre;
mod crl;
mod ocsp;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gerbang::ops::certificates::{checks, CertRow};

use crate::common::*;
use crate::pki::{Ca, Person, DAY};

/// A root, an issuing intermediate under it, and the trust bundle file naming both.
pub struct Pki {
    pub root: Ca,
    pub ca: Ca,
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let root = Ca::root("Root CA Uji DS G1");
        let ca = root.intermediate("CA Uji DS G1");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("issuers.pem"), format!("{}{}", root.cert_pem, ca.cert_pem)).unwrap();
        Pki { root, ca, dir }
    }

    pub fn bundle(&self) -> String {
        self.dir.path().join("issuers.pem").display().to_string()
    }
}

/// A server trusting `pki`'s bundle, with a 500 ms OCSP timeout.
pub async fn app_with(pki: &Pki, extra: &[(&str, &str)]) -> TestApp {
    let bundle = pki.bundle();
    let mut env = vec![
        ("GERBANG_CERTIFICATE_ISSUERS", bundle.as_str()),
        ("GERBANG_CERTIFICATE_OCSP_TIMEOUT_MS", "500"),
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
    ];
    env.extend_from_slice(extra);
    TestApp::spawn_with(&env).await
}

/// Binds `p`'s certificate to `account` as a signer would hold it (possession shown), with the
/// revocation pointers read from the certificate and the trust bundle.
pub async fn bind(app: &TestApp, account: &str, p: &Person) -> CertRow {
    let pointers = checks::pointers(&app.state, &p.cert_der);
    let now = app.state.now();
    let row = CertRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account.into(),
        fingerprint: gerbang::crypto::sha256_hex(&p.cert_der),
        subject: "CN=Uji".into(),
        issuer: "CN=CA Uji DS G1".into(),
        serial: p.serial_hex.clone(),
        not_before: now - 2 * DAY,
        not_after: now + 365 * DAY,
        status: "active".into(),
        pem: p.cert_pem.clone(),
        bound_by: "test".into(),
        created_at: now,
        possession: "signature".into(),
        possession_at: Some(now),
        name_match: "name".into(),
        check_status: "unchecked".into(),
        ocsp_url: pointers.ocsp_url,
        crl_urls: pointers.crl_urls,
        issuer_pem: pointers.issuer_pem,
        ..CertRow::default()
    };
    gerbang::store::certs::insert(&app.state.db, &row).await.unwrap();
    row
}

pub async fn row(app: &TestApp, id: &str) -> CertRow {
    gerbang::store::certs::get(&app.state.db, id).await.unwrap().unwrap()
}

pub async fn is_signer(app: &TestApp, account: &str) -> bool {
    gerbang::ops::certificates::signer::signer_binding(&app.state, account, app.state.now()).await.unwrap().is_some()
}

/// A local HTTP server answering `GET /ca.crl` with whatever `body` holds (500 when empty),
/// counting requests.
pub struct CrlServer {
    pub url: String,
    pub body: Arc<Mutex<Vec<u8>>>,
    pub hits: Arc<AtomicUsize>,
}

impl CrlServer {
    pub async fn start() -> CrlServer {
        let body: Arc<Mutex<Vec<u8>>> = Arc::default();
        let hits: Arc<AtomicUsize> = Arc::default();
        let (b, h) = (body.clone(), hits.clone());
        let router = axum::Router::new().route(
            "/ca.crl",
            axum::routing::get(move || {
                let (b, h) = (b.clone(), h.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let bytes = b.lock().unwrap().clone();
                    if bytes.is_empty() {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Vec::new())
                    } else {
                        (axum::http::StatusCode::OK, bytes)
                    }
                }
            }),
        );
        let base = serve(router).await;
        CrlServer { url: format!("{base}/ca.crl"), body, hits }
    }

    pub fn set(&self, der: Vec<u8>) {
        *self.body.lock().unwrap() = der;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Serves `router` on a free local port; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
