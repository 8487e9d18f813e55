//! `gerbang role`: defining roles and giving them to accounts or to whole OPD units.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{fail, print, refused, Ctx};
use crate::ops::roles::{self, Assignment, NewRole, UnitAssignment};
use crate::ops::{accounts, units, AdminError};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum RoleCmd {
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
pub(super) struct RoleTarget {
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

/// Who receives or loses the role, as the operations name them.
enum Target {
    Account(Assignment),
    Unit(UnitAssignment),
}

pub(super) async fn run(ctx: &Ctx, cmd: RoleCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RoleCmd::Create { name, client, description, json } => {
            match roles::create_role(&ctx.st, &ctx.who, NewRole { name, client_id: client.clone(), description }, now())
                .await
            {
                Ok(r) => Ok(print(json, json!({ "role": r }), || println!("created role {}", r.name))),
                Err(AdminError::NotFound("application")) => {
                    let c = client.unwrap_or_default();
                    Ok(fail(json, &format!("unknown application `{c}`"), "not_found"))
                }
                Err(e) => Ok(refused(json, &e)),
            }
        }
        RoleCmd::Assign(t) => {
            let target = match target(ctx, &t).await {
                Ok(target) => target,
                Err(code) => return Ok(code),
            };
            let done = match &target {
                Target::Account(a) => roles::assign(&ctx.st, &ctx.who, a, now()).await,
                Target::Unit(u) => roles::assign_to_unit(&ctx.st, &ctx.who, u, now()).await,
            };
            match done {
                Ok(()) => Ok(print(t.json, json!({ "assigned": t.role }), || println!("assigned role {}", t.role))),
                Err(e) => Ok(role_refused(&t, &e)),
            }
        }
        RoleCmd::Unassign(t) => {
            let target = match target(ctx, &t).await {
                Ok(target) => target,
                Err(code) => return Ok(code),
            };
            let done = match &target {
                Target::Account(a) => roles::unassign(&ctx.st, &ctx.who, a, now()).await,
                Target::Unit(u) => roles::unassign_from_unit(&ctx.st, &ctx.who, u, now()).await,
            };
            match done {
                Ok(n) => Ok(print(t.json, json!({ "unassigned": t.role, "revoked_grants": n }), || {
                    println!("removed role {}; {} token grant(s) revoked", t.role, n)
                })),
                Err(e) => Ok(role_refused(&t, &e)),
            }
        }
        RoleCmd::List { json } => {
            let rows = match roles::assignable_roles(&ctx.st, &ctx.who).await {
                Ok(rows) => rows,
                Err(e) => return Ok(refused(json, &e)),
            };
            Ok(print(json, json!({ "roles": rows }), || {
                for r in &rows {
                    let owner = r.client_id.as_deref().unwrap_or("global");
                    println!("{:<24} {:<20} {}", r.name, owner, r.description);
                }
            }))
        }
    }
}

/// The account (NIP, NIK or id) or the unit (code) the command names, or the exit code of the
/// refusal.
async fn target(ctx: &Ctx, t: &RoleTarget) -> Result<Target, ExitCode> {
    let missing = || fail(t.json, "no such account or OPD unit", "not_found");
    let (role, client_id) = (t.role.clone(), t.client.clone());
    match (&t.account, &t.opd) {
        (Some(key), None) => match accounts::find_account(&ctx.st, &ctx.who, key).await {
            Ok(a) => Ok(Target::Account(Assignment { role, client_id, account_id: a.id })),
            Err(AdminError::NotFound(_)) => Err(missing()),
            Err(e) => Err(refused(t.json, &e)),
        },
        (None, Some(code)) => match units::unit_by_code(&ctx.st, &ctx.who, code).await {
            Ok(u) => Ok(Target::Unit(UnitAssignment { role, client_id, opd_id: u.id })),
            Err(AdminError::NotFound(_)) => Err(missing()),
            Err(e) => Err(refused(t.json, &e)),
        },
        _ => Err(fail(t.json, "give exactly one of --account or --opd", "invalid")),
    }
}

fn role_refused(t: &RoleTarget, e: &AdminError) -> ExitCode {
    match e {
        AdminError::NotFound("role") => fail(t.json, &format!("unknown role `{}`", t.role), "not_found"),
        e => refused(t.json, e),
    }
}
