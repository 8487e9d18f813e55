//! Contact details: an e-mail address counts as verified only once a link mailed to it is
//! followed (a GET never takes the link), administrators' addresses start unverified, the
//! `email` and `phone` claims say so, and refused links explain themselves.

use std::time::Duration;

use gerbang::identity::accounts::{self, AccountStatus};
use gerbang::oidc::clients::GrantType;
use gerbang::state::now;
use gerbang::store::accounts as account_store;
use openidconnect::OAuth2TokenResponse;
use serde_json::{json, Value};

use crate::common::*;
use crate::mailbox::{mailbox, smtp_settings, unique_address};
use crate::self_service::{page, post, signed_in};

async fn with_mail(extra: &[(&str, &str)]) -> TestApp {
    let settings = smtp_settings();
    let mut pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend_from_slice(extra);
    TestApp::spawn_with(&pairs).await
}

/// Submits the contact form (`action` save or resend).
async fn submit(app: &TestApp, b: &reqwest::Client, action: &str, email: &str, phone: &str) -> reqwest::Response {
    let html = page(b, app, "/account/contact").await;
    let form = [
        ("csrf", hidden(&html, "csrf")),
        ("action", action.to_string()),
        ("email", email.to_string()),
        ("phone_number", phone.to_string()),
    ];
    post(b, app, "/account/contact", &form).await
}

/// The verification link of the newest message to `to` (after `n` messages arrived).
async fn link_in(app: &TestApp, to: &str, n: usize) -> String {
    let mails = mailbox().wait_for(to, n).await;
    let mail = mails.last().unwrap();
    mail.link(&app.url("/verify-email/")).unwrap_or_else(|| panic!("no link in {}", mail.body))
}

