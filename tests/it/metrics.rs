//! Prometheus metrics. Counters are process-wide, so the exact figures are read from the real
//! binary (`gerbang serve` with `metrics_listen`) running alone on this test's database: a
//! successful and a refused login, a lockout, a code and a refresh grant move exactly the
//! expected series, `/token` has its latency histogram, and the separate listener serves only
//! `/metrics`. In-process servers check the token guard on the main port and the audit-chain
//! gauge.

use std::time::Duration;

use gerbang::audit::{self, Event};
use gerbang::oidc::clients::GrantType;
use gerbang::state::now;
use gerbang::store::certs::CertRow;
use gerbang::store::Db;
use openidconnect::PkceCodeChallenge;
use serde_json::Value;

use crate::common::*;
use crate::services::{free_port, Serve};

const TOKEN: &str = "metrics-token-for-tests-0123456789";

/// The value of the series `name` whose labels include every pair of `labels`, if exported.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (series, v) = rest.rsplit_once(' ')?;
        if !(series.is_empty() || series.starts_with('{')) {
            return None;
        }
        labels.iter().all(|(k, val)| series.contains(&format!("{k}=\"{val}\""))).then(|| v.parse().ok())?
    })
}

/// `gerbang serve` on `app`'s database, cache and master key, with a metrics listener of its
/// own; killed when dropped.
struct Binary {
    serve: Serve,
    base: String,
    metrics: String,
}

