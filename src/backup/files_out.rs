//! Writing an archive's settings and themes out on restore (`--files-to DIR`).
//!
//! A restore typically runs as root, and DIR is often under a shared directory such as /tmp.
//! Had anyone else been able to write into DIR, they could plant `settings.toml ->
//! /etc/…` or `themes -> /root/.ssh` between the check that DIR is empty and the writes, and
//! the writes would follow the links. So DIR is created here, or must already be a real
//! directory of this user that nobody else can write to; and every path under it is created
//! new (a file with O_EXCL, a folder one level at a time), which fails on anything already
//! there, a link included, rather than following it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{files, replay::member_error, BackupError};

/// The directory being written, and what this restore created in it.
pub struct FilesOut {
    dir: PathBuf,
    created_dir: bool,
    /// Paths created here, in order, and whether each is a folder: on failure exactly these
    /// are removed, never something else found in the directory.
    made: Vec<(PathBuf, bool)>,
    folders: HashSet<PathBuf>,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> BackupError {
    BackupError::Io(format!("cannot {what} {}: {e}", path.display()))
}

/// The user this process runs as: on Linux, who owns `/proc/self`. Elsewhere it is not known,
/// and only a new directory is taken.
#[cfg(unix)]
fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    if cfg!(target_os = "linux") {
        std::fs::metadata("/proc/self").ok().map(|m| m.uid())
    } else {
        None
    }
}

/// Whether `dir` may receive the files: `false` when it does not exist (it is then created),
/// `true` for a real directory (not a link) that is empty, this user's, and writable by no
/// other user.
pub fn check_dir(dir: &Path) -> Result<bool, BackupError> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io("inspect", dir, e)),
    };
    let d = dir.display();
    if meta.file_type().is_symlink() {
        return Err(BackupError::Io(format!(
            "{d} is a symbolic link: give a new directory, or an empty one of your own (not a link)"
        )));
    }
    if !meta.is_dir() {
        return Err(BackupError::Io(format!("{d} is not a directory: give a new or empty directory")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(BackupError::Io(format!(
                "{d} is writable by other users (mode {mode:o}): they could plant links in it while the restore writes; give a new directory, or one only you can write to (chmod go-w)"
            )));
        }
        match current_uid() {
            Some(uid) if uid == meta.uid() => {}
            Some(_) => {
                return Err(BackupError::Io(format!(
                    "{d} belongs to another user (uid {}): give a new directory, or an empty one of your own",
                    meta.uid()
                )))
            }
            None => {
                return Err(BackupError::Io(format!(
                    "cannot tell whether {d} is yours on this system: give a new directory instead"
                )))
            }
        }
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| io("read", dir, e))?;
    if entries.next().is_some() {
        return Err(BackupError::Io(format!("{d} is not empty: give an empty or new directory")));
    }
    Ok(true)
}

fn private_dir(path: &Path, recursive: bool) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(recursive);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

impl FilesOut {
    /// Checks `dir` again (it may have changed since the restore began), or creates it readable
    /// by its owner only.
    pub fn open(dir: &Path) -> Result<FilesOut, BackupError> {
        let existed = check_dir(dir)?;
        if !existed {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                private_dir(parent, true).map_err(|e| io("create", parent, e))?;
            }
            // Not recursive: fails if something took the name since the check.
            private_dir(dir, false).map_err(|e| io("create", dir, e))?;
        }
        Ok(FilesOut { dir: dir.to_path_buf(), created_dir: !existed, made: Vec::new(), folders: HashSet::new() })
    }

    /// Creates the file for member `name`, readable by its owner only, as the archive's content
    /// is (settings name hosts and accounts; themes may be unpublished).
    pub fn create(&mut self, name: &str) -> Result<std::fs::File, BackupError> {
        let path =
            files::target(&self.dir, name).ok_or_else(|| member_error(name, "its name leaves the target directory"))?;
        let mut at = self.dir.clone();
        let parts: Vec<_> = Path::new(name).components().collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            at.push(part);
            if self.folders.contains(&at) {
                continue;
            }
            private_dir(&at, false).map_err(|e| io("create", &at, e))?;
            self.folders.insert(at.clone());
            self.made.push((at.clone(), true));
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| io("create", &path, e))?;
        self.made.push((path, false));
        Ok(file)
    }

    /// Removes what was written: files from an archive that failed its checks must not be
    /// mistaken for a restore's.
    pub fn discard(self) {
        for (path, folder) in self.made.iter().rev() {
            let _ = if *folder { std::fs::remove_dir(path) } else { std::fs::remove_file(path) };
        }
        if self.created_dir {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn files_written_out_of_an_archive_are_the_owners_only() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("pulih");
        let mut out = FilesOut::open(&dir).unwrap();
        drop(out.create("themes/jember/mail/reset.txt").unwrap());
        drop(out.create("themes/jember/mail/welcome.txt").unwrap());
        let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("themes/jember/mail/reset.txt"), 0o600);
        assert_eq!(mode("themes/jember/mail"), 0o700);
        assert_eq!(mode(""), 0o700);
        assert!(out.create("../escape.txt").is_err());
        out.discard();
        assert!(!dir.exists(), "a directory created for the restore goes again on failure");
    }

    /// Planted after the check (as a local user could race it): the writes do not follow the
    /// links, and the failure's clean-up leaves what it did not create. Failed before: the
    /// victim was truncated and written, and the clean-up deleted the links.
    #[test]
    fn links_planted_in_the_directory_are_not_followed() {
        let top = tempfile::tempdir().unwrap();
        let victim = top.path().join("victim");
        std::fs::write(&victim, "root:x:0:0\n").unwrap();
        let victim_dir = top.path().join("victim-dir");
        std::fs::create_dir(&victim_dir).unwrap();
        let dir = top.path().join("pulih");
        let mut out = FilesOut::open(&dir).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("settings.toml")).unwrap();
        std::os::unix::fs::symlink(&victim_dir, dir.join("themes")).unwrap();
        let e = out.create("settings.toml").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with(&format!("cannot create {}", dir.join("settings.toml").display())), "{e}");
        assert!(out.create("themes/jember/a.css").is_err());
        out.discard();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root:x:0:0\n");
        assert_eq!(std::fs::read_dir(&victim_dir).unwrap().count(), 0);
        assert!(dir.join("settings.toml").is_symlink() && dir.join("themes").is_symlink());
    }

    #[test]
    fn only_a_private_empty_real_directory_is_taken() {
        let top = tempfile::tempdir().unwrap();
        let shared = top.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = check_dir(&shared).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("is writable by other users (mode 1777)"), "{e}");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(check_dir(&shared).ok(), Some(true));
        let link = top.path().join("link");
        std::os::unix::fs::symlink(&shared, &link).unwrap();
        let e = check_dir(&link).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("is a symbolic link"), "{e}");
        std::fs::write(shared.join("x"), "").unwrap();
        let e = check_dir(&shared).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("is not empty"), "{e}");
        assert_eq!(check_dir(&top.path().join("new")).ok(), Some(false));
        let theirs = top.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        if current_uid() == Some(0) {
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            let e = check_dir(&theirs).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("belongs to another user (uid 65534)"), "{e}");
        }
    }
}
