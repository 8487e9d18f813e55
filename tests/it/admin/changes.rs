//! What administrative changes do: accounts created and edited, bulk role assignment, ended
//! sessions and factor resets taking their tokens, edited redirect URIs, audit filters.

use super::*;

#[tokio::test]
async fn a_created_account_is_found_and_its_edits_are_audited_with_before_and_after() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let a = unit(&app, "A", None).await;
    let a1 = unit(&app, "A.1", Some("A")).await;
    let (super_nip, super_id) = person(&app, None, Some("diskominfo-admin")).await;
    let (aud_nip, _) = person(&app, None, Some("auditor")).await;
    let sup = console_token(&app, &super_nip).await;
    let aud = console_token(&app, &aud_nip).await;

    let nip = unique_nip();
    let name = format!("Sekar Ayu {}", uuid::Uuid::new_v4().simple());
    let body = json!({ "nip": nip, "name": name, "opd_id": a, "password": PASSWORD });
    let (s, v) = call(&app, Some(&sup), "POST", "/admin/api/v1/accounts", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let id = v["account"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        (v["account"]["nip"].as_str(), v["account"]["name"].as_str(), v["account"]["status"].as_str()),
        (Some(nip.as_str()), Some(name.as_str()), Some("active"))
    );

    // Found by part of the name and by the NIP's beginning.
    let found = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
    };
    let q = &name[name.len() - 12..];
    let (s, v) = call(&app, Some(&sup), "GET", &format!("/admin/api/v1/accounts?q={q}"), None).await;
    assert_eq!((s, found(&v)), (200, vec![id.clone()]));
    let (s, v) = call(&app, Some(&sup), "GET", &format!("/admin/api/v1/accounts?q={nip}"), None).await;
    assert_eq!((s, found(&v)), (200, vec![id.clone()]));
    // The initial password works.
    let web = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let before_move = sign_in(&app, &web, &nip).await;
    assert_eq!(userinfo(&app, &before_move.access).await, 200);

    let (s, v) = call(
        &app,
        Some(&sup),
        "PATCH",
        &format!("/admin/api/v1/accounts/{id}"),
        Some(json!({ "name": "  Sekar Ayu Lestari ", "opd_id": a1 })),
    )
    .await;
    assert_eq!(
        (s, v["name"].as_str(), v["opd_id"].as_str()),
        (200, Some("Sekar Ayu Lestari"), Some(a1.as_str())),
        "{v}"
    );
    let (_, v) = call(&app, Some(&sup), "GET", &format!("/admin/api/v1/accounts/{id}"), None).await;
    assert_eq!((v["name"].as_str(), v["opd_id"].as_str()), (Some("Sekar Ayu Lestari"), Some(a1.as_str())));

    let updates = audit_rows(&app, &aud, &format!("&kind=account.updated&account={id}")).await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    let e = &updates[0];
    assert_eq!((e["actor"].as_str(), e["subject"].as_str()), (Some(super_id.as_str()), Some(id.as_str())));
    assert_eq!(e["detail"]["before"], json!({ "name": name, "opd_id": a }));
    assert_eq!(e["detail"]["after"], json!({ "name": "Sekar Ayu Lestari", "opd_id": a1 }));
    // The token carried the old unit (and roles inherited through it): the move revoked it.
    assert_eq!(e["detail"]["revoked_grants"], 1);
    assert_eq!(userinfo(&app, &before_move.access).await, 401);
    // An edit that changes nothing records nothing.
    let (s, _) = call(
        &app,
        Some(&sup),
        "PATCH",
        &format!("/admin/api/v1/accounts/{id}"),
        Some(json!({ "name": "Sekar Ayu Lestari", "opd_id": a1 })),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(audit_rows(&app, &aud, &format!("&kind=account.updated&account={id}")).await.len(), 1);
    let created = audit_rows(&app, &aud, &format!("&kind=account.created&account={id}")).await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0]["actor"].as_str(), created[0]["detail"]["opd_id"].as_str()),
        (Some(super_id.as_str()), Some(a.as_str()))
    );
}

