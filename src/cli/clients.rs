//! `gerbang client`: registering an application with every setting a client has, and changing
//! its back-channel logout settings.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{fail, print, refused, Ctx};
use crate::identity::accounts::AccountKind;
use crate::oidc::clients::{Category, GrantType, NewClient};
use crate::oidc::keys::Alg;
use crate::ops::{applications, units, AdminError};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum ClientCmd {
    /// Register an application; prints its client id and (once) its secret.
    Create(Box<ClientCreate>),
    /// Change an application's back-channel logout settings.
    Update(ClientUpdate),
}

#[derive(Args)]
pub(super) struct ClientUpdate {
    /// The application's client id.
    id: String,
    /// Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0); "" removes it.
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// Whether every logout token must carry the session id (`sid`): true or false.
    #[arg(long)]
    backchannel_logout_session_required: Option<bool>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(super) struct ClientCreate {
    #[arg(long)]
    name: String,
    /// Fixed client id (default: generated).
    #[arg(long)]
    id: Option<String>,
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// A public client (browser or mobile app): no secret, PKCE required.
    #[arg(long)]
    public: bool,
    /// Trusted application of the region: no consent screen.
    #[arg(long)]
    first_party: bool,
    /// Scopes the application may receive (repeat or space-separate). Default: openid profile.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// authorization_code, refresh_token or client_credentials (repeatable). Default: authorization_code.
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// RS256 (default), ES256 or EdDSA.
    #[arg(long, default_value = "RS256")]
    token_alg: String,
    /// umum (common application) or khusus (special application of one OPD).
    #[arg(long, default_value = "umum")]
    category: String,
    /// Minimum security level 1–4.
    #[arg(long, default_value_t = 1)]
    min_level: u8,
    /// Accepted account types, comma-separated: asn, citizen.
    #[arg(long, default_value = "asn,citizen")]
    account_types: String,
    /// A role a person needs (repeatable: any one of them suffices).
    #[arg(long = "required-role")]
    required_roles: Vec<String>,
    /// Code of the OPD unit that owns the application.
    #[arg(long)]
    owner_opd: Option<String>,
    /// A developer's client: may use http://localhost redirect URIs.
    #[arg(long)]
    development: bool,
    /// Admit citizens only once an officer verified their identity at a counter.
    #[arg(long)]
    require_verified: bool,
    /// `public` (default) or `pairwise`: a per-application subject, for third parties.
    #[arg(long, default_value = "public")]
    subject_type: String,
    /// Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0).
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// Every logout token must carry the session id (`sid`).
    #[arg(long)]
    backchannel_logout_session_required: bool,
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(ctx: &Ctx, cmd: ClientCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ClientCmd::Create(c) => create(ctx, *c).await,
        ClientCmd::Update(u) => update(ctx, u).await,
    }
}

async fn update(ctx: &Ctx, u: ClientUpdate) -> anyhow::Result<ExitCode> {
    let id = match ctx.who.parse_client_id(&u.id) {
        Ok(id) => id,
        Err(e) => return Ok(refused(u.json, &e)),
    };
    let edit = crate::oidc::clients::ClientEdit {
        backchannel_logout_uri: u.backchannel_logout_uri,
        backchannel_logout_session_required: u.backchannel_logout_session_required,
        ..Default::default()
    };
    let client = match applications::edit_application(&ctx.st, &ctx.who, &id, edit, now()).await {
        Ok(c) => c,
        Err(e) => return Ok(refused(u.json, &e)),
    };
    let out = json!({
        "client_id": client.id, "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
    });
    Ok(print(u.json, out, || {
        println!("client_id:              {}", client.id);
        println!("backchannel_logout_uri: {}", client.backchannel_logout_uri.as_deref().unwrap_or("-"));
        println!("session required:       {}", client.backchannel_logout_session_required);
    }))
}

async fn create(ctx: &Ctx, c: ClientCreate) -> anyhow::Result<ExitCode> {
    let mut grants = Vec::new();
    for g in if c.grants.is_empty() { vec!["authorization_code".to_string()] } else { c.grants.clone() } {
        match GrantType::parse(&g) {
            Some(x) => grants.push(x),
            None => return Ok(fail(c.json, &format!("unknown grant `{g}`"), "invalid")),
        }
    }
    let Some(alg) = Alg::parse(&c.token_alg) else {
        return Ok(fail(c.json, "token-alg must be RS256, ES256 or EdDSA", "invalid"));
    };
    let scopes: Vec<String> = if c.scopes.is_empty() {
        if grants.contains(&GrantType::AuthorizationCode) {
            vec!["openid".into(), "profile".into()]
        } else {
            vec![]
        }
    } else {
        c.scopes.iter().flat_map(|s| s.split(' ').filter(|x| !x.is_empty()).map(String::from)).collect()
    };
    let mut account_types = Vec::new();
    for t in c.account_types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match AccountKind::parse(t) {
            Some(k) => account_types.push(k),
            None => return Ok(fail(c.json, &format!("unknown account type `{t}` (asn or citizen)"), "invalid")),
        }
    }
    let Some(category) = Category::parse(&c.category) else {
        return Ok(fail(c.json, &format!("category: {}", Category::EXPECTED), "invalid"));
    };
    let pairwise = match c.subject_type.as_str() {
        "public" => false,
        "pairwise" => true,
        other => {
            return Ok(fail(c.json, &format!("subject-type must be public or pairwise, not `{other}`"), "invalid"))
        }
    };
    let owner_opd_id = match &c.owner_opd {
        Some(code) => match units::unit_by_code(&ctx.st, &ctx.who, code).await {
            Ok(unit) => Some(unit.id),
            Err(AdminError::NotFound(_)) => {
                return Ok(fail(c.json, &format!("unknown OPD unit `{code}`"), "not_found"));
            }
            Err(e) => return Ok(refused(c.json, &e)),
        },
        None => None,
    };
    let new = NewClient {
        development: c.development,
        pairwise,
        category,
        owner_opd_id,
        account_types,
        required_roles: c.required_roles,
        min_level: c.min_level,
        require_verified: c.require_verified,
        backchannel_logout_uri: c.backchannel_logout_uri,
        backchannel_logout_session_required: c.backchannel_logout_session_required,
        id: c.id,
        name: c.name,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        public: c.public,
        first_party: c.first_party,
        scopes,
        grant_types: grants,
        token_alg: alg,
    };
    let (client, secret) = match applications::register_client(&ctx.st, &ctx.who, new, now()).await {
        Ok(registered) => registered,
        Err(e) => return Ok(refused(c.json, &e)),
    };
    let out = json!({
        "client_id": client.id, "client_secret": secret.as_ref().map(|s| s.expose().clone()),
        "name": client.name, "public": client.public, "first_party": client.first_party,
        "redirect_uris": client.redirect_uris, "scopes": client.scopes,
        "grant_types": client.grant_types, "token_alg": client.token_alg.as_str(),
        "category": client.category, "min_level": client.min_level,
        "account_types": client.account_types, "required_roles": client.required_roles,
        "development": client.development, "require_verified": client.require_verified,
        "subject_type": if client.pairwise { "pairwise" } else { "public" },
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
    });
    Ok(print(c.json, out, || {
        println!("client_id:     {}", client.id);
        if let Some(s) = &secret {
            println!("client_secret: {}   (shown only now)", s.expose());
        }
    }))
}
