//! `gerbang demo`: the demonstration region.

use std::process::ExitCode;

use clap::Subcommand;

use super::{refused, Ctx};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum DemoCmd {
    /// Load a demonstration region: OPD tree, roles, civil servants and citizens.
    Seed {
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
    }
}
