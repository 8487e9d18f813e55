//! `gerbang keys`: rotating the signing keys.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{print, refused, Ctx};
use crate::oidc::keys::PUBLISH_DELAY;
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum KeysCmd {
    /// Create new signing keys; the current ones stay published until the next rotation.
    Rotate {
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: KeysCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCmd::Rotate { json } => {
            let kids: Vec<String> = match crate::ops::keys::rotate_keys(&ctx.st, &ctx.who, now()).await {
                Ok(rotated) => rotated.into_iter().map(|(kid, _)| kid).collect(),
                Err(e) => return Ok(refused(json, &e)),
            };
            Ok(print(json, json!({ "rotated": kids }), || {
                println!("new signing keys: {}", kids.join(", "));
                println!(
                    "servers publish them within a minute and sign with them after {PUBLISH_DELAY} seconds; previous keys stay in JWKS"
                );
            }))
        }
    }
}
