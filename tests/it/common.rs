//! Test harness: a real server on a free port (SQLite by default; PostgreSQL and Redis when
//! GERBANG_TEST_DATABASE_URL / GERBANG_TEST_REDIS_URL are set), and a browser-like HTTP client.

use std::collections::HashMap;
use std::sync::Arc;

use gerbang::clock::Clock;
use gerbang::config::{Config, Secret};
use gerbang::identity::accounts::{self, Account, NewAccount};
use gerbang::oidc::clients::{self, GrantType, NewClient};
use gerbang::oidc::keys::Alg;
use gerbang::state::{now, AppState};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};

pub use crate::services::Gerbang;

pub type Rp =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

pub struct TestApp {
    pub base: String,
    pub state: Arc<AppState>,
    _dir: tempfile::TempDir,
}

pub const PASSWORD: &str = "kata-sandi-uji-coba-2026";

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        Self::spawn_on("127.0.0.1", extra).await
    }

    /// A server whose issuer is `http://localhost:<port>`: passkeys need a domain name.
    pub async fn spawn_localhost(extra: &[(&str, &str)]) -> TestApp {
        Self::spawn_on("localhost", extra).await
    }

    async fn spawn_on(host: &str, extra: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{host}:{}", addr.port());
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("GERBANG_ISSUER".into(), base.clone());
        env.insert("GERBANG_BIND".into(), addr.to_string());
        env.insert("GERBANG_DATA_DIR".into(), dir.path().display().to_string());
        env.insert("GERBANG_BOOTSTRAP".into(), "false".into());
        env.insert("GERBANG_THEMES_DIR".into(), concat!(env!("CARGO_MANIFEST_DIR"), "/themes").into());
        env.insert("GERBANG_DATABASE_URL".into(), database_url(&dir).await);
        // A new signing key signs two minutes after it is published (the shortest the JWKS
        // max-age allows), so tests move the clock by minutes, not a day.
        env.insert("GERBANG_SIGNING_KEY_PUBLISH_MINUTES".into(), "2".into());
        env.insert("GERBANG_JWKS_MAX_AGE_SECONDS".into(), "60".into());
        if let Ok(r) = std::env::var("GERBANG_TEST_REDIS_URL") {
            env.insert("GERBANG_REDIS_URL".into(), r);
            env.insert("GERBANG_REDIS_PREFIX".into(), format!("test-{}:", uuid::Uuid::new_v4().simple()));
        }
        for (k, v) in extra {
            env.insert((*k).into(), (*v).into());
        }
        let config = Config::load(None, &env).expect("config");
        let state = AppState::init_with_clock(config, Clock::adjustable()).await.expect("state");
        let app = gerbang::build_router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
        });
        TestApp { base, state, _dir: dir }
    }

    /// A second server on the same database, cache and issuer, as another replica behind a
    /// load balancer would be.
    pub async fn replica(&self) -> TestApp {
        self.replica_with(|_| {}).await
    }

    /// [`TestApp::replica`] with settings of its own (e.g. other master keys, as during a
    /// rolling update).
    pub async fn replica_with(&self, change: impl FnOnce(&mut Config)) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = (*self.state.config).clone();
        config.bind = addr;
        change(&mut config);
        // The same clock: replicas' clocks agree, and moving one moves both.
        let state = AppState::init_with_clock(config, self.state.clock.clone()).await.expect("replica state");
        let app = gerbang::build_router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
        });
        let dir = tempfile::tempdir().expect("tempdir");
        TestApp { base: format!("http://{addr}"), state, _dir: dir }
    }

    /// Moves the server's clock (and its replicas') forward, for every expiry decision including
    /// the cache's, on both cache backends.
    pub fn advance(&self, seconds: i64) {
        assert!(self.state.clock.advance(seconds), "the test server's clock is adjustable");
    }

    pub fn shared_cache(&self) -> bool {
        self.state.cache.kind() == "redis"
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn asn(&self, nip: &str, name: &str) -> Account {
        let new = NewAccount {
            nip: Some(nip.into()),
            nik: None,
            name: name.into(),
            password: Some(Secret::new(PASSWORD.into())),
            is_admin: false,
        };
        accounts::create(&self.state.db, &self.state.hasher, new, now()).await.expect("create asn").0
    }

    pub async fn citizen(&self, nik: &str, name: &str) -> Account {
        let new = NewAccount {
            nip: None,
            nik: Some(nik.into()),
            name: name.into(),
            password: Some(Secret::new(PASSWORD.into())),
            is_admin: false,
        };
        accounts::create(&self.state.db, &self.state.hasher, new, now()).await.expect("create citizen").0
    }

    /// A confidential, first-party web application with the given scopes and grants.
    pub async fn web_client(&self, scopes: &[&str], grants: &[GrantType], first_party: bool) -> TestClient {
        self.client_with(scopes, grants, first_party, false, Alg::RS256).await
    }

    pub async fn client_with(
        &self,
        scopes: &[&str],
        grants: &[GrantType],
        first_party: bool,
        public: bool,
        alg: Alg,
    ) -> TestClient {
        self.client_where(scopes, grants, |n| {
            n.public = public;
            n.first_party = first_party;
            n.token_alg = alg;
        })
        .await
    }

    /// A confidential web application with the given scopes and grants, its registration
    /// adjusted by `f` (pairwise subjects, say) before it is made.
    pub async fn client_where(
        &self,
        scopes: &[&str],
        grants: &[GrantType],
        f: impl FnOnce(&mut NewClient),
    ) -> TestClient {
        let redirect = format!("https://app-{}.example.go.id/callback", uuid::Uuid::new_v4().simple());
        let post_logout = format!("https://app.example.go.id/logged-out/{}", uuid::Uuid::new_v4().simple());
        let uris = if grants.contains(&GrantType::AuthorizationCode) { vec![redirect.clone()] } else { vec![] };
        let mut new =
            NewClient::web("Aplikasi Uji", uris, scopes.iter().map(|s| s.to_string()).collect(), grants.to_vec());
        new.post_logout_redirect_uris = vec![post_logout.clone()];
        f(&mut new);
        let (c, secret) =
            clients::register(&self.state.db, &self.state.redirect_policy, new, now()).await.expect("register client");
        TestClient {
            id: c.id,
            secret: secret.map(|s| s.expose().clone()),
            redirect_uri: redirect,
            post_logout_uri: post_logout,
        }
    }

    pub async fn rp(&self, c: &TestClient) -> Rp {
        let http = http_client();
        let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(self.base.clone()).expect("issuer"), &http)
            .await
            .expect("discovery");
        CoreClient::from_provider_metadata(meta, ClientId::new(c.id.clone()), c.secret.clone().map(ClientSecret::new))
            .set_redirect_uri(RedirectUrl::new(c.redirect_uri.clone()).expect("redirect"))
    }
}

