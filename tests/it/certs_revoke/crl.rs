//! CRLs: from the certificate's distribution point (cached until nextUpdate, re-fetched by the
//! background round), uploaded by Diskominfo, and never un-revoking on a failed check.

use serde_json::{json, Value};

use super::*;
use crate::pki::PersonOpts;
use gerbang::ops::certificates::crls;
use gerbang::store::cert_checks;

#[tokio::test]
async fn cr_a_crl_from_the_distribution_point_revokes_and_is_cached_until_next_update() {
    let pki = Pki::new();
    let server = CrlServer::start().await;
    let app = app_with(&pki, &[]).await;
    let now = app.state.now();
    let siti = pki.ca.person(PersonOpts::new("Siti Rahmawati").crl(&server.url));
    let agus = pki.ca.person(PersonOpts::new("Agus Salim").crl(&server.url));
    server.set(pki.ca.crl(&[&siti], now - 3600, now + DAY));
    let (_, siti_acc) = staff(&app, "Siti Rahmawati", None, None).await;
    let (_, agus_acc) = staff(&app, "Agus Salim", None, None).await;
    let s = bind(&app, &siti_acc, &siti).await;
    let a = bind(&app, &agus_acc, &agus).await;
    assert_eq!(s.crl_urls, server.url);
    assert!(s.issuer_pem.contains("BEGIN CERTIFICATE"), "the issuing CA is found in the bundle");
    assert!(s.ocsp_url.is_empty());

    let checked = checks::check_now(&app.state, s.clone(), now).await.unwrap();
    assert_eq!((checked.check_status.as_str(), checked.check_source.as_str()), ("revoked", "crl"));
    assert!(checked.check_detail.contains("KeyCompromise"), "{}", checked.check_detail);
    assert_eq!(row(&app, &s.id).await.check_status, "revoked");
    assert!(!is_signer(&app, &siti_acc).await, "a revoked certificate makes nobody a signer");
    let checked = checks::check_now(&app.state, a.clone(), now).await.unwrap();
    assert_eq!((checked.check_status.as_str(), checked.check_source.as_str()), ("good", "crl"));
    assert_eq!(checked.check_valid_until, Some(now + DAY), "good until the CRL's nextUpdate");
    assert!(is_signer(&app, &agus_acc).await);
    assert_eq!(server.hits(), 1, "the second check read the cached CRL");
    // At binding: a revoked certificate is refused with the reason, a good one passes.
    let checked = gerbang::ops::certificates::check_certificate(&app.state, &siti.cert_pem, now).unwrap();
    let err = checks::at_binding(&app.state, &checked, None, now).await.unwrap_err();
    assert!(err.contains("revoked") && err.contains("KeyCompromise"), "{err}");
    let checked = gerbang::ops::certificates::check_certificate(&app.state, &agus.cert_pem, now).unwrap();
    let ok = checks::at_binding(&app.state, &checked, None, now).await.unwrap();
    assert_eq!((ok.status.as_str(), ok.source.as_str()), ("good", "crl"), "{ok:?}");
    let cached = cert_checks::crl(&app.state.db, &server.url).await.unwrap().unwrap();
    assert_eq!(cached.next_update, Some(now + DAY));

    // The admin API shows the answer.
    let (sup_nip, _) = staff(&app, "Rina Wulandari", None, Some("diskominfo-admin")).await;
    let sup = console_token(&app, &sup_nip).await;
    let res = http_client()
        .get(app.url(&format!("/admin/api/v1/accounts/{siti_acc}/certificates")))
        .bearer_auth(&sup)
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v[0]["check_status"], "revoked", "{v}");
    assert_eq!(v[0]["check_source"], "crl");
    assert_eq!(v[0]["checked_at"], json!(now));

    // Past nextUpdate the background round fetches the CRL again and re-checks what is due.
    app.advance(2 * DAY);
    let later = app.state.now();
    server.set(pki.ca.crl(&[&siti], later - 60, later + DAY));
    let round = checks::round(&app.state, later).await;
    assert_eq!(server.hits(), 2, "{round:?}");
    assert_eq!(round.crls_renewed, 1);
    assert!(round.rechecked >= 1, "{round:?}");
    assert_eq!(cert_checks::crl(&app.state.db, &server.url).await.unwrap().unwrap().next_update, Some(later + DAY));
    assert_eq!(row(&app, &a.id).await.check_status, "good");
    assert_eq!(row(&app, &a.id).await.checked_at, Some(later));
    // Another replica's round finds nothing left to claim.
    assert_eq!(checks::round(&app.state, later).await.rechecked, 0);

    // The distribution point breaks: the failure is recorded, the cached CRL stays, and the
    // revoked certificate stays revoked.
    app.advance(2 * DAY);
    let t = app.state.now();
    server.set(Vec::new());
    let again = checks::check_now(&app.state, row(&app, &s.id).await, t).await.unwrap();
    assert_eq!(again.check_status, "revoked");
    let cached = cert_checks::crl(&app.state.db, &server.url).await.unwrap().unwrap();
    assert!(cached.last_error.contains("HTTP 500"), "{}", cached.last_error);
    assert_eq!(cached.next_update, Some(later + DAY), "the old CRL is kept");
    let failed = checks::check_now(&app.state, row(&app, &a.id).await, t).await.unwrap();
    assert_eq!(failed.check_status, "failed");
    assert!(failed.check_detail.contains("HTTP 500"), "{}", failed.check_detail);
    assert!(is_signer(&app, &agus_acc).await, "a failed check does not take the role away");
}

