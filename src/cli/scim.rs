//! `gerbang scim`: the bearer tokens of SCIM provisioning clients.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{print, refused, Ctx};
use crate::ops::scim;
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum ScimCmd {
    /// Tokens of provisioning clients.
    #[command(subcommand)]
    Token(TokenCmd),
}

#[derive(Subcommand)]
pub(super) enum TokenCmd {
    /// Make a token; it is printed once and only its hash is kept.
    Create {
        /// The client's name, e.g. `simpeg` (named `scim:<name>` in the audit trail).
        #[arg(long)]
        name: String,
        /// Limit the token to this OPD unit (by code) and the units below it.
        #[arg(long)]
        opd: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token at once.
    Revoke {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: ScimCmd) -> anyhow::Result<ExitCode> {
    let ScimCmd::Token(cmd) = cmd;
    match cmd {
        TokenCmd::Create { name, opd, json } => {
            match scim::create_token(&ctx.st, &ctx.who, &name, opd.as_deref(), now()).await {
                Ok((row, token)) => {
                    Ok(print(json, json!({ "name": row.name, "opd_id": row.opd_id, "token": token.expose() }), || {
                        println!("SCIM token for {} (shown once; keep it secret):", row.name);
                        println!("{}", token.expose());
                    }))
                }
                Err(e) => Ok(refused(json, &e)),
            }
        }
        TokenCmd::List { json } => match scim::list_tokens(&ctx.st, &ctx.who).await {
            Ok(rows) => {
                let list: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        json!({ "name": r.name, "opd_id": r.opd_id, "created_by": r.created_by, "created_at": r.created_at,
                                "last_used_at": r.last_used_at, "revoked_at": r.revoked_at })
                    })
                    .collect();
                Ok(print(json, json!({ "tokens": list }), || {
                    for r in &rows {
                        let state = if r.revoked_at.is_some() { "revoked" } else { "active" };
                        println!("{:<24} {:<8} {}", r.name, state, r.opd_id.as_deref().unwrap_or("(whole region)"));
                    }
                }))
            }
            Err(e) => Ok(refused(json, &e)),
        },
        TokenCmd::Revoke { name, json } => match scim::revoke_token(&ctx.st, &ctx.who, &name, now()).await {
            Ok(()) => Ok(print(json, json!({ "revoked": name }), || println!("revoked SCIM token {name}"))),
            Err(e) => Ok(refused(json, &e)),
        },
    }
}
