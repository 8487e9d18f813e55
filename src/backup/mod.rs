//! Backups: one encrypted, checksummed, versioned archive holding everything needed to come
//! back (every table, signing keys as they are sealed, the non-secret settings, the themes),
//! taken from a consistent snapshot while the server serves; and verifying and restoring one.
//!
//! The master key is not in the archive: it is kept apart, and a restore needs the same key for
//! the sealed values (signing keys, second factors) and the audit chain's MACs to open. The
//! header carries a value derived from it so a restore with another key is refused up front,
//! and the archive is authenticated with a MAC keyed from it ([`mac`]): the age key it is
//! encrypted to is public, so only the MAC shows that this region wrote it.

pub mod archive;
pub mod files;
mod files_out;
pub mod keys;
pub mod mac;
mod replay;

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};

use crate::crypto;
use crate::store::backup::Snapshot;
use crate::store::restore::{self, Restore, RestoreError};
use crate::store::sealed::SealedColumn;
use crate::store::{Db, StoreError};
use archive::{ArchiveError, ArchiveReader, ArchiveWriter, Header, Manifest, MemberKind, FORMAT};
use files_out::FilesOut;
use keys::{KeyError, Lock, Unlock};
use mac::{AuthError, Authenticity, HeldKey, Policy};
use replay::replay;

/// The audit record of a backup taken, and of a restore done.
pub const TAKEN: &str = "backup.created";
pub const RESTORED: &str = "backup.restored";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(
        "the archive's database schema (version {archive}) is newer than this gerbang's (version {binary}): restore it with the gerbang version that wrote it ({gerbang}) or a later one"
    )]
    NewerSchema { archive: i64, binary: i64, gerbang: String },
    #[error(
        "the master key configured here is not the one this backup was taken under: the signing keys and the audit chain would not open; configure the original master key (it is kept apart from the backups), or, if this region has rotated its master key since, the key of that time as master_key_previous"
    )]
    WrongMasterKey,
    #[error(
        "the archive holds values sealed under master key(s) {0} (it was taken during a master-key rotation), which are not configured here: configure the missing key as master_key_previous to restore, then finish the rotation with `gerbang master-key rotate`"
    )]
    MasterKeysMissing(String),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// The rows are committed (at the archive's schema) before the remaining migrations run, so
    /// this failure leaves a restored database behind: said so, with the two ways on.
    #[error(
        "the archive's {rows} rows were restored and committed at schema {archive}, but upgrading the database to this gerbang's schema {binary} then failed: {cause}. The database holds the restored data at schema {archive}: fix the cause and run `gerbang migrate`, or restore again with --force"
    )]
    UpgradeAfterRestore { rows: u64, archive: i64, binary: i64, cause: String },
    #[error("{0}")]
    Io(String),
}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> Self {
        BackupError::Restore(RestoreError::Store(e))
    }
}

impl From<std::io::Error> for BackupError {
    fn from(e: std::io::Error) -> Self {
        BackupError::Io(e.to_string())
    }
}

/// A value derived from the master key under its own label: equal for the same key, useless
/// for finding it.
pub fn master_key_check(master: &[u8; 32]) -> String {
    crypto::IdHasher::new(crypto::derive_key(master, "gerbang backup check v1")).hash(b"master key")
}

/// What a backup wrote.
#[derive(Debug, Serialize)]
pub struct Written {
    pub file: PathBuf,
    /// Of the encrypted file, to check a copy on removable media with `sha256sum`.
    pub sha256: String,
    pub bytes: u64,
    pub manifest: Manifest,
}

