//! Issue 13 end to end without shortcuts: a holder binds their certificate with a CMS proof of
//! possession on `/account/certificates`, the binding is checked against the CA's CRL, a
//! level-4 application admits them at `urn:gerbang:loa:4` with the `signer` role and the `cert`
//! claim, and when the CA's CRL later lists the certificate, the next background check takes
//! the role and level 4 away (refresh refused, next login refused).

use gerbang::store::certs as cert_store;

use crate::certs_bind::{challenge, sign, signed_in, submit, Sig};
use crate::certs_revoke::{app_with, CrlServer, Pki};
use crate::common::*;
use crate::level4::support::{application, browser_at, refresh, roles, tokens};
use crate::pki::{PersonOpts, DAY};

#[tokio::test]
async fn a_holder_binds_with_proof_signs_in_at_level_4_and_loses_it_when_the_crl_revokes() {
    let pki = Pki::new();
    let crl = CrlServer::start().await;
    let now = gerbang::state::now();
    crl.set(pki.ca.crl(&[], now - 60, now + DAY));
    let app = app_with(&pki, &[]).await;
    let unit = opd_unit(&app, &format!("U{}", unique_nip()), None).await;
    let (nip, siti) = staff(&app, "Siti Rahmawati", Some(&unit), None).await;
    let person = pki.ca.person(PersonOpts::new("Siti Rahmawati, S.Kom.").crl(&crl.url));

    // The holder proves possession of the key by signing the page's challenge with openssl cms.
    let b = signed_in(&app, &nip).await;
    let c = challenge(&b, &app).await;
    let res = submit(&b, &app, &c, &person.cert_pem, "", &sign(&person, &c.text, Sig::Cms)).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let rows = cert_store::of_account(&app.state.db, &siti).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.pending.as_str(), row.possession.as_str(), row.check_status.as_str(), row.check_source.as_str()),
        ("", "cms", "good", "crl"),
        "bound in force, and the CA's CRL was asked: {row:?}"
    );
    assert_eq!(row.crl_urls, crl.url);

    // A level-4 application: the holder's level-3 session is answered at level 4.
    let client = application(&app, 4, None).await;
    let t = tokens(&app, &client, &browser_at(&app, &siti, 3).await, "").await;
    assert_eq!(t.id["acr"], "urn:gerbang:loa:4");
    assert!(roles(&t.id).contains(&"signer".to_string()), "{}", t.id);
    assert_eq!(t.id["cert"]["serial"], row.serial.as_str());
    assert_eq!(t.id["cert"]["status"], "valid");

    // The CA revokes the certificate; the next daily round reads the new CRL.
    let later = now + DAY + 120;
    crl.set(pki.ca.crl(&[&person], later - 60, later + DAY));
    app.advance(DAY + 120);
    gerbang::ops::certificates::checks::round(&app.state, app.state.now()).await;
    let row = cert_store::get(&app.state.db, &row.id).await.unwrap().unwrap();
    assert_eq!((row.check_status.as_str(), row.check_source.as_str()), ("revoked", "crl"), "{row:?}");
    let (status, v) = refresh(&app, &client, &t.refresh).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_grant")), "{v}");
    let rp = app.rp(&client).await;
    let res = browser_at(&app, &siti, 3).await.get(start_auth(&rp, &["signer"]).url).send().await.unwrap();
    assert_eq!(res.status(), 403, "no level 4 without a signer binding");
}