#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
    pub post_logout_uri: String,
}

pub async fn database_url(dir: &tempfile::TempDir) -> String {
    match std::env::var("GERBANG_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            // One schema per test server keeps parallel tests apart on one database.
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&url).await.expect("connect postgres");
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.expect("create schema");
            pool.close().await;
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options=-c%20search_path%3D{schema}")
        }
        _ => format!("sqlite://{}/gerbang.db", dir.path().display()),
    }
}

/// An HTTP client that does not follow redirects, so tests see every Location.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A browser: keeps cookies, never follows redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().expect("browser")
}

pub struct AuthStart {
    pub url: String,
    pub csrf: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

pub fn start_auth(rp: &Rp, scopes: &[&str]) -> AuthStart {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = rp.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
    for s in scopes {
        req = req.add_scope(Scope::new(s.to_string()));
    }
    let (url, csrf, nonce) = req.set_pkce_challenge(challenge).url();
    AuthStart { url: url.to_string(), csrf, nonce, verifier }
}

/// Reads `name="..." value="..."` from a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in page")) + marker.len();
    let end = html[start..].find('"').expect("end of value") + start;
    html[start..end].to_string()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").expect("location header").to_str().expect("ascii").to_string()
}

/// Query parameters of a redirect.
pub fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).expect("url").query_pairs().into_owned().collect()
}

/// Drives the login page: GET the authorization URL, submit NIP/NIK and password, approve
/// consent if asked. Returns the final redirect to the application.
pub async fn login(app: &TestApp, browser: &reqwest::Client, auth_url: &str, username: &str, password: &str) -> String {
    let res = browser.get(auth_url).send().await.expect("authorize");
    if res.status() == 303 {
        return location(&res);
    }
    assert_eq!(res.status(), 200, "login page expected");
    let html = res.text().await.expect("html");
    let res = browser
        .post(app.url("/login"))
        .form(&[
            ("login_id", hidden(&html, "login_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", username.to_string()),
            ("password", password.to_string()),
        ])
        .send()
        .await
        .expect("login");
    if res.status() == 303 {
        return location(&res);
    }
    assert_eq!(res.status(), 200, "consent page expected after login");
    let html = res.text().await.expect("html");
    assert!(html.contains("name=\"decision\""), "consent page expected: {html}");
    consent(app, browser, &html, "allow").await
}

pub async fn consent(app: &TestApp, browser: &reqwest::Client, html: &str, decision: &str) -> String {
    let res = browser
        .post(app.url("/consent"))
        .form(&[
            ("login_id", hidden(html, "login_id")),
            ("csrf", hidden(html, "csrf")),
            ("decision", decision.to_string()),
        ])
        .send()
        .await
        .expect("consent");
    assert_eq!(res.status(), 303);
    location(&res)
}

/// Decodes a JWT's payload without checking it (tests check signatures separately).
pub fn jwt_payload(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("b64");
    serde_json::from_slice(&bytes).expect("json")
}

pub fn jwt_header(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("b64");
    serde_json::from_slice(&bytes).expect("json")
}

/// Valid identifiers for tests; each call gives a different sequence number so tests that run
/// in parallel on one database never collide.
pub fn unique_nip() -> String {
    let n = next();
    format!("19850312201001{}{:03}", 1 + (n / 999) % 2, 1 + n % 999)
}

pub fn unique_nik() -> String {
    let n = next();
    format!("350901420390{:04}", 1 + n % 9999)
}

fn next() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    // Start from a per-process random offset so two test processes sharing PostgreSQL schemas
    // are still independent; schemas already isolate them, this is belt and braces.
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| uuid::Uuid::new_v4().as_u128() as u64 % 500);
    seed + N.fetch_add(1, Ordering::Relaxed)
}

