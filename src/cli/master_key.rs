//! `gerbang master-key`: re-sealing secrets under a new master key, and where they stand.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{print, refused, Ctx};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum MasterKeyCmd {
    /// Re-seal every sealed secret under `master_key` (run with `master_key_previous` set to
    /// the key it replaces); idempotent, and safe while the servers run. Refused while
    /// `master_key_next` is set.
    Rotate {
        #[arg(long)]
        json: bool,
    },
    /// How many sealed secrets are under the current, the previous, the next or another key.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: MasterKeyCmd) -> anyhow::Result<ExitCode> {
    let key_id = ctx.st.sealer.id();
    let previous_id = ctx.st.sealer.previous_id();
    let next_id = ctx.st.sealer.next_id();
    match cmd {
        MasterKeyCmd::Rotate { json } => {
            let done = match crate::ops::master_key::rotate(&ctx.st, &ctx.who, now()).await {
                Ok(done) => done,
                Err(e) => return Ok(refused(json, &e)),
            };
            let counts: serde_json::Map<String, serde_json::Value> =
                done.iter().map(|(c, n)| ((*c).to_string(), json!(n))).collect();
            let value = json!({ "key_id": key_id, "previous_key_id": previous_id, "resealed": counts });
            Ok(print(json, value, || {
                println!("every sealed secret is now under master key {key_id}:");
                for (column, n) in &done {
                    println!("  {column}: {n} re-sealed");
                }
                if previous_id.is_some() {
                    println!("master_key_previous can now be removed from every server's configuration");
                }
            }))
        }
        MasterKeyCmd::Status { json } => {
            let counts = match crate::ops::master_key::status(&ctx.st, &ctx.who).await {
                Ok(c) => c,
                Err(e) => return Ok(refused(json, &e)),
            };
            let pending: u64 = counts.iter().map(|c| c.previous + c.other + c.unversioned).sum();
            let under_next: u64 = counts.iter().map(|c| c.next).sum();
            let value = json!({
                "key_id": key_id,
                "previous_key_id": previous_id,
                "next_key_id": next_id,
                "columns": counts,
                "pending": pending,
                "under_next": under_next,
            });
            Ok(print(json, value, || {
                let previous = previous_id.as_ref().map(|p| format!(" (previous {p})")).unwrap_or_default();
                let next = next_id.as_ref().map(|n| format!(" (next {n})")).unwrap_or_default();
                println!("master key {key_id}{previous}{next}");
                for c in &counts {
                    let next = if next_id.is_some() { format!(", {} next key", c.next) } else { String::new() };
                    println!(
                        "  {}: {} current, {} previous{next}, {} other key, {} without key id",
                        c.column, c.current, c.previous, c.other, c.unversioned
                    );
                }
                match (next_id.is_some(), under_next) {
                    (true, 0) => println!(
                        "nothing is under the next key yet: once every server has master_key_next, set master_key to it and master_key_previous to the current key"
                    ),
                    (true, n) => println!(
                        "{n} value(s) under the next key: a server already seals with it; every server must have master_key_next or master_key set to it"
                    ),
                    (false, _) => {}
                }
                if pending > 0 && next_id.is_none() {
                    println!("{pending} value(s) still to re-seal: run `gerbang master-key rotate`");
                } else if pending > 0 {
                    println!("{pending} value(s) to re-seal once master_key is the new key: then run `gerbang master-key rotate`");
                }
            }))
        }
    }
}