/// Counts and hashes what goes to the file.
struct Hashing<W: Write> {
    inner: W,
    digest: digest::Context,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What goes into an archive besides the database.
pub struct Extras {
    pub settings: String,
    pub themes: Vec<(String, PathBuf)>,
}

/// The master key a backup is taken under, when the backup job holds it: the archive is then
/// authenticated with it, and its id listed among those a restore needs.
pub struct Sealing {
    pub master: Option<[u8; 32]>,
}

/// The ids of the master keys the snapshot's sealed values are under (from the values' headers,
/// so without holding any key), read inside the snapshot the tables are read from. Read before
/// it, as they once were, a value re-sealed in between by a rotation could be under a key the
/// header does not list. Values from before values carried a key id cannot be placed.
async fn sealed_key_ids(snap: &mut Snapshot) -> Result<std::collections::BTreeSet<String>, BackupError> {
    let mut ids = std::collections::BTreeSet::new();
    for column in SealedColumn::ALL {
        let Some((table, name)) = column.name().split_once('.') else { continue };
        let Some(table) = snap.tables.iter().find(|t| t.name == table).cloned() else { continue };
        let Some(i) = table.columns.iter().position(|c| c.name == name) else { continue };
        snap.rows(&table, |values| -> Result<(), BackupError> {
            // Blobs travel as base64 (`store::backup`).
            let bytes =
                values.get(i).and_then(Value::as_str).map(|v| base64::engine::general_purpose::STANDARD.decode(v));
            if let Some(id) = bytes.and_then(Result::ok).and_then(|b| crypto::sealed_key_id(&b)) {
                ids.insert(id);
            }
            Ok(())
        })
        .await?;
    }
    Ok(ids)
}

/// Writes an archive of `db` to `out` (through `out.partial`, linked to `out` when complete,
/// so a failed run never leaves a file that looks finished; an existing `out` is never
/// replaced).
pub async fn take(
    db: &Db,
    lock: &Lock,
    out: &Path,
    extras: &Extras,
    sealing: Option<&Sealing>,
    now: i64,
) -> Result<Written, BackupError> {
    if out.exists() {
        return Err(exists_error(out));
    }
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    let file = private_file(&partial)?;
    let result = write_archive(db, lock, file, extras, sealing, now).await;
    match result {
        Ok((bytes, sha256, manifest)) => match publish(&partial, out) {
            Ok(()) => Ok(Written { file: out.to_path_buf(), sha256, bytes, manifest }),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        },
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn exists_error(out: &Path) -> BackupError {
    BackupError::Io(format!("{} already exists: choose a new name", out.display()))
}

/// Gives the finished `partial` its name `out`, failing if `out` exists by then: a rename
/// would replace a file another run (or anything else) put there since the check.
fn publish(partial: &Path, out: &Path) -> Result<(), BackupError> {
    match std::fs::hard_link(partial, out) {
        Ok(()) => {
            // The archive is complete under its name: a `.partial` left behind is only clutter.
            let _ = std::fs::remove_file(partial);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists_error(out)),
        // Removable media are often FAT or exFAT, which have no hard links: there only the
        // check and the rename are left, with the short race between them.
        Err(_) if !out.exists() => Ok(std::fs::rename(partial, out)?),
        Err(_) => Err(exists_error(out)),
    }
}

fn private_file(path: &Path) -> Result<std::fs::File, BackupError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| BackupError::Io(format!("cannot create {}: {e}", path.display())))
}

async fn write_archive(
    db: &Db,
    lock: &Lock,
    file: std::fs::File,
    extras: &Extras,
    sealing: Option<&Sealing>,
    now: i64,
) -> Result<(u64, String, Manifest), BackupError> {
    let sink = Hashing { inner: BufWriter::new(file), digest: digest::Context::new(&digest::SHA256), bytes: 0 };
    let encrypted = keys::encrypt(lock, sink)?;
    let mut snap = Snapshot::begin(db).await?;
    if snap.schema == 0 {
        return Err(BackupError::Io(
            "the database holds no Gerbang schema: nothing to back up (check database_url)".into(),
        ));
    }
    let master = sealing.and_then(|s| s.master.as_ref());
    let mac_key = master.map(HeldKey::new).transpose()?;
    let mut master_keys = sealed_key_ids(&mut snap).await?;
    // The current key always: what the restored installation seals with from then on.
    master_keys.extend(mac_key.as_ref().map(|k| k.id().to_string()));
    let header = Header {
        format: FORMAT,
        gerbang: env!("CARGO_PKG_VERSION").into(),
        schema: snap.schema,
        database: db.kind().into(),
        created_at: now,
        master_key_check: master.map(master_key_check),
        master_keys: master_keys.into_iter().collect(),
        mac_key: None,
    };
    let mut w = match mac_key {
        Some(key) => ArchiveWriter::authenticated(encrypted, header, key)?,
        None => ArchiveWriter::new(encrypted, header)?,
    };
    for table in snap.tables.clone() {
        w.begin(&format!("tables/{}.jsonl", table.name), MemberKind::Table)?;
        let head = json!({ "table": table.name, "columns": table.columns });
        w.write(format!("{head}\n").as_bytes())?;
        snap.rows(&table, |values| -> Result<(), BackupError> {
            let line = serde_json::to_vec(values).map_err(|e| BackupError::Io(e.to_string()))?;
            Ok(w.row(&line)?)
        })
        .await?;
    }
    snap.end().await?;
    w.begin("settings.toml", MemberKind::Settings)?;
    w.write(extras.settings.as_bytes())?;
    let mut buf = vec![0u8; archive::CHUNK];
    for (name, path) in &extras.themes {
        w.begin(&format!("themes/{name}"), MemberKind::Theme)?;
        let mut f = std::fs::File::open(path).map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n])?;
        }
    }
    let (encrypted, manifest) = w.finish()?;
    let mut sink = encrypted.finish()?;
    sink.flush()?;
    let Hashing { inner, digest, bytes } = sink;
    let file = inner.into_inner().map_err(|e| BackupError::Io(e.to_string()))?;
    file.sync_all()?;
    let sha256 = digest.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Ok((bytes, sha256, manifest))
}

