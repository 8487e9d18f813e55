//! The administrators' side: no binding to oneself, bindings that wait for the holder's proof
//! or a second administrator, and the four-eyes approval.

use gerbang::store::certs as cert_store;
use serde_json::json;

use super::*;
use crate::pki::PersonOpts;

#[tokio::test]
async fn certs_bind_no_administrator_binds_a_certificate_to_their_own_account() {
    let s = setup().await;
    let a = unit(&s.app).await;
    let (opd_nip, opd_id) = staff(&s.app, "Lina Marlina", Some(&a), Some("opd-admin")).await;
    let (sup_nip, sup_id) = staff(&s.app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    for (nip, id, name) in [(&opd_nip, &opd_id, "Lina Marlina"), (&sup_nip, &sup_id, "Rina Wulandari")] {
        let own = s.ca.person(PersonOpts::new(name));
        let token = console_token(&s.app, nip).await;
        let (status, v) = call(
            &s.app,
            &token,
            "POST",
            &format!("/admin/api/v1/accounts/{id}/certificates"),
            Some(json!({ "certificate": own.cert_pem })),
        )
        .await;
        assert_eq!(status, 403, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("own account"), "{v}");
    }
    // Nor through the console: refused before the confirmation shows anything.
    let own = s.ca.person(PersonOpts::new("Lina Marlina"));
    let b = browser();
    let res = b.get(s.app.url("/console/login?next=/console")).send().await.unwrap();
    let cb = login(&s.app, &b, &location(&res), &opd_nip, PASSWORD).await;
    assert_eq!(b.get(&cb).send().await.unwrap().status(), 303);
    let page = b.get(s.app.url(&format!("/console/accounts/{opd_id}"))).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    for confirmed in ["0", "1"] {
        let res = b
            .post(s.app.url(&format!("/console/accounts/{opd_id}/certificates")))
            .form(&[("csrf", csrf.as_str()), ("certificate", own.cert_pem.as_str()), ("confirmed", confirmed)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
    assert!(cert_store::of_account(&s.app.state.db, &opd_id).await.unwrap().is_empty());
    assert!(cert_store::of_account(&s.app.state.db, &sup_id).await.unwrap().is_empty());
    let refused = cert_events(&s.app, &opd_id).await;
    assert!(!refused.is_empty() && refused.iter().all(|(k, _)| k == "certificate.refused"), "{refused:?}");
}

#[tokio::test]
async fn certs_bind_an_administrators_binding_waits_for_the_holders_proof() {
    let s = setup().await;
    let a = unit(&s.app).await;
    let (sup_nip, _) = staff(&s.app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (nip, siti) = staff(&s.app, "Siti Rahmawati", Some(&a), None).await;
    let sup = console_token(&s.app, &sup_nip).await;
    let cert = s.ca.person(PersonOpts::new("Siti Rahmawati"));
    let (status, v) = call(
        &s.app,
        &sup,
        "POST",
        &format!("/admin/api/v1/accounts/{siti}/certificates"),
        Some(json!({ "certificate": cert.cert_pem })),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!((v["pending"].as_str(), v["possession"].as_str()), (Some("proof"), Some("none")));
    let id = v["id"].as_str().unwrap().to_string();
    assert!(!cert_store::get(&s.app.state.db, &id).await.unwrap().unwrap().is_signer(gerbang::state::now()));

    // The holder sees it waiting and proves possession over a fresh challenge.
    let b = signed_in(&s.app, &nip).await;
    let c = challenge(&b, &s.app).await;
    assert!(c.html.contains(&format!("id=\"cb-waiting-{id}\"")) && c.html.contains("data-pending=\"proof\""));
    let wrong = s.ca.person(PersonOpts::new("Siti Rahmawati"));
    let res = submit(&b, &s.app, &c, "", &id, &sign(&wrong, &c.text, Sig::Pkcs1)).await;
    assert_eq!(res.status(), 422, "another key does not complete it");
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, "", &id, &sign(&cert, &c.text, Sig::Cms)).await;
    assert_eq!(location(&res), "/account/certificates?done=bound");
    let row = cert_store::get(&s.app.state.db, &id).await.unwrap().unwrap();
    assert_eq!((row.pending.as_str(), row.possession.as_str()), ("", "cms"));
    assert!(row.is_signer(gerbang::state::now()));
    // Pasting the certificate itself (without its id) completes a pending one too; here it is
    // done already, so it is refused as bound.
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, &cert.cert_pem, "", &sign(&cert, &c.text, Sig::Cms)).await;
    assert_eq!(res.status(), 422);
    // A second one the administrator bound, completed by pasting the certificate again.
    let second = s.ca.person(PersonOpts::new("Siti Rahmawati").ecdsa());
    let path = format!("/admin/api/v1/accounts/{siti}/certificates");
    let (status, v) = call(&s.app, &sup, "POST", &path, Some(json!({ "certificate": second.cert_pem }))).await;
    assert_eq!(status, 201, "{v}");
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, &second.cert_pem, "", &sign(&second, &c.text, Sig::Pkcs1)).await;
    assert_eq!(location(&res), "/account/certificates?done=bound");
    let row = cert_store::get(&s.app.state.db, v["id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!((row.pending.as_str(), row.possession.as_str()), ("", "signature"));
    assert_eq!(cert_store::of_account(&s.app.state.db, &siti).await.unwrap().len(), 2);
    let kinds: Vec<String> = cert_events(&s.app, &siti).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        [
            "certificate.bound",
            "certificate.refused",
            "certificate.possession_proven",
            "certificate.refused",
            "certificate.bound",
            "certificate.possession_proven"
        ]
    );
}

#[tokio::test]
async fn certs_bind_a_second_administrator_approves_once_and_never_the_one_who_bound_it() {
    let s = setup().await;
    let (a, other_unit) = (unit(&s.app).await, unit(&s.app).await);
    let (sup_nip, sup_id) = staff(&s.app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (opd_nip, _) = staff(&s.app, "Lina Marlina", Some(&a), Some("opd-admin")).await;
    let (far_nip, _) = staff(&s.app, "Dewi Lestari", Some(&other_unit), Some("opd-admin")).await;
    let (budi_nip, budi) = staff(&s.app, "Budi Santoso", Some(&a), None).await;
    let (sup, opd, far, holder) = (
        console_token(&s.app, &sup_nip).await,
        console_token(&s.app, &opd_nip).await,
        console_token(&s.app, &far_nip).await,
        console_token(&s.app, &budi_nip).await,
    );
    let cert = s.ca.person(PersonOpts::new("Budi Santoso"));
    let (status, v) = call(
        &s.app,
        &sup,
        "POST",
        &format!("/admin/api/v1/accounts/{budi}/certificates"),
        Some(json!({ "certificate": cert.cert_pem })),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let approval = format!("/admin/api/v1/certificates/{}/approval", v["id"].as_str().unwrap());
    let (status, v) = call(&s.app, &sup, "POST", &approval, None).await;
    assert_eq!(status, 403, "four eyes: {v}");
    assert!(v["detail"].as_str().unwrap().contains("four eyes"));
    assert_eq!(call(&s.app, &far, "POST", &approval, None).await.0, 403, "another OPD's admin");
    assert_eq!(call(&s.app, &holder, "POST", &approval, None).await.0, 403, "the holder");

    // Concurrent approvals by the second administrator: exactly one is taken.
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (url, token) = (s.app.url(&approval), opd.clone());
            tokio::spawn(
                async move { http_client().post(url).bearer_auth(token).send().await.unwrap().status().as_u16() },
            )
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [vec![200], vec![409; 5]].concat());
    let row = cert_store::of_account(&s.app.state.db, &budi).await.unwrap().remove(0);
    assert_eq!((row.pending.as_str(), row.possession.as_str()), ("", "approved"));
    assert_eq!(row.bound_by, sup_id);
    assert!(row.is_signer(gerbang::state::now()));
    let kinds: Vec<String> = cert_events(&s.app, &budi).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["certificate.bound", "certificate.approved"]);
}

#[tokio::test]
async fn certs_bind_the_console_approves_after_a_confirmation() {
    let s = setup().await;
    let a = unit(&s.app).await;
    let (sup_nip, _) = staff(&s.app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (opd_nip, _) = staff(&s.app, "Lina Marlina", Some(&a), Some("opd-admin")).await;
    let (_, budi) = staff(&s.app, "Budi Santoso", Some(&a), None).await;
    let sup = console_token(&s.app, &sup_nip).await;
    let cert = s.ca.person(PersonOpts::new("Budi Santoso"));
    let (_, v) = call(
        &s.app,
        &sup,
        "POST",
        &format!("/admin/api/v1/accounts/{budi}/certificates"),
        Some(json!({ "certificate": cert.cert_pem })),
    )
    .await;
    let id = v["id"].as_str().unwrap().to_string();
    let b = browser();
    let res = b.get(s.app.url("/console/login?next=/console")).send().await.unwrap();
    let cb = login(&s.app, &b, &location(&res), &opd_nip, PASSWORD).await;
    assert_eq!(b.get(&cb).send().await.unwrap().status(), 303);
    let page = b.get(s.app.url(&format!("/console/accounts/{budi}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains(&format!("id=\"pending-{id}\"")) && page.contains(&format!("/console/certificates/{id}/approve"))
    );
    let csrf = hidden(&page, "csrf");
    let back = format!("/console/accounts/{budi}");
    let path = format!("/console/certificates/{id}/approve");
    let res = b.post(s.app.url(&path)).form(&[("csrf", csrf.as_str()), ("back", back.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("persetujuan Anda menggantikan bukti"));
    assert_eq!(cert_store::get(&s.app.state.db, &id).await.unwrap().unwrap().pending, "proof");
    // A `back` no header can carry (it once made the redirect panic: a 500) returns to the
    // console's front page instead.
    let forged = format!("{back}\r\nX-Injected: 1");
    let res = b
        .post(s.app.url(&path))
        .form(&[("csrf", csrf.as_str()), ("back", forged.as_str()), ("confirmed", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console?done=certificate_approved");
    assert!(res.headers().get("x-injected").is_none());
    assert_eq!(cert_store::get(&s.app.state.db, &id).await.unwrap().unwrap().possession, "approved");
}

#[tokio::test]
async fn certs_bind_an_administrators_binding_with_another_name_needs_another_administrator_after_the_proof() {
    let s = setup().await;
    let a = unit(&s.app).await;
    let (sup_nip, _) = staff(&s.app, "Rina Wulandari", Some(&a), Some("diskominfo-admin")).await;
    let (opd_nip, opd_id) = staff(&s.app, "Lina Marlina", Some(&a), Some("opd-admin")).await;
    let (nip, siti) = staff(&s.app, "Siti Rahmawati", Some(&a), None).await;
    let (sup, opd) = (console_token(&s.app, &sup_nip).await, console_token(&s.app, &opd_nip).await);
    let cert = s.ca.person(PersonOpts::new("Siti Aminah"));
    let path = format!("/admin/api/v1/accounts/{siti}/certificates");
    let (status, v) = call(&s.app, &opd, "POST", &path, Some(json!({ "certificate": cert.cert_pem }))).await;
    assert_eq!((status, v["name_match"].as_str()), (201, Some("none")), "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let b = signed_in(&s.app, &nip).await;
    let c = challenge(&b, &s.app).await;
    let res = submit(&b, &s.app, &c, "", &id, &sign(&cert, &c.text, Sig::Pss)).await;
    assert_eq!(location(&res), "/account/certificates?done=approval");
    let row = cert_store::get(&s.app.state.db, &id).await.unwrap().unwrap();
    assert_eq!(
        (row.pending.as_str(), row.possession.as_str(), row.bound_by.as_str()),
        ("approval", "signature", opd_id.as_str())
    );
    let approval = format!("/admin/api/v1/certificates/{id}/approval");
    assert_eq!(call(&s.app, &opd, "POST", &approval, None).await.0, 403, "not the one who bound it");
    let (status, v) = call(&s.app, &sup, "POST", &approval, None).await;
    assert_eq!((status, v["pending"].as_str(), v["possession"].as_str()), (200, Some(""), Some("signature")), "{v}");
}
