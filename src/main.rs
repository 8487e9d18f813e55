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
    /// Manage the tree of OPD units.
    #[command(subcommand)]
    Opd(OpdCmd),
    /// Manage roles and their assignment.
    #[command(subcommand)]
    Role(RoleCmd),
    /// Demonstration data.
    #[command(subcommand)]
    Demo(DemoCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain; exits non-zero and names the first broken record if any.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Records in a date range (UTC days, end exclusive) as CSV or JSON, for SPBE reporting.
    Export {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        since: String,
        /// Day after the last, YYYY-MM-DD.
        #[arg(long)]
        until: String,
        /// csv (default) or json
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// The latest events, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only events about this account (NIP, NIK or id).
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OpdCmd {
    /// Create a unit: `--parent` is the code of the unit above it.
    Create {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// One of: pemerintah_daerah, sekretariat_daerah, sekretariat_dprd, inspektorat, dinas, badan,
        /// kecamatan, kelurahan, bagian, bidang, uptd, unit.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List all units.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RoleCmd {
    /// Create a global role, or an application's role with `--client`.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        client: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        json: bool,
    },
    /// Give a role to an account (NIP/NIK) or to an OPD unit (code; its staff inherit).
    Assign(RoleTarget),
    /// Take a role away; tokens that carried it are revoked.
    Unassign(RoleTarget),
    /// List roles.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct RoleTarget {
    #[arg(long)]
    role: String,
    #[arg(long)]
    client: Option<String>,
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    opd: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum DemoCmd {
    /// Load a demonstration region: OPD tree, roles, civil servants and citizens.
    Seed {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Create an account: a civil servant with --nip, or a citizen with --nik.
    Create(AccountCreate),
    /// Change an account's OPD unit, profile attributes or status.
    Update(AccountUpdate),
    /// Print the profile schema: attributes, types and the scope releasing each.
    Schema {
        #[arg(long)]
        json: bool,
    },
    /// Remove every second factor (authenticator app, recovery codes, passkeys). Audited.
    ResetFactors {
        /// NIP, NIK or account id.
        account: String,
        /// Who does it (recorded in the audit trail), e.g. the administrator's NIP.
        #[arg(long)]
        actor: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct AccountUpdate {
    /// NIP, NIK or account id.
    account: String,
    /// Code of the OPD unit the person belongs to.
    #[arg(long)]
    opd: Option<String>,
    /// Profile attribute `name=value` (repeatable; empty value removes it).
    #[arg(long = "set")]
    set: Vec<String>,
    /// active, suspended, retired or dismissed. Anything but active revokes all tokens.
    #[arg(long)]
    status: Option<String>,
    /// Who makes the change (recorded in the audit trail).
    #[arg(long, default_value = "cli")]
    actor: String,
    #[arg(long)]
    json: bool,
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
    /// `public` (default) or `pairwise`: a per-application subject, for third parties.
    #[arg(long, default_value = "public")]
    subject_type: String,
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
    let filter =
        tracing_subscriber::EnvFilter::try_new(if default_level.is_empty() { &config.log } else { default_level })
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
        Command::Account(AccountCmd::Update(u)) => account_update(config, u).await,
        Command::Account(AccountCmd::Schema { json }) => {
            if json {
                println!("{}", json!({ "attributes": gerbang::identity::profile::SCHEMA }));
            } else {
                for a in gerbang::identity::profile::SCHEMA {
                    println!("{:<14} {:<8} scope {:<16} {}", a.name, a.account_type.as_str(), a.scope, a.description);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Account(AccountCmd::ResetFactors { account, actor, json: j }) => {
            let db = open_db(&config).await?;
            let Some(a) = accounts::find(&db, &account).await? else {
                return Ok(fail(j, &format!("no account `{account}`"), "not_found"));
            };
            gerbang::auth::reset_factors(&db, &a.id).await?;
            let event =
                gerbang::audit::Event::new("account.factors_reset").actor(&format!("cli:{actor}")).subject(&a.id);
            gerbang::audit::append(&db, event, now()).await?;
            if j {
                println!("{}", json!({ "reset": a.id }));
            } else {
                println!("second factors of {} ({}) removed; recorded in the audit trail", a.id, a.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCmd::Verify { json: j }) => {
            let db = open_db(&config).await?;
            let v = gerbang::audit::verify(&db).await?;
            if j {
                println!("{}", serde_json::to_string(&v)?);
            } else if v.ok {
                println!("audit trail intact: {} records", v.records);
            } else {
                println!("audit trail BROKEN: {}", v.problem.clone().unwrap_or_default());
            }
            Ok(if v.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Audit(AuditCmd::Export { since, until, format }) => {
            let day = |s: &str| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc().timestamp())
            };
            let (Some(from), Some(to)) = (day(&since), day(&until)) else {
                return Ok(fail(false, "dates must look like 2026-11-01", "invalid"));
            };
            let db = open_db(&config).await?;
            let rows = gerbang::audit::range(&db, from, to).await?;
            match format.as_str() {
                "csv" => print!("{}", gerbang::audit::to_csv(&rows)),
                "json" => println!("{}", json!({ "events": rows })),
                other => return Ok(fail(false, &format!("format must be csv or json, not `{other}`"), "invalid")),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCmd::List { limit, account, json: j }) => {
            let db = open_db(&config).await?;
            let subject = match &account {
                Some(a) => match accounts::find(&db, a).await? {
                    Some(acc) => Some(acc.id),
                    None => return Ok(fail(j, &format!("no account `{a}`"), "not_found")),
                },
                None => None,
            };
            let rows = gerbang::audit::list(&db, limit, subject.as_deref()).await?;
            if j {
                println!("{}", json!({ "events": rows }));
            } else {
                for r in rows {
                    let at = chrono::DateTime::from_timestamp(r.at, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
                    println!(
                        "{:>6} {} {:<24} actor={} subject={} ip={} {}",
                        r.seq, at, r.kind, r.actor, r.subject, r.ip, r.detail
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Opd(cmd) => opd_cmd(config, cmd).await,
        Command::Role(cmd) => role_cmd(config, cmd).await,
        Command::Demo(DemoCmd::Seed { json }) => {
            let db = open_db(&config).await?;
            let hasher = gerbang::auth::password::Hasher::new(2);
            let report = gerbang::demo::seed(&db, &hasher, now()).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "demo region loaded: {} OPD units, {} roles, {} accounts",
                    report.opd_units,
                    report.roles,
                    report.accounts.len()
                );
                println!("every demo account's password: {}", report.password);
                for a in &report.accounts {
                    println!("  {:<18}  {}", a.login, a.name);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
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
    if let Some(b) = gerbang::ops::bootstrap::run(&state, now()).await? {
        gerbang::ops::bootstrap::announce(&b, &state.config);
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

/// Role changes made on the command line are recorded like the console's, with `cli` as actor.
fn role_event(
    kind: &'static str,
    role: &gerbang::store::roles::RoleRow,
    holder: &gerbang::identity::roles::Holder,
    revoked: Option<u64>,
) -> gerbang::audit::Event {
    let (subject, unit) = match holder {
        gerbang::identity::roles::Holder::Account(a) => (a.as_str(), None),
        gerbang::identity::roles::Holder::Opd(o) => ("", Some(o.as_str())),
    };
    let detail = json!({ "role": role.name, "client_id": role.client_id, "opd_id": unit, "revoked_grants": revoked, "source": "cli" });
    gerbang::audit::Event::new(kind).actor("cli").subject(subject).detail(detail)
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
            let detail = json!({ "source": "cli", "kind": acc.kind.as_str() });
            gerbang::audit::append(
                &db,
                gerbang::audit::Event::new("account.created").actor("cli").subject(&acc.id).detail(detail),
                now(),
            )
            .await?;
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
        if grants.contains(&GrantType::AuthorizationCode) {
            vec!["openid".into(), "profile".into()]
        } else {
            vec![]
        }
    } else {
        c.scopes.iter().flat_map(|s| s.split(' ').filter(|x| !x.is_empty()).map(String::from)).collect()
    };
    let db = open_db(&config).await?;
    let mut account_types = Vec::new();
    for t in c.account_types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match gerbang::identity::accounts::AccountKind::parse(t) {
            Some(k) => account_types.push(k),
            None => return Ok(fail(c.json, &format!("unknown account type `{t}` (asn or citizen)"), "invalid")),
        }
    }
    let owner_opd_id = match &c.owner_opd {
        Some(code) => match gerbang::store::opd::find_by_code(&db, code).await? {
            Some(o) => Some(o.id),
            None => return Ok(fail(c.json, &format!("unknown OPD unit `{code}`"), "not_found")),
        },
        None => None,
    };
    let pairwise = match c.subject_type.as_str() {
        "public" => false,
        "pairwise" => true,
        other => {
            return Ok(fail(c.json, &format!("subject-type must be public or pairwise, not `{other}`"), "invalid"))
        }
    };
    let new = NewClient {
        development: c.development,
        pairwise,
        category: c.category.clone(),
        owner_opd_id,
        account_types,
        required_roles: c.required_roles.clone(),
        min_level: c.min_level,
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
    let policy = gerbang::oidc::clients::RedirectPolicy::from_config(&config);
    match clients::register(&db, &policy, new, now()).await {
        Ok((client, secret)) => {
            if c.json {
                println!(
                    "{}",
                    json!({
                        "client_id": client.id, "client_secret": secret.as_ref().map(|s| s.expose().clone()),
                        "name": client.name, "public": client.public, "first_party": client.first_party,
                        "redirect_uris": client.redirect_uris, "scopes": client.scopes,
                        "grant_types": client.grant_types, "token_alg": client.token_alg.as_str(),
                        "category": client.category, "min_level": client.min_level,
                        "account_types": client.account_types, "required_roles": client.required_roles,
                        "development": client.development, "subject_type": if client.pairwise { "pairwise" } else { "public" },
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

async fn account_update(config: Config, u: AccountUpdate) -> anyhow::Result<ExitCode> {
    let db = open_db(&config).await?;
    let Some(mut account) = accounts::find(&db, &u.account).await? else {
        return Ok(fail(u.json, &format!("no account `{}`", u.account), "not_found"));
    };
    if let Some(code) = &u.opd {
        if account.kind != gerbang::identity::accounts::AccountKind::Asn {
            return Ok(fail(u.json, "only civil servants (ASN) belong to an OPD unit", "invalid"));
        }
        match gerbang::store::opd::find_by_code(&db, code).await? {
            Some(o) => account.opd_id = Some(o.id),
            None => return Ok(fail(u.json, &format!("unknown OPD unit `{code}`"), "not_found")),
        }
    }
    for pair in &u.set {
        let Some((k, v)) = pair.split_once('=') else {
            return Ok(fail(u.json, &format!("`{pair}`: use name=value"), "invalid"));
        };
        if let Err(e) = gerbang::identity::profile::set(&mut account.profile, account.kind, k.trim(), v) {
            return Ok(fail(u.json, &e.to_string(), "invalid"));
        }
    }
    accounts::save_profile(&db, &account, now()).await?;
    if let Some(status) = &u.status {
        if let Err(e) = accounts::set_status(&db, &account.id, status, now()).await {
            return Ok(fail(u.json, &e.to_string(), "invalid"));
        }
        let detail = json!({ "before": account.status, "after": status });
        let event = gerbang::audit::Event::new("account.status_changed")
            .actor(&format!("cli:{}", u.actor))
            .subject(&account.id)
            .detail(detail);
        gerbang::audit::append(&db, event, now()).await?;
        account.status = status.clone();
    }
    if u.json {
        println!("{}", json!({ "account": account }));
    } else {
        println!("updated account {} ({})", account.id, account.name);
    }
    Ok(ExitCode::SUCCESS)
}

async fn opd_cmd(config: Config, cmd: OpdCmd) -> anyhow::Result<ExitCode> {
    use gerbang::identity::opd::{self, NewOpd, OpdError};
    let db = open_db(&config).await?;
    match cmd {
        OpdCmd::Create { code, name, kind, parent, json: j } => {
            match opd::create(&db, NewOpd { code, name, kind, parent }, now()).await {
                Ok(row) => {
                    if j {
                        println!("{}", json!({ "opd": row }));
                    } else {
                        println!("created OPD unit {} {}", row.code, row.name);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(OpdError::Store(e)) => Err(e.into()),
                Err(e) => {
                    let code = match e {
                        OpdError::Conflict(_) => "conflict",
                        OpdError::UnknownParent(_) => "not_found",
                        _ => "invalid",
                    };
                    Ok(fail(j, &e.to_string(), code))
                }
            }
        }
        OpdCmd::List { json: j } => {
            let rows = gerbang::store::opd::list(&db).await?;
            if j {
                println!("{}", json!({ "opd": rows }));
            } else {
                for r in rows {
                    println!("{:<16} {:<20} {}", r.code, r.kind, r.name);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn role_cmd(config: Config, cmd: RoleCmd) -> anyhow::Result<ExitCode> {
    use gerbang::identity::roles::{self, RoleError};
    let db = open_db(&config).await?;
    let role_error = |j: bool, e: RoleError| -> anyhow::Result<ExitCode> {
        match e {
            RoleError::Store(e) => Err(e.into()),
            RoleError::Conflict | RoleError::AlreadyAssigned => Ok(fail(j, &e.to_string(), "conflict")),
            RoleError::UnknownRole(_) => Ok(fail(j, &e.to_string(), "not_found")),
            RoleError::Name => Ok(fail(j, &e.to_string(), "invalid")),
        }
    };
    match cmd {
        RoleCmd::Create { name, client, description, json: j } => {
            if let Some(c) = &client {
                if gerbang::store::clients::get(&db, c).await?.is_none() {
                    return Ok(fail(j, &format!("unknown application `{c}`"), "not_found"));
                }
            }
            match roles::create(&db, client.as_deref().unwrap_or(""), &name, &description, now()).await {
                Ok(r) => {
                    if j {
                        println!("{}", json!({ "role": r }));
                    } else {
                        println!("created role {}", r.name);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => role_error(j, e),
            }
        }
        RoleCmd::Assign(t) | RoleCmd::Unassign(t) if t.account.is_some() == t.opd.is_some() => {
            Ok(fail(t.json, "give exactly one of --account or --opd", "invalid"))
        }
        RoleCmd::Assign(t) => {
            let role = match roles::find(&db, t.client.as_deref().unwrap_or(""), &t.role).await {
                Ok(r) => r,
                Err(e) => return role_error(t.json, e),
            };
            let Some(holder) = resolve_holder(&db, &t).await? else {
                return Ok(fail(t.json, "no such account or OPD unit", "not_found"));
            };
            match roles::assign(&db, &role, &holder, now()).await {
                Ok(()) => {
                    let event = role_event("role.assigned", &role, &holder, None);
                    gerbang::audit::append(&db, event, now()).await?;
                    if t.json {
                        println!("{}", json!({ "assigned": role.name }));
                    } else {
                        println!("assigned role {}", role.name);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => role_error(t.json, e),
            }
        }
        RoleCmd::Unassign(t) => {
            let role = match roles::find(&db, t.client.as_deref().unwrap_or(""), &t.role).await {
                Ok(r) => r,
                Err(e) => return role_error(t.json, e),
            };
            let Some(holder) = resolve_holder(&db, &t).await? else {
                return Ok(fail(t.json, "no such account or OPD unit", "not_found"));
            };
            match roles::unassign(&db, &role, &holder, now()).await {
                Ok(n) => {
                    let event = role_event("role.unassigned", &role, &holder, Some(n));
                    gerbang::audit::append(&db, event, now()).await?;
                    if t.json {
                        println!("{}", json!({ "unassigned": role.name, "revoked_grants": n }));
                    } else {
                        println!("removed role {}; {} token grant(s) revoked", role.name, n);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => role_error(t.json, e),
            }
        }
        RoleCmd::List { json: j } => {
            let rows = gerbang::store::roles::list(&db).await?;
            if j {
                println!("{}", json!({ "roles": rows }));
            } else {
                for r in rows {
                    let owner = if r.client_id.is_empty() { "global" } else { r.client_id.as_str() };
                    println!("{:<24} {:<20} {}", r.name, owner, r.description);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn resolve_holder(db: &Db, t: &RoleTarget) -> anyhow::Result<Option<gerbang::identity::roles::Holder>> {
    use gerbang::identity::roles::Holder;
    if let Some(a) = &t.account {
        return Ok(accounts::find(db, a).await?.map(|a| Holder::Account(a.id)));
    }
    if let Some(code) = &t.opd {
        return Ok(gerbang::store::opd::find_by_code(db, code).await?.map(|o| Holder::Opd(o.id)));
    }
    Ok(None)
}
