//! The endpoints added with the shared admin operations, against every administrative role.

use super::*;

/// The endpoints added with the shared admin operations, against every role: Diskominfo, an OPD
/// admin inside and outside its subtree (and the admin of the other OPD), an auditor, an OPD
/// developer and a person without any administrative role. Refusals are checked to have changed
/// nothing.
#[tokio::test]
async fn newer_endpoints_against_every_role() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_REDIRECT_DOMAINS", "example.go.id,*.example.go.id"),
    ])
    .await;
    let db = &app.state.db;
    let a = unit(&app, "A", None).await;
    let a1 = unit(&app, "A.1", Some("A")).await;
    let b = unit(&app, "B", None).await;
    let (super_nip, super_id) = person(&app, None, Some("diskominfo-admin")).await;
    let (opd_nip, opd_id) = person(&app, Some(&a), Some("opd-admin")).await;
    let (opd_b_nip, _) = person(&app, Some(&b), Some("opd-admin")).await;
    let (aud_nip, _) = person(&app, None, Some("auditor")).await;
    let (dev_nip, _) = person(&app, Some(&a), Some("opd-developer")).await;
    let (plain_nip, _) = person(&app, Some(&a1), None).await;
    let (a1_nip, staff_a1) = person(&app, Some(&a1), None).await;
    let (b_nip, staff_b) = person(&app, Some(&b), None).await;
    let app_a = owned_client(&app, &a).await;
    let app_b = owned_client(&app, &b).await;
    for (client, name) in [(&app_a.id, "operator"), (&app_a.id, "viewer"), (&app_b.id, "operator")] {
        roles::create(db, Some(client), name, "", now()).await.unwrap();
    }
    let sup = console_token(&app, &super_nip).await;
    let opd = console_token(&app, &opd_nip).await;
    let opd_b = console_token(&app, &opd_b_nip).await;
    let aud = console_token(&app, &aud_nip).await;
    let dev = console_token(&app, &dev_nip).await;
    let plain = console_token(&app, &plain_nip).await;
    // No power over accounts or applications at all.
    let outsiders = [&aud, &dev, &plain];
    // Both staff members are signed in somewhere.
    let web = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;

    // ---- POST /accounts: Diskominfo anywhere, an OPD admin only into its own units.
    let create = "/admin/api/v1/accounts";
    for (t, into) in [(&aud, &a1), (&dev, &a1), (&plain, &a1), (&opd, &b), (&opd_b, &a1)] {
        let nip = unique_nip();
        let (s, v) =
            call(&app, Some(t), "POST", create, Some(json!({ "nip": nip, "name": "Pegawai Baru", "opd_id": into })))
                .await;
        assert_eq!(s, 403, "{v}");
        assert!(!exists(&app, &nip).await, "a refused creation leaves no account");
    }
    let nip = unique_nip();
    assert_eq!(
        call(&app, Some(&opd), "POST", create, Some(json!({ "nip": nip, "name": "Pegawai Baru" }))).await.0,
        403,
        "an OPD admin's accounts belong to a unit"
    );
    assert!(!exists(&app, &nip).await);
    let nip = unique_nip();
    let (s, v) =
        call(&app, Some(&opd), "POST", create, Some(json!({ "nip": nip, "name": "Pegawai Baru A.1", "opd_id": a1 })))
            .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["account"]["opd_id"].as_str(), v["account"]["account_type"].as_str()),
        (Some(a1.as_str()), Some("asn"))
    );
    assert_eq!(accounts::find(db, &nip).await.unwrap().unwrap().opd_id.as_deref(), Some(a1.as_str()));
    let (s, v) = call(
        &app,
        Some(&sup),
        "POST",
        create,
        Some(json!({ "nip": unique_nip(), "name": "Pegawai Baru B", "opd_id": b })),
    )
    .await;
    assert_eq!((s, v["account"]["opd_id"].as_str()), (201, Some(b.as_str())));
    let nik = unique_nik();
    let (s, v) = call(&app, Some(&sup), "POST", create, Some(json!({ "nik": nik, "name": "Warga Baru" }))).await;
    assert_eq!((s, v["account"]["account_type"].as_str()), (201, Some("citizen")), "{v}");
    assert!(v["account"]["opd_id"].is_null() && v["warnings"].is_array());
    assert_eq!(
        call(&app, Some(&sup), "POST", create, Some(json!({ "nip": b_nip, "name": "Kembar" }))).await.0,
        409,
        "NIP taken"
    );
    assert_eq!(
        call(&app, Some(&sup), "POST", create, Some(json!({ "nik": nik, "name": "Kembar" }))).await.0,
        409,
        "NIK taken"
    );
    for body in [
        json!({ "nip": "19850312", "name": "NIP pendek" }),
        json!({ "nip": "1985031220100110xx", "name": "NIP bukan angka" }),
        json!({ "nik": "3509014203", "name": "NIK pendek" }),
        json!({ "nip": unique_nip(), "name": "   " }),
        json!({ "nip": unique_nip(), "name": "Tanda\u{7}bel" }),
        json!({ "nip": unique_nip(), "name": "x".repeat(201) }),
        json!({ "name": "Tanpa nomor" }),
        json!({ "nip": unique_nip(), "name": "Unit tak dikenal", "opd_id": "no-such-unit" }),
        json!({ "nip": unique_nip() }),
    ] {
        let (s, v) = call(&app, Some(&sup), "POST", create, Some(body.clone())).await;
        assert_eq!(s, 422, "{body} -> {v}");
        if let Some(nip) = body["nip"].as_str() {
            assert!(!exists(&app, nip).await, "{body}");
        }
    }

    // ---- PATCH /accounts/{id}: power over the account, and over the new unit when moving.
    let acct = |id: &str| format!("/admin/api/v1/accounts/{id}");
    for t in [&aud, &dev, &plain, &opd_b] {
        assert_eq!(call(&app, Some(t), "PATCH", &acct(&staff_a1), Some(json!({ "name": "Diubah" }))).await.0, 403);
    }
    assert_eq!(
        call(&app, Some(&opd), "PATCH", &acct(&staff_b), Some(json!({ "name": "Diubah" }))).await.0,
        403,
        "staff of another OPD"
    );
    assert_eq!(stored(&app, &staff_a1).await, ("Pegawai Uji".to_string(), Some(a1.clone())));
    assert_eq!(stored(&app, &staff_b).await, ("Pegawai Uji".to_string(), Some(b.clone())));
    let (s, v) =
        call(&app, Some(&opd), "PATCH", &acct(&staff_a1), Some(json!({ "name": "Pegawai A.1", "opd_id": a }))).await;
    assert_eq!(
        (s, v["name"].as_str(), v["opd_id"].as_str()),
        (200, Some("Pegawai A.1"), Some(a.as_str())),
        "renamed and moved inside the subtree"
    );
    // Out of the subtree, or out of every unit: refused, and a refused edit changes nothing, not
    // even the name sent along with it.
    for body in [
        json!({ "opd_id": b }),
        json!({ "opd_id": "" }),
        json!({ "name": "Nama Sela", "opd_id": b }),
        json!({ "name": "Nama Sela", "opd_id": "" }),
    ] {
        assert_eq!(call(&app, Some(&opd), "PATCH", &acct(&staff_a1), Some(body.clone())).await.0, 403, "{body}");
    }
    assert_eq!(
        call(
            &app,
            Some(&opd),
            "PATCH",
            &acct(&staff_a1),
            Some(json!({ "name": "Nama Sela", "opd_id": "no-such-unit" }))
        )
        .await
        .0,
        422
    );
    assert_eq!(stored(&app, &staff_a1).await, ("Pegawai A.1".to_string(), Some(a.clone())));
    for body in [
        json!({ "name": "" }),
        json!({ "name": "x".repeat(201) }),
        json!({ "name": "Baris\nbaru" }),
        json!({ "opd_id": "no-such-unit" }),
        json!({ "name": 5 }),
    ] {
        assert_eq!(call(&app, Some(&sup), "PATCH", &acct(&staff_b), Some(body.clone())).await.0, 422, "{body}");
    }
    assert_eq!(stored(&app, &staff_b).await, ("Pegawai Uji".to_string(), Some(b.clone())));
    assert_eq!(call(&app, Some(&sup), "PATCH", &acct("no-such-id"), Some(json!({ "name": "X" }))).await.0, 404);
    for t in outsiders {
        assert_eq!(
            call(&app, Some(t), "PATCH", &acct("no-such-id"), Some(json!({ "name": "X" }))).await.0,
            403,
            "without account powers, not even whether an id exists"
        );
        assert_eq!(call(&app, Some(t), "GET", &acct("no-such-id"), None).await.0, 403);
    }
    let (s, v) = call(&app, Some(&sup), "PATCH", &acct(&staff_b), Some(json!({ "opd_id": "" }))).await;
    assert_eq!((s, v["opd_id"].is_null()), (200, true), "Diskominfo may take someone out of every unit");
    assert_eq!(
        call(&app, Some(&sup), "PATCH", &acct(&staff_b), Some(json!({ "name": "Pegawai B", "opd_id": b }))).await.0,
        200
    );
    assert_eq!(stored(&app, &staff_b).await, ("Pegawai B".to_string(), Some(b.clone())));
    // Signed in after the moves above, which revoke tokens (they carried the old unit).
    let s_a1 = sign_in(&app, &web, &a1_nip).await;
    let s_b = sign_in(&app, &web, &b_nip).await;

    // ---- PUT /accounts/{id}/status on oneself.
    let status = |id: &str| format!("/admin/api/v1/accounts/{id}/status");
    assert_eq!(
        call(&app, Some(&sup), "PUT", &status(&super_id), Some(json!({ "status": "suspended" }))).await.0,
        409,
        "not one's own status"
    );
    assert_eq!(call(&app, Some(&opd), "PUT", &status(&opd_id), Some(json!({ "status": "retired" }))).await.0, 403);
    assert_eq!(accounts::get(db, &super_id).await.unwrap().unwrap().status.as_str(), "active");
    assert_eq!(call(&app, Some(&sup), "GET", "/admin/api/v1/accounts", None).await.0, 200, "still an administrator");

    // ---- GET /accounts/{id}/sessions and DELETE /accounts/{id}/sessions/{sid}.
    let sessions = |id: &str| format!("/admin/api/v1/accounts/{id}/sessions");
    let end = |id: &str, sid: &str| format!("/admin/api/v1/accounts/{id}/sessions/{sid}");
    for t in [&sup, &opd] {
        let (s, v) = call(&app, Some(t), "GET", &sessions(&staff_a1), None).await;
        assert_eq!((s, sids(&v)), (200, vec![s_a1.sid.clone()]));
    }
    for t in [&aud, &dev, &plain, &opd_b] {
        assert_eq!(call(&app, Some(t), "GET", &sessions(&staff_a1), None).await.0, 403);
        assert_eq!(call(&app, Some(t), "DELETE", &end(&staff_a1, &s_a1.sid), None).await.0, 403);
    }
    assert_eq!(call(&app, Some(&opd), "GET", &sessions(&staff_b), None).await.0, 403);
    assert_eq!(call(&app, Some(&opd), "DELETE", &end(&staff_b, &s_b.sid), None).await.0, 403);
    assert_eq!(
        call(&app, Some(&opd), "DELETE", &end(&staff_a1, &s_b.sid), None).await.0,
        404,
        "another OPD's session is not reachable through one's own staff"
    );
    assert_eq!(call(&app, Some(&opd), "DELETE", &end(&staff_a1, "no-such-sid"), None).await.0, 404);
    assert_eq!(call(&app, Some(&sup), "GET", &sessions("no-such-id"), None).await.0, 404);
    assert_eq!(
        sids(&call(&app, Some(&sup), "GET", &sessions(&staff_b), None).await.1),
        vec![s_b.sid.clone()],
        "the refusals ended nothing"
    );
    assert_eq!((userinfo(&app, &s_a1.access).await, userinfo(&app, &s_b.access).await), (200, 200));
    assert_eq!(
        call(&app, Some(&opd), "DELETE", &end(&staff_a1, &s_a1.sid), None).await.0,
        204,
        "an OPD admin ends its own staff's session"
    );
    assert_eq!(userinfo(&app, &s_a1.access).await, 401);
    assert!(sids(&call(&app, Some(&opd), "GET", &sessions(&staff_a1), None).await.1).is_empty());
    assert_eq!(call(&app, Some(&opd), "DELETE", &end(&staff_a1, &s_a1.sid), None).await.0, 404, "already ended");

    // ---- POST /accounts/{id}/factor-reset: Diskominfo only, even for an OPD admin's own staff.
    let reset = |id: &str| format!("/admin/api/v1/accounts/{id}/factor-reset");
    for t in [&opd, &opd_b, &aud, &dev, &plain] {
        assert_eq!(call(&app, Some(t), "POST", &reset(&staff_b), None).await.0, 403);
    }
    assert_eq!(call(&app, Some(&opd), "POST", &reset(&staff_a1), None).await.0, 403);
    assert_eq!(userinfo(&app, &s_b.access).await, 200, "the refusals ended nothing");
    assert_eq!(call(&app, Some(&sup), "POST", &reset("no-such-id"), None).await.0, 404);
    let (s, v) = call(&app, Some(&sup), "POST", &reset(&staff_b), None).await;
    assert_eq!((s, v["sessions_ended"].as_u64()), (200, Some(1)));
    assert_eq!(userinfo(&app, &s_b.access).await, 401);

    // ---- GET /accounts/{id}/roles.
    let roles_of = |id: &str| format!("/admin/api/v1/accounts/{id}/roles");
    let (s, v) = call(&app, Some(&sup), "GET", &roles_of(&opd_id), None).await;
    assert_eq!(s, 200);
    assert_eq!(role_pairs(&v["direct"]), vec![pair("", "opd-admin")]);
    assert_eq!(role_pairs(&v["effective"]), vec![pair("", "opd-admin")]);
    assert_eq!(call(&app, Some(&sup), "GET", &roles_of(&staff_b), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &roles_of(&staff_a1), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &roles_of(&staff_b), None).await.0, 403);
    for t in [&aud, &dev, &plain, &opd_b] {
        assert_eq!(call(&app, Some(t), "GET", &roles_of(&staff_a1), None).await.0, 403);
    }
    assert_eq!(call(&app, Some(&sup), "GET", &roles_of("no-such-id"), None).await.0, 404);

    // ---- GET /roles: everything for Diskominfo, the own applications' roles for an OPD admin.
    let (s, v) = call(&app, Some(&sup), "GET", "/admin/api/v1/roles", None).await;
    assert_eq!(s, 200);
    let all = role_pairs(&v);
    for want in [
        pair("", "diskominfo-admin"),
        pair("", "auditor"),
        pair("", "opd-admin"),
        pair(&app_a.id, "operator"),
        pair(&app_b.id, "operator"),
    ] {
        assert!(all.contains(&want), "{want:?} in {all:?}");
    }
    let (s, v) = call(&app, Some(&opd), "GET", "/admin/api/v1/roles", None).await;
    assert_eq!((s, role_pairs(&v)), (200, vec![pair(&app_a.id, "operator"), pair(&app_a.id, "viewer")]));
    let (s, v) = call(&app, Some(&opd_b), "GET", "/admin/api/v1/roles", None).await;
    assert_eq!((s, role_pairs(&v)), (200, vec![pair(&app_b.id, "operator")]));
    for t in outsiders {
        assert_eq!(call(&app, Some(t), "GET", "/admin/api/v1/roles", None).await.0, 403);
    }

    // ---- POST /role-assignments/bulk: all or nothing.
    let own = bulk_item("operator", Some(&app_a.id), &staff_a1);
    let own2 = bulk_item("viewer", Some(&app_a.id), &staff_a1);
    for t in outsiders {
        assert_eq!(
            call(&app, Some(t), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own] }))).await.0,
            403
        );
    }
    for bad in [
        bulk_item("operator", Some(&app_b.id), &staff_a1),
        bulk_item("operator", Some(&app_a.id), &staff_b),
        bulk_item("auditor", None, &staff_a1),
        // Unknown to an OPD admin reads like out of reach: no existence oracle.
        bulk_item("operator", Some(&app_a.id), "no-such-id"),
    ] {
        let (s, v) =
            call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own, bad] }))).await;
        assert_eq!(s, 403, "{bad}");
        assert!(v["detail"].as_str().unwrap().starts_with("assignments[1]"), "{v}");
    }
    for bad in
        [bulk_item("no-such-role", Some(&app_a.id), &staff_a1), bulk_item("operator", Some("no-such-app"), &staff_a1)]
    {
        assert_eq!(
            call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own, bad] })))
                .await
                .0,
            422,
            "{bad}"
        );
    }
    let too_many: Vec<Value> = (0..=gerbang::ops::roles::MAX_BULK).map(|_| own.clone()).collect();
    for body in [
        json!({ "action": "toggle", "assignments": [own] }),
        json!({ "action": "assign", "assignments": [] }),
        json!({ "action": "assign", "assignments": too_many }),
        json!({ "action": "assign" }),
    ] {
        assert_eq!(call(&app, Some(&opd), "POST", BULK, Some(body)).await.0, 422);
    }
    assert!(direct_roles(&app, &sup, &staff_a1).await.is_empty(), "nothing was applied");
    assert!(direct_roles(&app, &sup, &staff_b).await.is_empty());
    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own, own2] }))).await;
    assert_eq!((s, v["changed"].as_u64(), v["unchanged"].as_u64()), (200, Some(2), Some(0)), "{v}");
    assert_eq!(direct_roles(&app, &opd, &staff_a1).await, vec![pair(&app_a.id, "operator"), pair(&app_a.id, "viewer")]);
    assert_eq!(
        call(&app, Some(&opd_b), "POST", BULK, Some(json!({ "action": "unassign", "assignments": [own] }))).await.0,
        403
    );
    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "unassign", "assignments": [own, own2] }))).await;
    assert_eq!((s, v["changed"].as_u64(), v["unchanged"].as_u64()), (200, Some(2), Some(0)), "{v}");
    assert!(direct_roles(&app, &opd, &staff_a1).await.is_empty());
    let global = bulk_item("auditor", None, &staff_b);
    assert_eq!(
        call(&app, Some(&sup), "POST", BULK, Some(json!({ "action": "assign", "assignments": [global] }))).await.1
            ["changed"],
        1
    );
    assert_eq!(direct_roles(&app, &sup, &staff_b).await, vec![pair("", "auditor")]);
    assert_eq!(
        call(&app, Some(&sup), "POST", BULK, Some(json!({ "action": "unassign", "assignments": [global] }))).await.1
            ["changed"],
        1
    );

    // ---- POST /applications: direct registration is Diskominfo's.
    let apps = "/admin/api/v1/applications";
    let registration = |id: &str, uri: &str, owner: &str| json!({ "client_id": id, "owner_opd_id": owner, "name": "Aplikasi Langsung", "category": "umum", "redirect_uris": [uri], "scopes": ["openid", "profile"], "min_level": 1 });
    for t in [&opd, &opd_b, &aud, &dev, &plain] {
        assert_eq!(
            call(&app, Some(t), "POST", apps, Some(registration("langsung", "https://langsung.example.go.id/cb", &a)))
                .await
                .0,
            403
        );
    }
    assert!(app.state.clients.get(db, "langsung").await.unwrap().is_none());
    let (s, v) =
        call(&app, Some(&sup), "POST", apps, Some(registration("langsung", "https://langsung.example.go.id/cb", &a)))
            .await;
    assert_eq!(s, 201, "{v}");
    assert!(v["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(
        (v["application"]["client_id"].as_str(), v["application"]["owner_opd_id"].as_str()),
        (Some("langsung"), Some(a.as_str()))
    );
    assert_eq!(
        call(&app, Some(&sup), "POST", apps, Some(registration("langsung", "https://langsung.example.go.id/cb", &a)))
            .await
            .0,
        409
    );
    let (s, v) =
        call(&app, Some(&sup), "POST", apps, Some(registration("luar", "https://luar.example.com/cb", &a))).await;
    assert_eq!(s, 422, "outside the region");
    assert!(v["detail"].as_str().unwrap().contains("redirect_uri"), "{v}");
    assert_eq!(
        call(
            &app,
            Some(&sup),
            "POST",
            apps,
            Some(registration("tanpa-unit", "https://t.example.go.id/cb", "no-such-unit"))
        )
        .await
        .0,
        422
    );
    for id in ["luar", "tanpa-unit"] {
        assert!(app.state.clients.get(db, id).await.unwrap().is_none());
    }

    // ---- GET and PATCH /applications/{id}.
    let one = |id: &str| format!("/admin/api/v1/applications/{id}");
    let (s, v) = call(&app, Some(&opd), "GET", &one("langsung"), None).await;
    assert_eq!(s, 200);
    assert!(v.get("client_secret").is_none(), "the secret is shown once only");
    assert_eq!(call(&app, Some(&sup), "GET", &one(&app_a.id), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &one(&app_a.id), None).await.0, 200);
    assert_eq!(call(&app, Some(&opd), "GET", &one(&app_b.id), None).await.0, 403);
    for t in [&opd_b, &aud, &dev, &plain] {
        assert_eq!(call(&app, Some(t), "GET", &one(&app_a.id), None).await.0, 403);
        assert_eq!(call(&app, Some(t), "PATCH", &one(&app_a.id), Some(json!({ "name": "Diambil alih" }))).await.0, 403);
    }
    assert_eq!(call(&app, Some(&sup), "GET", &one("no-such-app"), None).await.0, 404);
    assert_eq!(call(&app, Some(&sup), "PATCH", &one("no-such-app"), Some(json!({ "name": "X" }))).await.0, 404);
    // A malformed client id names no application: missing for those who may look, refused for the rest.
    let long = "x".repeat(65);
    for bad in ["bukan%20id", "a%2Fb", long.as_str()] {
        assert_eq!(call(&app, Some(&sup), "GET", &one(bad), None).await.0, 404, "{bad}");
        assert_eq!(call(&app, Some(&sup), "PATCH", &one(bad), Some(json!({ "name": "X" }))).await.0, 404, "{bad}");
        assert_eq!(call(&app, Some(&sup), "POST", &format!("{}/secret", one(bad)), None).await.0, 404, "{bad}");
        let enabled = Some(json!({ "enabled": false }));
        assert_eq!(call(&app, Some(&sup), "PUT", &format!("{}/enabled", one(bad)), enabled).await.0, 404, "{bad}");
        assert_eq!(call(&app, Some(&aud), "GET", &one(bad), None).await.0, 403, "{bad}");
    }
    let (s, v) = call(&app, Some(&opd), "PATCH", &one(&app_a.id), Some(json!({ "name": "Aplikasi A" }))).await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Aplikasi A")), "{v}");
    assert_eq!(call(&app, Some(&opd), "PATCH", &one(&app_a.id), Some(json!({ "category": "khusus" }))).await.0, 403);
    assert_eq!(
        call(&app, Some(&opd), "PATCH", &one(&app_a.id), Some(json!({ "name": "Pindah", "owner_opd_id": b }))).await.0,
        403
    );
    assert_eq!(
        call(
            &app,
            Some(&opd),
            "PATCH",
            &one(&app_a.id),
            Some(json!({ "redirect_uris": ["https://a.example.com/cb"] }))
        )
        .await
        .0,
        422
    );
    assert_eq!(call(&app, Some(&sup), "PATCH", &one(&app_a.id), Some(json!({ "category": "semua" }))).await.0, 422);
    let c = app.state.clients.get(db, &app_a.id).await.unwrap().unwrap();
    assert_eq!(
        (c.name.as_str(), c.category.as_str(), c.owner_opd_id.as_deref()),
        ("Aplikasi A", "umum", Some(a.as_str()))
    );
    assert_eq!(c.redirect_uris, vec![app_a.redirect_uri.clone()]);
    let (s, v) =
        call(&app, Some(&sup), "PATCH", &one(&app_a.id), Some(json!({ "category": "khusus", "owner_opd_id": b })))
            .await;
    assert_eq!((s, v["category"].as_str(), v["owner_opd_id"].as_str()), (200, Some("khusus"), Some(b.as_str())));
    assert_eq!(call(&app, Some(&opd), "GET", &one(&app_a.id), None).await.0, 403, "given to B, out of A's hands");
    assert_eq!(call(&app, Some(&opd_b), "GET", &one(&app_a.id), None).await.0, 200);

    // ---- GET /audit with filters: Diskominfo and auditors only.
    for t in [&opd, &opd_b, &dev, &plain] {
        assert_eq!(
            call(&app, Some(t), "GET", &format!("/admin/api/v1/audit?kind=account.&account={staff_a1}"), None).await.0,
            403
        );
    }
    for t in [&sup, &aud] {
        assert!(!audit_rows(&app, t, &format!("&kind=account.&account={staff_a1}")).await.is_empty());
    }
}
