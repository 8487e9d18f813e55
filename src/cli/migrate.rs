//! `gerbang migrate`: applying the schema migrations, or listing what a database has applied
//! and what is pending (`--status`); and the version line that names the schema.

use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Args;
use serde_json::json;

use super::print;
use crate::config::Config;
use crate::store::migrations::{schema_version, MigrationStatus};
use crate::store::Db;

#[derive(Args)]
pub(super) struct MigrateArgs {
    /// List applied and pending migrations instead of applying them; exits 1 when one was
    /// altered since it was applied, failed, or is unknown to this binary.
    #[arg(long)]
    status: bool,
    #[arg(long)]
    json: bool,
}

/// `gerbang 0.1.0 (schema 22)`: the schema is the highest migration embedded in the binary, so
/// an operator can tell which database a binary expects without reading the source.
pub(super) fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| format!("{} (schema {})", env!("CARGO_PKG_VERSION"), schema_version()))
}

pub(super) async fn run(config: Config, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let db = Db::connect(config.database_url.expose(), 2).await?;
    if !args.status {
        db.migrate().await?;
        let version = schema_version();
        return Ok(print(args.json, json!({ "applied": true, "schema": version }), || {
            println!("migrations applied; schema {version}")
        }));
    }
    let list = db.migration_status().await?;
    let current = list.iter().filter(|m| !m.pending()).map(|m| m.version).max().unwrap_or(0);
    let pending = list.iter().filter(|m| m.pending()).count();
    let trouble: Vec<&MigrationStatus> = list.iter().filter(|m| m.checksum_mismatch || m.failed || !m.known).collect();
    let value = json!({
        "database": db.kind(),
        "schema": current,
        "binary_schema": schema_version(),
        "pending": pending,
        "migrations": list,
    });
    if args.json {
        // The list goes out even when something is wrong: it is what the operator repairs from.
        println!("{value}");
    } else {
        print_text(&db, &list, current, pending);
    }
    if trouble.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        eprintln!("error: {}", trouble_message(&trouble));
    }
    Ok(ExitCode::FAILURE)
}

fn print_text(db: &Db, list: &[MigrationStatus], current: i64, pending: usize) {
    println!("database: {}, schema {current}; this binary: schema {}; {pending} pending", db.kind(), schema_version());
    for m in list {
        let state = match &m.applied_at {
            None => "pending".to_string(),
            Some(at) => format!("applied {at}"),
        };
        let mut flags = String::new();
        if m.checksum_mismatch {
            flags.push_str("  CHECKSUM MISMATCH (the file changed after it was applied)");
        }
        if m.failed {
            flags.push_str("  FAILED (repair before migrating)");
        }
        if !m.known {
            flags.push_str("  UNKNOWN to this binary (applied by a newer release)");
        }
        println!("{:>4}  {:<28} {state}{flags}", m.version, m.description);
    }
}

fn trouble_message(trouble: &[&MigrationStatus]) -> String {
    let versions: Vec<String> = trouble.iter().map(|m| m.version.to_string()).collect();
    format!("migrations {} do not match this binary; see the list above", versions.join(", "))
}
