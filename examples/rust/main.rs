//! The example application in Rust: the `openidconnect` crate (4.x) over reqwest, and a
//! deliberately small HTTP/1.1 server on tokio (no web framework), so only the OpenID Connect
//! calls are to be read here.
//!
//! ```sh
//! cargo build --example gerbang-rp
//! GERBANG_ISSUER=https://sso.jemberkab.go.id CLIENT_ID=… CLIENT_SECRET=… \
//!   APP_URL=http://localhost:8000 APP_PORT=8000 target/debug/examples/gerbang-rp
//! ```
//!
//! Routes: `/`, `/login[?level=2]`, `/callback`, `/me` (JSON), `/logout`, and `/api/profil`, an
//! API taking Gerbang access tokens (checked with `jsonwebtoken`). With axum or actix the
//! OpenID Connect part stays as it is; only the routing and the session store change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenClaims, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, Scope, StandardErrorResponse, StandardTokenResponse,
    TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Gerbang's own claims, besides the standard ones: they come with the scopes `nip`, `nik`,
/// `opd`, `roles` and `openid` (`security_level`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct GerbangClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    account_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nik: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    opd: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_level: Option<u8>,
}
impl AdditionalClaims for GerbangClaims {}

type IdTokenFields = openidconnect::IdTokenFields<
    GerbangClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<IdTokenFields, CoreTokenType>;
/// `CoreClient` with Gerbang's claims; `T` and `U`: whether the token and userinfo endpoints are set.
type ClientOf<T, U> = openidconnect::Client<
    GerbangClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    T,
    U,
>;
/// The client as used: discovery gave the token and userinfo endpoints.
type Client = ClientOf<EndpointSet, EndpointSet>;

/// NIP, OPD unit and roles; `nik` only when the application is registered for it.
const SCOPES: [&str; 4] = ["profile", "nip", "opd", "roles"];
/// Discovery and the JWKS are read again after this long, and at once when an ID token is
/// signed with a key not seen yet (after a key rotation).
const METADATA_MAX_AGE: Duration = Duration::from_secs(3600);

struct Settings {
    issuer: String,
    client_id: String,
    client_secret: String,
    app_url: String,
}

/// The client made from discovery (its JWKS included), the end-session endpoint and the JWKS URI.
type Discovered = Arc<(Client, EndSessionUrl, String)>;

/// The provider as this application knows it: discovery, kept for `METADATA_MAX_AGE`.
struct Provider {
    settings: Settings,
    http: reqwest::Client,
    current: tokio::sync::Mutex<Option<(Instant, Discovered)>>,
    /// The JWKS as the API below reads it (jsonwebtoken's types), and when it was fetched.
    api_keys: tokio::sync::Mutex<Option<(Instant, JwkSet)>>,
}

impl Provider {
    async fn client(&self, fresh: bool) -> Result<Discovered, String> {
        let mut current = self.current.lock().await;
        if let Some((at, c)) = current.as_ref() {
            if !fresh && at.elapsed() < METADATA_MAX_AGE {
                return Ok(c.clone());
            }
        }
        let s = &self.settings;
        let issuer = IssuerUrl::new(s.issuer.clone()).map_err(|e| e.to_string())?;
        // Checks that the document's issuer is the one asked for, and fetches the JWKS.
        let meta = ProviderMetadataWithLogout::discover_async(issuer, &self.http).await.map_err(|e| e.to_string())?;
        let end_session = meta.additional_metadata().end_session_endpoint.clone().ok_or("no end_session_endpoint")?;
        let jwks_uri = meta.jwks_uri().url().to_string();
        let token_url = meta.token_endpoint().cloned().ok_or("no token_endpoint")?;
        let userinfo_url = meta.userinfo_endpoint().cloned().ok_or("no userinfo_endpoint")?;
        let client = ClientOf::<EndpointMaybeSet, EndpointMaybeSet>::from_provider_metadata(
            meta,
            ClientId::new(s.client_id.clone()),
            Some(ClientSecret::new(s.client_secret.clone())),
        )
        .set_token_uri(token_url)
        .set_user_info_url(userinfo_url)
        .set_redirect_uri(RedirectUrl::new(format!("{}/callback", s.app_url)).map_err(|e| e.to_string())?);
        let made = Arc::new((client, end_session, jwks_uri));
        *current = Some((Instant::now(), made.clone()));
        Ok(made)
    }

