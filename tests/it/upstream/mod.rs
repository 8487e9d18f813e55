//! Logins through an upstream identity provider (issue 12, part 1), with a second Gerbang as the
//! upstream ("SIASN"): link by NIP, creation, refusals (invalid or missing NIP, suspended
//! account, no account), key rotation at the upstream, the upstream down, and the round trip
//! bound to one browser and used once.

use gerbang::identity::accounts::{self, AccountStatus};
use gerbang::oidc::clients::{self, GrantType, NewClient};
use gerbang::state::now;
use openidconnect::TokenResponse;

use crate::common::*;

mod fresh;
mod step_up;

/// The downstream Gerbang (the region's), the upstream one, and the id of the client the
/// downstream has at the upstream.
struct Fed {
    down: TestApp,
    up: TestApp,
}

/// `table` holds the `[[upstream]]` keys beyond id, issuer and the client's credentials.
async fn federation(table: &str, down_extra: &[(&str, &str)]) -> Fed {
    let up = TestApp::spawn_with(&[("GERBANG_CLIENT_CACHE_SECONDS", "0")]).await;
    let mut new = NewClient::web(
        "Gerbang Kabupaten",
        vec!["https://placeholder.example.go.id/cb".into()],
        ["openid", "profile", "nip", "nik", "asn_profile", "email"].iter().map(|s| s.to_string()).collect(),
        vec![GrantType::AuthorizationCode],
    );
    let client_id = format!("down-{}", uuid::Uuid::new_v4().simple());
    new.id = Some(client_id.clone());
    let (_, secret) = clients::register(&up.state.db, &up.state.redirect_policy, new, now()).await.expect("client");
    let secret = secret.expect("secret").expose().clone();
    let toml = format!(
        "[{{ id = \"siasn\", name = \"SIASN BKN\", issuer = \"{}\", client_id = \"{client_id}\", client_secret = \"{secret}\", {table} }}]",
        up.base
    );
    let mut extra: Vec<(&str, &str)> = vec![("GERBANG_UPSTREAM", &toml)];
    extra.extend_from_slice(down_extra);
    let down = TestApp::spawn_with(&extra).await;
    let callback = serde_json::to_string(&[down.url("/upstream/siasn/callback")]).unwrap();
    gerbang::store::clients::set_redirect_uris(&up.state.db, &client_id, &callback, "[]", now()).await.unwrap();
    Fed { down, up }
}

const SIASN: &str = "scopes = \"openid profile nip\", nip_claim = \"nip\", level = 2";

