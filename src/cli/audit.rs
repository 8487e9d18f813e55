//! `gerbang audit`: checking, listing and exporting the audit trail.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{fail, refused, Ctx};
use crate::ops::{accounts, audit, AdminError};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum AuditCmd {
    /// Check the keyed hash chain; exits non-zero and names the first broken record if any.
    Verify {
        /// A checkpoint saved earlier by `gerbang audit checkpoint`: also check that the trail
        /// still holds the record it vouches for (finds the newest records deleted).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Sign the trail's current head (newest sequence number and hash) with the current signing
    /// key, record it in the trail and print it as JSON: keep the output away from the server
    /// and check against it later with `verify --checkpoint FILE`.
    Checkpoint,
    /// Records in a date range (UTC days, end exclusive) as CSV or JSON, for SPBE reporting.
    /// The export itself is recorded.
    Export {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        since: String,
        /// Day after the last, YYYY-MM-DD.
        #[arg(long)]
        until: String,
        /// csv (default) or json
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// The latest events, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only events about this account (NIP, NIK or id).
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn run(ctx: &Ctx, cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::Verify { checkpoint, json } => {
            let text = match &checkpoint {
                Some(path) => match std::fs::read_to_string(path) {
                    Ok(t) => Some(t),
                    Err(e) => return Ok(fail(json, &format!("cannot read {}: {e}", path.display()), "invalid")),
                },
                None => None,
            };
            let v = match audit::verify_audit(&ctx.st, &ctx.who, text.as_deref()).await {
                Ok(v) => v,
                Err(e) => return Ok(refused(json, &e)),
            };
            if json {
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("{}", describe(&v));
            }
            Ok(if v.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        AuditCmd::Checkpoint => {
            let c = match audit::checkpoint(&ctx.st, &ctx.who, now()).await {
                Ok(c) => c,
                Err(e) => return Ok(refused(true, &e)),
            };
            println!("{}", serde_json::to_string_pretty(&c)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Export { since, until, format } => {
            let day = |s: &str| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc().timestamp())
            };
            let (Some(from), Some(to)) = (day(&since), day(&until)) else {
                return Ok(fail(false, "dates must look like 2026-11-01", "invalid"));
            };
            if !matches!(format.as_str(), "csv" | "json") {
                return Ok(fail(false, &format!("format must be csv or json, not `{format}`"), "invalid"));
            }
            let rows = match audit::export_records(&ctx.st, &ctx.who, from, to, now()).await {
                Ok(rows) => rows,
                Err(e) => return Ok(refused(false, &e)),
            };
            if format == "csv" {
                print!("{}", crate::audit::to_csv(&rows));
            } else {
                println!("{}", json!({ "events": rows }));
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::List { limit, account, json } => {
            let subject = match &account {
                Some(key) => match accounts::find_account(&ctx.st, &ctx.who, key).await {
                    Ok(a) => Some(a.id),
                    Err(AdminError::NotFound(_)) => return Ok(fail(json, &format!("no account `{key}`"), "not_found")),
                    Err(e) => return Ok(refused(json, &e)),
                },
                None => None,
            };
            let rows = match audit::latest_events(&ctx.st, &ctx.who, limit, subject.as_deref()).await {
                Ok(rows) => rows,
                Err(e) => return Ok(refused(json, &e)),
            };
            if json {
                println!("{}", json!({ "events": rows }));
            } else {
                for r in rows {
                    let at = chrono::DateTime::from_timestamp(r.at, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
                    println!(
                        "{:>6} {} {:<24} actor={} subject={} ip={} {}",
                        r.seq, at, r.kind, r.actor, r.subject, r.ip, r.detail
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn utc(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default()
}

/// The verdict in words: intact, broken at a record, or behind a checkpoint.
fn describe(v: &crate::audit::Verification) -> String {
    use crate::audit::CheckpointOutcome;
    let problem = v.problem.clone().unwrap_or_default();
    if !v.ok {
        return match (&v.checkpoint, v.broken_at) {
            (Some(c), _) if c.outcome == CheckpointOutcome::Behind => {
                format!("audit trail BEHIND CHECKPOINT: {problem}")
            }
            (_, Some(at)) => format!("audit trail BROKEN at #{at}: {problem}"),
            (_, None) => format!("audit trail BROKEN: {problem}"),
        };
    }
    let mut out = format!("audit trail intact: {} records, the newest is #{}", v.records, v.head);
    if v.legacy_until > 0 {
        out.push_str(&format!(
            "\n  records up to #{} predate the keyed chain and were checked with the old unkeyed rule",
            v.legacy_until
        ));
    }
    if let Some(c) = &v.checkpoint {
        out.push_str(&format!("\n  matches the checkpoint of #{} signed {} with key {}", c.seq, utc(c.at), c.kid));
    }
    out
}