/// Opens the link in a fresh browser and presses its button: (status, page).
async fn follow(link: &str) -> (u16, String) {
    let b = browser();
    let res = b.get(link).send().await.unwrap();
    if res.status() != 200 {
        return (res.status().as_u16(), res.text().await.unwrap());
    }
    let html = res.text().await.unwrap();
    let res = b.post(link).form(&[("csrf", hidden(&html, "csrf"))]).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn stored(app: &TestApp, id: &str) -> accounts::Account {
    accounts::get(&app.state.db, id).await.unwrap().unwrap()
}

/// Kinds of the account's audit records, oldest first.
async fn trail(app: &TestApp, id: &str) -> Vec<(String, Value)> {
    let mut rows = gerbang::audit::list(&app.state.db, 1000, Some(id)).await.unwrap();
    rows.sort_by_key(|r| r.seq);
    rows.into_iter().map(|r| (r.kind, serde_json::from_str(&r.detail).unwrap())).collect()
}

/// The claims /userinfo gives an application holding `scopes`, after a fresh login.
async fn userinfo(app: &TestApp, nip: &str, scopes: &[&str]) -> Value {
    let mut all = vec!["openid"];
    all.extend_from_slice(scopes);
    let c = app.web_client(&all, &[GrantType::AuthorizationCode], true).await;
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, scopes);
    let cb = login(app, &browser(), &start.url, nip, PASSWORD).await;
    let t = redeem(&rp, &cb, start.verifier).await;
    let res = http_client().get(app.url("/userinfo")).bearer_auth(t.access_token().secret()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_new_address_counts_only_once_its_link_is_followed() {
    let app = with_mail(&[]).await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Sri Wahyuni").await;
    let b = signed_in(&app, &nip).await;
    let to = unique_address();
    let res = submit(&app, &b, "save", &to.to_uppercase(), "0812 3456 7890").await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account/contact?done=email_sent".to_string()));
    // The phone is taken at once; the address waits for its proof.
    let s = stored(&app, &a.id).await;
    assert_eq!((s.email, s.email_verified, s.phone_number.as_deref()), (None, false, Some("+6281234567890")));
    let html = page(&b, &app, "/account/contact?done=email_sent").await;
    assert!(html.contains("Tautan verifikasi telah dikirim"), "{html}");
    assert!(html.contains(&format!("Menunggu verifikasi: {to}")), "{html}");
    assert!(page(&b, &app, "/account").await.contains(&format!("Menunggu verifikasi: {to}")));

    let mail = mailbox().only(&to).await;
    assert_eq!(mail.subject, "Verifikasi alamat e-mail Anda");
    assert!(mail.body.contains("Halo Sri Wahyuni,"), "{}", mail.body);
    let link = mail.link(&app.url("/verify-email/")).unwrap();
    // Mail scanners and previews open links: a GET takes nothing, however often.
    for _ in 0..3 {
        let res = browser().get(&link).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains(&to));
    }
    assert_eq!(stored(&app, &a.id).await.email, None);
    // The button's form needs the page's CSRF token, bound to that browser.
    let res = browser().post(&link).form(&[("csrf", "x")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let (status, html) = follow(&link).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("{to} sekarang menjadi alamat e-mail terverifikasi")), "{html}");
    let s = stored(&app, &a.id).await;
    assert_eq!((s.email.as_deref(), s.email_verified), (Some(to.as_str()), true));
    assert_eq!(follow(&link).await.0, 410, "a link works once");

    let kinds: Vec<(String, Value)> =
        trail(&app, &a.id).await.into_iter().filter(|(k, _)| !k.starts_with("login.")).collect();
    assert_eq!(
        kinds,
        vec![
            ("phone.changed".into(), json!({ "before": null, "after": "+6281234567890" })),
            ("email.verification_sent".into(), json!({ "address": to })),
            ("email.verified".into(), json!({ "address": to, "before": null })),
        ]
    );
    let html = page(&b, &app, "/account").await;
    assert!(html.contains(&format!("<span id=\"email\">{to}</span>")) && html.contains("Terverifikasi"), "{html}");

    let claims = userinfo(&app, &nip, &["email", "phone"]).await;
    assert_eq!(
        (&claims["email"], &claims["email_verified"], &claims["phone_number"], &claims["phone_number_verified"]),
        (&json!(to), &json!(true), &json!("+6281234567890"), &json!(false))
    );
    let claims = userinfo(&app, &nip, &["profile"]).await;
    assert!(claims.get("email").is_none(), "the address needs its scope: {claims}");
}

#[tokio::test]
async fn an_address_an_administrator_sets_is_unverified_until_its_owner_proves_it() {
    let app = with_mail(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (admin_nip, _) = staff(&app, "Admin", None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &admin_nip).await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Budi Santoso").await;
    let to = unique_address();
    let patch = |body: Value| {
        let (url, token) = (app.url(&format!("/admin/api/v1/accounts/{}", a.id)), token.clone());
        async move { http_client().patch(url).bearer_auth(token).json(&body).send().await.unwrap() }
    };
    let res = patch(json!({ "email": format!(" {} ", to.to_uppercase()), "phone_number": "0812-1111-2222" })).await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(
        (&view["email"], &view["email_verified"], &view["phone_number"]),
        (&json!(to), &json!(false), &json!("+6281211112222"))
    );
    let res = patch(json!({ "phone_number": "12ab" })).await;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("phone_number"), "{problem}");
    let (_, detail) = trail(&app, &a.id).await.into_iter().rfind(|(k, _)| k == "account.updated").unwrap();
    assert_eq!(
        detail,
        json!({ "before": { "name": "Budi Santoso", "opd_id": null, "email": null, "email_verified": false, "phone_number": null },
                "after": { "name": "Budi Santoso", "opd_id": null, "email": to, "email_verified": false, "phone_number": "+6281211112222" },
                "revoked_grants": 0 })
    );
    assert_eq!(userinfo(&app, &nip, &["email"]).await["email_verified"], false, "never true for an unproven address");

    // The person proves it from their account page; sending again waits a minute.
    let b = signed_in(&app, &nip).await;
    let html = page(&b, &app, "/account/contact").await;
    assert!(html.contains("Belum diverifikasi") && html.contains("Kirim tautan verifikasi"), "{html}");
    let res = submit(&app, &b, "resend", "", "").await;
    assert_eq!(location(&res), "/account/contact?done=email_sent");
    // Delivery runs in the background: wait for this one, so the next arrives after it.
    mailbox().wait_for(&to, 1).await;
    let res = submit(&app, &b, "resend", "", "").await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("Tunggu satu menit"));
    app.advance(61);
    let res = submit(&app, &b, "resend", "", "").await;
    assert_eq!(location(&res), "/account/contact?done=email_sent");
    let first = mailbox().wait_for(&to, 2).await[0].link(&app.url("/verify-email/")).unwrap();
    let link = link_in(&app, &to, 2).await;
    assert_eq!(follow(&first).await.0, 410, "a newer link replaces the older");
    assert_eq!(follow(&link).await.0, 200);
    assert!(stored(&app, &a.id).await.email_verified);
    assert_eq!(userinfo(&app, &nip, &["email"]).await["email_verified"], true);

    // Another address from the administrator is unverified again; the same one changes nothing.
    let res = patch(json!({ "email": to })).await;
    assert_eq!(res.json::<Value>().await.unwrap()["email_verified"], true);
    let other = unique_address();
    let res = patch(json!({ "email": other })).await;
    assert_eq!(res.json::<Value>().await.unwrap()["email_verified"], false);
    let res = patch(json!({ "email": "" })).await;
    assert_eq!(res.json::<Value>().await.unwrap()["email"], Value::Null);
}