    /// Verifies an ID token (signature against the JWKS, RS256 only, iss, aud, azp, exp, iat,
    /// and the nonce when one is expected), fetching the keys once more if the first try fails.
    async fn verify(
        &self,
        tokens: &Tokens,
        nonce: Option<&Nonce>,
    ) -> Result<IdTokenClaims<GerbangClaims, CoreGenderClaim>, String> {
        let id_token = tokens.id_token().ok_or("no ID token")?;
        let check = |c: &Client| {
            let verifier = c.id_token_verifier();
            match nonce {
                Some(n) => id_token.claims(&verifier, n).cloned(),
                // A refreshed ID token carries no nonce (OpenID Connect Core §12.2).
                None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())).cloned(),
            }
        };
        match check(&self.client(false).await?.0) {
            Ok(claims) => Ok(claims),
            Err(_) => check(&self.client(true).await?.0).map_err(|e| e.to_string()),
        }
    }
}

impl Provider {
    /// For an API: checks a bearer access token (RFC 9068: `typ` at+jwt, RS256 by the JWKS,
    /// `iss`, `exp`, `aud` among the client ids this API serves — here its own). Revocation is
    /// not seen here: use introspection where a logout must count before `exp`.
    async fn verify_access_token(&self, token: &str) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
            return Err("not an access token (typ)".into());
        }
        let key = self.api_key(header.kid.as_deref().ok_or("no kid")?).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| e.to_string())?;
        Ok(data.claims)
    }

    /// The JWKS key `kid`: the JWKS is kept for `METADATA_MAX_AGE`, and fetched again for an
    /// unknown kid at most every 30 seconds (forged kids must not make every request fetch it).
    async fn api_key(&self, kid: &str) -> Result<DecodingKey, String> {
        let mut keys = self.api_keys.lock().await;
        for refetch in [false, true] {
            let stale = keys.as_ref().is_none_or(|(at, _)| {
                at.elapsed() > METADATA_MAX_AGE || (refetch && at.elapsed() > Duration::from_secs(30))
            });
            if stale {
                let uri = self.client(false).await?.2.clone();
                let set: JwkSet = self
                    .http
                    .get(uri)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                *keys = Some((Instant::now(), set));
            }
            if let Some(jwk) = keys.as_ref().and_then(|(_, set)| set.find(kid)) {
                return DecodingKey::from_jwk(jwk).map_err(|e| e.to_string());
            }
        }
        Err("no key in the JWKS for this token".into())
    }
}

#[derive(Default)]
struct Session {
    pending: Option<(CsrfToken, Nonce, PkceCodeVerifier)>,
    user: Option<Value>,
    id_token: Option<String>,
    logout_state: Option<String>,
}

type Sessions = Mutex<HashMap<String, Session>>;

struct Response {
    status: u16,
    body: String,
    content_type: &'static str,
    location: Option<String>,
    www_authenticate: Option<&'static str>,
}

fn plain(status: u16) -> Response {
    Response { status, body: String::new(), content_type: "text/plain", location: None, www_authenticate: None }
}

fn json_response(status: u16, body: Value) -> Response {
    Response { body: body.to_string(), content_type: "application/json", ..plain(status) }
}

fn redirect(url: String) -> Response {
    Response { location: Some(url), ..plain(303) }
}

/// `/api/profil`: an API of this application, taking Gerbang access tokens (no session).
async fn api(p: &Provider, authorization: Option<&str>) -> Response {
    let refuse = |status, error: &str, detail: String, challenge| Response {
        www_authenticate: Some(challenge),
        ..json_response(status, json!({"error": error, "error_description": detail}))
    };
    let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim) else {
        return refuse(401, "invalid_token", "a bearer token is required".into(), "Bearer");
    };
    let claims = match p.verify_access_token(token).await {
        Ok(c) => c,
        Err(e) => return refuse(401, "invalid_token", e, "Bearer error=\"invalid_token\""),
    };
    if !claims["scope"].as_str().unwrap_or("").split(' ').any(|s| s == "roles") {
        return refuse(
            403,
            "insufficient_scope",
            String::new(),
            "Bearer error=\"insufficient_scope\", scope=\"roles\"",
        );
    }
    let keep = ["sub", "client_id", "scope", "roles", "app_roles", "security_level", "acr"];
    json_response(200, keep.iter().filter_map(|k| Some((k.to_string(), claims.get(*k)?.clone()))).collect())
}