#[tokio::test]
async fn bulk_assignment_gives_a_role_to_many_people_and_takes_it_back() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let a = unit(&app, "A", None).await;
    let (opd_nip, _) = person(&app, Some(&a), Some("opd-admin")).await;
    let opd = console_token(&app, &opd_nip).await;
    let client = owned_client(&app, &a).await;
    roles::create(&app.state.db, Some(&client.id), "operator", "", now()).await.unwrap();
    let mut people = Vec::new();
    for _ in 0..3 {
        people.push(person(&app, Some(&a), None).await);
    }
    let items: Vec<Value> = people.iter().map(|(_, id)| bulk_item("operator", Some(&client.id), id)).collect();
    let report = |v: &Value| {
        (v["changed"].as_u64().unwrap(), v["unchanged"].as_u64().unwrap(), v["revoked_grants"].as_u64().unwrap())
    };

    let (s, v) = call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": items }))).await;
    assert_eq!((s, report(&v)), (200, (3, 0, 0)), "{v}");
    for (_, id) in &people {
        let (_, v) = call(&app, Some(&opd), "GET", &format!("/admin/api/v1/accounts/{id}/roles"), None).await;
        assert_eq!(role_pairs(&v["direct"]), vec![pair(&client.id, "operator")]);
        assert_eq!(role_pairs(&v["effective"]), vec![pair(&client.id, "operator")]);
    }
    let (s, v) = call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": items }))).await;
    assert_eq!((s, report(&v)), (200, (0, 3, 0)), "already held");

    // The first person signs in while holding the role: the token carries it.
    let signed = sign_in(&app, &client, &people[0].0).await;
    assert_eq!(userinfo(&app, &signed.access).await, 200);

    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "unassign", "assignments": items }))).await;
    assert_eq!((s, report(&v)), (200, (3, 0, 1)), "{v}");
    assert_eq!(userinfo(&app, &signed.access).await, 401, "a token that carried the role is revoked");
    for (_, id) in &people {
        assert!(direct_roles(&app, &opd, id).await.is_empty());
    }
    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "unassign", "assignments": items }))).await;
    assert_eq!((s, report(&v)), (200, (0, 3, 0)), "no longer held");
}

#[tokio::test]
async fn a_bulk_request_with_one_refused_item_applies_nothing() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let db = &app.state.db;
    let a = unit(&app, "A", None).await;
    let b = unit(&app, "B", None).await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (opd_nip, _) = person(&app, Some(&a), Some("opd-admin")).await;
    let sup = console_token(&app, &super_nip).await;
    let opd = console_token(&app, &opd_nip).await;
    let app_a = owned_client(&app, &a).await;
    let app_b = owned_client(&app, &b).await;
    roles::create(db, Some(&app_a.id), "operator", "", now()).await.unwrap();
    roles::create(db, Some(&app_b.id), "operator", "", now()).await.unwrap();
    let (_, x) = person(&app, Some(&a), None).await;
    let (_, y) = person(&app, Some(&a), None).await;
    let (_, foreign) = person(&app, Some(&b), None).await;
    let own = |id: &str| bulk_item("operator", Some(&app_a.id), id);
    let everyone = [&x, &y, &foreign];

    for (assignments, status, at) in [
        (vec![own(&x), own(&y), own(&foreign)], 403, 2),
        (vec![own(&x), bulk_item("operator", Some(&app_b.id), &y), own(&y)], 403, 1),
        (vec![own(&x), own(&y), bulk_item("auditor", None, &y)], 403, 2),
        // An account an OPD admin cannot find looks like one out of reach: no existence oracle.
        (vec![own(&x), own("no-such-id"), own(&y)], 403, 1),
        (vec![own(&x), own(&y), bulk_item("no-such-role", Some(&app_a.id), &y)], 422, 2),
    ] {
        let (s, v) =
            call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": assignments }))).await;
        assert_eq!(s, status, "{v}");
        assert!(
            v["detail"].as_str().unwrap().starts_with(&format!("assignments[{at}]")),
            "the refused item is named: {v}"
        );
        for id in everyone {
            assert!(direct_roles(&app, &sup, id).await.is_empty(), "nothing applied");
        }
    }
    // The same for removals: the valid items stay assigned.
    let (s, v) =
        call(&app, Some(&opd), "POST", BULK, Some(json!({ "action": "assign", "assignments": [own(&x), own(&y)] })))
            .await;
    assert_eq!((s, v["changed"].as_u64()), (200, Some(2)));
    let (s, _) = call(
        &app,
        Some(&opd),
        "POST",
        BULK,
        Some(json!({ "action": "unassign", "assignments": [own(&x), own(&y), own(&foreign)] })),
    )
    .await;
    assert_eq!(s, 403);
    for id in [&x, &y] {
        assert_eq!(direct_roles(&app, &sup, id).await, vec![pair(&app_a.id, "operator")]);
    }
    let kinds: Vec<String> =
        audit_rows(&app, &sup, "&kind=role.").await.iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, vec!["role.assigned", "role.assigned"], "only the successful request is in the trail");
}

