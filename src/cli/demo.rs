//! `gerbang demo`: the demonstration region.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{refused, Ctx};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum DemoCmd {
    /// Load a demonstration region: OPD tree, roles, civil servants and citizens (localhost
    /// issuer only). Each new demo account gets a random password, printed once.
    Seed {
        #[arg(long)]
        json: bool,
    },
    /// Delete the demo accounts, and the demo units and roles nothing else uses.
    Remove {
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: DemoCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DemoCmd::Seed { json } => {
            let report = match crate::ops::bootstrap::seed_demo(&ctx.st, &ctx.who, now()).await {
                Ok(r) => r,
                Err(e) => return Ok(refused(json, &e)),
            };
            if json {
                let accounts: Vec<_> = report
                    .accounts
                    .iter()
                    .map(|a| {
                        json!({
                            "login": a.login, "name": a.name, "account_type": a.account_type,
                            "password": a.password.as_ref().map(|p| p.expose()),
                        })
                    })
                    .collect();
                println!("{}", json!({ "opd_units": report.opd_units, "roles": report.roles, "accounts": accounts }));
            } else {
                println!(
                    "demo region loaded: {} OPD units, {} roles, {} accounts (passwords shown only now):",
                    report.opd_units,
                    report.roles,
                    report.accounts.len()
                );
                crate::ops::bootstrap::print_demo_accounts(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
        DemoCmd::Remove { json } => {
            let report = match crate::ops::bootstrap::remove_demo(&ctx.st, &ctx.who, now()).await {
                Ok(r) => r,
                Err(e) => return Ok(refused(json, &e)),
            };
            Ok(super::print(json, serde_json::to_value(&report)?, || {
                println!(
                    "demo region removed: {} accounts, {} OPD units, {} roles",
                    report.accounts.len(),
                    report.opd_units,
                    report.roles
                );
            }))
        }
    }
}
