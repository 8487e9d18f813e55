//! The admin console as a browser uses it: OIDC login of the console itself, every page, the
//! confirmation step before each change, CSRF, kept form data, languages and logout.

use gerbang::identity::accounts;
use gerbang::identity::roles::{self, Holder};
use gerbang::state::now;

use crate::common::*;

use crate::common::opd_unit as unit;

/// Logs a browser into the console: /console → console login → Gerbang login → callback.
pub(crate) async fn console_login(app: &TestApp, b: &reqwest::Client, nip: &str) -> reqwest::Response {
    let res = b.get(app.url("/console/accounts")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let to_login = location(&res);
    assert!(to_login.starts_with("/console/login?next="), "{to_login}");
    let res = b.get(app.url(&to_login)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let authorize = location(&res);
    assert!(authorize.contains("client_id=gerbang-console") && authorize.contains("code_challenge="), "{authorize}");
    let callback = login(app, b, &authorize, nip, PASSWORD).await;
    assert!(callback.starts_with(&app.url("/console/callback")), "{callback}");
    b.get(&callback).send().await.unwrap()
}

async fn page(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    let res = b.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {path}");
    res.text().await.unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

async fn post(app: &TestApp, b: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    b.post(app.url(path)).form(form).send().await.unwrap()
}

#[tokio::test]
async fn a_diskominfo_admin_logs_in_sees_every_page_and_changes_go_through_confirmation() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let top = unit(&app, "3509.13", None).await;
    let (admin_nip, admin_id) = staff(&app, "Rina Wulandari", Some(&top), Some("diskominfo-admin")).await;
    let (_, staff_id) = staff(&app, "Agus Prasetyo", Some(&top), None).await;
    roles::create(&app.state.db, None, "verifikator", "Verifikator dokumen", now()).await.unwrap();

    let b = browser();
    let res = console_login(&app, &b, &admin_nip).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/accounts", "back where the person started");
    let set_cookie: Vec<String> =
        res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let console_cookie = set_cookie.iter().find(|c| c.starts_with("gerbang_console=")).expect("console cookie");
    assert!(console_cookie.contains("HttpOnly") && console_cookie.contains("SameSite=Strict"), "{console_cookie}");

    // Every page renders, in Indonesian by default.
    let dash = page(&app, &b, "/console").await;
    assert!(dash.contains("Dasbor") && dash.contains("<svg class=\"chart\""), "dashboard with a chart");
    assert!(dash.contains("Rina Wulandari") && dash.contains("diskominfo-admin"));
    let found = page(&app, &b, "/console/accounts?q=Agus").await;
    assert!(found.contains("Agus Prasetyo") && !found.contains(">Rina Wulandari</a>"));
    let detail = page(&app, &b, &format!("/console/accounts/{staff_id}")).await;
    assert!(detail.contains("Agus Prasetyo") && detail.contains("verifikator"));
    for (path, expect) in [
        ("/console/accounts/new", "name=\"nip\""),
        ("/console/opd", "Dinas 3509.13"),
        ("/console/roles", "Verifikator dokumen"),
        ("/console/applications", "gerbang-console"),
        ("/console/applications/gerbang-account", "name=\"redirect_uris\""),
        ("/console/sessions?q=Rina", "Rina Wulandari"),
        ("/console/requests", "Permohonan aplikasi"),
        ("/console/audit?kind=login.&since=2020-01-01", "login.succeeded"),
    ] {
        let html = page(&app, &b, path).await;
        assert!(html.contains(expect), "{path} should contain {expect}");
    }
    // A malformed id in a path is a missing one, and is not echoed into the page.
    for path in ["/console/accounts/bukan-id%3Cb%3E", "/console/applications/bukan%20id%3Cb%3E"] {
        let res = b.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "GET {path}");
        assert!(!res.text().await.unwrap().contains("bukan"), "{path}");
    }
    let english = page(&app, &b, "/console?lang=en").await;
    assert!(english.contains("Dashboard") && english.contains("lang=\"en\""));
    let stays = page(&app, &b, "/console/opd").await;
    assert!(stays.contains("OPD units"), "the chosen language stays for the session");
    page(&app, &b, "/console?lang=id").await;

    // Giving a role: first a confirmation page saying what will happen, nothing changed yet.
    let csrf = hidden(&detail, "csrf");
    let res = post(
        &app,
        &b,
        &format!("/console/accounts/{staff_id}/roles/add"),
        &[("csrf", &csrf), ("role", "|verifikator")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let confirm = unescape(&res.text().await.unwrap());
    assert!(
        confirm.contains("verifikator")
            && confirm.contains("Agus Prasetyo")
            && confirm.contains("name=\"confirmed\" value=\"1\"")
    );
    assert!(
        roles::effective(&app.state.db, &staff_id).await.unwrap().iter().all(|r| r.name != "verifikator"),
        "not before confirming"
    );
    // Without the CSRF token the change is refused.
    let res = post(
        &app,
        &b,
        &format!("/console/accounts/{staff_id}/roles/add"),
        &[("role", "|verifikator"), ("confirmed", "1")],
    )
    .await;
    assert_eq!(res.status(), 403);
    let res = post(
        &app,
        &b,
        &format!("/console/accounts/{staff_id}/roles/add"),
        &[("csrf", &csrf), ("role", "|verifikator"), ("confirmed", "1")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("done=role_assigned"));
    assert!(roles::effective(&app.state.db, &staff_id).await.unwrap().iter().any(|r| r.name == "verifikator"));
    let trail = page(&app, &b, &format!("/console/audit?kind=role.assigned&who={staff_id}")).await;
    assert!(trail.contains("role.assigned") && trail.contains(&admin_id), "audit shows who gave the role");

    // A form with a mistake comes back with what was typed and the reason.
    let res = post(
        &app,
        &b,
        "/console/accounts/new",
        &[("csrf", &csrf), ("nip", "12345"), ("name", "Budi Santoso"), ("opd_id", &top), ("confirmed", "1")],
    )
    .await;
    assert_eq!(res.status(), 422);
    let again = res.text().await.unwrap();
    assert!(
        again.contains("value=\"Budi Santoso\"") && again.contains("value=\"12345\"") && again.contains("alert--error")
    );
    // The same form, corrected, creates the account after confirmation.
    let nip = unique_nip();
    let res = post(
        &app,
        &b,
        "/console/accounts/new",
        &[("csrf", &csrf), ("nip", &nip), ("name", "Budi Santoso"), ("opd_id", &top)],
    )
    .await;
    assert_eq!(res.status(), 200, "confirmation first");
    let res = post(
        &app,
        &b,
        "/console/accounts/new",
        &[("csrf", &csrf), ("nip", &nip), ("name", "Budi Santoso"), ("opd_id", &top), ("confirmed", "1")],
    )
    .await;
    // Created without a password: its activation link is shown once.
    assert_eq!(res.status(), 200);
    assert!(unescape(&res.text().await.unwrap()).contains(&app.url("/activate/")));
    let created = accounts::find(&app.state.db, &nip).await.unwrap().expect("created");
    assert_eq!(created.opd_id.as_deref(), Some(top.as_str()));

    // Suspending is confirmed and then revokes; the admin cannot suspend themself.
    let res = post(
        &app,
        &b,
        &format!("/console/accounts/{admin_id}/status"),
        &[("csrf", &csrf), ("status", "suspended"), ("confirmed", "1")],
    )
    .await;
    assert_eq!(res.status(), 409);
    let res = post(
        &app,
        &b,
        &format!("/console/accounts/{}/status", created.id),
        &[("csrf", &csrf), ("status", "suspended"), ("confirmed", "1")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(accounts::get(&app.state.db, &created.id).await.unwrap().unwrap().status.as_str(), "suspended");

    // The CSV export downloads the trail.
    let t = now();
    let res =
        b.get(app.url(&format!("/console/audit/export?since={}&until={}", t - 3600, t + 60))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(res.text().await.unwrap().contains("role.assigned"));

    // Logging out is a form with the CSRF token: a bare GET (an image on any same-site regional
    // application) does nothing, a forged POST is refused.
    let res = b.get(app.url("/console/logout")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    let page = b.get(app.url("/console")).send().await.unwrap();
    assert_eq!(page.status(), 200, "still signed in");
    let html = page.text().await.unwrap();
    assert!(html.contains("action=\"/console/logout\""));
    let res = b.post(app.url("/console/logout")).form(&[("csrf", "palsu")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    // Logging out ends the console session and passes on to the SSO logout.
    let res = b.post(app.url("/console/logout")).form(&[("csrf", hidden(&html, "csrf"))]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/logout?id_token_hint="));
    let res = b.get(app.url("/console")).send().await.unwrap();
    assert_eq!(res.status(), 303, "logged out of the console");
}

#[tokio::test]
async fn people_without_an_admin_role_are_turned_away_and_roles_removed_end_access_at_once() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let top = unit(&app, "3509.14", None).await;
    let (nip, _) = staff(&app, "Sri Lestari", Some(&top), None).await;
    let b = browser();
    let res = console_login(&app, &b, &nip).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("tidak memiliki peran administrasi"));

    let (auditor_nip, auditor_id) = staff(&app, "Dewi Anggraini", Some(&top), Some("auditor")).await;
    let b = browser();
    assert_eq!(console_login(&app, &b, &auditor_nip).await.status(), 303);
    let html = page(&app, &b, "/console/audit").await;
    assert!(
        html.contains("Jejak audit") && !html.contains("href=\"/console/accounts\""),
        "an auditor sees the audit, not accounts"
    );
    assert_eq!(b.get(app.url("/console/accounts")).send().await.unwrap().status(), 403);
    let role = roles::find(&app.state.db, None, "auditor").await.unwrap();
    roles::unassign(&app.state.db, &role, &Holder::Account(auditor_id), now()).await.unwrap();
    let res = b.get(app.url("/console/audit")).send().await.unwrap();
    assert!(res.status() == 403 || res.status() == 303, "the removed role ends console access: {}", res.status());
}

#[tokio::test]
async fn an_application_request_goes_from_opd_developer_to_approval_and_credentials_once() {
    let app = TestApp::spawn_with(&[
        ("GERBANG_ADMIN_MIN_LEVEL", "1"),
        ("GERBANG_REDIRECT_DOMAINS", "jemberkab.go.id,*.jemberkab.go.id"),
    ])
    .await;
    let diskominfo = unit(&app, "3509.15", None).await;
    let dinkes = unit(&app, "3509.16", None).await;
    let (admin_nip, _) = staff(&app, "Rina Wulandari", Some(&diskominfo), Some("diskominfo-admin")).await;
    let (dev_nip, _) = staff(&app, "Bambang Kurniawan", Some(&dinkes), Some("opd-developer")).await;

    let dev = browser();
    assert_eq!(console_login(&app, &dev, &dev_nip).await.status(), 303);
    let html = page(&app, &dev, "/console/requests").await;
    let csrf = hidden(&html, "csrf");
    let fields = |uri: &'static str| {
        vec![
            ("name", "SIMPUS"),
            ("category", "khusus"),
            ("redirect_uris", uri),
            ("scopes", "openid profile"),
            ("min_level", "2"),
        ]
    };
    // A redirect outside the region comes back with the form filled in.
    let mut bad = fields("https://evil.example/cb");
    bad.extend([("csrf", csrf.as_str()), ("confirmed", "1")]);
    let res = post(&app, &dev, "/console/requests", &bad).await;
    assert_eq!(res.status(), 422);
    let again = unescape(&res.text().await.unwrap());
    assert!(again.contains("value=\"SIMPUS\"") && again.contains("https://evil.example/cb"));
    let mut good = fields("https://simpus.jemberkab.go.id/cb");
    good.extend([("csrf", csrf.as_str()), ("confirmed", "1")]);
    let res = post(&app, &dev, "/console/requests", &good).await;
    assert_eq!(res.status(), 303);
    let request_path = location(&res).split('?').next().unwrap().to_string();

    let admin = browser();
    assert_eq!(console_login(&app, &admin, &admin_nip).await.status(), 303);
    let html = page(&app, &admin, &request_path).await;
    assert!(html.contains("SIMPUS") && html.contains("Bambang Kurniawan"));
    let csrf_admin = hidden(&html, "csrf");
    // The reviewer corrects the level to 3 while approving.
    let decide = format!("{request_path}/decide");
    let approve = [
        ("csrf", csrf_admin.as_str()),
        ("decision", "approve"),
        ("name", "SIMPUS Dinkes"),
        ("category", "khusus"),
        ("redirect_uris", "https://simpus.jemberkab.go.id/cb"),
        ("scopes", "openid profile"),
        ("min_level", "3"),
    ];
    let res = post(&app, &admin, &decide, &approve).await;
    assert_eq!(res.status(), 200);
    assert!(unescape(&res.text().await.unwrap()).contains("SIMPUS Dinkes"), "confirmation lists the corrected request");
    let mut confirmed = approve.to_vec();
    confirmed.push(("confirmed", "1"));
    let res = post(&app, &admin, &decide, &confirmed).await;
    assert_eq!(res.status(), 303);
    let html = page(&app, &admin, &request_path).await;
    assert!(html.contains("Disetujui"));

    // The requester fetches the credentials once.
    let creds = format!("{request_path}/credentials");
    let res = post(&app, &dev, &creds, &[("csrf", &csrf), ("confirmed", "1")]).await;
    assert_eq!(res.status(), 200);
    let shown = res.text().await.unwrap();
    let client_id =
        shown.split("id=\"client-id\">").nth(1).and_then(|s| s.split('<').next()).expect("client id shown").to_string();
    assert!(shown.contains("id=\"client-secret\""));
    let client = app.state.clients.get(&app.state.db, &client_id).await.unwrap().expect("registered");
    assert_eq!(client.min_level, 3);
    assert_eq!(client.name, "SIMPUS Dinkes");
    let res = post(&app, &dev, &creds, &[("csrf", &csrf), ("confirmed", "1")]).await;
    assert_eq!(res.status(), 410, "only once");
}

#[tokio::test]
async fn roles_and_units_are_created_from_the_console_after_confirmation() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let code = format!("U{}", unique_nip());
    let top = unit(&app, &code, None).await;
    let (admin_nip, _) = staff(&app, "Rina Wulandari", Some(&top), Some("diskominfo-admin")).await;
    let b = browser();
    assert_eq!(console_login(&app, &b, &admin_nip).await.status(), 303);
    let html = page(&app, &b, "/console/roles").await;
    let csrf = hidden(&html, "csrf");

    let res = post(
        &app,
        &b,
        "/console/roles/new",
        &[("csrf", &csrf), ("name", "Bukan Nama!"), ("client_id", ""), ("confirmed", "1")],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("value=\"Bukan Nama!\""), "the form keeps what was typed");
    let res = post(
        &app,
        &b,
        "/console/roles/new",
        &[("csrf", &csrf), ("name", "penelaah"), ("client_id", ""), ("description", "Penelaah berkas")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("penelaah"));
    assert!(roles::find(&app.state.db, None, "penelaah").await.is_err(), "not before confirming");
    let res = post(
        &app,
        &b,
        "/console/roles/new",
        &[
            ("csrf", &csrf),
            ("name", "penelaah"),
            ("client_id", ""),
            ("description", "Penelaah berkas"),
            ("confirmed", "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(roles::find(&app.state.db, None, "penelaah").await.unwrap().description, "Penelaah berkas");

    let child = format!("{code}.01");
    let res = post(
        &app,
        &b,
        "/console/opd",
        &[
            ("csrf", &csrf),
            ("code", &child),
            ("name", "Bidang Aplikasi"),
            ("kind", "bidang"),
            ("parent", &code),
            ("confirmed", "1"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let tree = page(&app, &b, "/console/opd").await;
    assert!(tree.contains("Bidang Aplikasi") && tree.contains("indent--1"), "shown below its parent");
}

#[tokio::test]
async fn the_console_session_ends_with_the_single_sign_on_session_it_came_from() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let top = unit(&app, &format!("U{}", unique_nip()), None).await;
    let (admin_nip, _) = staff(&app, "Rina Wulandari", Some(&top), Some("diskominfo-admin")).await;
    let b = browser();
    assert_eq!(console_login(&app, &b, &admin_nip).await.status(), 303);
    assert_eq!(b.get(app.url("/console/opd")).send().await.unwrap().status(), 200);

    // Logging out of Gerbang itself (not through the console) ends console access too.
    let res = b.get(app.url("/logout")).send().await.unwrap();
    let html = res.text().await.unwrap();
    let res = b
        .post(app.url("/logout/confirm"))
        .form(&[("decision", "logout"), ("csrf", hidden(&html, "csrf").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = b.get(app.url("/console/opd")).send().await.unwrap();
    assert_eq!(res.status(), 303, "back to the login");
    assert!(location(&res).starts_with("/console/login"));
    // A form posted then says the session ended instead of acting.
    let res = b
        .post(app.url("/console/opd"))
        .form(&[("csrf", "x"), ("code", "X1"), ("name", "X"), ("kind", "dinas")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn an_encoded_slash_in_a_request_or_certificate_path_is_not_found_and_never_echoed() {
    let app = TestApp::spawn_with(&[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let top = unit(&app, "3509.17", None).await;
    let (admin_nip, _) = staff(&app, "Rina Wulandari", Some(&top), Some("diskominfo-admin")).await;
    let (_, victim) = staff(&app, "Agus Prasetyo", Some(&top), None).await;
    let b = browser();
    assert_eq!(console_login(&app, &b, &admin_nip).await.status(), 303);
    let csrf = hidden(&page(&app, &b, &format!("/console/accounts/{victim}")).await, "csrf");

    let evil = format!("..%2F..%2Fconsole%2Faccounts%2F{victim}%2Fstatus%3Fx%3D");
    let cases = [
        (format!("/console/requests/{evil}/decide"), vec![("decision", "reject"), ("reason", "tidak perlu")]),
        (format!("/console/requests/{evil}/credentials"), vec![]),
        (format!("/console/certificates/{evil}/revoke"), vec![("reason", "kunci bocor")]),
    ];
    for (path, fields) in cases {
        let mut form = fields.clone();
        form.push(("csrf", &csrf));
        let res = post(&app, &b, &path, &form).await;
        assert_eq!(res.status(), 404, "{path}");
        let html = unescape(&res.text().await.unwrap());
        assert!(!html.contains(&format!("accounts/{victim}")), "{path}: the id is not echoed\n{html}");
    }
    let v = gerbang::store::accounts::get(&app.state.db, &victim).await.unwrap().unwrap();
    assert_eq!(v.status, "active");
}