#[tokio::test]
async fn an_ended_session_takes_its_tokens_with_it() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (nip, id) = person(&app, None, None).await;
    let sup = console_token(&app, &super_nip).await;
    let web = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let list = format!("/admin/api/v1/accounts/{id}/sessions");
    assert!(sids(&call(&app, Some(&sup), "GET", &list, None).await.1).is_empty());

    let laptop = sign_in(&app, &web, &nip).await;
    let phone = sign_in(&app, &web, &nip).await;
    let (s, v) = call(&app, Some(&sup), "GET", &list, None).await;
    assert_eq!(s, 200);
    let mut both = vec![laptop.sid.clone(), phone.sid.clone()];
    both.sort();
    assert_eq!(sids(&v), both, "both browser logins are listed under the sids their ID tokens name");
    for s in v.as_array().unwrap() {
        assert!(s["expires_at"].as_i64().unwrap() > s["auth_time"].as_i64().unwrap());
        assert!(!s["amr"].as_array().unwrap().is_empty());
    }

    let (s, _) = call(&app, Some(&sup), "DELETE", &format!("{list}/{}", phone.sid), None).await;
    assert_eq!(s, 204);
    assert_eq!(sids(&call(&app, Some(&sup), "GET", &list, None).await.1), vec![laptop.sid.clone()]);
    assert_eq!(userinfo(&app, &phone.access).await, 401, "the ended session's token is refused");
    assert!(!active(&app, &web, &phone.access).await);
    assert_eq!(userinfo(&app, &laptop.access).await, 200, "the other session's token still works");
    assert!(active(&app, &web, &laptop.access).await);
    assert!(!still_signed_in(&app, &web, &phone.browser).await, "the phone must log in again");
    assert!(still_signed_in(&app, &web, &laptop.browser).await);
    assert_eq!(call(&app, Some(&sup), "DELETE", &format!("{list}/{}", phone.sid), None).await.0, 404);

    let ended = audit_rows(&app, &sup, &format!("&kind=session.ended&account={id}")).await;
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (ended[0]["detail"]["sid"].as_str(), ended[0]["detail"]["revoked_grants"].as_u64()),
        (Some(phone.sid.as_str()), Some(1))
    );
}

#[tokio::test]
async fn a_factor_reset_removes_every_factor_and_ends_every_session() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let db = &app.state.db;
    let (super_nip, super_id) = person(&app, None, Some("diskominfo-admin")).await;
    let (nip, id) = person(&app, None, None).await;
    let sup = console_token(&app, &super_nip).await;
    let web = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let one = sign_in(&app, &web, &nip).await;
    let two = sign_in(&app, &web, &nip).await;
    // Second factors as enrolment leaves them: a confirmed authenticator, a passkey, recovery codes.
    assert!(factor_store::put_pending_totp(db, &id, b"sealed-secret", now()).await.unwrap());
    assert!(factor_store::confirm_totp(db, &id, b"sealed-secret", 1).await.unwrap());
    let key = PasskeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: id.clone(),
        cred_id: format!("cred-{}", uuid::Uuid::new_v4().simple()),
        name: "Kunci keamanan".into(),
        credential: "{}".into(),
        created_at: now(),
        last_used_at: None,
        enrolled_via: None,
        enrolled_level: None,
    };
    passkey_store::insert(db, &key).await.unwrap();
    recovery::generate(db, &app.state.recovery, &id, now()).await.unwrap();
    assert_eq!(Factors::of(db, &id).await.unwrap(), Factors { totp: true, passkeys: true });
    assert_eq!(recovery::remaining(db, &id).await.unwrap(), recovery::COUNT as i64);

    let (s, v) = call(&app, Some(&sup), "POST", &format!("/admin/api/v1/accounts/{id}/factor-reset"), None).await;
    assert_eq!((s, v["sessions_ended"].as_u64()), (200, Some(2)), "{v}");
    assert!(!Factors::of(db, &id).await.unwrap().any());
    assert_eq!(recovery::remaining(db, &id).await.unwrap(), 0);
    assert!(
        sids(&call(&app, Some(&sup), "GET", &format!("/admin/api/v1/accounts/{id}/sessions"), None).await.1).is_empty()
    );
    assert_eq!((userinfo(&app, &one.access).await, userinfo(&app, &two.access).await), (401, 401));
    assert!(!still_signed_in(&app, &web, &one.browser).await && !still_signed_in(&app, &web, &two.browser).await);
    // The password alone logs in again, to enrol anew.
    assert_eq!(userinfo(&app, &sign_in(&app, &web, &nip).await.access).await, 200);

    let rows = audit_rows(&app, &sup, &format!("&kind=account.factors_reset&account={id}")).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["actor"].as_str(), rows[0]["detail"]["sessions_ended"].as_u64()),
        (Some(super_id.as_str()), Some(2))
    );
}

