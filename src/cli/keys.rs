//! `gerbang keys`: rotating the signing keys (after the publish delay, or at once when one is
//! suspected stolen) and listing where each is in its lifecycle.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{print, refused, Ctx};
use crate::config::keys::RELOAD_SECONDS;
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum KeysCmd {
    /// Publish new signing keys; they sign after `signing_key_publish_minutes`, and the current
    /// ones stay published until every token they signed has expired.
    Rotate {
        /// A signing key is suspected stolen: new keys sign at once and every published key is
        /// taken out of JWKS at once, so tokens it signed are refused (no confirmation asked).
        #[arg(long)]
        compromised: bool,
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
        KeysCmd::Rotate { compromised: true, json } => replace_compromised(ctx, json).await,
        KeysCmd::Rotate { compromised: false, json } => {
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

/// `gerbang keys rotate --compromised`: no confirmation, since the switch is what the operator
/// needs at once, but a plain account of what changed and of what it cannot reach.
async fn replace_compromised(ctx: &Ctx, json: bool) -> anyhow::Result<ExitCode> {
    let done = match crate::ops::keys::replace_compromised(&ctx.st, &ctx.who, now()).await {
        Ok(done) => done,
        Err(e) => return Ok(refused(json, &e)),
    };
    let retired: Vec<_> = done.retired.iter().map(|k| json!({ "kid": k.kid, "alg": k.alg, "state": k.was })).collect();
    let signing: Vec<_> = done.signing.iter().map(|(kid, alg)| json!({ "kid": kid, "alg": alg.as_str() })).collect();
    let max_age = ctx.st.config.keys.jwks_max_age;
    let value = json!({
        "retired": retired, "signing": signing,
        "replicas_within_seconds": RELOAD_SECONDS, "jwks_max_age_seconds": max_age,
    });
    Ok(print(json, value, || {
        println!("emergency key switch done: every published signing key is out of JWKS and its tokens are refused");
        for k in &done.retired {
            println!("  retired      {:<24} {:<6} (was {})", k.kid, k.alg, k.was);
        }
        for (kid, alg) in &done.signing {
            println!("  signing now  {:<24} {}", kid, alg.as_str());
        }
        println!(
            "running servers drop the retired keys at their next key reload, within {RELOAD_SECONDS} s; relying parties may trust them until their cached JWKS expires (max-age {max_age} s): ask them to fetch /jwks again"
        );
    }))
}
