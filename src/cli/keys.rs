//! `gerbang keys`: rotating the signing keys and listing where each is in its lifecycle.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{print, refused, Ctx};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum KeysCmd {
    /// Publish new signing keys; they sign after `signing_key_publish_minutes`, and the current
    /// ones stay published until every token they signed has expired.
    Rotate {
        #[arg(long)]
        json: bool,
    },
    /// Every signing key: next, current, previous (published, not signing) or retired.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: KeysCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCmd::Status { json } => {
            let rows = crate::store::keys::list_all(&ctx.st.db).await?;
            let keys: Vec<_> = rows
                .iter()
                .map(|r| {
                    json!({
                        "kid": r.kid, "alg": r.alg, "state": r.state, "created_at": r.created_at,
                        "activates_at": r.activates_at, "rotated_at": r.rotated_at, "remove_at": r.remove_at,
                    })
                })
                .collect();
            Ok(print(json, json!({ "keys": keys }), || {
                let at = |t: Option<i64>| {
                    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_else(|| "-".into())
                };
                for r in &rows {
                    println!(
                        "{:<24} {:<6} {:<8} signs from {}  out of JWKS {}",
                        r.kid,
                        r.alg,
                        r.state,
                        at(Some(r.activates_at)),
                        at(r.remove_at)
                    );
                }
            }))
        }
        KeysCmd::Rotate { json } => {
            let kids: Vec<String> = match crate::ops::keys::rotate_keys(&ctx.st, &ctx.who, now()).await {
                Ok(rotated) => rotated.into_iter().map(|(kid, _)| kid).collect(),
                Err(e) => return Ok(refused(json, &e)),
            };
            Ok(print(json, json!({ "rotated": kids }), || {
                println!("new signing keys: {}", kids.join(", "));
                println!(
                    "servers publish them within a minute and sign with them after {} seconds; the current keys stay in JWKS until their tokens expire",
                    ctx.st.keys.publish_delay()
                );
            }))
        }
    }
}