/// The relying party at the downstream and its authorization URL, opened in `b`: the login page.
async fn login_page(fed: &Fed, b: &reqwest::Client) -> (Rp, AuthStart, String) {
    let c = fed.down.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let rp = fed.down.rp(&c).await;
    let start = start_auth(&rp, &["profile"]);
    let res = b.get(&start.url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    (rp, start, html)
}

/// Presses the SIASN button, logs in at the upstream (in its own browser, as its own site's
/// cookies would be) and returns the callback URL the upstream sends the browser back to.
async fn via_upstream(fed: &Fed, b: &reqwest::Client, html: &str, nip: &str) -> String {
    assert!(html.contains("id=\"upstream-siasn\"") && html.contains("SIASN BKN"), "button on the login page");
    let res = b
        .post(fed.down.url("/upstream/siasn/start"))
        .form(&[("login_id", hidden(html, "login_id")), ("csrf", hidden(html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to_upstream = location(&res);
    assert!(to_upstream.starts_with(&fed.up.url("/authorize")), "{to_upstream}");
    let q = query(&to_upstream);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(
        q.contains_key("state") && q.contains_key("nonce") && q["redirect_uri"].ends_with("/upstream/siasn/callback")
    );
    let up_browser = browser();
    let back = login(&fed.up, &up_browser, &to_upstream, nip, PASSWORD).await;
    assert!(back.starts_with(&fed.down.url("/upstream/siasn/callback")), "{back}");
    back
}

async fn link_count(app: &TestApp, account_id: &str) -> usize {
    gerbang::store::upstream::of_account(&app.state.db, account_id).await.unwrap().len()
}

#[tokio::test]
async fn the_first_login_links_by_nip_and_the_next_one_follows_the_link() {
    let fed = federation(SIASN, &[("GERBANG_ADMIN_MIN_LEVEL", "1")]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Siti Aminah").await;
    let local = fed.down.asn(&nip, "Siti Aminah").await;

    let b = browser();
    let (rp, start, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &nip).await;
    let res = b.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap_or_default());
    let to_app = location(&res);
    assert_eq!(query(&to_app)["state"], *start.csrf.secret());
    let tokens = redeem(&rp, &to_app, start.verifier).await;
    let id_token = tokens.id_token().expect("id token").to_string();
    let claims = jwt_payload(&id_token);
    assert_eq!(claims["sub"], local.id.as_str(), "the account with the same NIP");
    assert_eq!(claims["acr"], "urn:gerbang:loa:2", "the upstream's level");
    assert_eq!(claims["amr"], serde_json::json!(["x-upstream"]));
    assert_eq!(link_count(&fed.down, &local.id).await, 1);

    // The second login goes through the link, in a new browser, without a password here.
    let b2 = browser();
    let (_, _, html) = login_page(&fed, &b2).await;
    let back = via_upstream(&fed, &b2, &html, &nip).await;
    assert_eq!(b2.get(&back).send().await.unwrap().status(), 303);
    assert_eq!(link_count(&fed.down, &local.id).await, 1, "still one link");

    // Administrators see it on the account's console page.
    let (admin_nip, _) = staff(&fed.down, "Rina Wulandari", None, Some("diskominfo-admin")).await;
    let admin = browser();
    assert_eq!(crate::console::console_login(&fed.down, &admin, &admin_nip).await.status(), 303);
    let res = admin.get(fed.down.url(&format!("/console/accounts/{}", local.id))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"upstream-links\"") && page.contains("SIASN BKN") && page.contains("siasn"), "{page}");

    // The person sees the link on the account page and removes it.
    let res = b2.get(fed.down.url("/account")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"upstream-links\"") && page.contains("SIASN BKN"), "{page}");
    let res = b2.get(fed.down.url("/account/upstream/siasn/remove")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let confirm = res.text().await.unwrap();
    let res = b2
        .post(fed.down.url("/account/upstream/siasn/remove"))
        .form(&[("csrf", hidden(&confirm, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/account?done=upstream_removed");
    assert_eq!(link_count(&fed.down, &local.id).await, 0);
    let res = b2
        .post(fed.down.url("/account/upstream/siasn/remove"))
        .form(&[("csrf", hidden(&confirm, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "nothing left to remove");
}

#[tokio::test]
async fn a_first_login_creates_the_account_when_allowed_and_never_twice() {
    let fed = federation(&format!("{SIASN}, create_accounts = true"), &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Bambang Sutrisno").await;
    for _ in 0..2 {
        let b = browser();
        let (_, _, html) = login_page(&fed, &b).await;
        let back = via_upstream(&fed, &b, &html, &nip).await;
        assert_eq!(b.get(&back).send().await.unwrap().status(), 303);
    }
    let (a, _) = accounts::find_for_login(&fed.down.state.db, &nip).await.unwrap().expect("created");
    assert_eq!(a.name, "Bambang Sutrisno");
    assert_eq!(a.kind.as_str(), "asn");
    assert_eq!(link_count(&fed.down, &a.id).await, 1);
    let audit = gerbang::audit::list(&fed.down.state.db, 1000, None).await.unwrap();
    assert_eq!(audit.iter().filter(|r| r.kind == "account.created").count(), 1, "one account, once");
}

async fn refused(fed: &Fed, nip: &str) -> (u16, String) {
    let b = browser();
    let (_, _, html) = login_page(fed, &b).await;
    let back = via_upstream(fed, &b, &html, nip).await;
    let res = b.get(&back).send().await.unwrap();
    let status = res.status().as_u16();
    assert!(res.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("gerbang_sso")), "no session");
    (status, res.text().await.unwrap())
}

#[tokio::test]
async fn no_account_and_no_creation_is_refused_with_a_page_that_says_so() {
    let fed = federation(SIASN, &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Dewi Lestari").await;
    let (status, page) = refused(&fed, &nip).await;
    assert_eq!(status, 403);
    assert!(page.contains("no_account") && page.contains("SIASN BKN"), "{page}");
    assert!(accounts::find_for_login(&fed.down.state.db, &nip).await.unwrap().is_none(), "nothing created");
}

#[tokio::test]
async fn an_invalid_nip_claim_is_refused_and_matches_nothing() {
    // The NIP claim pointed at a profile attribute holding text that is no NIP.
    let fed =
        federation("scopes = \"openid profile asn_profile\", nip_claim = \"jabatan\", create_accounts = true", &[])
            .await;
    let nip = unique_nip();
    let mut a = fed.up.asn(&nip, "Joko Widodo").await;
    a.profile.insert("jabatan".into(), "Analis Kebijakan Ahli Muda".into());
    accounts::save_profile(&fed.up.state.db, &a, now()).await.unwrap();
    let (status, page) = refused(&fed, &nip).await;
    assert_eq!(status, 403);
    assert!(page.contains("invalid_identifier"), "{page}");
    assert!(accounts::find_for_login(&fed.down.state.db, &nip).await.unwrap().is_none());
}

#[tokio::test]
async fn a_missing_nip_claim_is_refused() {
    // The scope that releases `nip` is not asked for: the claim never arrives.
    let fed = federation("scopes = \"openid profile\", nip_claim = \"nip\", create_accounts = true", &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Ani Suryani").await;
    fed.down.asn(&nip, "Ani Suryani").await;
    let (status, page) = refused(&fed, &nip).await;
    assert_eq!(status, 403);
    assert!(page.contains("missing_identifier"), "{page}");
}

#[tokio::test]
async fn a_suspended_account_is_refused_and_not_linked() {
    let fed = federation(SIASN, &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Rudi Hartono").await;
    let local = fed.down.asn(&nip, "Rudi Hartono").await;
    accounts::set_status(&fed.down.state.db, &local.id, AccountStatus::Suspended, now()).await.unwrap();
    let (status, page) = refused(&fed, &nip).await;
    assert_eq!(status, 403);
    assert!(page.contains("account_disabled"), "{page}");
    assert_eq!(link_count(&fed.down, &local.id).await, 0);
}

#[tokio::test]
async fn the_round_trip_is_used_once_and_only_by_the_browser_that_started_it() {
    let fed = federation(SIASN, &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Sri Mulyani").await;
    fed.down.asn(&nip, "Sri Mulyani").await;

    // Another browser (a victim lured to the attacker's callback URL) gets nothing.
    let b = browser();
    let (_, _, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &nip).await;
    let victim = browser();
    let res = victim.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("expired"));
    assert_eq!(b.get(&back).send().await.unwrap().status(), 400, "spent by the refused attempt");

    // The same callback sent many times at once is taken once.
    let b = browser();
    let (_, _, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &nip).await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (b, url) = (b.clone(), back.clone());
            tokio::spawn(async move { b.get(&url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![303, 400, 400, 400, 400, 400]);

    // A callback naming another issuer (RFC 9207) is refused: a mix-up of providers.
    let b = browser();
    let (_, _, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &nip).await;
    let iss = url::form_urlencoded::byte_serialize(fed.up.base.as_bytes()).collect::<String>();
    let forged = back.replace(&format!("iss={iss}"), "iss=https%3A%2F%2Fevil.example");
    assert_ne!(forged, back);
    let res = b.get(&forged).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_key_rotation_at_the_upstream_is_followed() {
    let fed = federation(SIASN, &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Hendra Gunawan").await;
    let local = fed.down.asn(&nip, "Hendra Gunawan").await;
    let b = browser();
    let (_, _, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &nip).await;
    assert_eq!(b.get(&back).send().await.unwrap().status(), 303);
    let before = jwt_header(
        &fed.up
            .state
            .keys
            .sign(gerbang::oidc::keys::Alg::RS256, gerbang::oidc::keys::TokenType::IdToken, &serde_json::json!({}))
            .unwrap(),
    )["kid"]
        .clone();

    // `keys rotate` at the upstream; the new key signs once it has matured.
    fed.up.state.keys.rotate(&fed.up.state.db, now()).await.expect("rotate");
    fed.up.advance(fed.up.state.keys.publish_delay() + 1);
    fed.up.state.keys.reload_at(&fed.up.state.db, fed.up.state.now()).await.unwrap();
    let after = jwt_header(
        &fed.up
            .state
            .keys
            .sign(gerbang::oidc::keys::Alg::RS256, gerbang::oidc::keys::TokenType::IdToken, &serde_json::json!({}))
            .unwrap(),
    )["kid"]
        .clone();
    assert_ne!(before, after, "the upstream signs with a new key");
    // Past the re-fetch interval (and the upstream's moved clock) downstream.
    fed.down.advance(fed.up.state.keys.publish_delay() + 30);
    let b = browser();
    let (rp, start, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &nip).await;
    let res = b.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 303, "the unknown key was fetched: {}", res.text().await.unwrap_or_default());
    let tokens = redeem(&rp, &location(&res), start.verifier).await;
    let claims = jwt_payload(&tokens.id_token().expect("id token").to_string());
    assert_eq!(claims["sub"], local.id.as_str());
}

#[tokio::test]
async fn an_upstream_that_is_down_leaves_local_login_working() {
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let toml = format!(
        "[{{ id = \"siasn\", name = \"SIASN BKN\", issuer = \"http://127.0.0.1:{closed}\", client_id = \"x\", client_secret = \"y\", nip_claim = \"nip\" }}]"
    );
    let down = TestApp::spawn_with(&[("GERBANG_UPSTREAM", &toml)]).await;
    let nip = unique_nip();
    down.asn(&nip, "Wahyu Hidayat").await;
    let c = down.web_client(&["openid"], &[GrantType::AuthorizationCode], true).await;
    let rp = down.rp(&c).await;
    let start = start_auth(&rp, &[]);
    let b = browser();
    let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
    let res = b
        .post(down.url("/upstream/siasn/start"))
        .form(&[("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let page = res.text().await.unwrap();
    assert!(page.contains("name=\"password\""), "the login page again");
    assert!(page.contains("tidak dapat dihubungi") || page.contains("cannot be reached"), "{page}");
    // An unknown upstream id is a page, not a redirect anywhere.
    let res = b
        .post(down.url("/upstream/nope/start"))
        .form(&[("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // The same flow goes on with the local password.
    let res = submit_login(&down, &b, &page, &nip, PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with(&c.redirect_uri));
}

/// `private_key_jwt` towards an upstream that insists on it, as INApas does: panva's
/// `oidc-provider` (tests/upstream) refuses any other client authentication. Needs Node.js and
/// `npm ci` in tests/upstream; `.ci/run` runs it.
#[tokio::test]
#[ignore = "needs node and `npm ci` in tests/upstream (run by .ci/run)"]
async fn private_key_jwt_to_an_upstream_that_requires_it() {
    use tokio::io::AsyncBufReadExt;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upstream");
    let out = std::process::Command::new("node").args(["provider.mjs", "keygen"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "keygen: {}", String::from_utf8_lossy(&out.stderr));
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("inapas.pem");
    std::fs::write(&key_file, keys["pem"].as_str().unwrap()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let toml = format!(
        "[{{ id = \"inapas\", name = \"INApas\", issuer = \"http://127.0.0.1:{port}\", client_id = \"gerbang-test\", \
         private_key_file = \"{}\", private_key_alg = \"ES256\", private_key_kid = \"gerbang-test\", \
         scopes = \"openid profile nik\", nik_claim = \"nik\", create_accounts = true }}]",
        key_file.display()
    );
    let down = TestApp::spawn_with(&[("GERBANG_UPSTREAM", &toml)]).await;
    let nik = unique_nik();
    let mut node = tokio::process::Command::new("node")
        .arg("provider.mjs")
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("CLIENT_ID", "gerbang-test")
        .env("CLIENT_JWK", keys["jwk"].to_string())
        .env("REDIRECT_URI", down.url("/upstream/inapas/callback"))
        .env("ACCOUNT_NIK", &nik)
        .env("ACCOUNT_NAME", "Putri Ayu Lestari")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(node.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await;
    assert_eq!(ready.unwrap().unwrap().as_deref(), Some("ready"));

    let c = down.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let rp = down.rp(&c).await;
    let start = start_auth(&rp, &["profile"]);
    let b = browser();
    let html = b.get(&start.url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Masuk dengan INApas") || html.contains("Log in with INApas"));
    let res = b
        .post(down.url("/upstream/inapas/start"))
        .form(&[("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Through the provider's redirects (its interaction logs the person in at once) back here.
    let up = browser();
    let mut url = location(&res);
    for _ in 0..10 {
        if url.starts_with(&down.url("/upstream/inapas/callback")) {
            break;
        }
        let res = up.get(&url).send().await.unwrap();
        assert!(res.status().is_redirection(), "{url}: {} {}", res.status(), res.text().await.unwrap());
        let next = location(&res);
        url = if next.starts_with('/') { format!("http://127.0.0.1:{port}{next}") } else { next };
    }
    assert!(url.starts_with(&down.url("/upstream/inapas/callback")), "{url}");
    let res = b.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap_or_default());
    let tokens = redeem(&rp, &location(&res), start.verifier).await;
    let claims = jwt_payload(&tokens.id_token().expect("id token").to_string());
    let (a, _) = accounts::find_for_login(&down.state.db, &nik).await.unwrap().expect("created by NIK");
    assert_eq!(claims["sub"], a.id.as_str());
    assert_eq!(a.name, "Putri Ayu Lestari");
    assert_eq!(a.kind.as_str(), "citizen");
    let _ = node.kill().await;
}

#[tokio::test]
async fn first_logins_racing_for_one_nip_make_one_account_and_one_link() {
    let fed = federation(&format!("{SIASN}, create_accounts = true"), &[]).await;
    let nip = unique_nip();
    fed.up.asn(&nip, "Yusuf Maulana").await;
    // Two browsers each hold a callback for the same person, then come back at once.
    let mut trips = Vec::new();
    for _ in 0..2 {
        let b = browser();
        let (_, _, html) = login_page(&fed, &b).await;
        let back = via_upstream(&fed, &b, &html, &nip).await;
        trips.push((b, back));
    }
    let tasks: Vec<_> = trips
        .into_iter()
        .map(|(b, url)| tokio::spawn(async move { b.get(&url).send().await.unwrap().status().as_u16() }))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 303, "both log in");
    }
    let (a, _) = accounts::find_for_login(&fed.down.state.db, &nip).await.unwrap().expect("created");
    assert_eq!(link_count(&fed.down, &a.id).await, 1);
    let audit = gerbang::audit::list(&fed.down.state.db, 1000, None).await.unwrap();
    assert_eq!(audit.iter().filter(|r| r.kind == "account.created").count(), 1);
}

#[tokio::test]
async fn a_wrong_secret_or_a_foreign_discovery_document_is_explained() {
    // Gerbang's credentials are refused at the upstream's token endpoint.
    let up = TestApp::spawn().await;
    let nip = unique_nip();
    up.asn(&nip, "Eko Prasetyo").await;
    let mut new = NewClient::web(
        "Gerbang",
        vec!["https://placeholder.example.go.id/cb".into()],
        vec!["openid".into(), "nip".into()],
        vec![GrantType::AuthorizationCode],
    );
    new.id = Some(format!("down-{}", uuid::Uuid::new_v4().simple()));
    let (c, _) = clients::register(&up.state.db, &up.state.redirect_policy, new, now()).await.unwrap();
    let toml = format!(
        "[{{ id = \"siasn\", name = \"SIASN BKN\", issuer = \"{}\", client_id = \"{}\", client_secret = \"wrong\", scopes = \"openid nip\", nip_claim = \"nip\" }}, \
          {{ id = \"other\", name = \"Lain\", issuer = \"http://localhost:{}\", client_id = \"x\", client_secret = \"y\", nip_claim = \"nip\" }}]",
        up.base,
        c.id,
        up.base.rsplit(':').next().unwrap()
    );
    let fed = Fed { down: TestApp::spawn_with(&[("GERBANG_UPSTREAM", &toml)]).await, up };
    let callback = serde_json::to_string(&[fed.down.url("/upstream/siasn/callback")]).unwrap();
    gerbang::store::clients::set_redirect_uris(&fed.up.state.db, &c.id, &callback, "[]", now()).await.unwrap();
    fed.up.state.clients.forget(&c.id);
    let (status, page) = refused(&fed, &nip).await;
    assert_eq!(status, 403);
    assert!(page.contains("upstream_refused"), "{page}");

    // The document at `other`'s issuer names another issuer (127.0.0.1, not localhost).
    let b = browser();
    let (_, _, html) = login_page(&fed, &b).await;
    let res = b
        .post(fed.down.url("/upstream/other/start"))
        .form(&[("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let page = res.text().await.unwrap();
    assert!(page.contains("name=\"password\"") && (page.contains("konfigurasi") || page.contains("configuration")));
}

#[tokio::test]
async fn a_self_registered_nik_is_not_linked_until_its_holder_is_verified() {
    let mut down_extra: Vec<(&str, String)> = crate::mailbox::smtp_settings();
    down_extra.push(("GERBANG_CITIZEN_REGISTRATION", "true".into()));
    let pairs: Vec<(&str, &str)> = down_extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let fed = federation("scopes = \"openid profile nik\", nik_claim = \"nik\", level = 1", &pairs).await;

    // Someone registers the NIK of a citizen who has no account here yet.
    let nik = unique_nik();
    fed.up.citizen(&nik, "Siti Aminah").await;
    let registered = crate::register::register_and_confirm(&fed.down, &nik, &crate::mailbox::unique_address()).await;
    let stored = accounts::get(&fed.down.state.db, &registered).await.unwrap().unwrap();
    assert!(!stored.identity_verified());

    // The holder, vouched for by the upstream, is not handed that account.
    let (status, page) = refused(&fed, &nik).await;
    assert_eq!(status, 409);
    assert!(page.contains("unverified_account"), "{page}");
    assert_eq!(link_count(&fed.down, &registered).await, 0);

    // Once an officer has verified the person who holds the account, it links.
    assert_eq!(accounts::mark_identity_verified(&fed.down.state.db, &registered, now()).await.unwrap(), Some(true));
    let b = browser();
    let (_, _, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &nik).await;
    assert_eq!(b.get(&back).send().await.unwrap().status(), 303);
    assert_eq!(link_count(&fed.down, &registered).await, 1);

    // A citizen account an officer or an import created links without a counter visit, as before.
    let imported = unique_nik();
    fed.up.citizen(&imported, "Budi Santoso").await;
    let local = fed.down.citizen(&imported, "Budi Santoso").await;
    let b = browser();
    let (_, _, html) = login_page(&fed, &b).await;
    let back = via_upstream(&fed, &b, &html, &imported).await;
    assert_eq!(b.get(&back).send().await.unwrap().status(), 303);
    assert_eq!(link_count(&fed.down, &local.id).await, 1);
}

#[tokio::test]
async fn a_link_made_with_another_issuer_under_the_same_id_is_not_followed() {
    let fed = federation(SIASN, &[]).await;
    let nip = unique_nip();
    let there = fed.up.asn(&nip, "Agus Salim").await;
    // The id `siasn` once named another provider, where the same `sub` was someone else, linked
    // to an account here.
    let other = fed.down.asn(&unique_nip(), "Pemilik Tautan Lama").await;
    let stale = gerbang::store::upstream::LinkRow {
        upstream_id: "siasn".into(),
        subject: there.id.clone(),
        account_id: other.id.clone(),
        issuer: "https://sso-lama.example.go.id".into(),
        created_at: now(),
        last_login_at: None,
    };
    gerbang::store::upstream::insert(&fed.down.state.db, &stale).await.unwrap();
    let (status, page) = refused(&fed, &nip).await;
    assert_eq!(status, 409);
    assert!(page.contains("issuer_changed"), "{page}");
    assert_eq!(link_count(&fed.down, &other.id).await, 1, "the old link stays for an administrator to see");
}
