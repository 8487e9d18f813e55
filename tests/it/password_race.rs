//! A password change against logins that checked the old password just before it: no session
//! opened with the old password may outlive the change, whichever step of the login the change
//! falls between.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gerbang::oidc::clients::GrantType;

use crate::common::*;
use crate::factors::{code_now, enrol, otp};
use crate::self_service::{page, post, sids, signed_in};

const NEW_PASSWORD: &str = "sandi-baru-yang-kuat-2026";

/// Changes the password from the account page of `b` (which stays signed in).
async fn change_password(app: &TestApp, b: &reqwest::Client) {
    let form = [
        ("csrf", hidden(&page(b, app, "/account/password").await, "csrf")),
        ("current_password", PASSWORD.to_string()),
        ("new_password", NEW_PASSWORD.to_string()),
        ("repeat_password", NEW_PASSWORD.to_string()),
    ];
    let res = post(b, app, "/account/password", &form).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account?done=password_changed".to_string()));
}

/// The password was checked, then changed from another device, then the second factor given:
/// the session the second step opened is ended at once and the person is asked to sign in again.
#[tokio::test]
async fn a_second_step_after_the_password_changed_opens_no_session() {
    let app = TestApp::spawn().await;
    let nip = unique_nip();
    let id = app.asn(&nip, "Dua Perangkat").await.id;
    let owner = browser();
    let (secret, recovery) = enrol(&app, &owner, &nip).await;
    let c = app.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;

    let late = browser();
    let start = start_auth(&app.rp(&c).await, &[]);
    let html = late.get(&start.url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(&app, &late, &html, &nip, PASSWORD).await;
    assert_eq!(res.status(), 200, "the second step follows the old password");
    let second = res.text().await.unwrap();
    assert!(second.contains("name=\"code\""));

    change_password(&app, &owner).await;
    let owner_sids = sids(&app, &id).await;
    assert_eq!(owner_sids.len(), 1);

    let res = otp(&app, &late, &second, "code", &code_now(&secret, 1)).await;
    assert_eq!(res.status(), 409, "the session rests on a password that is gone");
    assert!(res.headers().get("set-cookie").is_none(), "no session cookie is given");
    let body = res.text().await.unwrap();
    assert!(body.contains("Kata sandi akun ini diubah ketika Anda sedang masuk"), "{body}");
    assert_eq!(sids(&app, &id).await, owner_sids, "only the device that changed it is signed in");
    assert_eq!(owner.get(app.url("/account")).send().await.unwrap().status(), 200);

    let rows = gerbang::audit::list(&app.state.db, 1000, Some(&id)).await.unwrap();
    let ended: Vec<serde_json::Value> = rows
        .iter()
        .filter(|r| r.kind == "session.ended")
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.detail).unwrap())
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["reason"], "password_changed");

    // The new password opens a session as usual (with a recovery code: the one-time codes of
    // this minute are spent).
    let b = browser();
    let start = start_auth(&app.rp(&c).await, &[]);
    let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
    let res = submit_login(&app, &b, &html, &nip, NEW_PASSWORD).await;
    assert_eq!(res.status(), 200);
    let res = otp(&app, &b, &res.text().await.unwrap(), "recovery_code", &recovery[0]).await;
    assert_eq!(res.status(), 200, "signed in, and asked to enrol again");
    assert_eq!(sids(&app, &id).await.len(), 2);
}

/// One password login in a fresh browser: the browser when it ended signed in, else `None`
/// (wrong password after the change, throttled while another attempt is judged).
async fn try_old_password(app: &TestApp, nip: &str) -> Option<reqwest::Client> {
    let b = browser();
    let res = b.get(app.url("/account")).send().await.ok()?;
    if res.status() != 303 {
        return None;
    }
    let page = b.get(location(&res)).send().await.ok()?;
    if page.status() != 200 {
        return None;
    }
    let html = page.text().await.ok()?;
    let res = submit_login(app, &b, &html, nip, PASSWORD).await;
    (res.status() == 303 && location(&res).starts_with(&app.url("/account"))).then_some(b)
}

/// Logins with the old password keep arriving, in parallel, while the owner changes it: every
/// browser that got a session with the old password is signed out afterwards, and only the
/// owner's session is listed. On the in-process store and, in CI, on Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_login_with_the_old_password_outlives_a_change_made_while_it_ran() {
    let app = Arc::new(
        TestApp::spawn_with(&[
            ("GERBANG_LOGIN_MAX_FAILURES", "1000"),
            ("GERBANG_RATE_LIMITS", "off"),
            ("GERBANG_MAX_FLOWS_PER_ADDRESS", "0"),
        ])
        .await,
    );
    let nip = unique_nip();
    let id = app.asn(&nip, "Diserbu Login").await.id;
    let owner = signed_in(&app, &nip).await;
    let changed = Arc::new(AtomicBool::new(false));
    let attackers: Vec<_> = (0..8)
        .map(|_| {
            let (app, nip, changed) = (app.clone(), nip.clone(), changed.clone());
            tokio::spawn(async move {
                let mut signed_in = Vec::new();
                loop {
                    // One more round after the change, so some attempts straddle it.
                    let last = changed.load(Ordering::SeqCst);
                    if let Some(b) = try_old_password(&app, &nip).await {
                        signed_in.push(b);
                    }
                    if last {
                        return signed_in;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    change_password(&app, &owner).await;
    changed.store(true, Ordering::SeqCst);
    let mut with_old = Vec::new();
    for a in attackers {
        with_old.extend(a.await.unwrap());
    }
    assert!(!with_old.is_empty(), "some logins with the old password succeeded before the change");
    for b in &with_old {
        assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 303, "signed out by the change");
    }
    assert_eq!(sids(&app, &id).await.len(), 1, "only the owner's session is listed");
    assert_eq!(owner.get(app.url("/account")).send().await.unwrap().status(), 200);
}