impl Binary {
    async fn start(app: &TestApp, extra: &[(&str, &str)]) -> Binary {
        let (port, mport) = (free_port(), free_port());
        let c = &app.state.config;
        let base = format!("http://127.0.0.1:{port}");
        let mut settings: Vec<(String, String)> = [
            ("GERBANG_ISSUER", base.clone()),
            ("GERBANG_BIND", format!("127.0.0.1:{port}")),
            ("GERBANG_METRICS_LISTEN", format!("127.0.0.1:{mport}")),
            ("GERBANG_DATABASE_URL", c.database_url.expose().clone()),
            ("GERBANG_DATA_DIR", c.data_dir.display().to_string()),
            ("GERBANG_THEMES_DIR", c.themes_dir.display().to_string()),
            ("GERBANG_BOOTSTRAP", "false".into()),
            ("GERBANG_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(r) = &c.redis_url {
            settings.push(("GERBANG_REDIS_URL".into(), r.expose().clone()));
            settings.push(("GERBANG_REDIS_PREFIX".into(), c.redis_prefix.clone()));
        }
        settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let serve = Serve::start(port, settings, c.data_dir.join("binary.log")).await;
        Binary { serve, base, metrics: format!("http://127.0.0.1:{mport}") }
    }

    async fn scrape(&self) -> String {
        let res = http_client().get(format!("{}/metrics", self.metrics)).send().await.expect("scrape");
        assert_eq!(res.status(), 200);
        let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        res.text().await.expect("body")
    }
}

/// A fresh login flow at `base`: the login page's form fields, and the PKCE verifier.
async fn login_page(b: &reqwest::Client, base: &str, c: &TestClient) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = url::Url::parse_with_params(
        &format!("{base}/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", c.id.as_str()),
            ("redirect_uri", c.redirect_uri.as_str()),
            ("scope", "openid profile"),
            ("state", "metrics-state"),
            ("nonce", "metrics-nonce"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let res = b.get(url).send().await.expect("authorize");
    assert_eq!(res.status(), 200, "login page");
    (res.text().await.unwrap(), verifier.secret().clone())
}

async fn post_login(b: &reqwest::Client, base: &str, html: &str, user: &str, password: &str) -> reqwest::Response {
    let form = [
        ("login_id", hidden(html, "login_id")),
        ("csrf", hidden(html, "csrf")),
        ("username", user.to_string()),
        ("password", password.to_string()),
    ];
    b.post(format!("{base}/login")).form(&form).send().await.expect("login")
}

async fn token(base: &str, c: &TestClient, form: &[(&str, &str)]) -> Value {
    let res = http_client()
        .post(format!("{base}/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(form)
        .send()
        .await
        .expect("token");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

fn cert(account_id: &str, n: u32, not_after: i64, status: &str, check: &str) -> CertRow {
    CertRow {
        id: format!("cert-{n}-{}", uuid::Uuid::new_v4().simple()),
        account_id: account_id.into(),
        fingerprint: format!("{n:02x}{}", uuid::Uuid::new_v4().simple()),
        subject: "CN=Uji".into(),
        issuer: "CN=BSrE Uji".into(),
        serial: n.to_string(),
        not_before: now() - 86_400,
        not_after,
        status: status.into(),
        possession: "signature".into(),
        check_status: check.into(),
        bound_by: account_id.into(),
        created_at: now(),
        // Checked just now, so the binary's re-check round leaves them as they are.
        checked_at: Some(now()),
        check_valid_until: Some(now() + 86_400),
        ..CertRow::default()
    }
}

#[tokio::test]
async fn the_binary_counts_logins_lockouts_tokens_and_latency_on_its_own_listener() {
    let app = TestApp::spawn().await;
    let c =
        app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode, GrantType::RefreshToken], true).await;
    let (good, locked) = (unique_nip(), unique_nip());
    let holder = app.asn(&good, "Sari").await;
    let other = app.asn(&locked, "Budi").await;
    let day = 86_400;
    for (n, (who, after, status, check)) in [
        (&holder, now() + 300 * day, "active", "good"),
        (&holder, now() + 300 * day, "active", "unchecked"),
        (&holder, now() + 5 * day, "active", "good"),
        // Ended, with newer ones bound: replaced. Ended, with none: expired.
        (&holder, now() - day, "active", "good"),
        (&other, now() - day, "active", "good"),
        (&other, now() + 300 * day, "revoked", "good"),
    ]
    .into_iter()
    .enumerate()
    {
        gerbang::store::certs::insert(&app.state.db, &cert(&who.id, n as u32, after, status, check))
            .await
            .expect("certificate");
    }
    // One failure locks an account, so the second attempt on it is refused unjudged.
    let bin = Binary::start(&app, &[("GERBANG_LOGIN_MAX_FAILURES", "1")]).await;
    let base = bin.base.as_str();

    let b = browser();
    let (html, verifier) = login_page(&b, base, &c).await;
    let res = post_login(&b, base, &html, &good, PASSWORD).await;
    assert_eq!(res.status(), 303, "{}", bin.serve.log_text());
    let code = query(&location(&res))["code"].clone();
    let t = token(
        base,
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    let refresh = t["refresh_token"].as_str().expect("refresh token");
    token(base, &c, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;

    let b = browser();
    let (html, _) = login_page(&b, base, &c).await;
    assert_eq!(post_login(&b, base, &html, &locked, "salah-sekali-kata-sandinya").await.status(), 401);
    let (html, _) = login_page(&b, base, &c).await;
    assert_eq!(post_login(&b, base, &html, &locked, PASSWORD).await.status(), 429);

    let text = bin.scrape().await;
    let login = |result: &str| value(&text, "gerbang_logins_total", &[("result", result), ("method", "password")]);
    assert_eq!(login("success"), Some(1.0), "{text}");
    assert_eq!(value(&text, "gerbang_logins_total", &[("result", "success"), ("level", "1")]), Some(1.0));
    assert_eq!(login("failure"), Some(1.0));
    assert_eq!(login("throttled"), Some(1.0));
    assert_eq!(value(&text, "gerbang_lockouts_total", &[]), Some(1.0));
    let tokens = |grant: &str| value(&text, "gerbang_tokens_total", &[("grant", grant), ("client_id", &c.id)]);
    assert_eq!(tokens("authorization_code"), Some(1.0));
    assert_eq!(tokens("refresh_token"), Some(1.0));
    let route = [("route", "/token"), ("method", "POST"), ("status", "2xx")];
    assert_eq!(value(&text, "gerbang_http_request_duration_seconds_count", &route), Some(2.0));
    let mut slowest = route.to_vec();
    slowest.push(("le", "+Inf"));
    assert_eq!(value(&text, "gerbang_http_request_duration_seconds_bucket", &slowest), Some(2.0));
    // Routes by pattern: the login form's POST, never a raw path with its query.
    for (class, n) in [("2xx", None), ("3xx", Some(1.0)), ("4xx", Some(2.0))] {
        let labels = [("route", "/login"), ("method", "POST"), ("status", class)];
        assert_eq!(value(&text, "gerbang_http_request_duration_seconds_count", &labels), n, "{class}");
    }
    assert!(!text.contains("route=\"/authorize?"), "{text}");
    assert_eq!(value(&text, "gerbang_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    assert_eq!(value(&text, "gerbang_dependency_up", &[("dependency", "database")]), Some(1.0));
    assert_eq!(value(&text, "gerbang_dependency_up", &[("dependency", "cache")]), Some(1.0));
    assert_eq!(value(&text, "gerbang_password_hash_capacity", &[("kind", "running")]), Some(4.0));
    assert_eq!(value(&text, "gerbang_password_hashes_running", &[]), Some(0.0));
    assert_eq!(value(&text, "gerbang_database_errors_total", &[]), None, "no database error: {text}");
    for (state, n) in [
        ("valid", 1.0),
        ("unchecked", 1.0),
        ("expiring", 1.0),
        ("replaced", 1.0),
        ("expired", 1.0),
        ("revoked", 1.0),
        ("failing", 0.0),
    ] {
        assert_eq!(value(&text, "gerbang_certificates", &[("state", state)]), Some(n), "{state}");
    }
    // The first upkeep round verifies the audit chain; it runs at start-up, possibly still
    // running at the first scrape.
    let intact = async {
        loop {
            if let Some(v) = value(&bin.scrape().await, "gerbang_audit_chain_intact", &[]) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    assert_eq!(tokio::time::timeout(Duration::from_secs(60), intact).await.expect("audit gauge"), 1.0);

    // The metrics listener serves nothing else, and the main port has no /metrics without a
    // token configured.
    let h = http_client();
    for path in ["/token", "/authorize", "/.well-known/openid-configuration", "/healthz", "/metrics/x"] {
        assert_eq!(h.get(format!("{}{path}", bin.metrics)).send().await.unwrap().status(), 404, "{path}");
    }
    assert_eq!(h.post(format!("{}/token", bin.metrics)).send().await.unwrap().status(), 404);
    assert_eq!(h.get(format!("{base}/metrics")).send().await.unwrap().status(), 404);
}

async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .expect("tamper");
}

async fn get(url: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut req = http_client().get(url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request")
}

/// With `metrics_token` the main port serves `/metrics` to that bearer token only; the separate
/// listener asks for it too. The only test in this process that sets the audit gauge.
#[tokio::test]
async fn the_token_guards_metrics_and_the_audit_gauge_follows_the_chain() {
    let plain = TestApp::spawn().await;
    assert_eq!(get(&plain.url("/metrics"), None).await.status(), 404, "no token configured: not served");
    assert_eq!(get(&plain.url("/metrics"), Some(TOKEN)).await.status(), 404);
    // Answered as an unknown path is, whatever the method: nothing shows the endpoint exists.
    let unknown = get(&plain.url("/tidak-ada"), None).await;
    let (unknown_type, unknown_body) = (unknown.headers()["content-type"].clone(), unknown.text().await.unwrap());
    for res in
        [get(&plain.url("/metrics"), None).await, http_client().post(plain.url("/metrics")).send().await.unwrap()]
    {
        assert_eq!((res.status(), res.headers().get("allow")), (reqwest::StatusCode::NOT_FOUND, None));
        assert_eq!(res.headers()["content-type"], unknown_type);
        assert_eq!(res.text().await.unwrap(), unknown_body);
    }

    let app = TestApp::spawn_with(&[("GERBANG_METRICS_TOKEN", TOKEN)]).await;
    let url = app.url("/metrics");
    let refused = get(&url, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
    assert_eq!(get(&url, Some("metrics-token-for-tests-012345678X")).await.status(), 401);
    assert_eq!(get(&url, Some(&TOKEN[..TOKEN.len() - 1])).await.status(), 401);
    let basic = http_client().get(&url).basic_auth("prometheus", Some(TOKEN)).send().await.unwrap();
    assert_eq!(basic.status(), 401);
    let post = http_client().post(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(
        (post.status(), post.headers()["allow"].to_str().unwrap()),
        (reqwest::StatusCode::METHOD_NOT_ALLOWED, "GET")
    );
    let ok = get(&url, Some(TOKEN)).await;
    assert_eq!(ok.status(), 200);
    let text = ok.text().await.unwrap();
    assert!(text.contains("# TYPE gerbang_build_info gauge"), "{text}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let private = format!("http://{}", listener.local_addr().unwrap());
    let task = gerbang::app::spawn_metrics(app.state.clone(), listener);
    assert_eq!(get(&format!("{private}/metrics"), None).await.status(), 401);
    assert_eq!(get(&format!("{private}/metrics"), Some(TOKEN)).await.status(), 200);
    assert_eq!(get(&format!("{private}/authorize"), Some(TOKEN)).await.status(), 404);

    // The audit gauge: intact, then broken once a record is altered.
    for kind in ["test.metrics.one", "test.metrics.two"] {
        audit::append(&app.state.db, Event::new(kind), now()).await.expect("append");
    }
    gerbang::ops::metrics::verify_audit_chain(&app.state, now()).await;
    let text = get(&url, Some(TOKEN)).await.text().await.unwrap();
    assert_eq!(value(&text, "gerbang_audit_chain_intact", &[]), Some(1.0), "{text}");
    let records = value(&text, "gerbang_audit_chain_records", &[]).expect("records");
    assert!(records >= 2.0, "{records}");
    let first = gerbang::store::audit::all(&app.state.db).await.unwrap()[0].seq;
    exec(&app.state.db, &format!("UPDATE audit_events SET ip = '10.6.6.6' WHERE seq = {first}")).await;
    gerbang::ops::metrics::verify_audit_chain(&app.state, now()).await;
    let text = get(&url, Some(TOKEN)).await.text().await.unwrap();
    assert_eq!(value(&text, "gerbang_audit_chain_intact", &[]), Some(0.0), "{text}");
    task.abort();
}

/// A login refused at or by an upstream (SIASN, INApas) is counted as a failure of the method
/// `upstream`, at the level the upstream is configured to give; only successes were counted, so
/// an upstream refusing everyone showed nowhere.
#[tokio::test]
async fn an_upstream_refusal_is_counted() {
    use gerbang::oidc::clients::{self, NewClient};

    let app = TestApp::spawn().await;
    let up = TestApp::spawn_with(&[("GERBANG_CLIENT_CACHE_SECONDS", "0")]).await;
    let mut new = NewClient::web(
        "Gerbang Kabupaten",
        vec!["https://placeholder.example.go.id/cb".into()],
        ["openid", "nip"].iter().map(|s| s.to_string()).collect(),
        vec![GrantType::AuthorizationCode],
    );
    let client_id = format!("down-{}", uuid::Uuid::new_v4().simple());
    new.id = Some(client_id.clone());
    let (_, secret) = clients::register(&up.state.db, &up.state.redirect_policy, new, now()).await.unwrap();
    let upstream = format!(
        "[{{ id = \"siasn\", name = \"SIASN BKN\", issuer = \"{}\", client_id = \"{client_id}\", client_secret = \"{}\", scopes = \"openid nip\", nip_claim = \"nip\", level = 2 }}]",
        up.base,
        secret.unwrap().expose()
    );
    let bin = Binary::start(&app, &[("GERBANG_UPSTREAM", upstream.as_str())]).await;
    let callback = format!("{}/upstream/siasn/callback", bin.base);
    let uris = serde_json::to_string(&[callback.as_str()]).unwrap();
    gerbang::store::clients::set_redirect_uris(&up.state.db, &client_id, &uris, "[]", now()).await.unwrap();
    let c = app.web_client(&["openid", "profile"], &[GrantType::AuthorizationCode], true).await;
    let b = browser();
    let (html, _) = login_page(&b, &bin.base, &c).await;
    let form = [("login_id", hidden(&html, "login_id")), ("csrf", hidden(&html, "csrf"))];
    let res = b.post(format!("{}/upstream/siasn/start", bin.base)).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let state = query(&location(&res))["state"].clone();
    // The person cancels at the upstream, which sends them back with an error.
    let back =
        url::Url::parse_with_params(&callback, &[("state", state.as_str()), ("error", "access_denied")]).unwrap();
    let res = b.get(back).send().await.unwrap();
    assert_eq!(res.status(), 403, "the refusal page");
    let text = bin.scrape().await;
    let failures = [("method", "upstream"), ("result", "failure"), ("level", "2")];
    assert_eq!(value(&text, "gerbang_logins_total", &failures), Some(1.0), "{text}");
}