#[tokio::test]
async fn the_old_address_stays_until_the_new_one_is_proven() {
    let app = with_mail(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Rina").await;
    let old = unique_address();
    account_store::set_email(&app.state.db, &a.id, Some(&old), true, now()).await.unwrap();
    let b = signed_in(&app, &nip).await;
    let (second, third) = (unique_address(), unique_address());
    submit(&app, &b, "save", &second, "").await;
    let second_link = link_in(&app, &second, 1).await;
    let s = stored(&app, &a.id).await;
    assert_eq!((s.email.as_deref(), s.email_verified), (Some(old.as_str()), true), "nothing changes before the proof");
    // The form holds the pending address: saving a phone number as it stands keeps the change.
    let html = page(&b, &app, "/account/contact").await;
    assert_eq!(hidden(&html, "email"), second);
    let res = submit(&app, &b, "save", &second, "0813 0000 1111").await;
    assert_eq!(location(&res), "/account/contact?done=contact_saved");
    assert!(
        mailbox().after(&second, Duration::from_millis(200)).await.len() == 1,
        "no second link for the same change"
    );
    // A second change replaces the first: the first link proves nothing any more.
    submit(&app, &b, "save", &third, "").await;
    let third_link = link_in(&app, &third, 1).await;
    assert_eq!(follow(&second_link).await.0, 410);
    assert_eq!(stored(&app, &a.id).await.email.as_deref(), Some(old.as_str()));
    assert_eq!(follow(&third_link).await.0, 200);
    let s = stored(&app, &a.id).await;
    assert_eq!((s.email.as_deref(), s.email_verified), (Some(third.as_str()), true));
    // The address proven before hears of it, in a message without a link.
    let notice = mailbox().only(&old).await;
    assert_eq!(notice.subject, "Alamat e-mail akun Anda diganti");
    assert!(notice.body.contains("hubungi help desk") && !notice.body.contains("/verify-email/"), "{}", notice.body);

    // An administrator's address replaces a change waiting for its proof.
    let (admin_nip, _) = staff(&app, "Admin", None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &admin_nip).await;
    let fourth = unique_address();
    submit(&app, &b, "save", &fourth, "").await;
    let fourth_link = link_in(&app, &fourth, 1).await;
    let typed = unique_address();
    let res = http_client()
        .patch(app.url(&format!("/admin/api/v1/accounts/{}", a.id)))
        .bearer_auth(&token)
        .json(&json!({ "email": typed }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(follow(&fourth_link).await.0, 410);
    let s = stored(&app, &a.id).await;
    assert_eq!(
        (s.email.as_deref(), s.email_verified),
        (Some(typed.as_str()), false),
        "the typed address is not proven"
    );

    // Going back to the proven address withdraws a pending change; an empty field removes it.
    account_store::set_email(&app.state.db, &a.id, Some(&third), true, now()).await.unwrap();
    let fifth = unique_address();
    submit(&app, &b, "save", &fifth, "").await;
    let fifth_link = link_in(&app, &fifth, 1).await;
    let res = submit(&app, &b, "save", &third, "").await;
    assert_eq!(location(&res), "/account/contact?done=contact_saved");
    assert_eq!(follow(&fifth_link).await.0, 410);
    assert_eq!(
        trail(&app, &a.id).await.last().unwrap(),
        &("email.change_withdrawn".to_string(), json!({ "address": fifth }))
    );
    let res = submit(&app, &b, "save", "", "").await;
    assert_eq!(location(&res), "/account/contact?done=email_removed");
    assert_eq!(stored(&app, &a.id).await.email, None);
    assert_eq!(trail(&app, &a.id).await.last().unwrap().0, "email.removed");
}

#[tokio::test]
async fn refused_links_say_what_happened() {
    let app = with_mail(&[]).await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Dewi").await;
    for (path, status, text) in [
        ("/verify-email/pendek", 400, "tidak dikenal"),
        (&format!("/verify-email/{}", "A".repeat(43)), 400, "tidak dikenal"),
    ] {
        let res = browser().get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        assert!(res.text().await.unwrap().contains(text));
        let res = browser().post(app.url(path)).form(&[("csrf", "x")]).send().await.unwrap();
        assert!(res.status() == 400 || res.status() == 403, "{path}: {}", res.status());
    }
    let b = signed_in(&app, &nip).await;
    let to = unique_address();
    submit(&app, &b, "save", &to, "").await;
    let link = link_in(&app, &to, 1).await;
    // English on request.
    let res = browser().get(&link).header("accept-language", "en").send().await.unwrap();
    assert!(res.text().await.unwrap().contains("Verify this address"));
    // A suspended account's link does nothing, and works again once it is active.
    accounts::set_status(&app.state.db, &a.id, AccountStatus::Suspended, now()).await.unwrap();
    let (status, html) = follow(&link).await;
    assert_eq!(status, 403);
    assert!(html.contains("tidak aktif"), "{html}");
    assert_eq!(stored(&app, &a.id).await.email, None);
    accounts::set_status(&app.state.db, &a.id, AccountStatus::Active, now()).await.unwrap();
    // A day later the link has expired.
    app.advance(24 * 3600 + 1);
    let res = browser().get(&link).send().await.unwrap();
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("kedaluwarsa"));
    assert_eq!(stored(&app, &a.id).await.email, None);
}

#[tokio::test]
async fn of_twenty_simultaneous_confirmations_one_verifies() {
    let app = with_mail(&[]).await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Agus").await;
    let b = signed_in(&app, &nip).await;
    let to = unique_address();
    submit(&app, &b, "save", &to, "").await;
    let link = link_in(&app, &to, 1).await;
    let opener = browser();
    let html = opener.get(&link).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    let statuses = post_concurrently(&opener, &link, &[("csrf", &csrf)], 20).await;
    assert_eq!(statuses, [vec![200], vec![410; 19]].concat());
    let verified = trail(&app, &a.id).await.iter().filter(|(k, _)| k == "email.verified").count();
    assert_eq!(verified, 1);
}

#[tokio::test]
async fn phone_numbers_are_checked_and_nothing_is_set_without_mail() {
    let app = with_mail(&[]).await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Wati").await;
    let b = signed_in(&app, &nip).await;
    let res = submit(&app, &b, "save", "", "0812-abc").await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Nomor telepon tidak valid") && html.contains("value=\"0812-abc\""), "{html}");
    let res = submit(&app, &b, "save", "bukan-email", "0812 5555 6666").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Alamat e-mail tidak valid"));
    assert_eq!(stored(&app, &a.id).await.phone_number, None, "a refused form sets nothing");
    let res = submit(&app, &b, "save", "", "+62 812-5555-6666").await;
    assert_eq!(location(&res), "/account/contact?done=contact_saved");
    assert_eq!(stored(&app, &a.id).await.phone_number.as_deref(), Some("+6281255556666"));
    // The contact page needs a recent login, like factor changes.
    app.advance(11 * 60);
    let res = b.get(app.url("/account/contact")).send().await.unwrap();
    assert_eq!(res.status(), 303);

    // Without a relay no address can be proven: the page says so and nothing is set.
    let plain = TestApp::spawn().await;
    let nip = unique_nip();
    let a = plain.asn(&nip, "Yanto").await;
    let b = signed_in(&plain, &nip).await;
    assert!(page(&b, &plain, "/account/contact").await.contains("tidak dapat diverifikasi saat ini"));
    let res = submit(&plain, &b, "save", &unique_address(), "0812 7777 8888").await;
    assert_eq!(res.status(), 422);
    let s = stored(&plain, &a.id).await;
    assert_eq!((s.email, s.phone_number), (None, None));
    assert!(mailbox().after(&unique_address(), Duration::from_millis(10)).await.is_empty());
}