#[tokio::test]
async fn an_edited_redirect_uri_replaces_the_old_one_at_authorize() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_REDIRECT_DOMAINS", "example.go.id,*.example.go.id"),
    ])
    .await;
    let (super_nip, _) = person(&app, None, Some("diskominfo-admin")).await;
    let (nip, _) = person(&app, None, None).await;
    let sup = console_token(&app, &super_nip).await;
    let (old, new) =
        ("https://simpeg.example.go.id/lama/cb".to_string(), "https://simpeg.example.go.id/baru/cb".to_string());
    let body = json!({ "client_id": "simpeg-uji", "name": "SIMPEG", "category": "umum", "redirect_uris": [old], "scopes": ["openid", "profile"], "min_level": 1 });
    let (s, v) = call(&app, Some(&sup), "POST", "/admin/api/v1/applications", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let registered = TestClient {
        id: "simpeg-uji".into(),
        secret: v["client_secret"].as_str().map(String::from),
        redirect_uri: old.clone(),
        post_logout_uri: String::new(),
    };
    let rp_old = app.rp(&registered).await;
    let res = browser().get(start_auth(&rp_old, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 200, "the registered URI leads to the login page");

    let (s, v) = call(
        &app,
        Some(&sup),
        "PATCH",
        "/admin/api/v1/applications/simpeg-uji",
        Some(json!({ "redirect_uris": [new] })),
    )
    .await;
    assert_eq!((s, v["redirect_uris"].clone()), (200, json!([new])), "{v}");
    let res = browser().get(start_auth(&rp_old, &[]).url).send().await.unwrap();
    assert_eq!(res.status(), 400, "the old URI is refused");
    assert!(res.headers().get("location").is_none(), "and nobody is sent to it");
    let moved = TestClient { redirect_uri: new.clone(), ..registered };
    assert_eq!(
        userinfo(&app, &sign_in(&app, &moved, &nip).await.access).await,
        200,
        "the new URI completes a login, with the secret given at registration"
    );

    let rows = audit_rows(&app, &sup, "&kind=application.updated").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["detail"]["client_id"], "simpeg-uji");
    assert_eq!(
        (rows[0]["detail"]["before"]["redirect_uris"].clone(), rows[0]["detail"]["after"]["redirect_uris"].clone()),
        (json!([old]), json!([new]))
    );
}

