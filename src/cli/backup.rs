//! `gerbang backup`, `gerbang backup verify` and `gerbang restore`: encrypted archives of the
//! whole installation (see `backup`), taken while the server runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use super::fail;
use crate::backup::keys::{self, Lock, Unlock};
use crate::backup::mac::{Authenticity, HeldKey, Policy};
use crate::backup::{self, files, Extras};
use crate::config::Config;
use crate::ops::{Operator, Principal};
use crate::state::{load_master_key, load_optional_master_key, now};
use crate::store::Db;

const MASTER_KEY_WARNING: &str = "The master key is NOT in this archive. Keep a copy of it apart from the backup media: a restore needs it to open the signing keys and the audit chain.";

/// Said when the backup ran without the master key (`master_key` or the data directory's
/// `master.key`): it could not be recorded in the audit trail.
const NOT_AUDITED: &str = "not recorded in the audit trail: no master key here (give GERBANG_MASTER_KEY_FILE, as the server has, so backups are audited)";

/// Said when the backup ran without the master key: the archive carries no MAC.
const NOT_AUTHENTICATED: &str = "NOT authenticated: no master key here, so nothing will show this region wrote the archive, and a restore refuses it unless given --accept-unauthenticated (give GERBANG_MASTER_KEY_FILE, as the server has)";