fn random() -> String {
    CsrfToken::new_random().secret().clone()
}

async fn login(p: &Provider, query: &HashMap<String, String>, session: &mut Session) -> Result<Response, String> {
    let client = p.client(false).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .0
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for scope in SCOPES {
        request = request.add_scope(Scope::new(scope.into()));
    }
    // e.g. ?level=2: an authenticator app at least, for this login.
    if let Some(level) = query.get("level").and_then(|l| l.parse::<u8>().ok()) {
        request = request.add_auth_context_value(AuthenticationContextClass::new(format!("urn:gerbang:loa:{level}")));
    }
    let (url, state, nonce) = request.url();
    session.pending = Some((state, nonce, verifier));
    Ok(redirect(url.to_string()))
}

async fn callback(p: &Provider, query: &HashMap<String, String>, session: &mut Session) -> Result<Response, String> {
    let Some((state, nonce, verifier)) = session.pending.take() else {
        return Ok(json_response(400, json!({"error": "no_login_in_progress"})));
    };
    if query.get("state").map(String::as_str) != Some(state.secret().as_str()) {
        return Ok(json_response(400, json!({"error": "invalid_request", "error_description": "state mismatch"})));
    }
    if query.get("iss").is_some_and(|iss| *iss != p.settings.issuer) {
        return Ok(json_response(400, json!({"error": "invalid_request", "error_description": "another issuer"})));
    }
    if let Some(error) = query.get("error") {
        // unmet_authentication_requirements: the person cannot reach the level asked for.
        let status = if error == "unmet_authentication_requirements" || error == "access_denied" { 403 } else { 400 };
        return Ok(json_response(status, json!({"error": error, "error_description": query.get("error_description")})));
    }
    let client = p.client(false).await?;
    let code = AuthorizationCode::new(query.get("code").cloned().unwrap_or_default());
    let tokens = client
        .0
        .exchange_code(code)
        .set_pkce_verifier(verifier)
        .request_async(&p.http)
        .await
        .map_err(|e| format!("token endpoint: {e:?}"))?;
    let claims = p.verify(&tokens, Some(&nonce)).await?;
    let userinfo: UserInfoClaims<GerbangClaims, CoreGenderClaim> = client
        .0
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .request_async(&p.http)
        .await
        .map_err(|e| format!("userinfo: {e:?}"))?;
    // Shown here to prove it works; an application refreshes when the access token runs out
    // (`expires_in`). Refresh tokens rotate: keep the new one.
    let refresh = tokens.refresh_token().ok_or("no refresh token")?;
    let refreshed = exchange_refresh(&client.0, refresh, &p.http).await?;
    let refreshed_claims = p.verify(&refreshed, None).await?;
    if refreshed_claims.subject() != claims.subject() {
        return Err("the refreshed ID token names another person".into());
    }
    *session = Session::default();
    session.id_token = refreshed.id_token().map(|t| t.to_string());
    session.user = Some(json!({
        "id_token_verified": true,
        "id_token": claims,
        "userinfo": userinfo,
        "refreshed": refreshed.refresh_token().is_some(),
        "refreshed_sub": refreshed_claims.subject(),
    }));
    Ok(redirect("/me".into()))
}

async fn exchange_refresh(client: &Client, token: &RefreshToken, http: &reqwest::Client) -> Result<Tokens, String> {
    client.exchange_refresh_token(token).request_async(http).await.map_err(|e| format!("refresh: {e:?}"))
}

async fn logout(p: &Provider, session: &mut Session) -> Result<Response, String> {
    let id_token = session.id_token.take();
    *session = Session::default();
    let Some(id_token) = id_token else { return Ok(redirect("/".into())) };
    let client = p.client(false).await?;
    let state = random();
    session.logout_state = Some(state.clone());
    // The ID token goes back as it came; LogoutRequest takes it typed, so parse it (no check needed).
    let hint: openidconnect::IdToken<
        GerbangClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    > = id_token.parse().map_err(|e| format!("{e:?}"))?;
    let back = PostLogoutRedirectUrl::new(format!("{}/", p.settings.app_url)).map_err(|e| e.to_string())?;
    let url = LogoutRequest::from(client.1.clone())
        .set_id_token_hint(&hint)
        .set_post_logout_redirect_uri(back)
        .set_state(CsrfToken::new(state))
        .http_get_url();
    Ok(redirect(url.to_string()))
}

