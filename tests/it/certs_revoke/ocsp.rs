//! OCSP: a real responder (`openssl ocsp`) saying revoked, good and unknown; a slow and an
//! absent responder, where the login path falls back to the cached CRL (or keeps the last
//! answer) within the timeout.

use std::time::Duration;

use super::*;
use crate::pki::{Ca, PersonOpts};

/// `openssl ocsp` on `port` answering for `ca` from an index of `(person, cn, revoked)`;
/// killed on drop.
struct Responder {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn yymmdd(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).unwrap().format("%y%m%d%H%M%SZ").to_string()
}

async fn responder(ca: &crate::pki::Ca, entries: &[(&Person, &str, bool)], port: u16) -> Responder {
    responder_signed_by(ca, (&ca.cert_pem, &ca.key_pem()), entries, port).await
}

/// As [`responder`], the responses signed by `signer` (certificate PEM, key PEM).
async fn responder_signed_by(
    ca: &crate::pki::Ca,
    signer: (&str, &str),
    entries: &[(&Person, &str, bool)],
    port: u16,
) -> Responder {
    let dir = tempfile::tempdir().unwrap();
    let now = crate::pki::unix_now();
    let expiry = yymmdd(now + 365 * DAY);
    let mut index = String::new();
    for (p, cn, revoked) in entries {
        let serial = p.serial_hex.to_uppercase();
        if *revoked {
            let at = yymmdd(now - 3600);
            index.push_str(&format!("R\t{expiry}\t{at},keyCompromise\t{serial}\tunknown\t/C=ID/CN={cn}\n"));
        } else {
            index.push_str(&format!("V\t{expiry}\t\t{serial}\tunknown\t/C=ID/CN={cn}\n"));
        }
    }
    std::fs::write(dir.path().join("index.txt"), index).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
    std::fs::write(dir.path().join("signer.pem"), signer.0).unwrap();
    std::fs::write(dir.path().join("signer.key"), signer.1).unwrap();
    let mut child = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "ocsp",
            "-index",
            "index.txt",
            "-port",
            &port.to_string(),
            "-rsigner",
            "signer.pem",
            "-rkey",
            "signer.key",
        ])
        .args(["-CA", "ca.pem", "-nmin", "60", "-nrequest", "20"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    // Ready when it says so (a probing connection would hold the one-at-a-time responder).
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("waiting for OCSP client connections") {
                let _ = tx.send(());
            }
        }
    });
    let r = Responder { child, _dir: dir };
    for _ in 0..100 {
        if rx.try_recv().is_ok() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("openssl ocsp did not start");
}

#[tokio::test]
async fn cr_an_ocsp_responder_says_revoked_or_good_and_the_signer_role_follows() {
    let pki = Pki::new();
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let siti = pki.ca.person(PersonOpts::new("Siti").ocsp(&url));
    let agus = pki.ca.person(PersonOpts::new("Agus").ocsp(&url));
    let tamu = pki.ca.person(PersonOpts::new("Tamu").ocsp(&url));
    let _r = responder(&pki.ca, &[(&siti, "Siti", true), (&agus, "Agus", false)], port).await;
    let app = app_with(&pki, &[]).await;
    let now = app.state.now();
    let (_, siti_acc) = staff(&app, "Siti", None, None).await;
    let (_, agus_acc) = staff(&app, "Agus", None, None).await;
    let (_, tamu_acc) = staff(&app, "Tamu", None, None).await;
    let s = bind(&app, &siti_acc, &siti).await;
    let a = bind(&app, &agus_acc, &agus).await;
    let x = bind(&app, &tamu_acc, &tamu).await;
    assert_eq!(s.ocsp_url, url);

    let checked = checks::check_now(&app.state, s, now).await.unwrap();
    assert_eq!(
        (checked.check_status.as_str(), checked.check_source.as_str()),
        ("revoked", "ocsp"),
        "{}",
        checked.check_detail
    );
    assert!(checked.check_detail.contains("KeyCompromise"), "{}", checked.check_detail);
    assert!(!is_signer(&app, &siti_acc).await, "revocation removes the signer role at once");
    let good = checks::check_now(&app.state, a, now).await.unwrap();
    assert_eq!((good.check_status.as_str(), good.check_source.as_str()), ("good", "ocsp"), "{}", good.check_detail);
    let until = good.check_valid_until.unwrap();
    assert!(until > now + 3000 && until <= now + 3700, "the response's nextUpdate (60 min): {until}");
    assert!(is_signer(&app, &agus_acc).await);
    let unknown = checks::check_now(&app.state, x, now).await.unwrap();
    assert_eq!(unknown.check_status, "unknown", "{}", unknown.check_detail);
    assert!(is_signer(&app, &tamu_acc).await, "unknown is not revoked");

    // An answer past its validity is brought up to date when it is used (the login path's
    // quick check). The responder's clock is the wall clock, so the answer is aged instead.
    gerbang::store::cert_checks::record(&app.state.db, &good.id, "good", "ocsp", "", now - 7200, Some(now - 3600))
        .await
        .unwrap();
    assert!(is_signer(&app, &agus_acc).await);
    let refreshed = row(&app, &good.id).await;
    assert_eq!(refreshed.check_status, "good");
    assert!(refreshed.checked_at.unwrap() >= now, "checked again: {refreshed:?}");
    assert!(refreshed.check_valid_until.unwrap() > now);
}

