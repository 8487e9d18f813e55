//! The files a backup carries besides the database, through the real `gerbang` binary: theme
//! files and folders that are symbolic links are archived (a theme linked from elsewhere, a
//! ConfigMap mount), and `restore --files-to` writes only into a new directory or an empty
//! one of this user's that nobody else can write to. On PostgreSQL when
//! GERBANG_TEST_DATABASE_URL says so.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use crate::backup::{ok, url_of, Kit};
use crate::backup_auth::untouched;
use crate::common::*;

/// Runs `gerbang` against `url` with the master key of `master_dir` and these themes.
fn with_themes(url: &str, master_dir: &Path, themes: &Path, args: &[&str]) -> Run {
    crate::backup::gerbang_with(url, master_dir, args, &[("GERBANG_THEMES_DIR", themes)])
}

fn last_line(run: &Run) -> String {
    run.stderr.trim().lines().last().unwrap_or_default().to_string()
}

/// Linked theme entries were skipped without a word, and --files-to took a world-writable
/// directory or a link to one (where another local user could plant links the writes follow).
#[tokio::test(flavor = "multi_thread")]
async fn linked_themes_are_archived_and_files_to_takes_only_a_private_directory() {
    let app = TestApp::spawn().await;
    let kit = Kit::new();
    let master_dir = app.state.config.data_dir.clone();
    let url = url_of(&app);
    let id = kit.path("identity.txt");

    let top = tempfile::tempdir().unwrap();
    let (themes, elsewhere) = (top.path().join("themes"), top.path().join("elsewhere"));
    std::fs::create_dir_all(themes.join("asli")).unwrap();
    std::fs::write(themes.join("asli/gaya.css"), "body {}\n").unwrap();
    std::fs::create_dir_all(elsewhere.join("jember/mail")).unwrap();
    std::fs::write(elsewhere.join("jember/mail/reset.txt"), "Atur ulang kata sandi\n").unwrap();
    std::fs::write(elsewhere.join("logo.svg"), "<svg/>\n").unwrap();
    symlink(elsewhere.join("jember"), themes.join("jember")).unwrap();
    symlink(elsewhere.join("logo.svg"), themes.join("asli/logo.svg")).unwrap();
    symlink(top.path().join("tidak-ada"), themes.join("hilang.css")).unwrap();

    let archive = kit.path("tema.age");
    let args = ["backup", "--out", &archive, "--recipient", &kit.recipient, "--json"];
    let taken = ok(&with_themes(&url, &master_dir, &themes, &args), "backup");
    let skipped = taken["themes_skipped"].as_array().cloned().unwrap_or_default();
    assert!(
        skipped.len() == 1 && skipped[0].as_str().is_some_and(|s| s.contains("hilang.css: a link to nothing readable")),
        "{taken}"
    );
    let args = ["backup", "verify", &archive, "--identity", &id, "--json"];
    let checked = ok(&with_themes(&url, &master_dir, &themes, &args), "verify");
    let members: Vec<&str> = checked["members"].as_array().unwrap().iter().filter_map(|m| m["name"].as_str()).collect();
    for name in ["themes/asli/gaya.css", "themes/asli/logo.svg", "themes/jember/mail/reset.txt"] {
        assert!(members.contains(&name), "{name} in {members:?}");
    }

    let wiped = tempfile::tempdir().unwrap();
    let fresh = database_url(&wiped).await;
    let restore = |files_to: &Path| {
        let args = ["restore", &archive, "--identity", &id, "--files-to", files_to.to_str().unwrap()];
        with_themes(&fresh, &master_dir, &themes, &args)
    };
    // An empty directory anyone can write to (as /tmp is), and a link to an empty one.
    let shared = top.path().join("bersama");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let r = restore(&shared);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let expected = format!(
        "error: {} is writable by other users (mode 1777): they could plant links in it while the restore writes; give a new directory, or one only you can write to (chmod go-w)",
        shared.display()
    );
    assert_eq!(last_line(&r), expected);
    let private = top.path().join("pribadi");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = top.path().join("tautan");
    symlink(&private, &link).unwrap();
    let r = restore(&link);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        last_line(&r).ends_with("is a symbolic link: give a new directory, or an empty one of your own (not a link)")
    );
    assert_eq!(std::fs::read_dir(&shared).unwrap().count() + std::fs::read_dir(&private).unwrap().count(), 0);
    untouched(&fresh).await;

    // A new directory: created for the owner only, the linked entries written as real files.
    let files_to = top.path().join("pulih");
    let r = restore(&files_to);
    assert_eq!(r.code, 0, "{} / {}", r.stdout, r.stderr);
    assert_eq!(std::fs::metadata(&files_to).unwrap().permissions().mode() & 0o777, 0o700);
    let logo = files_to.join("themes/asli/logo.svg");
    assert!(!logo.is_symlink() && std::fs::read_to_string(&logo).unwrap() == "<svg/>\n");
    assert_eq!(
        std::fs::read_to_string(files_to.join("themes/jember/mail/reset.txt")).unwrap(),
        "Atur ulang kata sandi\n"
    );
    assert!(files_to.join("settings.toml").is_file() && !files_to.join("themes/hilang.css").exists());
}
