//! `gerbang opd`: the tree of OPD units.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{fail, print, refused, Ctx};
use crate::ops::units::{self, NewUnit};
use crate::ops::AdminError;
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum OpdCmd {
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

pub(super) async fn run(ctx: &Ctx, cmd: OpdCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        OpdCmd::Create { code, name, kind, parent, json } => {
            // An unknown parent is something missing, not a malformed request, for the scripts
            // reading the error code.
            if let Some(p) = &parent {
                match units::unit_by_code(&ctx.st, &ctx.who, p).await {
                    Ok(_) => {}
                    Err(AdminError::NotFound(_)) => {
                        return Ok(fail(json, &format!("unknown OPD unit `{p}`"), "not_found"));
                    }
                    Err(e) => return Ok(refused(json, &e)),
                }
            }
            match units::create_unit(&ctx.st, &ctx.who, NewUnit { code, name, kind, parent }, now()).await {
                Ok(row) => Ok(print(json, json!({ "opd": row }), || {
                    println!("created OPD unit {} {}", row.code, row.name);
                })),
                Err(e) => Ok(refused(json, &e)),
            }
        }
        OpdCmd::List { json } => {
            let rows = match units::opd_units(&ctx.st, &ctx.who).await {
                Ok(rows) => rows,
                Err(e) => return Ok(refused(json, &e)),
            };
            Ok(print(json, json!({ "opd": rows }), || {
                for r in &rows {
                    println!("{:<16} {:<20} {}", r.code, r.kind, r.name);
                }
            }))
        }
    }
}