async fn route(
    p: &Provider,
    path: &str,
    query: &HashMap<String, String>,
    authorization: Option<&str>,
    session: &mut Session,
) -> Response {
    let result = match path {
        "/api/profil" => return api(p, authorization).await,
        "/" => {
            let out = query.get("state").is_some() && query.get("state") == session.logout_state.take().as_ref();
            let mut page = String::from(if out { "<p>Anda telah keluar.</p>" } else { "" });
            page += if session.user.is_some() {
                "<p><a href=\"/me\">Profil</a> · <a href=\"/logout\">Keluar</a></p>"
            } else {
                "<p><a href=\"/login\">Masuk dengan SSO</a></p>"
            };
            Ok(Response { body: page, content_type: "text/html", ..plain(200) })
        }
        "/login" => login(p, query, session).await,
        "/callback" => callback(p, query, session).await,
        "/me" => Ok(match &session.user {
            Some(user) => json_response(200, user.clone()),
            None => json_response(401, json!({"error": "not_signed_in"})),
        }),
        "/logout" => logout(p, session).await,
        _ => Ok(json_response(404, json!({"error": "not_found"}))),
    };
    result.unwrap_or_else(|e| {
        eprintln!("OIDC failure: {e}");
        json_response(502, json!({"error": "invalid_response", "error_description": e}))
    })
}

/// One request on one connection: just enough HTTP/1.1 for GET requests from a browser.
async fn serve(p: Arc<Provider>, sessions: Arc<Sessions>, mut stream: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let url = url::Url::parse(&format!("http://app{target}")).map_err(std::io::Error::other)?;
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let cookie = head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("cookie:"))
        .flat_map(|l| l[7..].split(';').map(str::trim).map(String::from).collect::<Vec<_>>())
        .find_map(|c| c.strip_prefix("contoh_rs=").map(String::from));
    let mut sid = cookie.filter(|c| sessions.lock().unwrap().contains_key(c)).unwrap_or_else(random);
    let mut session = sessions.lock().unwrap().remove(&sid).unwrap_or_default();
    let signed_in = session.user.is_some();
    let authorization = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .map(|l| l["authorization:".len()..].trim().to_string());
    let res = route(&p, url.path(), &query, authorization.as_deref(), &mut session).await;
    if signed_in != session.user.is_some() {
        sid = random(); // a fresh session id after signing in or out (no session fixation)
    }
    sessions.lock().unwrap().insert(sid.clone(), session);
    let secure = if p.settings.app_url.starts_with("https://") { "; Secure" } else { "" };
    let location = res.location.map(|l| format!("Location: {l}\r\n")).unwrap_or_default()
        + &res.www_authenticate.map(|c| format!("WWW-Authenticate: {c}\r\n")).unwrap_or_default();
    let out = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         Set-Cookie: contoh_rs={sid}; Path=/; HttpOnly; SameSite=Lax{secure}\r\n{location}Connection: close\r\n\r\n{}",
        res.status,
        res.content_type,
        res.body.len(),
        res.body
    );
    stream.write_all(out.as_bytes()).await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let settings = Settings {
        issuer: env("GERBANG_ISSUER").trim_end_matches('/').to_string(),
        client_id: env("CLIENT_ID"),
        client_secret: env("CLIENT_SECRET"),
        app_url: env("APP_URL").trim_end_matches('/').to_string(),
    };
    // No redirects: the crate's advice against SSRF through a provider's answers.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(std::io::Error::other)?;
    let provider = Arc::new(Provider { settings, http, current: Default::default(), api_keys: Default::default() });
    let sessions: Arc<Sessions> = Arc::default();
    let port = std::env::var("APP_PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (p, s) = (provider.clone(), sessions.clone());
        tokio::spawn(async move {
            if let Err(e) = serve(p, s, stream).await {
                eprintln!("connection: {e}");
            }
        });
    }
}
