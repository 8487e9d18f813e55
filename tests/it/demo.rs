//! First start: the bootstrap admin logs into the built-in demo application end to end.

use crate::common::*;

#[tokio::test]
async fn bootstrap_admin_logs_into_the_demo_application() {
    let app = TestApp::spawn_with(&[("GERBANG_BOOTSTRAP", "true")]).await;
    let b = browser();
    assert_eq!(b.get(app.url("/demo")).send().await.unwrap().status(), 404, "no demo before bootstrap");
    let boot =
        gerbang::ops::bootstrap::run(&app.state, gerbang::state::now()).await.unwrap().expect("first run bootstraps");
    assert!(gerbang::ops::bootstrap::run(&app.state, gerbang::state::now()).await.unwrap().is_none(), "only once");

    let home = b.get(app.url("/demo")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap().replace("&#x2f;", "/");
    assert!(html.contains("href=\"/demo/start\""));
    let res = b.get(app.url("/demo/start")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let auth_url = location(&res);
    assert!(auth_url.contains("code_challenge_method=S256"));
    let callback = login(&app, &b, &auth_url, &boot.admin_nip, boot.admin_password.expose()).await;
    assert!(callback.starts_with(&app.url("/demo/callback")));
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(&boot.admin_nip), "the ID token's nip claim is shown");
    assert!(html.contains("urn:gerbang:loa:1"));
    // The first-run demo region: the administrator sits in Diskominfo and inherits its role.
    assert!(html.contains("diskominfo-admin"), "{html}");
    assert!(html.contains("Bidang Aplikasi Informatika"));
    let report = boot.demo.as_ref().expect("demo region seeded");
    assert!(report.opd_units >= 15);
    // A seeded civil servant can log in too.
    let seeded = &report.accounts[0];
    let b2 = browser();
    let res = b2.get(app.url("/demo/start")).send().await.unwrap();
    let cb = login(&app, &b2, &location(&res), &seeded.login, seeded.password.as_ref().unwrap().expose()).await;
    let html = b2.get(&cb).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Dinas Kesehatan") && html.contains("IV&#x2f;b"), "{html}");
    // Replaying the callback (code already used) is refused.
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 400);
}

/// The shared in-process relying party refuses a callback that is not the answer to this
/// browser's own request: another state, no login cookie, or an error from the provider.
#[tokio::test]
async fn the_demo_callback_refuses_what_this_browser_did_not_start() {
    let app = TestApp::spawn_with(&[("GERBANG_BOOTSTRAP", "true")]).await;
    gerbang::ops::bootstrap::run(&app.state, gerbang::state::now()).await.unwrap().expect("first run bootstraps");
    let b = browser();
    let res = b.get(app.url("/demo/start")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let cookie =
        res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(cookie.iter().any(|c| c.starts_with("gerbang_demo=") && c.contains("Path=/demo")), "{cookie:?}");
    let refused = |html: &str, code: &str| html.contains(&format!("<code>{code}</code>"));
    let res = b.get(app.url("/demo/callback?code=abc&state=not-the-one")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(refused(&res.text().await.unwrap(), "invalid_request"));
    let res = b.get(app.url("/demo/callback?error=access_denied&state=x")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(refused(&res.text().await.unwrap(), "access_denied"));
    let res = browser().get(app.url("/demo/callback?code=abc&state=x")).send().await.unwrap();
    assert_eq!(res.status(), 400, "no login cookie");
    assert!(refused(&res.text().await.unwrap(), "invalid_request"));
}