#[tokio::test]
async fn audit_filters_return_exactly_the_matching_rows() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let a = unit(&app, "A", None).await;
    let (super_nip, super_id) = person(&app, None, Some("diskominfo-admin")).await;
    let (opd_nip, opd_id) = person(&app, Some(&a), Some("opd-admin")).await;
    let (aud_nip, _) = person(&app, None, Some("auditor")).await;
    let (_, x) = person(&app, Some(&a), None).await;
    let (y_nip, y) = person(&app, Some(&a), None).await;
    let sup = console_token(&app, &super_nip).await;
    let opd = console_token(&app, &opd_nip).await;
    let aud = console_token(&app, &aud_nip).await;
    let client = owned_client(&app, &a).await;
    roles::create(&app.state.db, Some(&client.id), "operator", "", now()).await.unwrap();

    // Events of several kinds, actors and subjects.
    let acct = |id: &str| format!("/admin/api/v1/accounts/{id}");
    assert_eq!(call(&app, Some(&sup), "PATCH", &acct(&x), Some(json!({ "name": "Pegawai X" }))).await.0, 200);
    assert_eq!(
        call(&app, Some(&sup), "PUT", &format!("{}/status", acct(&y)), Some(json!({ "status": "suspended" }))).await.0,
        200
    );
    assert_eq!(
        call(
            &app,
            Some(&opd),
            "POST",
            BULK,
            Some(json!({ "action": "assign", "assignments": [bulk_item("operator", Some(&client.id), &x)] }))
        )
        .await
        .0,
        200
    );
    assert_eq!(call(&app, Some(&sup), "PATCH", &acct(&opd_id), Some(json!({ "name": "Admin OPD A" }))).await.0, 200);
    assert_eq!(
        call(&app, Some(&sup), "POST", "/admin/api/v1/accounts", Some(json!({ "nip": unique_nip(), "name": "Baru" })))
            .await
            .0,
        201
    );
    let rp = app.rp(&client).await;
    let b = browser();
    let html = b.get(start_auth(&rp, &[]).url).send().await.unwrap().text().await.unwrap();
    submit_login(&app, &b, &html, &y_nip, "bukan-kata-sandinya").await;

    let all = audit_rows(&app, &aud, "").await;
    let seqs = |rows: &[Value]| -> Vec<i64> { rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect() };
    let kind = |r: &Value| r["kind"].as_str().unwrap().to_string();
    let involves = |r: &Value, id: &str| r["actor"] == id || r["subject"] == id;
    // Each filter returns exactly the rows of the whole trail that match it, newest first.
    let (app_r, aud_r, all_r) = (&app, &aud, &all);
    let check = move |filter: String, keep: Box<dyn Fn(&Value) -> bool>| {
        let want: Vec<i64> = all_r.iter().filter(|r| keep(r)).map(|r| r["seq"].as_i64().unwrap()).collect();
        async move {
            let got = seqs(&audit_rows(app_r, aud_r, &filter).await);
            assert_eq!(got, want, "{filter}");
            got.len()
        }
    };
    assert!(check("&kind=account.".into(), Box::new(move |r: &Value| kind(r).starts_with("account."))).await >= 4);
    // Kinds are lower case; a prefix typed in capitals finds them on both databases alike.
    assert!(check("&kind=ACCOUNT.".into(), Box::new(move |r: &Value| kind(r).starts_with("account."))).await >= 4);
    assert_eq!(
        check("&kind=account.status_changed".into(), Box::new(move |r: &Value| kind(r) == "account.status_changed"))
            .await,
        1
    );
    assert_eq!(
        check("&kind=account.status".into(), Box::new(move |r: &Value| kind(r).starts_with("account.status"))).await,
        1
    );
    assert_eq!(check("&kind=role.".into(), Box::new(move |r: &Value| kind(r).starts_with("role."))).await, 1);
    assert_eq!(
        check("&kind=login.".into(), Box::new(move |r: &Value| kind(r).starts_with("login."))).await,
        4,
        "three console logins and the failure"
    );
    // `%` and `_` are characters of a prefix, not wildcards.
    assert_eq!(check("&kind=%25".into(), Box::new(move |r: &Value| kind(r).starts_with('%'))).await, 0);
    assert_eq!(check("&kind=account_".into(), Box::new(move |r: &Value| kind(r).starts_with("account_"))).await, 0);
    assert_eq!(
        check("&kind=account%25updated".into(), Box::new(move |r: &Value| kind(r).starts_with("account%updated")))
            .await,
        0
    );
    let xs = x.clone();
    assert!(check(format!("&account={x}"), Box::new(move |r: &Value| involves(r, &xs))).await >= 2);
    let ys = y.clone();
    assert!(
        check(format!("&account={y}"), Box::new(move |r: &Value| involves(r, &ys))).await >= 2,
        "the status change and the failed login"
    );
    let os = opd_id.clone();
    let opd_rows = audit_rows(&app, &aud, &format!("&account={opd_id}")).await;
    assert!(
        opd_rows.iter().any(|r| r["actor"] == opd_id.as_str() && r["kind"] == "role.assigned"),
        "rows where the account acted"
    );
    assert!(
        opd_rows.iter().any(|r| r["subject"] == opd_id.as_str()
            && r["kind"] == "account.updated"
            && r["actor"] == super_id.as_str()),
        "and rows about it"
    );
    assert_eq!(
        check(
            format!("&kind=role.&account={opd_id}"),
            Box::new(move |r: &Value| kind(r).starts_with("role.") && involves(r, &os))
        )
        .await,
        1
    );
    assert_eq!(check("&account=no-such-id".into(), Box::new(|_: &Value| false)).await, 0);
    // Time bounds: `since` inclusive, `until` exclusive.
    let status_row = all.iter().find(|r| r["kind"] == "account.status_changed").unwrap().clone();
    let t = status_row["at"].as_i64().unwrap();
    let s = status_row["seq"].as_i64().unwrap();
    assert!(seqs(&audit_rows(&app, &aud, &format!("&since={t}")).await).contains(&s));
    assert!(!seqs(&audit_rows(&app, &aud, &format!("&until={t}")).await).contains(&s));
    assert!(seqs(&audit_rows(&app, &aud, &format!("&since={t}&until={}", t + 1)).await).contains(&s));
    assert!(!seqs(&audit_rows(&app, &aud, &format!("&since={}", t + 1)).await).contains(&s));
    assert!(check(format!("&since={t}"), Box::new(move |r: &Value| r["at"].as_i64().unwrap() >= t)).await >= 1);
    check(format!("&until={t}"), Box::new(move |r: &Value| r["at"].as_i64().unwrap() < t)).await;
    check(format!("&since={t}&until={}", t + 1), Box::new(move |r: &Value| r["at"].as_i64().unwrap() == t)).await;
}
