//! The documentation names only settings and commands that exist. Every `GERBANG_*` variable in
//! README.md, k8s/README.md and docs/**/*.md must be a setting the built binary accepts, and
//! every `gerbang <command> [<subcommand>]` written in a shell code block (or an inline code
//! span that starts with `gerbang `) must be a command of the built binary. Both are asked of
//! the binary itself, so nothing here lists settings or commands by hand.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Variables the docs mention that are not settings of the binary but of the test and bench
/// harness: each must still be read by something under tests/, bench/ or .ci/ (checked below),
/// so an entry cannot outlive its harness.
const HARNESS_VARIABLES: &[&str] = &[
    // The PostgreSQL and Redis the test suite runs against (docs/architecture.md, keys.md).
    "GERBANG_TEST_DATABASE_URL",
    "GERBANG_TEST_REDIS_URL",
    // A prebuilt binary for the bench and fuzzing scripts (docs/performance.md, fuzzing.md).
    "GERBANG_BIN",
    // The scratch PostgreSQL database docs/tools/dbdesign.py --check applies the migrations to
    // (.ci/run; docs/desain-basis-data.md, pengujian.md).
    "GERBANG_DOCS_PG_URL",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, k8s/README.md and every Markdown file under docs/, as (path relative to the
/// repository, text).
fn documents() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "md") {
                out.push(p);
            }
        }
    }
    let root = root();
    let mut files = vec![root.join("README.md"), root.join("k8s/README.md")];
    walk(&root.join("docs"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.strip_prefix(&root).unwrap().display().to_string(), text)
        })
        .collect()
}

/// The binary with no `GERBANG_*` variable of the test's own environment.
fn gerbang(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gerbang"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GERBANG_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).output().expect("run gerbang")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `GERBANG_[A-Z0-9_]+` words of a line (a placeholder such as `GERBANG_<NAME>` is none).
fn variables(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = line[i..].find("GERBANG_").map(|p| p + i) {
        let word_start = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        let mut end = at + "GERBANG_".len();
        while end < b.len() && (b[end].is_ascii_uppercase() || b[end].is_ascii_digit() || b[end] == b'_') {
            end += 1;
        }
        if word_start && end > at + "GERBANG_".len() {
            out.push(line[at..end].trim_end_matches('_').to_string());
        }
        i = end;
    }
    out
}

/// Whether the binary accepts `key` as a setting. Asked through a TOML file holding
/// `<key>_file = "<missing file>"`: the loader answers `unknown setting` for a name it does not
/// know, and for one it knows fails to read the file (so nothing else runs).
fn accepts_setting(dir: &Path, key: &str) -> bool {
    let file = dir.join(format!("{key}.toml"));
    let missing = dir.join("missing").join(key);
    std::fs::write(&file, format!("{key}_file = {:?}\n", missing.display().to_string())).unwrap();
    let out = gerbang(&["--config", file.to_str().unwrap(), "migrate", "--status"]);
    let said = text(&out);
    assert!(!out.status.success(), "a missing secret file must stop start-up: {said}");
    assert!(said.contains("invalid setting"), "unexpected answer for `{key}`: {said}");
    !said.contains("unknown setting")
}

#[test]
fn every_gerbang_variable_in_the_docs_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    // The variables the command line itself reads (`--config`, `--actor`), from its help.
    let help = text(&gerbang(&["--help"]));
    let cli_vars = variables(&help);
    assert!(cli_vars.iter().any(|v| v == "GERBANG_ACTOR"), "--help names no variable:\n{help}");
    let harness = harness_sources();
    for v in HARNESS_VARIABLES {
        assert!(
            harness.contains(v),
            "{v} is allowed as a harness variable but nothing under tests/, bench/ or .ci reads it"
        );
    }
    let mut known: HashMap<String, bool> = HashMap::new();
    let mut wrong = Vec::new();
    for (file, body) in documents() {
        for (n, line) in body.lines().enumerate() {
            for var in variables(line) {
                let ok = *known.entry(var.clone()).or_insert_with(|| {
                    if cli_vars.contains(&var) || HARNESS_VARIABLES.contains(&var.as_str()) {
                        return true;
                    }
                    // GERBANG_<NAME> and GERBANG_<NAME>_FILE both name the setting <name>.
                    let key = var["GERBANG_".len()..].to_ascii_lowercase();
                    accepts_setting(dir.path(), &key)
                        || key.strip_suffix("_file").is_some_and(|k| accepts_setting(dir.path(), k))
                });
                if !ok {
                    wrong.push(format!("{file}:{}: `{var}` is not a setting of gerbang", n + 1));
                }
            }
        }
    }
    assert!(known.len() > 10, "too few variables found in the docs: {known:?}");
    assert!(wrong.is_empty(), "the docs name settings that do not exist:\n{}", wrong.join("\n"));
}

