//! The `gerbang` command: serve (default), migrate, and scripting commands for accounts,
//! applications and keys. Output is plain text, or one JSON object with `--json`.

use std::io::Read;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gerbang::config::{Config, LogFormat, Secret};
use gerbang::identity::accounts::{self, AccountError, NewAccount};
use gerbang::oidc::clients::{self, GrantType, NewClient};
use gerbang::oidc::keys::Alg;
use gerbang::state::{now, AppState};
use gerbang::store::Db;
use serde_json::json;

#[derive(Parser)]
#[command(name = "gerbang", version, about = "OpenID Connect single sign-on for regional governments (SPBE)")]
struct Cli {
    /// Configuration file (default: ./gerbang.toml when present; or GERBANG_CONFIG).
    #[arg(long, global = true)]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the provider (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCmd),
    /// Manage registered applications (OAuth clients).
    #[command(subcommand)]
    Client(ClientCmd),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Create an account: a civil servant with --nip, or a citizen with --nik.
    Create(AccountCreate),
}

#[derive(Args)]
struct AccountCreate {
    #[arg(long)]
    nip: Option<String>,
    #[arg(long)]
    nik: Option<String>,
    #[arg(long)]
    name: String,
    /// Read the password from standard input (first line).
    #[arg(long)]
    password_stdin: bool,
    /// Make the account an administrator.
    #[arg(long)]
    admin: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ClientCmd {
    /// Register an application; prints its client id and (once) its secret.
    Create(ClientCreate),
}

#[derive(Args)]
struct ClientCreate {
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
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Create new signing keys; the current ones stay published until the next rotation.
    Rotate {
        #[arg(long)]
        json: bool,
    },
}

fn init_tracing(config: &Config, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(if default_level.is_empty() { &config.log } else { default_level })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn fail(json: bool, message: &str, code: &str) -> ExitCode {
    if json {
        println!("{}", json!({ "error": code, "message": message }));
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = &cli.config {
        std::env::set_var("GERBANG_CONFIG", path);
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let serving = matches!(command, Command::Serve);
    init_tracing(&config, if serving { "" } else { "warn" });
    match run(command, config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(config.database_url.expose(), 2).await?;
    db.migrate().await?;
    Ok(db)
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            open_db(&config).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Account(AccountCmd::Create(a)) => account_create(config, a).await,
        Command::Client(ClientCmd::Create(c)) => client_create(config, c).await,
        Command::Keys(KeysCmd::Rotate { json }) => {
            let db = open_db(&config).await?;
            let master = gerbang::state::load_master_key(&config)?;
            let keys = gerbang::oidc::keys::Keys::load(&db, gerbang::crypto::MasterKey::new(master), now()).await?;
            let kids = keys.rotate(&db, now()).await?;
            if json {
                println!("{}", json!({ "rotated": kids }));
            } else {
                println!("new signing keys: {}", kids.join(", "));
                println!("servers publish them within a minute and sign with them after {} seconds; previous keys stay in JWKS", gerbang::oidc::keys::PUBLISH_DELAY);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let bind = config.bind;
    let state = AppState::init(config).await?;
    if let Some(b) = gerbang::bootstrap::run(&state, now()).await? {
        gerbang::bootstrap::announce(&b, &state.config);
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {bind} (setting `bind`): {e}"))?;
    tracing::info!(
        issuer = %state.config.issuer,
        bind = %bind,
        database = state.db.kind(),
        cache = state.cache.kind(),
        "Gerbang is listening"
    );
    gerbang::app::serve(state, listener).await?;
    Ok(ExitCode::SUCCESS)
}

async fn account_create(config: Config, a: AccountCreate) -> anyhow::Result<ExitCode> {
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        let line = s.lines().next().unwrap_or("").to_string();
        Some(Secret::new(line))
    } else {
        None
    };
    let db = open_db(&config).await?;
    let hasher = gerbang::auth::password::Hasher::new(1);
    let new = NewAccount { nip: a.nip, nik: a.nik, name: a.name, password, is_admin: a.admin };
    match accounts::create(&db, &hasher, new, now()).await {
        Ok((acc, warnings)) => {
            if a.json {
                println!("{}", json!({ "account": acc, "warnings": warnings }));
            } else {
                println!("created {} account {} ({})", acc.kind.as_str(), acc.id, acc.name);
                for w in warnings {
                    eprintln!("warning: {w}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let code = match &e {
                AccountError::Nip(n) => n.code(),
                AccountError::Nik(n) => n.code(),
                AccountError::Conflict(_) => "conflict",
                AccountError::Password(_) => "password_policy",
                AccountError::Store(_) | AccountError::Hash(_) => "internal",
                _ => "invalid",
            };
            Ok(fail(a.json, &e.to_string(), code))
        }
    }
}

async fn client_create(config: Config, c: ClientCreate) -> anyhow::Result<ExitCode> {
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
        if grants.contains(&GrantType::AuthorizationCode) { vec!["openid".into(), "profile".into()] } else { vec![] }
    } else {
        c.scopes.iter().flat_map(|s| s.split(' ').filter(|x| !x.is_empty()).map(String::from)).collect()
    };
    let db = open_db(&config).await?;
    let new = NewClient {
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
    match clients::register(&db, new, now()).await {
        Ok((client, secret)) => {
            if c.json {
                println!(
                    "{}",
                    json!({
                        "client_id": client.id, "client_secret": secret.as_ref().map(|s| s.expose().clone()),
                        "name": client.name, "public": client.public, "first_party": client.first_party,
                        "redirect_uris": client.redirect_uris, "scopes": client.scopes,
                        "grant_types": client.grant_types, "token_alg": client.token_alg.as_str(),
                    })
                );
            } else {
                println!("client_id:     {}", client.id);
                if let Some(s) = secret {
                    println!("client_secret: {}   (shown only now)", s.expose());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let code = if matches!(e, clients::ClientError::Conflict) { "conflict" } else { "invalid" };
            Ok(fail(c.json, &e.to_string(), code))
        }
    }
}
