//! The holder's side: the page, the proofs it accepts, and the refusals.

use gerbang::store::certs as cert_store;

use super::*;
use crate::pki::PersonOpts;

#[tokio::test]
async fn certs_bind_the_account_page_shows_the_challenge_and_the_commands() {
    let s = setup().await;
    let a = unit(&s.app).await;
    let (nip, siti) = staff(&s.app, "Siti Rahmawati", Some(&a), None).await;
    let b = signed_in(&s.app, &nip).await;
    let account = b.get(s.app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("href=\"/account/certificates\""), "the account page links to the certificates");
    let c = challenge(&b, &s.app).await;
    assert!(
        c.text.starts_with(&format!("Gerbang: bukti kepemilikan sertifikat untuk {siti} - {}", c.nonce)),
        "{}",
        c.text
    );
    for command in [
        "openssl cms -sign -binary -in tantangan.txt -signer sertifikat.pem -inkey kunci.pem -outform PEM -out tanda-tangan.pem",
        "openssl dgst -sha256 -sign kunci.pem -out tanda-tangan.bin tantangan.txt &amp;&amp; base64 tanda-tangan.bin",
        "tantangan.txt",
    ] {
        assert!(c.html.contains(command), "{command}");
    }
    assert!(c.html.contains("Belum ada sertifikat"), "no binding yet");
    // Each visit issues a new challenge.
    assert_ne!(challenge(&b, &s.app).await.nonce, c.nonce);

    // Without trusted authorities binding is not offered at all.
    let plain = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (nip, _) = staff(&plain, "Siti Rahmawati", None, None).await;
    let b = signed_in(&plain, &nip).await;
    let account = b.get(plain.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(!account.contains("/account/certificates"));
    assert_eq!(b.get(plain.url("/account/certificates")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn certs_bind_cms_and_raw_rsa_pss_and_ecdsa_signatures_prove_possession() {
    let s = setup().await;
    let a = unit(&s.app).await;
    let (nip, siti) = staff(&s.app, "Siti Rahmawati", Some(&a), None).await;
    let b = signed_in(&s.app, &nip).await;
    let cases = [
        (s.ca.person(PersonOpts::new("Dr. SITI RAHMAWATI, S.Kom., M.Si.")), Sig::Cms, "cms"),
        (s.ca.person(PersonOpts::new("Siti Rahmawati")), Sig::Pkcs1, "signature"),
        (s.ca.person(PersonOpts::new("Siti  Rahmawati")), Sig::Pss, "signature"),
        (s.ca.person(PersonOpts::new("Siti Rahmawati").ecdsa()), Sig::Pkcs1, "signature"),
        (s.ca.person(PersonOpts::new("Siti Rahmawati").ecdsa()), Sig::Cms, "cms"),
    ];
    for (i, (person, how, kind)) in cases.iter().enumerate() {
        let c = challenge(&b, &s.app).await;
        let res = submit(&b, &s.app, &c, &person.cert_pem, "", &sign(person, &c.text, *how)).await;
        assert_eq!(res.status(), 303, "case {i}: {}", res.text().await.unwrap());
        assert_eq!(location(&res), "/account/certificates?done=bound");
        let rows = cert_store::of_account(&s.app.state.db, &siti).await.unwrap();
        let row = rows.iter().find(|r| r.pem.contains(person.cert_pem.lines().nth(1).unwrap())).expect("bound");
        assert_eq!(
            (row.pending.as_str(), row.possession.as_str(), row.name_match.as_str(), row.bound_by.as_str()),
            ("", *kind, "name", siti.as_str()),
            "case {i}"
        );
        assert!(row.is_signer(gerbang::state::now()), "case {i}");
    }
    let html = b.get(s.app.url("/account/certificates?done=bound")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"cb-done\"") && html.contains("data-signer=\"1\""));
    let kinds: Vec<String> = cert_events(&s.app, &siti).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, vec!["certificate.bound"; 5]);
}

#[tokio::test]
async fn certs_bind_a_wrong_key_a_replayed_or_foreign_challenge_are_refused_with_the_reason() {
    let s = setup().await;
    let a = unit(&s.app).await;
    let (nip, siti) = staff(&s.app, "Siti Rahmawati", Some(&a), None).await;
    let (budi_nip, _) = staff(&s.app, "Budi Santoso", Some(&a), None).await;
    let b = signed_in(&s.app, &nip).await;
    let mine = s.ca.person(PersonOpts::new("Siti Rahmawati"));
    let other = s.ca.person(PersonOpts::new("Siti Rahmawati"));

    // Signed with another certificate's key.
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, &mine.cert_pem, "", &sign(&other, &c.text, Sig::Pkcs1)).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"cb-error\"") && html.contains("tidak cocok dengan kunci sertifikat"), "{html}");
    assert!(html.contains("BEGIN CERTIFICATE"), "the certificate is kept for another try");
    // A CMS signature naming the other certificate.
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, &mine.cert_pem, "", &sign(&other, &c.text, Sig::Cms)).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("dibuat dengan sertifikat lain"));
    // Garbage.
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, &mine.cert_pem, "", "bukan tanda tangan").await;
    assert_eq!(res.status(), 422);

    // A good proof over a challenge already used (the refused attempt used it).
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, &mine.cert_pem, "", "rusak").await;
    assert_eq!(res.status(), 422);
    let res = submit(&b, &s.app, &c, &mine.cert_pem, "", &sign(&mine, &c.text, Sig::Cms)).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Tantangan sudah dipakai atau kedaluwarsa"));
    // A challenge issued to Budi does not serve Siti.
    let budi = signed_in(&s.app, &budi_nip).await;
    let theirs = challenge(&budi, &s.app).await;
    let c = challenge(&b, &s.app).await;
    let foreign =
        Challenge { nonce: theirs.nonce.clone(), csrf: c.csrf.clone(), text: theirs.text.clone(), html: String::new() };
    let res = submit(&b, &s.app, &foreign, &mine.cert_pem, "", &sign(&mine, &theirs.text, Sig::Cms)).await;
    assert_eq!(res.status(), 422);
    // Expired: ten minutes later the challenge is gone.
    let c = challenge(&b, &s.app).await;
    s.app.advance(601);
    let res = submit(&b, &s.app, &c, &mine.cert_pem, "", &sign(&mine, &c.text, Sig::Cms)).await;
    assert_eq!(res.status(), 422);
    assert!(cert_store::of_account(&s.app.state.db, &siti).await.unwrap().is_empty());
    let refused = cert_events(&s.app, &siti).await;
    assert!(refused.len() >= 6 && refused.iter().all(|(k, _)| k == "certificate.refused"), "{refused:?}");
    assert!(refused[0].1["reason"].as_str().unwrap().contains("does not verify"), "{:?}", refused[0]);
}

