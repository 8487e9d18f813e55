//! `gerbang import asn|citizens FILE.csv`: reads the file, runs the import operation with a
//! progress bar when standard error is a terminal, writes the refused rows to a reject file when
//! asked, and prints a summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::{fail, refused, Ctx};
use crate::ops::import::{self, ImportKind, Options, Phase, Progress, Report, Table};
use crate::state::now;

#[derive(Subcommand)]
pub(super) enum ImportCmd {
    /// Civil servants from a SIMPEG/SIASN personnel export, keyed by NIP (docs/impor.md).
    Asn(ImportArgs),
    /// Citizens from a population export, keyed by NIK (docs/impor.md).
    Citizens(ImportArgs),
}

#[derive(Args)]
pub(super) struct ImportArgs {
    /// The CSV file (UTF-8, header row first; `,` or `;` between fields).
    file: PathBuf,
    /// Import the good rows even when some are bad, and write the bad ones to the reject file.
    #[arg(long)]
    partial: bool,
    /// Where the refused rows go, with their line and reason (default: FILE.rejects.csv when
    /// some rows are refused).
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Check every row and report, without writing anything.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(ctx: &Ctx, cmd: ImportCmd) -> anyhow::Result<ExitCode> {
    let (kind, args) = match cmd {
        ImportCmd::Asn(a) => (ImportKind::Asn, a),
        ImportCmd::Citizens(a) => (ImportKind::Citizens, a),
    };
    let table = match read(&args.file) {
        Ok(t) => t,
        Err(e) => return Ok(fail(args.json, &format!("{}: {e}", args.file.display()), "invalid_file")),
    };
    let bar = Bar::new();
    let opts = Options { partial: args.partial, dry_run: args.dry_run };
    let report = import::import(&ctx.st, &ctx.who, kind, &table, opts, &bar, now()).await;
    bar.0.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => return Ok(refused(args.json, &e)),
    };
    let rejects = match write_rejects(&args, &table, &report) {
        Ok(path) => path,
        Err(e) => return Ok(fail(args.json, &format!("writing the reject file: {e}"), "io")),
    };
    summary(&args, &report, rejects.as_deref());
    let refused_all = !report.rejected.is_empty() && !args.partial;
    Ok(if refused_all { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The whole file, each row with the line it starts on. The separator is `;` when the header has
/// one and no comma: spreadsheets in Indonesian locales save CSV that way.
fn read(path: &Path) -> anyhow::Result<Table> {
    let bytes = std::fs::read(path)?;
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = if first_line.contains(&b';') && !first_line.contains(&b',') { b';' } else { b',' };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(bytes.as_slice());
    let mut table = Table::default();
    let mut records = reader.records();
    match records.next() {
        Some(header) => table.header = header?,
        None => anyhow::bail!("the file is empty"),
    }
    for rec in records {
        let rec = rec?;
        let line = rec.position().map(|p| p.line()).unwrap_or_default();
        // Spreadsheets leave rows of empty cells at the end.
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        table.rows.push((line, rec));
    }
    Ok(table)
}

/// The refused rows as they were, with `baris` (line) and `alasan` (reason) appended, so the file
/// can be corrected and imported again (the import ignores those two columns).
fn write_rejects(args: &ImportArgs, table: &Table, report: &Report) -> anyhow::Result<Option<PathBuf>> {
    if report.rejected.is_empty() || (args.rejects.is_none() && !args.partial) {
        return Ok(None);
    }
    let path = args.rejects.clone().unwrap_or_else(|| {
        let mut p = args.file.clone().into_os_string();
        p.push(".rejects.csv");
        PathBuf::from(p)
    });
    let mut w = csv::Writer::from_path(&path)?;
    let mut header = table.header.clone();
    header.push_field("baris");
    header.push_field("alasan");
    w.write_record(&header)?;
    for r in &report.rejected {
        let mut rec = table.rows[r.index].1.clone();
        rec.push_field(&r.line.to_string());
        rec.push_field(&r.reason);
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(Some(path))
}

/// Text lines shown before "and N more" (the reject file and `--json` have them all).
const SHOWN: usize = 50;

fn summary(args: &ImportArgs, r: &Report, rejects: Option<&Path>) {
    if args.json {
        let mut v = json!(r);
        v["rejects_file"] = json!(rejects.map(|p| p.display().to_string()));
        println!("{v}");
        return;
    }
    for x in r.rejected.iter().take(SHOWN) {
        eprintln!("line {}: {}", x.line, x.reason);
    }
    if r.rejected.len() > SHOWN {
        eprintln!("… and {} more refused rows", r.rejected.len() - SHOWN);
    }
    for x in &r.status_failed {
        eprintln!("line {}: status not changed: {}", x.line, x.reason);
    }
    if !r.ignored_columns.is_empty() {
        eprintln!("columns ignored: {}", r.ignored_columns.join(", "));
    }
    if let Some(p) = rejects {
        eprintln!("refused rows written to {}", p.display());
    }
    if !r.written {
        let why = if args.dry_run { "dry run" } else { "some rows are refused; fix them or use --partial" };
        println!("nothing written ({why}): {} rows, {} refused", r.rows, r.rejected.len());
        return;
    }
    println!(
        "{} rows: {} created, {} updated, {} unchanged, {} refused; {} moved to another unit, {} status changes",
        r.rows,
        r.created,
        r.updated,
        r.unchanged,
        r.rejected.len(),
        r.moved,
        r.status_changed
    );
}

/// An `indicatif` bar on standard error when it is a terminal, hidden otherwise (scripts and
/// logs get the summary only).
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Bar {
        let bar = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
        if let Ok(style) = ProgressStyle::with_template("{msg:<10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})") {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar(bar)
    }
}

impl Progress for Bar {
    fn begin(&self, phase: Phase, total: u64) {
        self.0.set_message(match phase {
            Phase::Checking => "checking",
            Phase::Writing => "writing",
        });
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.reset_eta();
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}