/// The outcome of reading an archive through.
#[derive(Debug, Serialize)]
pub struct Checked {
    pub manifest: Manifest,
    /// Whether the master key the backup was taken under is configured here, as the master key
    /// or another key of a rotation (`None`: one of the two is unknown).
    pub master_key_matches: Option<bool>,
    pub authenticity: Authenticity,
}

fn open_archive(path: &Path, unlock: &Unlock) -> Result<ArchiveReader<impl Read>, BackupError> {
    let file =
        std::fs::File::open(path).map_err(|e| BackupError::Io(format!("cannot open {}: {e}", path.display())))?;
    let reader = keys::decrypt(unlock, BufReader::new(file))?;
    Ok(ArchiveReader::open(reader)?)
}

fn check_schema(db_kind: &str, header: &Header) -> Result<(), BackupError> {
    let binary = restore::binary_schema(db_kind);
    if header.schema > binary {
        return Err(BackupError::NewerSchema { archive: header.schema, binary, gerbang: header.gerbang.clone() });
    }
    Ok(())
}

/// The master keys the archive's sealed values need that are not among `held` (ids).
pub fn missing_keys(header: &Header, held: &[String]) -> Vec<String> {
    header.master_keys.iter().filter(|id| !held.contains(id)).cloned().collect()
}

/// Whether the master key the archive was taken under is held here: the master key, or
/// another key of a rotation (`held`), since an archive from before a completed rotation is
/// under the key now configured as `master_key_previous`. `None`: one of the two is unknown.
fn master_matches(header: &Header, master: Option<&[u8; 32]>, held: &[HeldKey]) -> Option<bool> {
    let check = header.master_key_check.as_deref()?;
    let master = master?;
    let current = crypto::constant_time_eq(check.as_bytes(), master_key_check(master).as_bytes());
    Some(current || held.iter().any(|k| k.checks(check)))
}

/// Reads the whole archive, checking every member and every row, and its MAC as `policy` says;
/// nothing is written.
pub async fn verify(
    path: &Path,
    unlock: &Unlock,
    master: Option<&[u8; 32]>,
    policy: &Policy<'_>,
) -> Result<Checked, BackupError> {
    let mut reader = open_archive(path, unlock)?;
    check_schema(&reader.header().database.clone(), reader.header())?;
    reader.precheck(policy)?;
    let master_key_matches = master_matches(reader.header(), master, policy.keys.unwrap_or_default());
    let manifest = replay(&mut reader, None, None).await?;
    let authenticity = reader.authenticity(policy)?;
    Ok(Checked { manifest, master_key_matches, authenticity })
}

/// What a restore did.
#[derive(Debug, Serialize)]
pub struct Restored {
    pub manifest: Manifest,
    pub rows: u64,
    /// Whether a database with data was emptied first.
    pub forced: bool,
    pub files_written: Option<PathBuf>,
    pub authenticity: Authenticity,
}