/// The text of the harness scripts and tests (not the docs), where harness variables are read.
fn harness_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| matches!(e.to_str(), Some("rs" | "py" | "sh")))
                || p.file_name().is_some_and(|n| n == "run")
            {
                out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut out = String::new();
    for d in ["tests", "bench", ".ci"] {
        walk(&root().join(d), &mut out);
    }
    out
}

/// Shell lines of the docs' code blocks (fences untagged or tagged sh/bash/shell/console, with
/// `\` continuations joined and comments cut), and inline code spans starting with `gerbang `,
/// each with its line number.
fn command_lines(body: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<bool> = None; // Some(is shell) inside a fence
    let mut pending: Option<(usize, String)> = None;
    for (n, line) in body.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(tag) = trimmed.strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(matches!(tag.trim(), "" | "sh" | "bash" | "shell" | "console")),
            };
            continue;
        }
        match fence {
            Some(true) => {
                let code = cut_comment(trimmed);
                let (start, mut joined) = pending.take().unwrap_or((n + 1, String::new()));
                joined.push_str(code.trim_end().trim_end_matches('\\'));
                joined.push(' ');
                if code.trim_end().ends_with('\\') {
                    pending = Some((start, joined));
                } else {
                    out.push((start, joined));
                }
            }
            Some(false) => {}
            None => {
                for (i, span) in line.split('`').enumerate() {
                    // Odd pieces are inside a span; the last piece of an unclosed span is not.
                    if i % 2 == 1 && i + 1 < line.split('`').count() && span.starts_with("gerbang ") {
                        out.push((n + 1, span.to_string()));
                    }
                }
            }
        }
    }
    out
}

/// A shell line without its comment (`#` at the start or after a space, outside quotes).
fn cut_comment(line: &str) -> &str {
    let (mut single, mut double, mut prev) = (false, false, ' ');
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// The arguments of each `gerbang` invocation on a shell line: simple commands split at
/// `|`, `&&`, `||`, `;` and `$(`, leading assignments and wrappers (`sudo [-u USER]`, `nice -n N`,
/// `env`, `exec`, `time`) dropped, and for `kubectl exec … --` or `cargo run … --` what follows
/// the `--`. The program counts when it is `gerbang` or a path ending in `/gerbang`.
fn invocations(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let unified = line.replace("&&", ";").replace("||", ";").replace("$(", ";").replace(['|', '(', ')', '`'], ";");
    for segment in unified.split(';') {
        let mut words: Vec<String> =
            segment.split_whitespace().map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string()).collect();
        if let Some(dd) = words.iter().position(|w| w == "--") {
            if words.first().is_some_and(|w| w == "kubectl" || w == "cargo" || w == "docker" || w == "podman") {
                words.drain(..=dd);
            }
        }
        let mut i = 0;
        while let Some(w) = words.get(i) {
            let assignment = w.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !k.starts_with('-')
            });
            if assignment || matches!(w.as_str(), "$" | "env" | "exec" | "time" | "command") {
                i += 1;
            } else if w == "sudo" || w == "nice" {
                i += 1;
                while let Some(opt) = words.get(i).filter(|o| o.starts_with('-')) {
                    i += if matches!(opt.as_str(), "-u" | "-g" | "-n") { 2 } else { 1 };
                }
            } else {
                break;
            }
        }
        let Some(program) = words.get(i) else { continue };
        if program == "gerbang" || program.ends_with("/gerbang") {
            out.push(words[i + 1..].to_vec());
        }
    }
    out
}