#[tokio::test]
async fn cr_an_uploaded_crl_signed_by_a_configured_ca_revokes() {
    let pki = Pki::new();
    let app = app_with(&pki, &[]).await;
    let now = app.state.now();
    let unit = opd_unit(&app, &format!("U{}", unique_nip()), None).await;
    let (sup_nip, _) = staff(&app, "Rina Wulandari", Some(&unit), Some("diskominfo-admin")).await;
    let (opd_nip, _) = staff(&app, "Bayu Saputra", Some(&unit), Some("opd-admin")).await;
    let (_, holder) = staff(&app, "Dewi Lestari", Some(&unit), None).await;
    let (sup, opd) = (console_token(&app, &sup_nip).await, console_token(&app, &opd_nip).await);
    let dewi = pki.ca.person(PersonOpts::new("Dewi Lestari"));
    let b = bind(&app, &holder, &dewi).await;
    assert!(b.crl_urls.is_empty() && b.ocsp_url.is_empty());
    let first = checks::check_now(&app.state, b.clone(), now).await.unwrap();
    assert_eq!(first.check_status, "unchecked", "nothing to ask yet is no failure");
    assert!(first.check_detail.contains("no OCSP responder or CRL"), "{}", first.check_detail);
    assert!(is_signer(&app, &holder).await);

    let post = |token: String, body: Value| {
        let url = app.url("/admin/api/v1/certificate-crls");
        async move {
            let res = http_client().post(url).bearer_auth(token).json(&body).send().await.unwrap();
            let s = res.status().as_u16();
            (s, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let pem = |der: &[u8]| gerbang::certs::signed::to_pem(der, "X509 CRL");
    let crl = pki.ca.crl(&[&dewi], now - 60, now + 7 * DAY);
    assert_eq!(post(opd.clone(), json!({ "crl": pem(&crl) })).await.0, 403, "Diskominfo only");
    let impostor = crate::pki::Ca::root("CA Uji DS G1");
    let (s, v) = post(sup.clone(), json!({ "crl": pem(&impostor.crl(&[], now - 60, now + DAY)) })).await;
    assert_eq!(s, 422, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("not signed by a configured"), "{v}");
    assert_eq!(post(sup.clone(), json!({ "crl": "bukan CRL" })).await.0, 422);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &crl);
    let (s, v) = post(sup.clone(), json!({ "crl": b64 })).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!((v["revoked_count"].as_u64(), v["next_update"].as_i64()), (Some(1), Some(now + 7 * DAY)));
    assert!(v["issuer"].as_str().unwrap().contains("CA Uji DS G1"));

    // An administrator has it checked now.
    let check = app.url(&format!("/admin/api/v1/certificates/{}/check", b.id));
    let (plain_nip, _) = staff(&app, "Budi Santoso", Some(&unit), None).await;
    let plain = console_token(&app, &plain_nip).await;
    let res = http_client().post(&check).bearer_auth(&plain).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let res = http_client().post(&check).bearer_auth(&opd).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!((v["check_status"].as_str(), v["check_source"].as_str()), (Some("revoked"), Some("crl")), "{v}");
    assert!(!is_signer(&app, &holder).await);
    // The console shows the state on the monitoring list and on the holder's page.
    let br = browser();
    let res = br.get(app.url("/console/login?next=/console")).send().await.unwrap();
    let cb = login(&app, &br, &location(&res), &sup_nip, PASSWORD).await;
    assert_eq!(br.get(&cb).send().await.unwrap().status(), 303);
    for path in ["/console/certificates?all=1".to_string(), format!("/console/accounts/{holder}")] {
        let page = br.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Status pencabutan: dicabut, diperiksa"), "{path}: {page}");
        assert!(page.contains("(CRL)") && page.contains("KeyCompromise"), "{path}");
    }
    let audit = gerbang::audit::list(&app.state.db, 50, None).await.unwrap();
    assert!(format!("{audit:?}").contains("certificate.crl_uploaded"));
    assert!(format!("{audit:?}").contains("certificate.checked"));

    // The configured certificate_crls files load the same way.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ca.crl");
    std::fs::write(&file, pki.root.crl(&[], now, now + DAY)).unwrap();
    let f = file.display().to_string();
    let with_files = app_with(&pki, &[("GERBANG_CERTIFICATE_CRLS", f.as_str())]).await;
    assert_eq!(crls::load_files(&with_files.state, now).await, 1);
}