#[tokio::test]
async fn certs_bind_ten_concurrent_submissions_of_one_proof_bind_once() {
    let s = setup().await;
    let a = unit(&s.app).await;
    let (nip, siti) = staff(&s.app, "Siti Rahmawati", Some(&a), None).await;
    let b = signed_in(&s.app, &nip).await;
    let mine = s.ca.person(PersonOpts::new("Siti Rahmawati"));
    let c = challenge(&b, &s.app).await;
    let sig = sign(&mine, &c.text, Sig::Cms);
    let form = [
        ("csrf", c.csrf.as_str()),
        ("nonce", c.nonce.as_str()),
        ("certificate", mine.cert_pem.as_str()),
        ("signature", sig.as_str()),
    ];
    let statuses = post_concurrently(&b, &s.app.url("/account/certificates"), &form, 10).await;
    assert_eq!(statuses, [vec![303], vec![422; 9]].concat());
    assert_eq!(cert_store::of_account(&s.app.state.db, &siti).await.unwrap().len(), 1);
}

#[tokio::test]
async fn certs_bind_a_name_mismatch_waits_for_an_administrators_approval() {
    let s = setup().await;
    let a = unit(&s.app).await;
    let (nip, siti) = staff(&s.app, "Siti Rahmawati", Some(&a), None).await;
    let (admin_nip, _) = staff(&s.app, "Lina Marlina", Some(&a), Some("opd-admin")).await;
    let b = signed_in(&s.app, &nip).await;
    let someone = s.ca.person(PersonOpts::new("Sri Wahyuni").email("sri@jemberkab.go.id"));
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, &someone.cert_pem, "", &sign(&someone, &c.text, Sig::Cms)).await;
    assert_eq!(location(&res), "/account/certificates?done=approval");
    let html = b.get(s.app.url("/account/certificates?done=approval")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("nama pada sertifikat tidak sama") && html.contains("data-pending=\"approval\""));
    let row = cert_store::of_account(&s.app.state.db, &siti).await.unwrap().remove(0);
    assert_eq!((row.pending.as_str(), row.possession.as_str(), row.name_match.as_str()), ("approval", "cms", "none"));
    assert!(!row.is_signer(gerbang::state::now()));

    // The e-mail matches once it is the account's verified address.
    gerbang::store::accounts::set_email(
        &s.app.state.db,
        &siti,
        Some("SRI@jemberkab.go.id"),
        true,
        gerbang::state::now(),
    )
    .await
    .unwrap();
    let by_mail = s.ca.person(PersonOpts::new("Sri Wahyuni").email("sri@jemberkab.go.id"));
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, &by_mail.cert_pem, "", &sign(&by_mail, &c.text, Sig::Pkcs1)).await;
    assert_eq!(location(&res), "/account/certificates?done=bound");

    // An administrator who is not the holder approves the mismatch.
    let token = console_token(&s.app, &admin_nip).await;
    let (status, v) =
        call(&s.app, &token, "POST", &format!("/admin/api/v1/certificates/{}/approval", row.id), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["pending"].as_str(), v["possession"].as_str()), (Some(""), Some("cms")));
    let row = cert_store::get(&s.app.state.db, &row.id).await.unwrap().unwrap();
    assert!(row.is_signer(gerbang::state::now()) && !row.approved_by.is_empty());
    let (status, _) =
        call(&s.app, &token, "POST", &format!("/admin/api/v1/certificates/{}/approval", row.id), None).await;
    assert_eq!(status, 409, "nothing left to approve");
}