/// The command words of an invocation: global options (`--config X`, `--actor X`) skipped, then
/// the first word and, when it follows at once, the second, each only when it looks like a
/// command name (a placeholder, a version or a file name does not).
fn command_words(args: &[String]) -> Vec<String> {
    let name = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let mut i = 0;
    while let Some(w) = args.get(i) {
        match w.as_str() {
            "--config" | "--actor" => i += 2,
            w if w.starts_with("--config=") || w.starts_with("--actor=") => i += 1,
            _ => break,
        }
    }
    let mut words = Vec::new();
    for w in args.iter().skip(i).take(2) {
        if !name(w) {
            break;
        }
        words.push(w.clone());
    }
    words
}

#[test]
fn every_gerbang_command_in_the_docs_exists() {
    // `<words> --help` succeeds exactly for commands the binary has (clap exits 2 otherwise).
    let mut asked: BTreeMap<Vec<String>, (bool, String)> = BTreeMap::new();
    let mut ask = |words: &[String]| {
        asked
            .entry(words.to_vec())
            .or_insert_with(|| {
                let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
                args.push("--help");
                let out = gerbang(&args);
                (out.status.success(), text(&out))
            })
            .clone()
    };
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (file, body) in documents() {
        for (line_no, line) in command_lines(&body) {
            for args in invocations(&line) {
                let words = command_words(&args);
                let Some(first) = words.first() else { continue };
                checked += 1;
                let (ok, help) = ask(std::slice::from_ref(first));
                if !ok {
                    wrong.push(format!("{file}:{line_no}: `gerbang {first}` is not a command of gerbang"));
                    continue;
                }
                // A second word counts only when the command has subcommands (else it is an argument).
                if words.len() == 2 && help.contains("Commands:") && !ask(&words).0 {
                    wrong.push(format!("{file}:{line_no}: `gerbang {}` is not a command of gerbang", words.join(" ")));
                }
            }
        }
    }
    assert!(checked > 30, "too few gerbang commands found in the docs ({checked})");
    assert!(wrong.is_empty(), "the docs name commands that do not exist:\n{}", wrong.join("\n"));
}

#[test]
fn the_parsers_find_what_they_should() {
    assert_eq!(variables("`GERBANG_REDIS_CA_FILE` and GERBANG_<NAME>_FILE, XGERBANG_NO"), ["GERBANG_REDIS_CA_FILE"]);
    let found = |l: &str| invocations(l).into_iter().map(|a| command_words(&a)).collect::<Vec<_>>();
    assert_eq!(found("sudo -u gerbang gerbang --config /etc/g.toml migrate --status"), [["migrate"]]);
    assert_eq!(found("kubectl -n gerbang exec deploy/gerbang -c gerbang -- gerbang keys rotate"), [["keys", "rotate"]]);
    assert_eq!(found("echo 'x' | gerbang account create --nip 1"), [["account", "create"]]);
    assert_eq!(found("sudo install -d -o gerbang -g gerbang /var/lib/gerbang"), Vec::<Vec<String>>::new());
    assert_eq!(found("gerbang --actor 1980 role assign --role auditor"), [["role", "assign"]]);
    assert_eq!(found("gerbang backup --out /mnt/usb/"), [["backup"]]);
    assert_eq!(cut_comment("gerbang keys rotate   # new keys"), "gerbang keys rotate   ");
    let lines =
        command_lines("```sh\ngerbang client create \\\n  --name x\n```\nsee `gerbang demo remove` and `gerbang:`\n");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1], (5, "gerbang demo remove".to_string()));
}