#[tokio::test]
async fn discovery_and_consent_name_the_contact_scopes() {
    let app = TestApp::spawn().await;
    let d: Value =
        http_client().get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    for s in ["email", "phone"] {
        assert!(d["scopes_supported"].as_array().unwrap().contains(&json!(s)), "{s}");
    }
    for c in ["email", "email_verified", "phone_number", "phone_number_verified"] {
        assert!(d["claims_supported"].as_array().unwrap().contains(&json!(c)), "{c}");
    }
    let c = app.web_client(&["openid", "email", "phone"], &[GrantType::AuthorizationCode], false).await;
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["email", "phone"]);
    let nip = unique_nip();
    app.asn(&nip, "Tono").await;
    let b = browser();
    let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
    let res = b
        .post(app.url("/login"))
        .form(&[
            ("login_id", hidden(&html, "login_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", nip.clone()),
            ("password", PASSWORD.to_string()),
        ])
        .send()
        .await
        .unwrap();
    let consent = res.text().await.unwrap();
    assert!(consent.contains("Alamat e-mail Anda dan apakah sudah diverifikasi"), "{consent}");
    assert!(consent.contains("Nomor telepon Anda"));
}

#[tokio::test]
async fn the_console_sets_contact_details_unverified_after_confirmation() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (admin_nip, _) = staff(&app, "Admin", None, Some("diskominfo-admin")).await;
    let nik = unique_nik();
    let a = app.citizen(&nik, "Warga Uji").await;
    let b = browser();
    let res = b.get(app.url("/console/accounts")).send().await.unwrap();
    let res = b.get(app.url(&location(&res))).send().await.unwrap();
    let callback = login(&app, &b, &location(&res), &admin_nip, PASSWORD).await;
    assert_eq!(b.get(&callback).send().await.unwrap().status(), 303);
    let path = format!("/console/accounts/{}", a.id);
    let html = b.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    let to = unique_address();
    let edit = |confirmed: bool, email: &str, phone: &str| {
        let mut form = vec![("csrf", csrf.clone()), ("name", "Warga Uji".into()), ("email", email.into())];
        form.push(("phone_number", phone.into()));
        if confirmed {
            form.push(("confirmed", "1".into()));
        }
        b.post(app.url(&format!("{path}/edit"))).form(&form).send()
    };
    // First what will happen, then the change; an invalid number is refused and changes nothing.
    let confirm = edit(false, &to, "0812 9999 0000").await.unwrap().text().await.unwrap();
    assert!(confirm.contains(&format!("E-mail Warga Uji menjadi “{to}”")), "{confirm}");
    assert!(confirm.contains("Nomor telepon Warga Uji menjadi “0812 9999 0000”"));
    let res = edit(true, &to, "12ab").await.unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(stored(&app, &a.id).await.email, None);
    assert_eq!(edit(true, &to, "0812 9999 0000").await.unwrap().status(), 303);
    let s = stored(&app, &a.id).await;
    assert_eq!(
        (s.email.as_deref(), s.email_verified, s.phone_number.as_deref()),
        (Some(to.as_str()), false, Some("+6281299990000"))
    );
    let html = b.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("<span id=\"account-email\">{to}</span>")) && html.contains("belum diverifikasi"));
    // The same values typed differently are no change: nothing to confirm.
    let res = edit(false, &to.to_uppercase(), "+62 812-9999-0000").await.unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, path.clone()));
}

