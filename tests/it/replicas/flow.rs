//! The login → code → refresh → userinfo cycle through the proxy, step by step, without
//! panicking: every answer is tallied by kind, and a step that cannot go on says why, so the
//! fault test can count outcomes while servers die under it.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::PkceCodeVerifier;
use serde_json::Value;

use crate::common::*;

/// What one request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// 2xx or 3xx.
    Ok,
    /// 4xx: an OAuth error, an expired login page.
    Client,
    /// 503, the clean "try again" of an unavailable dependency.
    Unavailable,
    /// Any other 5xx: never acceptable.
    Server,
    /// No HTTP answer: connection refused, reset or timed out.
    Connection,
    /// A 2xx or 3xx that does not carry the flow on (a page where a redirect was due).
    Unexpected,
}

impl Kind {
    pub fn of(res: &Result<reqwest::Response, reqwest::Error>) -> Kind {
        match res {
            Err(_) => Kind::Connection,
            Ok(r) if r.status().is_success() || r.status().is_redirection() => Kind::Ok,
            Ok(r) if r.status() == 503 => Kind::Unavailable,
            Ok(r) if r.status().is_server_error() => Kind::Server,
            Ok(_) => Kind::Client,
        }
    }
}

/// Where the answers of a run are counted: each under the phase in which its request was sent
/// (taken when it is sent), not the one current when it came back, so a slow answer to a
/// request sent before a fault is not taken for one of the fault's.
pub trait Count: Send + Sync {
    /// The phase now.
    fn current(&self) -> usize {
        0
    }
    /// A request is being sent: the phase it belongs to, until [`Count::answered`].
    fn sent(&self) -> usize {
        self.current()
    }
    /// The request sent in `phase` has its answer (or its error).
    fn answered(&self, _phase: usize) {}
    fn record(&self, phase: usize, step: &'static str, kind: Kind, detail: Option<&str>);
}

pub type Tally = Arc<dyn Count>;

struct Nowhere;

impl Count for Nowhere {
    fn record(&self, _: usize, _: &'static str, _: Kind, _: Option<&str>) {}
}

pub fn no_tally() -> Tally {
    Arc::new(Nowhere)
}

/// A tally that prints what went wrong (the checks that use it panic with the kind only).
struct Loud;

impl Count for Loud {
    fn record(&self, _: usize, step: &'static str, kind: Kind, detail: Option<&str>) {
        if kind != Kind::Ok {
            eprintln!("check {step}: {kind:?} {}", detail.unwrap_or_default());
        }
    }
}

pub fn loud() -> Tally {
    Arc::new(Loud)
}

/// A client that opens one connection per request (no idle pool), so the proxy places every
/// request; with `cookies`, a browser.
pub fn one_shot(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(cookies)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The tokens of one login, and the browser holding its SSO session.
pub struct Grant {
    pub refresh: String,
    pub access: String,
    pub id_token: String,
    pub browser: reqwest::Client,
}

/// One application at the proxy.
#[derive(Clone)]
pub struct Site {
    pub base: String,
    pub client: TestClient,
    pub rp: Rp,
    pub tally: Tally,
}

impl Site {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The same application reached at `base` instead: one replica's own address, to pin every
    /// request of a probe to it without pinning the proxy (and so the traffic) too.
    pub fn via(&self, base: String) -> Site {
        Site { base, ..self.clone() }
    }

    /// Sends `req`, tallies the answer under `step`; `Err` unless 2xx/3xx. A 503 without a
    /// `Retry-After` in seconds is tallied as [`Kind::Server`]: the client is not told when to
    /// come back, so it is no better than any other 5xx.
    async fn send(&self, step: &'static str, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Kind> {
        let phase = self.tally.sent();
        let res = req.send().await;
        self.tally.answered(phase);
        let mut kind = Kind::of(&res);
        match res {
            Ok(r) if kind == Kind::Ok => {
                self.tally.record(phase, step, kind, None);
                Ok(r)
            }
            Ok(r) => {
                let status = r.status();
                let retry =
                    r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
                let mut note = "";
                if kind == Kind::Unavailable && retry.is_none_or(|s| s == 0) {
                    kind = Kind::Server;
                    note = "no Retry-After; ";
                }
                let body = r.text().await.unwrap_or_default();
                // One line, so a table of samples stays readable when the body is a page.
                let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
                let excerpt = format!("{status}: {note}{}", flat.chars().take(160).collect::<String>());
                self.tally.record(phase, step, kind, Some(&excerpt));
                Err(kind)
            }
            Err(e) => {
                self.tally.record(phase, step, kind, Some(&e.to_string()));
                Err(kind)
            }
        }
    }

    fn unexpected(&self, step: &'static str, what: &str) -> Kind {
        self.tally.record(self.tally.current(), step, Kind::Unexpected, Some(what));
        Kind::Unexpected
    }

    /// Opens the authorization URL in `b`: the login page's HTML (`Ok(Err(html))`), or straight
    /// back to the application when `b`'s SSO session answers (`Ok(Ok(callback))`). The URL's
    /// path and query are sent to this site's `base` (the relying party builds it on the issuer,
    /// the proxy's address, which a site pinned to one replica must not go through).
    pub async fn authorize(&self, b: &reqwest::Client, url: &str) -> Result<Result<String, String>, Kind> {
        let url = match url::Url::parse(url) {
            Ok(u) => self.url(&format!("{}?{}", u.path(), u.query().unwrap_or_default())),
            Err(_) => url.to_string(),
        };
        let res = self.send("authorize", b.get(url)).await?;
        if res.status() == 303 {
            return Ok(Ok(location(&res)));
        }
        let html = res.text().await.unwrap_or_default();
        if !html.contains("name=\"login_id\"") {
            return Err(self.unexpected("authorize", "no login form"));
        }
        Ok(Err(html))
    }

    /// Posts the password on the login page `html`: the callback URL with the code.
    pub async fn password(&self, b: &reqwest::Client, html: &str, nip: &str, password: &str) -> Result<String, Kind> {
        let form = [
            ("login_id", hidden(html, "login_id")),
            ("csrf", hidden(html, "csrf")),
            ("username", nip.to_string()),
            ("password", password.to_string()),
        ];
        let res = self.send("login", b.post(self.url("/login")).form(&form)).await?;
        match res.headers().get("location").and_then(|l| l.to_str().ok()) {
            Some(l) if l.starts_with(&self.client.redirect_uri) && l.contains("code=") => Ok(l.to_string()),
            _ => Err(self.unexpected("login", "no redirect with a code")),
        }
    }

    /// A password login in a new browser: the callback URL and the PKCE verifier.
    pub async fn login(&self, nip: &str) -> Result<(reqwest::Client, String, PkceCodeVerifier), Kind> {
        let b = one_shot(true);
        let start = start_auth(&self.rp, &["profile"]);
        let callback = match self.authorize(&b, &start.url).await? {
            Ok(callback) => callback,
            Err(html) => self.password(&b, &html, nip, PASSWORD).await?,
        };
        Ok((b, callback, start.verifier))
    }

    pub async fn token(&self, step: &'static str, form: &[(&str, &str)]) -> Result<Value, Kind> {
        let req = one_shot(false)
            .post(self.url("/token"))
            .basic_auth(&self.client.id, self.client.secret.as_deref())
            .form(form);
        let res = self.send(step, req).await?;
        res.json().await.map_err(|_| self.unexpected(step, "no JSON"))
    }

    pub async fn redeem(&self, callback: &str, verifier: &PkceCodeVerifier) -> Result<Value, Kind> {
        let code = query(callback).get("code").cloned().unwrap_or_default();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", self.client.redirect_uri.as_str()),
            ("code_verifier", verifier.secret().as_str()),
        ];
        self.token("code", &form).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Value, Kind> {
        self.token("refresh", &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    pub async fn userinfo(&self, access: &str) -> Result<Value, Kind> {
        let res = self.send("userinfo", one_shot(false).get(self.url("/userinfo")).bearer_auth(access)).await?;
        res.json().await.map_err(|_| self.unexpected("userinfo", "no JSON"))
    }

    /// The whole cycle for `nip`: login, code, refresh, userinfo.
    pub async fn cycle(&self, nip: &str) -> Result<Grant, Kind> {
        let (browser, callback, verifier) = self.login(nip).await?;
        let first = self.redeem(&callback, &verifier).await?;
        let rt = first["refresh_token"].as_str().ok_or_else(|| self.unexpected("code", "no refresh token"))?;
        let t = self.refresh(rt).await?;
        let grant = grant_of(&t, browser).ok_or_else(|| self.unexpected("refresh", "no tokens"))?;
        self.userinfo(&grant.access).await?;
        Ok(grant)
    }
}

/// The tokens of a token response (a refresh's ID token may be absent: the earlier one stands).
pub fn grant_of(t: &Value, browser: reqwest::Client) -> Option<Grant> {
    Some(Grant {
        refresh: t["refresh_token"].as_str()?.to_string(),
        access: t["access_token"].as_str()?.to_string(),
        id_token: t["id_token"].as_str().unwrap_or_default().to_string(),
        browser,
    })
}