/// `f`'s answer, failing the test if it waited for the 30-second responder.
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f).await.expect("the check waited for the slow responder")
}

#[tokio::test]
async fn cr_a_slow_or_absent_responder_falls_back_to_the_cached_crl_within_the_timeout() {
    let pki = Pki::new();
    let slow = serve(axum::Router::new().route(
        "/",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "too late"
        }),
    ))
    .await;
    let down = format!("http://127.0.0.1:{}", closed_port());
    let crl = CrlServer::start().await;
    let app = app_with(&pki, &[]).await;
    let now = app.state.now();
    let rina = pki.ca.person(PersonOpts::new("Rina").ocsp(&format!("{slow}/")).crl(&crl.url));
    let budi = pki.ca.person(PersonOpts::new("Budi").ocsp(&down).crl(&crl.url));
    let joko = pki.ca.person(PersonOpts::new("Joko").ocsp(&format!("{slow}/")));
    crl.set(pki.ca.crl(&[&budi], now - 60, now + DAY));
    let (_, rina_acc) = staff(&app, "Rina", None, None).await;
    let (_, budi_acc) = staff(&app, "Budi", None, None).await;
    let (_, joko_acc) = staff(&app, "Joko", None, None).await;
    bind(&app, &rina_acc, &rina).await;
    let b = bind(&app, &budi_acc, &budi).await;
    let j = bind(&app, &joko_acc, &joko).await;
    // The background job has the CRL in the cache.
    let ca = vec![pki.ca.cert_der.clone()];
    gerbang::ops::certificates::crls::fetch(&app.state, &crl.url, &ca, now).await.unwrap();

    // The responder answers after 30 s; the 500 ms timeout lets the check go on long before
    // (the 10 s bound only tells "did not wait for the responder" apart, it measures nothing).
    assert!(within(is_signer(&app, &rina_acc)).await, "a slow responder does not hold the login");
    assert!(!within(is_signer(&app, &budi_acc)).await, "the cached CRL lists Budi");
    let r = row(&app, &b.id).await;
    assert_eq!((r.check_status.as_str(), r.check_source.as_str()), ("revoked", "crl"));

    // No CRL to fall back on: the last answer stands (here: good until an hour ago).
    gerbang::store::cert_checks::record(&app.state.db, &j.id, "good", "ocsp", "", now - 7200, Some(now - 3600))
        .await
        .unwrap();
    assert!(within(is_signer(&app, &joko_acc)).await);
    let r = row(&app, &j.id).await;
    assert_eq!((r.check_status.as_str(), r.checked_at), ("good", Some(now - 7200)), "unchanged");
}

#[tokio::test]
async fn cr_a_delegated_responder_counts_and_a_stranger_signing_responses_does_not() {
    use rcgen::ExtendedKeyUsagePurpose::OcspSigning;
    let pki = Pki::new();
    let (good_port, bad_port) = (closed_port(), closed_port());
    let delegate = pki.ca.person(PersonOpts::new("OCSP Responder Uji").eku(vec![OcspSigning]).ecdsa());
    let stranger = Ca::root("CA Uji DS G1");
    let outsider = stranger.person(PersonOpts::new("OCSP Palsu").eku(vec![OcspSigning]).ecdsa());
    let siti = pki.ca.person(PersonOpts::new("Siti").ocsp(&format!("http://127.0.0.1:{good_port}")));
    let agus = pki.ca.person(PersonOpts::new("Agus").ocsp(&format!("http://127.0.0.1:{bad_port}")));
    let entries = [(&siti, "Siti", true), (&agus, "Agus", true)];
    let _a = responder_signed_by(&pki.ca, (&delegate.cert_pem, &delegate.key_pem), &entries, good_port).await;
    let _b = responder_signed_by(&pki.ca, (&outsider.cert_pem, &outsider.key_pem), &entries, bad_port).await;
    let app = app_with(&pki, &[]).await;
    let now = app.state.now();
    let (_, siti_acc) = staff(&app, "Siti", None, None).await;
    let (_, agus_acc) = staff(&app, "Agus", None, None).await;
    let s = bind(&app, &siti_acc, &siti).await;
    let a = bind(&app, &agus_acc, &agus).await;
    let r = checks::check_now(&app.state, s, now).await.unwrap();
    assert_eq!((r.check_status.as_str(), r.check_source.as_str()), ("revoked", "ocsp"), "{}", r.check_detail);
    let r = checks::check_now(&app.state, a, now).await.unwrap();
    assert_eq!(r.check_status, "failed", "a forged 'revoked' is no answer either way");
    assert!(r.check_detail.contains("not signed by the issuer"), "{}", r.check_detail);
}