/// A password link goes to an address: once that address is no longer the account's (removed by
/// the person, replaced by a proven one, or changed by an administrator), the link is closed.
/// A password link the help desk hands over for `account_id`.
async fn help_desk_link(app: &TestApp, token: &str, account_id: &str) -> String {
    let res = http_client()
        .post(app.url(&format!("/admin/api/v1/accounts/{account_id}/password-reset")))
        .bearer_auth(token)
        .json(&json!({ "delivery": "link" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn password_links_close_when_their_address_stops_being_the_accounts() {
    let app = with_mail(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (admin_nip, _) = staff(&app, "Admin", None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &admin_nip).await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Wulan Sari").await;
    let b = signed_in(&app, &nip).await;
    let issue = || async {
        account_store::set_email(&app.state.db, &a.id, Some(&unique_address()), true, now()).await.unwrap();
        let link = help_desk_link(&app, &token, &a.id).await;
        assert_eq!(browser().get(&link).send().await.unwrap().status(), 200, "open");
        link
    };
    let closed = |link: String| async move { browser().get(&link).send().await.unwrap().status().as_u16() };

    let link = issue().await;
    let res = submit(&app, &b, "save", "", "").await;
    assert_eq!(location(&res), "/account/contact?done=email_removed");
    assert_eq!(closed(link).await, 410, "removed by the person");

    let link = issue().await;
    let proven = unique_address();
    submit(&app, &b, "save", &proven, "").await;
    let (status, _) = follow(&link_in(&app, &proven, 1).await).await;
    assert_eq!(status, 200);
    assert_eq!(stored(&app, &a.id).await.email.as_deref(), Some(proven.as_str()));
    assert_eq!(closed(link).await, 410, "replaced by a proven address");

    let link = issue().await;
    let res = http_client()
        .patch(app.url(&format!("/admin/api/v1/accounts/{}", a.id)))
        .bearer_auth(&token)
        .json(&json!({ "email": unique_address() }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(closed(link).await, 410, "changed by an administrator");

    let link = issue().await;
    let res = http_client()
        .patch(app.url(&format!("/admin/api/v1/accounts/{}", a.id)))
        .bearer_auth(&token)
        .json(&json!({ "name": "Wulan Sari Dewi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(closed(link).await, 200, "an edit that leaves the address alone leaves the link open");
}

/// The database refuses to close reset and activation links (a stand-in for a failure at that
/// step); `false` lets it again.
async fn refuse_closing_password_links(app: &TestApp, refuse: bool) {
    let sql = match (&app.state.db, refuse) {
        (gerbang::store::Db::Sqlite(_), true) => {
            "CREATE TRIGGER t_keep BEFORE UPDATE OF used_at ON action_links \
             WHEN OLD.purpose IN ('reset', 'activation') AND NEW.used_at IS NOT NULL \
             BEGIN SELECT RAISE(ABORT, 'kept'); END"
        }
        (gerbang::store::Db::Sqlite(_), false) => "DROP TRIGGER t_keep",
        (gerbang::store::Db::Postgres(_), true) => {
            "CREATE FUNCTION keep_password_link() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'kept'; END $$ \
             LANGUAGE plpgsql; CREATE TRIGGER t_keep BEFORE UPDATE OF used_at ON action_links FOR EACH ROW \
             WHEN (OLD.purpose IN ('reset', 'activation') AND NEW.used_at IS NOT NULL) \
             EXECUTE FUNCTION keep_password_link()"
        }
        (gerbang::store::Db::Postgres(_), false) => {
            "DROP TRIGGER t_keep ON action_links; DROP FUNCTION keep_password_link()"
        }
    };
    match &app.state.db {
        gerbang::store::Db::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()).unwrap(),
        gerbang::store::Db::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()).unwrap(),
    }
}

#[tokio::test]
async fn an_address_changes_only_together_with_closing_its_password_links() {
    let app = with_mail(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let (admin_nip, _) = staff(&app, "Admin", None, Some("diskominfo-admin")).await;
    let token = console_token(&app, &admin_nip).await;
    let nip = unique_nip();
    let a = app.asn(&nip, "Wulan Sari").await;
    let b = signed_in(&app, &nip).await;
    let old = unique_address();
    account_store::set_email(&app.state.db, &a.id, Some(&old), true, now()).await.unwrap();
    let link = help_desk_link(&app, &token, &a.id).await;
    let open = || async { browser().get(&link).send().await.unwrap().status().as_u16() };
    assert_eq!(open().await, 200);
    let proven = unique_address();
    submit(&app, &b, "save", &proven, "").await;
    let verification = link_in(&app, &proven, 1).await;
    refuse_closing_password_links(&app, true).await;

    // The person proves a new address.
    let (status, _) = follow(&verification).await;
    assert_eq!(status, 500, "the change failed as a whole");
    let now_stored = stored(&app, &a.id).await;
    assert_eq!((now_stored.email.as_deref(), now_stored.email_verified), (Some(old.as_str()), true));
    assert_eq!(open().await, 200);

    // The person removes the address.
    let res = submit(&app, &b, "save", "", "").await;
    assert_eq!(res.status(), 500);
    assert_eq!(stored(&app, &a.id).await.email.as_deref(), Some(old.as_str()));
    assert_eq!(open().await, 200);

    // An administrator replaces it.
    let res = http_client()
        .patch(app.url(&format!("/admin/api/v1/accounts/{}", a.id)))
        .bearer_auth(&token)
        .json(&json!({ "email": unique_address() }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(stored(&app, &a.id).await.email.as_deref(), Some(old.as_str()));
    assert_eq!(open().await, 200);

    // Once closing works again, the verification link (given back) proves the address and the
    // password link ends with the old one.
    refuse_closing_password_links(&app, false).await;
    let (status, _) = follow(&verification).await;
    assert_eq!(status, 200);
    assert_eq!(stored(&app, &a.id).await.email.as_deref(), Some(proven.as_str()));
    assert_eq!(open().await, 410);
}
