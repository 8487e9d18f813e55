//! What a backup carries besides the database: the settings as given (configuration file and
//! `GERBANG_*` environment, secrets left out) and the files of the themes directory; and
//! writing them back out into a directory on restore.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

/// Settings never written into an archive: the master keys (also the previous and the next one
/// during a rotation) must be kept apart from the backups, and the connection URLs may carry
/// passwords (they are given again where one restores).
const SECRET_SETTINGS: &[&str] = &["master_key", "master_key_previous", "master_key_next", "database_url", "redis_url"];

/// Any setting whose name has one of these parts is a secret too (SMTP and BSrE passwords, the
/// metrics token, an upstream's client secret, a chat webhook's URL, which carries its token).
const SECRET_PARTS: &[&str] = &["password", "secret", "token", "webhook_url"];

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_SETTINGS.contains(&key.as_str()) || SECRET_PARTS.iter().any(|p| key.contains(p))
}

/// Drops secret keys (at any depth: upstreams are tables in an array) and returns their names.
/// `*_file` settings stay: they name where a secret is read from, not the secret.
fn strip(table: &mut toml::Table, path: &str, dropped: &mut Vec<String>) {
    let keys: Vec<String> = table.keys().cloned().collect();
    for k in keys {
        let full = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
        if !k.ends_with("_file") && is_secret(&k) {
            table.remove(&k);
            dropped.push(full);
            continue;
        }
        match table.get_mut(&k) {
            Some(toml::Value::Table(t)) => strip(t, &full, dropped),
            Some(toml::Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let toml::Value::Table(t) = item {
                        strip(t, &format!("{full}[{i}]"), dropped);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The settings this process was given, as one TOML document: the configuration file's
/// entries, overridden by `GERBANG_*` variables, without secrets. Defaults are not listed: they
/// belong to the gerbang version the archive names.
pub fn settings(config_file: Option<&Path>, env: &HashMap<String, String>) -> Result<String, String> {
    let mut table = toml::Table::new();
    if let Some(path) = config_file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        table = text.parse().map_err(|e: toml::de::Error| format!("{}: {}", path.display(), e.message()))?;
    }
    let mut dropped = Vec::new();
    let vars: BTreeMap<&String, &String> = env.iter().collect();
    for (var, value) in vars {
        let Some(key) = var.strip_prefix("GERBANG_") else { continue };
        // Which command ran and as whom, not how the region is set up.
        if matches!(key, "CONFIG" | "ACTOR") {
            continue;
        }
        let value = if key == "UPSTREAM" {
            // TOML text of tables holding client secrets: taken apart, so `strip` finds them.
            match upstream_tables(value) {
                Some(tables) => tables,
                None => {
                    dropped.push("upstream (unreadable)".to_string());
                    continue;
                }
            }
        } else {
            toml::Value::String(value.clone())
        };
        table.insert(key.to_ascii_lowercase(), value);
    }
    strip(&mut table, "", &mut dropped);
    dropped.sort();
    let mut out =
        String::from("# Gerbang settings as given when this backup was taken (file and GERBANG_* environment).\n");
    out.push_str("# Defaults are not listed. Secrets are left out and must be supplied again:\n");
    out.push_str("# the master key (kept apart from the backups) and the database URL at least.\n");
    if !dropped.is_empty() {
        out.push_str(&format!("# Left out here: {}\n", dropped.join(", ")));
    }
    out.push_str(&toml::to_string(&table).map_err(|e| e.to_string())?);
    Ok(out)
}

/// `GERBANG_UPSTREAM`'s text (`[[upstream]]` blocks or an inline array, as the configuration
/// reads it) as the array of tables; `None` when it does not read as one.
fn upstream_tables(text: &str) -> Option<toml::Value> {
    let doc = if text.trim_start().starts_with("[[") { text.to_string() } else { format!("upstream = {text}") };
    let mut table: toml::Table = doc.parse().ok()?;
    match table.remove("upstream") {
        Some(v @ toml::Value::Array(_)) => Some(v),
        _ => None,
    }
}

/// The files of the themes directory, and what of it was left out.
#[derive(Debug, Default)]
pub struct ThemeFiles {
    /// (path relative to the directory with `/`, path to read).
    pub files: Vec<(String, PathBuf)>,
    /// Entries not archived, each with why.
    pub skipped: Vec<String>,
}

/// Every regular file under the themes directory. Symbolic links are followed to files and
/// folders: a theme folder linked from elsewhere is a theme the server shows, and a
/// ConfigMap-mounted directory is made of links (`jember -> ..data/jember`). Its own entries
/// (names beginning `..`) are the mount's machinery, seen again through those links. A folder
/// is entered once through links, and never through a link back to one it is inside, so a
/// loop ends. A missing directory gives nothing.
pub fn theme_files(dir: &Path) -> Result<ThemeFiles, String> {
    let mut out = ThemeFiles::default();
    if !dir.is_dir() {
        return Ok(out);
    }
    let canonical = |p: &Path| std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut entered: HashSet<PathBuf> = HashSet::from([canonical(dir)?]);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let here = canonical(&d)?;
        let entries = std::fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", d.display()))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with("..") {
                continue;
            }
            let mut kind = entry.file_type().map_err(|e| format!("{}: {e}", path.display()))?;
            let link = kind.is_symlink();
            if link {
                match std::fs::metadata(&path) {
                    Ok(m) => kind = m.file_type(),
                    Err(e) => {
                        out.skipped.push(format!("{}: a link to nothing readable ({e})", path.display()));
                        continue;
                    }
                }
            }
            if kind.is_dir() {
                if link {
                    let target = canonical(&path)?;
                    if here.starts_with(&target) || !entered.insert(target.clone()) {
                        let why = format!("a link to {}, a folder already archived", target.display());
                        out.skipped.push(format!("{}: {why}", path.display()));
                        continue;
                    }
                }
                stack.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(dir).map_err(|e| e.to_string())?;
                let parts: Vec<String> =
                    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                out.files.push((parts.join("/"), path));
            } else {
                out.skipped.push(format!("{}: not a regular file or folder", path.display()));
            }
        }
    }
    out.files.sort();
    out.skipped.sort();
    Ok(out)
}

/// Where member `name` goes under `dir`; `None` for a name that would leave it (`..`, an
/// absolute path).
pub fn target(dir: &Path, name: &str) -> Option<PathBuf> {
    let rel = Path::new(name);
    if name.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(dir.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_left_out_at_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.toml");
        std::fs::write(
            &file,
            "issuer = \"https://sso.example.go.id\"\nsmtp_password = \"x\"\nmaster_key_file = \"/run/k\"\n\
             [[upstream]]\nname = \"a\"\nclient_secret = \"s\"\n",
        )
        .unwrap();
        let env: HashMap<String, String> = [
            ("GERBANG_DATABASE_URL", "postgres://u:p@h/d"),
            ("GERBANG_THEME", "jember"),
            ("GERBANG_METRICS_TOKEN", "t"),
            ("GERBANG_CERTIFICATE_WEBHOOK_URL", "https://chat.example/hook/T0KEN"),
            ("GERBANG_MASTER_KEY_PREVIOUS", "old-key"),
            ("GERBANG_MASTER_KEY_NEXT", "next-key"),
            ("GERBANG_ACTOR", "nip"),
            ("PATH", "/bin"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = settings(Some(&file), &env).unwrap();
        for gone in ["postgres://", "\"x\"", "\"s\"", "\"t\"", "nip", "/bin", "old-key", "next-key", "T0KEN"] {
            assert!(!s.contains(gone), "{gone} in {s}");
        }
        for kept in [
            "issuer = \"https://sso.example.go.id\"",
            "theme = \"jember\"",
            "master_key_file = \"/run/k\"",
            "name = \"a\"",
        ] {
            assert!(s.contains(kept), "{kept} missing from {s}");
        }
        assert!(
            s.contains("# Left out here: certificate_webhook_url, database_url, master_key_next, master_key_previous, metrics_token, smtp_password, upstream[0].client_secret"),
            "{s}"
        );
        assert!(target(dir.path(), "themes/../../etc/passwd").is_none());
        assert!(target(dir.path(), "/etc/passwd").is_none());
        assert_eq!(target(dir.path(), "themes/a/b.css"), Some(dir.path().join("themes/a/b.css")));
    }

    #[test]
    fn an_upstreams_client_secret_given_in_the_environment_is_left_out() {
        let env = |v: &str| -> HashMap<String, String> { [("GERBANG_UPSTREAM".to_string(), v.to_string())].into() };
        let blocks = "[[upstream]]\nid = \"bkpsdm\"\nclient_secret = \"s3cr3t-blok\"\n";
        let s = settings(None, &env(blocks)).unwrap();
        assert!(!s.contains("s3cr3t-blok") && s.contains("id = \"bkpsdm\""), "{s}");
        assert!(s.contains("# Left out here: upstream[0].client_secret"), "{s}");
        let inline = "[{ id = \"dukcapil\", client_secret = \"s3cr3t-larik\" }]";
        let s = settings(None, &env(inline)).unwrap();
        assert!(!s.contains("s3cr3t-larik") && s.contains("id = \"dukcapil\""), "{s}");
        let s = settings(None, &env("[[upstream]\nclient_secret = \"s3cr3t-rusak\"")).unwrap();
        assert!(!s.contains("s3cr3t-rusak") && s.contains("upstream (unreadable)"), "{s}");
    }

    /// A theme file or folder linked from elsewhere, and a ConfigMap mount (whose entries are
    /// links into `..data`), are archived; a loop ends and is reported, as is a dangling link.
    /// (Every link was skipped, silently.)
    #[cfg(unix)]
    #[test]
    fn linked_theme_files_and_folders_are_followed_and_what_is_skipped_is_said() {
        use std::os::unix::fs::symlink;
        let top = tempfile::tempdir().unwrap();
        let (themes, elsewhere) = (top.path().join("themes"), top.path().join("elsewhere"));
        std::fs::create_dir_all(themes.join("asli")).unwrap();
        std::fs::write(themes.join("asli/a.css"), "a").unwrap();
        std::fs::create_dir_all(elsewhere.join("jember/mail")).unwrap();
        std::fs::write(elsewhere.join("jember/mail/reset.txt"), "r").unwrap();
        std::fs::write(elsewhere.join("logo.svg"), "l").unwrap();
        symlink(elsewhere.join("jember"), themes.join("jember")).unwrap();
        symlink(elsewhere.join("logo.svg"), themes.join("asli/logo.svg")).unwrap();
        symlink(&themes, themes.join("asli/loop")).unwrap();
        symlink(top.path().join("nothing"), themes.join("dangling.css")).unwrap();
        // As Kubernetes mounts a ConfigMap.
        std::fs::create_dir_all(themes.join("..2026_01_01/cm")).unwrap();
        std::fs::write(themes.join("..2026_01_01/cm/b.css"), "b").unwrap();
        symlink("..2026_01_01", themes.join("..data")).unwrap();
        symlink("..data/cm", themes.join("cm")).unwrap();
        let found = theme_files(&themes).unwrap();
        let names: Vec<&str> = found.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["asli/a.css", "asli/logo.svg", "cm/b.css", "jember/mail/reset.txt"]);
        assert_eq!(found.skipped.len(), 2, "{:?}", found.skipped);
        assert!(found.skipped[0].contains("asli/loop: a link to") && found.skipped[0].ends_with("already archived"));
        assert!(found.skipped[1].contains("dangling.css: a link to nothing readable"), "{:?}", found.skipped);
    }
}