/// Said when an archive without a MAC was taken with --accept-unauthenticated.
const ACCEPTED_UNAUTHENTICATED: &str = "the archive is NOT authenticated (it carries no MAC) and was taken because --accept-unauthenticated was given: nothing shows this region wrote it";

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct BackupCmd {
    #[command(subcommand)]
    verify: Option<BackupSub>,
    /// Where to write the archive: a new file (`.partial` until complete), or an existing
    /// directory, where it is named `gerbang-<UTC date and time>.age`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Encrypt to this age public key (`age1…`); may be repeated.
    #[arg(long, value_name = "AGE1…")]
    recipient: Vec<String>,
    /// Encrypt to the age public keys listed in this file, one a line.
    #[arg(long, value_name = "FILE")]
    recipient_file: Option<PathBuf>,
    /// Encrypt with the passphrase in this file instead of public keys.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BackupSub {
    /// Decrypt and check a whole archive (every member's length and SHA-256, every row) without
    /// writing anything.
    Verify {
        file: PathBuf,
        #[command(flatten)]
        key: UnlockArgs,
        /// Check an archive that carries no MAC (written by an earlier gerbang, or without the
        /// master key) instead of refusing it; compare its SHA-256 with the recorded one first.
        #[arg(long)]
        accept_unauthenticated: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub(super) struct UnlockArgs {
    /// The age identity file (secret key) the archive was encrypted to.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// The file holding the passphrase the archive was encrypted with.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct RestoreCmd {
    file: PathBuf,
    #[command(flatten)]
    key: UnlockArgs,
    /// Restore into a database that already holds data: every row is deleted first, in the
    /// same transaction as the restore (stop every server on it before).
    #[arg(long)]
    force: bool,
    /// Also write the archived settings (`settings.toml`) and themes into this new directory.
    #[arg(long, value_name = "DIR")]
    files_to: Option<PathBuf>,
    /// Restore an archive that carries no MAC (written by an earlier gerbang, or without the
    /// master key) instead of refusing it: only after comparing its SHA-256 with the one
    /// recorded when it was taken. The restore is recorded as unauthenticated.
    #[arg(long)]
    accept_unauthenticated: bool,
    #[arg(long)]
    json: bool,
}

fn lock(cmd: &BackupCmd) -> Result<Lock, String> {
    let mut recipients = Vec::new();
    for r in &cmd.recipient {
        recipients.push(keys::recipient(r).map_err(|e| e.to_string())?);
    }
    if let Some(f) = &cmd.recipient_file {
        recipients.extend(keys::recipients_file(f).map_err(|e| e.to_string())?);
    }
    match (&cmd.passphrase_file, recipients.is_empty()) {
        (Some(_), false) => Err("give either recipients or --passphrase-file, not both".into()),
        (Some(p), true) => Ok(Lock::Passphrase(keys::passphrase(p).map_err(|e| e.to_string())?)),
        (None, false) => Ok(Lock::Recipients(recipients)),
        (None, true) => {
            Err("say how to encrypt: --recipient age1…, --recipient-file FILE or --passphrase-file FILE".into())
        }
    }
}

fn unlock(args: &UnlockArgs) -> Result<Unlock, String> {
    match (&args.identity, &args.passphrase_file) {
        (Some(i), None) => Ok(Unlock::Identities(keys::identity_file(i).map_err(|e| e.to_string())?)),
        (None, Some(p)) => Ok(Unlock::Passphrase(keys::passphrase(p).map_err(|e| e.to_string())?)),
        (Some(_), Some(_)) => Err("give either --identity or --passphrase-file, not both".into()),
        (None, None) => Err("say how to decrypt: --identity FILE or --passphrase-file FILE".into()),
    }
}

/// The master keys configured here (the master key, and the previous and next one during a
/// rotation): what an archive's MAC is checked with, and whose ids its sealed values may need.
fn held_keys(config: &Config, master: [u8; 32]) -> anyhow::Result<Vec<HeldKey>> {
    let previous = load_optional_master_key(&config.keys.master_key_previous, "master_key_previous")?;
    let next = load_optional_master_key(&config.keys.master_key_next, "master_key_next")?;
    let mut keys = Vec::new();
    for bytes in [Some(master), previous, next].into_iter().flatten() {
        keys.push(HeldKey::new(&bytes)?);
    }
    Ok(keys)
}

/// The master key when one is configured or was generated into the data directory; never
/// generates one (a new key would open nothing in an archive). One that is there but does not
/// load is an error, not "no key": taken as none, an archive would be checked without its MAC.
fn existing_master_key(config: &Config) -> anyhow::Result<Option<[u8; 32]>> {
    if config.master_key.is_none() && !config.data_dir.join("master.key").exists() {
        return Ok(None);
    }
    let key = load_master_key(config)
        .context("cannot load the master key (master_key, or master.key in the data directory)")?;
    Ok(Some(key))
}

pub(super) async fn run(config: Config, operator: Operator, cmd: BackupCmd) -> anyhow::Result<ExitCode> {
    if let Some(BackupSub::Verify { file, key, accept_unauthenticated, json }) = &cmd.verify {
        return verify(&config, file, key, *accept_unauthenticated, *json).await;
    }
    let json = cmd.json;
    let Some(mut out) = cmd.out.clone() else {
        return Ok(fail(json, "say where to write the archive: --out FILE", "invalid"));
    };
    if out.is_dir() {
        out = out.join(format!("gerbang-{}.age", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    }
    let lock = match lock(&cmd) {
        Ok(l) => l,
        Err(m) => return Ok(fail(json, &m, "invalid")),
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let config_file = env
        .get("GERBANG_CONFIG")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("gerbang.toml")).filter(|p| p.exists()));
    let (extras, skipped) =
        match (files::settings(config_file.as_deref(), &env), files::theme_files(&config.themes_dir)) {
            (Ok(settings), Ok(themes)) => (Extras { settings, themes: themes.files }, themes.skipped),
            (Err(m), _) | (_, Err(m)) => return Ok(fail(json, &m, "invalid")),
        };
    let master = existing_master_key(&config)?;
    let db = Db::connect(config.database_url.expose(), 2).await?;
    // The master keys the sealed values need are read inside the backup's snapshot (`backup`).
    let sealing = backup::Sealing { master };
    let written = match backup::take(&db, &lock, &out, &extras, Some(&sealing), now()).await {
        Ok(w) => w,
        Err(e) => return Ok(fail(json, &e.to_string(), "failed")),
    };
    // The audit trail is keyed from the master key: without it no record can be linked in.
    let audited = match master {
        Some(m) => {
            let actor = Principal::Operator(operator).actor();
            let chain = crate::state::audit_chain_key(&config, &db, m).await?;
            crate::ops::backup::record_taken(&db, chain, &actor, &written, now()).await?;
            true
        }
        None => false,
    };
    db.close().await;
    let rows: u64 = written.manifest.members.iter().filter_map(|m| m.rows).sum();
    let value = json!({
        "file": written.file,
        "sha256": written.sha256,
        "bytes": written.bytes,
        "schema": written.manifest.header.schema,
        "database": written.manifest.header.database,
        "members": written.manifest.members.len(),
        "rows": rows,
        "master_key_included": false,
        "master_keys": written.manifest.header.master_keys,
        "authenticated": written.manifest.header.mac_key.is_some(),
        "mac_key": written.manifest.header.mac_key,
        "audited": audited,
        "themes_skipped": skipped,
        "warning": MASTER_KEY_WARNING,
    });
    Ok(super::print(json, value, || {
        println!("backup written: {} ({} bytes, SHA-256 {})", written.file.display(), written.bytes, written.sha256);
        println!(
            "{} members, {rows} rows, schema version {} ({})",
            written.manifest.members.len(),
            written.manifest.header.schema,
            written.manifest.header.database
        );
        for s in &skipped {
            println!("theme entry not archived: {s}");
        }
        println!("{MASTER_KEY_WARNING}");
        if written.manifest.header.mac_key.is_none() {
            println!("{NOT_AUTHENTICATED}");
        }
        if !audited {
            println!("{NOT_AUDITED}");
        }
    }))
}

async fn verify(
    config: &Config,
    file: &Path,
    key: &UnlockArgs,
    accept_unauthenticated: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let unlock = match unlock(key) {
        Ok(u) => u,
        Err(m) => return Ok(fail(json, &m, "invalid")),
    };
    let master = match existing_master_key(config) {
        Ok(m) => m,
        Err(e) => return Ok(fail(json, &format!("{e:#}"), "invalid")),
    };
    let held = master.map(|m| held_keys(config, m)).transpose()?;
    let policy = Policy { keys: held.as_deref(), accept_unauthenticated };
    let checked = match backup::verify(file, &unlock, master.as_ref(), &policy).await {
        Ok(c) => c,
        Err(e) => return Ok(fail(json, &e.to_string(), refusal_code(&e))),
    };
    let h = &checked.manifest.header;
    let missing = held.as_ref().map(|keys| {
        let ids: Vec<String> = keys.iter().map(|k| k.id().to_string()).collect();
        backup::missing_keys(h, &ids)
    });
    let rows: u64 = checked.manifest.members.iter().filter_map(|m| m.rows).sum();
    let value = json!({
        "ok": true,
        "gerbang": h.gerbang,
        "schema": h.schema,
        "database": h.database,
        "created_at": h.created_at,
        "members": checked.manifest.members,
        "rows": rows,
        "master_key_matches": checked.master_key_matches,
        "master_keys": h.master_keys,
        "master_keys_missing": missing,
        "authenticated": checked.authenticity.authenticated(),
        "authenticity": authenticity_text(&checked.authenticity),
        "mac_key": h.mac_key,
    });
    Ok(super::print(json, value, || {
        println!("archive intact: {} members, {rows} rows", checked.manifest.members.len());
        println!("{}", authenticity_text(&checked.authenticity));
        println!(
            "taken by gerbang {} from {} at schema version {}, created at {}",
            h.gerbang, h.database, h.schema, h.created_at
        );
        match checked.master_key_matches {
            Some(true) => println!("the master key it was taken under is configured here"),
            Some(false) => println!("warning: the master key it was taken under is NOT configured here"),
            None => println!("master key: not checked (none configured here)"),
        }
        if let Some(m) = missing.as_ref().filter(|m| !m.is_empty()) {
            println!("warning: values in it are sealed under master key(s) not configured here: {}", m.join(", "));
        }
    }))
}

pub(super) async fn restore(config: Config, operator: Operator, cmd: RestoreCmd) -> anyhow::Result<ExitCode> {
    let json = cmd.json;
    let unlock = match unlock(&cmd.key) {
        Ok(u) => u,
        Err(m) => return Ok(fail(json, &m, "invalid")),
    };
    let Some(master) = existing_master_key(&config)? else {
        let m = "no master key here: the archive does not carry it; configure the original master key (master_key_file) before restoring";
        return Ok(fail(json, m, "invalid"));
    };
    let db = Db::connect(config.database_url.expose(), 2).await?;
    let actor = Principal::Operator(operator).actor();
    let how = backup::RestoreOptions {
        force: cmd.force,
        files_to: cmd.files_to.as_deref(),
        accept_unauthenticated: cmd.accept_unauthenticated,
    };
    let held = held_keys(&config, master)?;
    let done = match backup::restore(&db, &cmd.file, &unlock, &master, &held, &how).await {
        Ok(r) => r,
        Err(e) => {
            db.close().await;
            return Ok(fail(json, &e.to_string(), refusal_code(&e)));
        }
    };
    let audit_intact = match crate::state::audit_chain_key(&config, &db, master).await {
        Ok(chain) => crate::ops::backup::record_restored(&db, chain, &actor, &done, now()).await.map_err(Into::into),
        Err(e) => Err(e),
    };
    db.close().await;
    let audit_intact = audit_intact?;
    let h = &done.manifest.header;
    let value = json!({
        "ok": true,
        "rows": done.rows,
        "schema": h.schema,
        "source": h.database,
        "created_at": h.created_at,
        "audit_intact": audit_intact,
        "files_to": done.files_written,
        "authenticated": done.authenticity.authenticated(),
        "authenticity": authenticity_text(&done.authenticity),
    });
    Ok(super::print(json, value, || {
        println!(
            "restored {} rows from a {} backup taken at {} (schema version {})",
            done.rows, h.database, h.created_at, h.schema
        );
        println!("{}", authenticity_text(&done.authenticity));
        println!("audit chain: {}", if audit_intact { "intact" } else { "BROKEN (run gerbang audit verify)" });
        if let Some(d) = &done.files_written {
            println!("settings and themes written under {}", d.display());
        }
    }))
}

/// The JSON `error` code of a refused verify or restore: an archive that is not authentic, or
/// not authenticated, is told apart from damage and from the other refusals.
fn refusal_code(e: &backup::BackupError) -> &'static str {
    match e {
        backup::BackupError::Auth(backup::mac::AuthError::Unauthenticated) => "unauthenticated",
        backup::BackupError::Auth(_) => "not_authentic",
        _ => "refused",
    }
}

/// One line on what is known of an archive's authenticity.
fn authenticity_text(a: &Authenticity) -> String {
    match a {
        Authenticity::Verified(id) => format!("authenticated: its MAC verifies under this region's master key {id}"),
        Authenticity::NotChecked => {
            "authenticity NOT checked: no master key here (the checksums catch damage, not forgery)".into()
        }
        Authenticity::AcceptedUnauthenticated => ACCEPTED_UNAUTHENTICATED.to_string(),
    }
}
