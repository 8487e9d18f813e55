//! `gerbang account`: provisioning, unit and profile changes, status, second-factor reset, and
//! the profile schema.

use std::io::Read;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{fail, print, refused, Ctx};
use crate::config::{Config, Secret};
use crate::identity::accounts::{Account, AccountError, AccountStatus, NewAccount};
use crate::ids::AccountId;
use crate::ops::accounts::{self as ops_accounts, AccountChange, ProvisionError};
use crate::ops::{units, AdminError, Operator};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum AccountCmd {
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
        #[arg(long)]
        json: bool,
    },
    /// Issue a one-time enrolment link (24 h, single use, shown once) through which the person
    /// enrols a first passkey or authenticator app: required for anyone holding an
    /// administrative role. Audited.
    EnrolmentLink {
        /// NIP, NIK or account id.
        account: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue a password link (24 h, single use, shown once): a reset link, or an activation
    /// link for an account without a password. Audited.
    ResetLink {
        /// NIP, NIK or account id.
        account: String,
        #[arg(long)]
        json: bool,
    },
    /// Record that an officer checked a citizen's identity document at the counter: the
    /// account becomes identity-verified (`verified: true`). Audited.
    VerifyIdentity {
        /// NIK or account id.
        account: String,
        /// The document checked, e.g. KTP-el.
        #[arg(long)]
        document: String,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub(super) struct AccountUpdate {
    /// NIP, NIK or account id.
    account: String,
    /// Code of the OPD unit the person belongs to (revokes their tokens when it changes).
    #[arg(long)]
    opd: Option<String>,
    /// Profile attribute `name=value` (repeatable; empty value removes it). `email` and
    /// `phone_number` are contact details of any account; an address set here is unverified.
    #[arg(long = "set")]
    set: Vec<String>,
    /// active, suspended, retired or dismissed. Anything but active revokes all tokens.
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(super) struct AccountCreate {
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

pub(super) async fn run(config: Config, operator: Operator, cmd: AccountCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AccountCmd::Schema { json } => Ok(schema(json)),
        AccountCmd::Create(a) => create(&Ctx::open(config, operator).await?, a).await,
        AccountCmd::Update(u) => update(&Ctx::open(config, operator).await?, u).await,
        AccountCmd::ResetFactors { account, json } => {
            reset_factors(&Ctx::open(config, operator).await?, &account, json).await
        }
        AccountCmd::EnrolmentLink { account, json } => {
            enrolment_link(&Ctx::open(config, operator).await?, &account, json).await
        }
        AccountCmd::ResetLink { account, json } => {
            reset_link(&Ctx::open(config, operator).await?, &account, json).await
        }
        AccountCmd::VerifyIdentity { account, document, note, json } => {
            let check = crate::ops::verification::IdentityCheck { document, note };
            verify_identity(&Ctx::open(config, operator).await?, &account, check, json).await
        }
    }
}

fn schema(json: bool) -> ExitCode {
    print(json, json!({ "attributes": crate::identity::profile::SCHEMA }), || {
        for a in crate::identity::profile::SCHEMA {
            println!("{:<14} {:<8} scope {:<16} {}", a.name, a.account_type.as_str(), a.scope, a.description);
        }
    })
}

/// The account a NIP, NIK or id names, with its id as the operations take it, or the exit code
/// of the refusal.
async fn find(ctx: &Ctx, key: &str, json: bool) -> Result<(Account, AccountId), ExitCode> {
    let found = ops_accounts::find_account(&ctx.st, &ctx.who, key).await.and_then(|a| {
        let id = ctx.who.parse_account_id(&a.id)?;
        Ok((a, id))
    });
    match found {
        Ok(x) => Ok(x),
        Err(AdminError::NotFound(_)) => Err(fail(json, &format!("no account `{key}`"), "not_found")),
        Err(e) => Err(refused(json, &e)),
    }
}

async fn create(ctx: &Ctx, a: AccountCreate) -> anyhow::Result<ExitCode> {
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Some(Secret::new(s.lines().next().unwrap_or("").to_string()))
    } else {
        None
    };
    let new = NewAccount { nip: a.nip, nik: a.nik, name: a.name, password, is_admin: a.admin };
    match crate::ops::reset::provision_account(&ctx.st, &ctx.who, new, now()).await {
        Ok((acc, warnings, activation)) => {
            let mut out = json!({ "account": acc, "warnings": warnings });
            if let Some(link) = &activation {
                out["activation"] = json!(link);
            }
            Ok(print(a.json, out, || {
                println!("created {} account {} ({})", acc.kind.as_str(), acc.id, acc.name);
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
                if let Some(url) = activation.as_ref().and_then(|l| l.url.as_deref()) {
                    println!("no password yet; activation link, single use, valid 24 hours, shown only now:");
                    println!("  {url}");
                }
            }))
        }
        Err(ProvisionError::Refused(e)) => Ok(refused(a.json, &e)),
        Err(ProvisionError::Account(e)) => {
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

/// The unit and profile change first (all checked before anything is written), then the status.
async fn update(ctx: &Ctx, u: AccountUpdate) -> anyhow::Result<ExitCode> {
    let status = match u.status.as_deref().map(|s| AccountStatus::parse(s).ok_or(s)).transpose() {
        Ok(status) => status,
        Err(_) => return Ok(fail(u.json, AccountStatus::EXPECTED, "invalid")),
    };
    let (mut account, id) = match find(ctx, &u.account, u.json).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let mut change = AccountChange::default();
    if let Some(code) = &u.opd {
        match units::unit_by_code(&ctx.st, &ctx.who, code).await {
            Ok(unit) => change.opd_id = Some(unit.id),
            Err(AdminError::NotFound(_)) => {
                return Ok(fail(u.json, &format!("unknown OPD unit `{code}`"), "not_found"));
            }
            Err(e) => return Ok(refused(u.json, &e)),
        }
    }
    for pair in &u.set {
        let Some((name, value)) = pair.split_once('=') else {
            return Ok(fail(u.json, &format!("`{pair}`: use name=value"), "invalid"));
        };
        change.profile.push((name.to_string(), value.to_string()));
    }
    if change.opd_id.is_some() || !change.profile.is_empty() {
        account = match ops_accounts::update_account(&ctx.st, &ctx.who, &id, change, now()).await {
            Ok(a) => a,
            Err(e) => return Ok(refused(u.json, &e)),
        };
    }
    if let Some(status) = status {
        account = match ops_accounts::set_status(&ctx.st, &ctx.who, &id, status, now()).await {
            Ok(a) => a,
            Err(e) => return Ok(refused(u.json, &e)),
        };
    }
    Ok(print(u.json, json!({ "account": account }), || {
        println!("updated account {} ({})", account.id, account.name);
    }))
}

async fn reset_factors(ctx: &Ctx, key: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (a, id) = match find(ctx, key, json).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    if let Err(e) = ops_accounts::reset_factors(&ctx.st, &ctx.who, &id, now()).await {
        return Ok(refused(json, &e));
    }
    Ok(print(json, json!({ "reset": a.id }), || {
        println!("second factors of {} ({}) removed; recorded in the audit trail", a.id, a.name);
    }))
}

async fn enrolment_link(ctx: &Ctx, key: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (a, id) = match find(ctx, key, json).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let link = match crate::ops::enrolment::issue_link(&ctx.st, &ctx.who, &id, now()).await {
        Ok(l) => l,
        Err(e) => return Ok(refused(json, &e)),
    };
    Ok(print(json, json!({ "enrolment_link": link }), || {
        println!("enrolment link for {} ({}), single use, valid 24 hours, shown only now:", a.id, a.name);
        println!("  {}", link.url);
    }))
}

async fn reset_link(ctx: &Ctx, key: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (a, id) = match find(ctx, key, json).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let want = Some(crate::ops::reset::Delivery::Link);
    let link = match crate::ops::reset::issue(&ctx.st, &ctx.who, &id, want, now()).await {
        Ok(l) => l,
        Err(e) => return Ok(refused(json, &e)),
    };
    Ok(print(json, json!({ "reset_link": link }), || {
        println!("{} link for {} ({}), single use, valid 24 hours, shown only now:", link.purpose, a.id, a.name);
        println!("  {}", link.url.as_deref().unwrap_or_default());
    }))
}
async fn verify_identity(
    ctx: &Ctx,
    key: &str,
    check: crate::ops::verification::IdentityCheck,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (_, id) = match find(ctx, key, json).await {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let a = match crate::ops::verification::verify_identity(&ctx.st, &ctx.who, &id, check, now()).await {
        Ok(a) => a,
        Err(e) => return Ok(refused(json, &e)),
    };
    Ok(print(json, json!({ "account": a }), || {
        println!("identity of {} ({}) verified", a.id, a.name);
    }))
}