/// Restores the archive into `db`: migrations up to the archive's schema, every row in one
/// transaction (refused on a database with data unless `force`), then the remaining migrations;
/// the caller records it in the trail (`ops::backup`). With `files_to`, the settings and
/// themes are written under that directory (new, or empty and private: [`files_out`]).
/// `held`: the master keys configured here; the archive's MAC must verify under the one it
/// names, or (without a MAC) `accept_unauthenticated` must say so; the rows are committed only
/// then.
pub async fn restore(
    db: &Db,
    path: &Path,
    unlock: &Unlock,
    master: &[u8; 32],
    held: &[HeldKey],
    how: &RestoreOptions<'_>,
) -> Result<Restored, BackupError> {
    let RestoreOptions { force, files_to, accept_unauthenticated } = *how;
    let policy = Policy { keys: Some(held), accept_unauthenticated };
    if let Some(dir) = files_to {
        files_out::check_dir(dir)?;
    }
    let mut reader = open_archive(path, unlock)?;
    let header = reader.header().clone();
    check_schema(db.kind(), &header)?;
    reader.precheck(&policy)?;
    if master_matches(&header, Some(master), held) == Some(false) {
        return Err(BackupError::WrongMasterKey);
    }
    let held_ids: Vec<String> = held.iter().map(|k| k.id().to_string()).collect();
    let missing = missing_keys(&header, &held_ids);
    if !missing.is_empty() {
        return Err(BackupError::MasterKeysMissing(missing.join(", ")));
    }
    if !force {
        restore::refuse_data(db).await?;
    }
    if header.mac_key.is_some() {
        // Anyone holding the public age key can write an archive naming this region's key: its
        // MAC is verified over the whole before anything is written (no migration, no file, no
        // row held in memory for sorting). The rows then come from a second reading, whose
        // MAC is checked again before the commit, in case the file changed in between.
        replay(&mut reader, None, None).await?;
        reader.authenticity(&policy)?;
        reader = open_archive(path, unlock)?;
        if *reader.header() != header {
            return Err(ArchiveError::Damaged("it changed while it was being restored".into()).into());
        }
    }
    restore::migrate_to(db, header.schema).await?;
    let mut target = Restore::begin(db, force).await?;
    let mut files = files_to.map(FilesOut::open).transpose()?;
    let replayed = match replay(&mut reader, Some(&mut target), files.as_mut()).await {
        // Checked before the commit: the rows of an archive that is not authentic never land.
        Ok(manifest) => match reader.authenticity(&policy) {
            Ok(a) => target.commit().await.map(|()| (manifest, a)).map_err(BackupError::from),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e),
    };
    let (manifest, authenticity) = match replayed {
        Ok(m) => m,
        Err(e) => {
            // Nothing of the database changed; neither does the directory: files from an
            // archive that failed its checks are not left to be mistaken for a restore's.
            if let Some(files) = files {
                files.discard();
            }
            return Err(e);
        }
    };
    let rows = manifest.members.iter().filter_map(|m| m.rows).sum();
    if let Err(e) = db.migrate().await {
        let binary = restore::binary_schema(db.kind());
        return Err(BackupError::UpgradeAfterRestore { rows, archive: header.schema, binary, cause: e.to_string() });
    }
    Ok(Restored { manifest, rows, forced: force, files_written: files_to.map(Path::to_path_buf), authenticity })
}

/// How a restore goes: `force` empties a database with data first, `files_to` receives the
/// settings and themes, `accept_unauthenticated` takes an archive without a MAC.
#[derive(Clone, Copy)]
pub struct RestoreOptions<'a> {
    pub force: bool,
    pub files_to: Option<&'a Path>,
    pub accept_unauthenticated: bool,
}

#[cfg(test)]
mod tests {
    /// The last step of a backup never replaces a file that appeared under its name meanwhile
    /// (it did: a rename replaces its target).
    #[test]
    fn a_finished_archive_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let (partial, out) = (dir.path().join("a.age.partial"), dir.path().join("a.age"));
        std::fs::write(&partial, "new").unwrap();
        std::fs::write(&out, "someone else's").unwrap();
        let e = super::publish(&partial, &out).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e, format!("{} already exists: choose a new name", out.display()));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "someone else's");
        std::fs::remove_file(&out).unwrap();
        super::publish(&partial, &out).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "new");
        assert!(!partial.exists());
    }
}