/// Posts the login form of `html` (a login page) with the given credentials.
pub async fn submit_login(
    app: &TestApp,
    browser: &reqwest::Client,
    html: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    browser
        .post(app.url("/login"))
        .form(&[
            ("login_id", hidden(html, "login_id")),
            ("csrf", hidden(html, "csrf")),
            ("username", username.to_string()),
            ("password", password.to_string()),
        ])
        .send()
        .await
        .expect("login")
}

/// An OPD unit named "Dinas <code>"; returns its id.
pub async fn opd_unit(app: &TestApp, code: &str, parent: Option<&str>) -> String {
    let new = gerbang::identity::opd::NewOpd {
        code: code.into(),
        name: format!("Dinas {code}"),
        kind: "dinas".into(),
        parent: parent.map(String::from),
    };
    gerbang::identity::opd::create(&app.state.db, new, now()).await.expect("unit").id
}

/// A civil servant with the test password, in `unit`, optionally holding a global role (made
/// when missing). Returns the NIP and the account id.
pub async fn staff(app: &TestApp, name: &str, unit: Option<&str>, role: Option<&str>) -> (String, String) {
    use gerbang::identity::roles::{self, Holder};
    let nip = unique_nip();
    let mut a = app.asn(&nip, name).await;
    a.opd_id = unit.map(String::from);
    accounts::save_profile(&app.state.db, &a, now()).await.expect("profile");
    if let Some(r) = role {
        let role = match roles::find(&app.state.db, None, r).await {
            Ok(x) => x,
            Err(_) => roles::create(&app.state.db, None, r, "", now()).await.expect("role"),
        };
        roles::assign(&app.state.db, &role, &Holder::Account(a.id.clone()), now()).await.expect("assign");
    }
    (nip, a.id)
}

/// An access token issued to the admin console, through the ordinary login.
pub async fn console_token(app: &TestApp, nip: &str) -> String {
    use openidconnect::{AuthorizationCode, OAuth2TokenResponse};
    let c = TestClient {
        id: "gerbang-console".into(),
        secret: None,
        redirect_uri: app.url("/console/callback"),
        post_logout_uri: String::new(),
    };
    let rp = app.rp(&c).await;
    let start = start_auth(&rp, &["profile", "roles"]);
    let cb = login(app, &browser(), &start.url, nip, PASSWORD).await;
    let t = rp
        .exchange_code(AuthorizationCode::new(query(&cb)["code"].clone()))
        .expect("exchange")
        .set_pkce_verifier(start.verifier)
        .request_async(&http_client())
        .await
        .expect("token");
    t.access_token().secret().clone()
}

/// Redeems the code in a callback URL as the relying party `rp` does, with its PKCE verifier.
pub async fn redeem(rp: &Rp, callback: &str, verifier: PkceCodeVerifier) -> openidconnect::core::CoreTokenResponse {
    rp.exchange_code(openidconnect::AuthorizationCode::new(query(callback)["code"].clone()))
        .expect("token request")
        .set_pkce_verifier(verifier)
        .request_async(&http_client())
        .await
        .expect("tokens")
}

/// Posts the same form to `url` from `n` simultaneous requests of one browser and returns the
/// statuses, sorted: for checking that a single-use value is taken exactly once.
pub async fn post_concurrently(b: &reqwest::Client, url: &str, form: &[(&str, &str)], n: usize) -> Vec<u16> {
    let form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (b, url, form) = (b.clone(), url.to_string(), form.clone());
            tokio::spawn(async move { b.post(&url).form(&form).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    statuses
}

/// What a run of the `gerbang` binary printed, for the tests that drive the command line.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|_| panic!("JSON expected, got {:?} / {:?}", self.stdout, self.stderr))
    }
}
