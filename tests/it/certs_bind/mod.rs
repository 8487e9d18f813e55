//! Binding certificates with proof of possession (issue 13, item 4): the holder signs a
//! one-time challenge on `/account/certificates` (CMS or a raw signature), names are matched,
//! administrators never bind to themselves, and their bindings wait for the holder's proof or
//! a second administrator's approval.

mod admins;
mod holder;

use std::path::PathBuf;

use serde_json::Value;

use crate::common::*;
use crate::pki::{Ca, Person};

/// A server trusting a test root and its intermediate, which issues the people's certificates.
pub(crate) struct Setup {
    pub app: TestApp,
    pub ca: Ca,
    _dir: tempfile::TempDir,
}

pub(crate) async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = Ca::root("Root CA Uji Bind");
    let ca = root.intermediate("BSRE CA Uji Bind");
    let bundle: PathBuf = dir.path().join("issuers.pem");
    std::fs::write(&bundle, format!("{}{}", root.cert_pem, ca.cert_pem)).unwrap();
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_CERTIFICATE_ISSUERS", bundle.to_str().unwrap()),
    ])
    .await;
    Setup { app, ca, _dir: dir }
}

pub(crate) async fn unit(app: &TestApp) -> String {
    opd_unit(app, &format!("U{}", unique_nip()), None).await
}

/// How the holder signs the challenge.
#[derive(Clone, Copy)]
pub(crate) enum Sig {
    Cms,
    Pkcs1,
    Pss,
}

/// The holder's signature over `challenge`, made by `openssl` as the page tells them to.
pub(crate) fn sign(p: &Person, challenge: &str, how: Sig) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tantangan.txt"), challenge).unwrap();
    std::fs::write(dir.path().join("sertifikat.pem"), &p.cert_pem).unwrap();
    std::fs::write(dir.path().join("kunci.pem"), &p.key_pem).unwrap();
    let args: Vec<&str> = match how {
        Sig::Cms => vec![
            "cms",
            "-sign",
            "-binary",
            "-in",
            "tantangan.txt",
            "-signer",
            "sertifikat.pem",
            "-inkey",
            "kunci.pem",
            "-outform",
            "PEM",
            "-out",
            "out",
        ],
        Sig::Pkcs1 => vec!["dgst", "-sha256", "-sign", "kunci.pem", "-out", "out", "tantangan.txt"],
        Sig::Pss => vec![
            "dgst",
            "-sha256",
            "-sign",
            "kunci.pem",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-out",
            "out",
            "tantangan.txt",
        ],
    };
    let out = std::process::Command::new("openssl").args(&args).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(dir.path().join("out")).unwrap();
    match how {
        Sig::Cms => String::from_utf8(bytes).unwrap(),
        _ => base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes),
    }
}

/// The account page's certificate section: its challenge text, the nonce and the CSRF token.
pub(crate) struct Challenge {
    pub text: String,
    pub nonce: String,
    pub csrf: String,
    pub html: String,
}

pub(crate) async fn challenge(b: &reqwest::Client, app: &TestApp) -> Challenge {
    let res = b.get(app.url("/account/certificates")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let marker = "id=\"challenge\" rows=\"3\" readonly>";
    let start = html.find(marker).expect("challenge shown") + marker.len();
    let end = html[start..].find("</textarea>").unwrap() + start;
    Challenge { text: html[start..end].to_string(), nonce: hidden(&html, "nonce"), csrf: hidden(&html, "csrf"), html }
}

/// Submits the binding form.
pub(crate) async fn submit(
    b: &reqwest::Client,
    app: &TestApp,
    c: &Challenge,
    cert_pem: &str,
    certificate_id: &str,
    signature: &str,
) -> reqwest::Response {
    let form = [
        ("csrf", c.csrf.as_str()),
        ("nonce", c.nonce.as_str()),
        ("certificate", cert_pem),
        ("certificate_id", certificate_id),
        ("signature", signature),
    ];
    b.post(app.url("/account/certificates")).form(&form).send().await.unwrap()
}

/// A browser signed in to the account page.
pub(crate) async fn signed_in(app: &TestApp, nip: &str) -> reqwest::Client {
    let b = browser();
    let res = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = login(app, &b, &location(&res), nip, PASSWORD).await;
    assert!(back.starts_with(&app.url("/account")), "{back}");
    b
}

pub(crate) async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let http = http_client();
    let req = if method == "GET" { http.get(app.url(path)) } else { http.post(app.url(path)) };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let res = req.bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The account's audit kinds about certificates, oldest first.
pub(crate) async fn cert_events(app: &TestApp, account: &str) -> Vec<(String, Value)> {
    let mut rows = gerbang::audit::list(&app.state.db, 1000, Some(account)).await.unwrap();
    rows.sort_by_key(|r| r.seq);
    rows.into_iter()
        .filter(|r| r.kind.starts_with("certificate."))
        .map(|r| (r.kind, serde_json::from_str(&r.detail).unwrap()))
        .collect()
}
