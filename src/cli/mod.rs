//! The `gerbang` command: serve (default), migrate, and scripting commands for accounts, units,
//! roles, applications, keys and the audit trail. Each command acts as the operator named by
//! `--actor`, calls one operation of `ops` (which checks, applies and audits it) and prints the
//! outcome: plain text, or one JSON object with `--json`.

mod accounts;
mod audit;
mod backup;
mod certificates;
mod clients;
mod demo;
mod hash_bench;
mod import;
mod keys;
mod mail;
mod master_key;
mod migrate;
mod roles;
mod scim;
mod serve;
mod units;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::config::Config;
use crate::ops::{AdminError, Operator, Principal};
use crate::state::AppState;

#[derive(Parser)]
#[command(name = "gerbang", version = migrate::version(), about = "OpenID Connect single sign-on for regional governments (SPBE)")]
struct Cli {
    /// Configuration file (default: ./gerbang.toml when present; or GERBANG_CONFIG).
    #[arg(long, global = true)]
    config: Option<std::path::PathBuf>,
    /// Who runs the command, named in the audit trail as `cli:<name>` (default: local), e.g. the
    /// administrator's NIP.
    #[arg(long, global = true, env = "GERBANG_ACTOR")]
    actor: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the provider (the default).
    Serve,
    /// Apply database migrations and exit; with --status, list applied and pending ones instead.
    Migrate(migrate::MigrateArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Account(accounts::AccountCmd),
    /// Manage registered applications (OAuth clients).
    #[command(subcommand)]
    Client(clients::ClientCmd),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Re-seal secrets under a new master key.
    #[command(subcommand)]
    MasterKey(master_key::MasterKeyCmd),
    /// Manage the tree of OPD units.
    #[command(subcommand)]
    Opd(units::OpdCmd),
    /// Manage roles and their assignment.
    #[command(subcommand)]
    Role(roles::RoleCmd),
    /// Demonstration data.
    #[command(subcommand)]
    Demo(demo::DemoCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Outgoing e-mail.
    #[command(subcommand)]
    Mail(mail::MailCmd),
    /// SCIM provisioning.
    #[command(subcommand)]
    Scim(scim::ScimCmd),
    /// Bulk import of civil servants or citizens from a CSV file.
    #[command(subcommand)]
    Import(import::ImportCmd),
    /// Electronic certificates: monitoring, revocation checks, recording a revocation.
    #[command(subcommand)]
    Certificate(certificates::CertificateCmd),
    /// Write an encrypted backup archive while the server runs (`backup --out FILE`), or check
    /// one (`backup verify FILE`).
    Backup(backup::BackupCmd),
    /// Restore a backup archive into an empty database.
    Restore(backup::RestoreCmd),
    /// The argon2id ceiling: password verifications per second (bench/login_storm).
    #[command(hide = true)]
    HashBench(hash_bench::HashBench),
}

/// What a command works with: the application state and the operator as a principal.
struct Ctx {
    st: Arc<AppState>,
    who: Principal,
}

impl Ctx {
    async fn open(config: Config, operator: Operator) -> anyhow::Result<Ctx> {
        Ok(Ctx { st: AppState::init(config).await?, who: Principal::Operator(operator) })
    }
}

/// Parses the command line, runs the command and returns the process's exit code: 0 on
/// success, 1 when the command fails or is refused, 2 for a bad configuration or `--actor`.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let operator = match cli.actor.as_deref().map(Operator::new).unwrap_or_else(|| Ok(Operator::local())) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
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
    // A one-shot command reports its own outcome: sqlx's slow-statement warning (an import's
    // statements carry thousands of rows; a backup reads whole tables) would only bury it.
    let level = match command {
        Command::Serve => "",
        _ => "warn,sqlx::query=error",
    };
    serve::init_tracing(&config, level);
    match dispatch(command, config, operator).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, config: Config, operator: Operator) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve::serve(config).await,
        Command::Migrate(args) => migrate::run(config, args).await,
        Command::Account(cmd) => accounts::run(config, operator, cmd).await,
        Command::Client(cmd) => clients::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::Keys(cmd) => keys::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::MasterKey(cmd) => master_key::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::Opd(cmd) => units::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::Role(cmd) => roles::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::Demo(cmd) => demo::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::Audit(cmd) => audit::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::Mail(cmd) => mail::run(config, cmd).await,
        Command::Scim(cmd) => scim::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::Import(cmd) => import::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::Certificate(cmd) => certificates::run(&Ctx::open(config, operator).await?, cmd).await,
        Command::Backup(cmd) => backup::run(config, operator, cmd).await,
        Command::Restore(cmd) => backup::restore(config, operator, cmd).await,
        Command::HashBench(args) => hash_bench::run(config, args).await,
    }
}

/// A failed command: `{"error", "message"}` on standard output with `--json`, else a line on
/// standard error; exit code 1.
fn fail(json: bool, message: &str, code: &str) -> ExitCode {
    if json {
        println!("{}", json!({ "error": code, "message": message }));
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::FAILURE
}

/// An operation's refusal, with its explanation and a stable code.
fn refused(json: bool, e: &AdminError) -> ExitCode {
    fail(json, &e.detail(), error_code(e))
}

fn error_code(e: &AdminError) -> &'static str {
    match e {
        AdminError::Unauthenticated(_) => "unauthenticated",
        AdminError::NeedsLevel(_) | AdminError::Forbidden(_) => "forbidden",
        AdminError::NotFound(_) => "not_found",
        AdminError::Conflict(_) => "conflict",
        AdminError::Invalid(_) => "invalid",
        AdminError::Gone(_) => "gone",
        AdminError::Internal => "internal",
    }
}

/// Prints `value` as one JSON object, or the text lines `text` makes.
fn print(json: bool, value: serde_json::Value, text: impl FnOnce()) -> ExitCode {
    if json {
        println!("{value}");
    } else {
        text();
    }
    ExitCode::SUCCESS
}
