//! The layering rules of `docs/architecture.md`, checked on the source tree: imports point one
//! way, HTTP types stay in the faces, and no top-level module is part of an import cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/oidc/token.rs` → `oidc`), `None` for the crate
/// roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
    (first != "lib" && first != "main").then_some(first)
}

/// Code without its test module and without comments: tests and docs may mention anything.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

struct Tree {
    /// module → modules it imports
    graph: BTreeMap<String, BTreeSet<String>>,
    /// (file, code without tests and comments, lines before the test module)
    files: Vec<(String, String, usize)>,
}

fn tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read source");
        let lines = text.split("#[cfg(test)]").next().unwrap_or("").lines().count();
        let code = code_of(&text);
        let rel = f.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        if let Some(m) = module_of(&src, &f) {
            let deps = graph.entry(m.clone()).or_default();
            deps.extend(uses(&code).into_iter().filter(|d| *d != m));
        }
        out.push((rel, code, lines));
    }
    Tree { graph, files: out }
}

const DOMAIN: &[&str] = &["oidc", "auth", "identity", "certs", "store", "cache", "scim", "federation"];

#[test]
fn http_types_stay_in_the_faces() {
    let t = tree();
    let offenders: Vec<&str> = t
        .files
        .iter()
        .filter(|(f, _, _)| !(f.starts_with("http/") || f == "app.rs" || f == "main.rs"))
        .filter(|(_, code, _)| ["axum::", "axum_extra::", "tower_http::", "use axum"].iter().any(|p| code.contains(p)))
        .map(|(f, _, _)| f.as_str())
        .collect();
    assert!(offenders.is_empty(), "axum/HTTP types outside src/http/ and src/app.rs: {offenders:?}");
}

#[test]
fn the_domain_does_not_reach_up() {
    let t = tree();
    let upper = ["http", "app", "ops", "state", "cli"];
    let mut offenders = Vec::new();
    for m in DOMAIN {
        for d in t.graph.get(*m).into_iter().flatten() {
            if upper.contains(&d.as_str()) {
                offenders.push(format!("{m} → {d}"));
            }
        }
    }
    assert!(offenders.is_empty(), "domain and storage modules import a layer above them: {offenders:?}");
}

#[test]
fn identity_does_not_depend_on_auth() {
    let t = tree();
    assert!(!t.graph.get("identity").is_some_and(|d| d.contains("auth")), "identity imports auth");
}

#[test]
fn only_the_faces_import_the_faces() {
    let t = tree();
    let offenders: Vec<String> = t
        .graph
        .iter()
        .filter(|(m, _)| !["http", "app", "cli"].contains(&m.as_str()))
        .flat_map(|(m, deps)| {
            deps.iter().filter(|d| ["http", "app", "cli"].contains(&d.as_str())).map(move |d| format!("{m} → {d}"))
        })
        .collect();
    assert!(offenders.is_empty(), "a lower layer imports a face: {offenders:?}");
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let t = tree();
    // Depth-first search; a back edge is a cycle.
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        n: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_string());
            cycles.push(c.join(" → "));
            return;
        }
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            visit(g, d, stack, done, cycles);
        }
        stack.pop();
        done.insert(n.to_string());
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for m in t.graph.keys() {
        visit(&t.graph, m, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles between top-level modules: {cycles:#?}");
}

#[test]
fn no_source_file_over_600_lines_outside_tests() {
    let t = tree();
    let long: Vec<String> = t.files.iter().filter(|(_, _, n)| *n > 600).map(|(f, _, n)| format!("{f} ({n})")).collect();
    assert!(long.is_empty(), "files over 600 lines: {long:?}");
}

/// Files (relative to src/) that mention any of `needles` in code, outside the allowed prefixes.
fn offenders(t: &Tree, needles: &[&str], allowed: &[&str]) -> Vec<String> {
    t.files
        .iter()
        .filter(|(f, _, _)| !allowed.iter().any(|a| f.starts_with(a)))
        .filter(|(_, code, _)| needles.iter().any(|n| code.contains(n)))
        .map(|(f, _, _)| f.clone())
        .collect()
}

#[test]
fn only_the_application_layer_writes_the_audit_trail() {
    let found = offenders(&tree(), &["audit::record(", "audit::append("], &["ops/", "audit.rs"]);
    assert!(found.is_empty(), "audit records written outside src/ops/: {found:?}");
}

#[test]
fn only_the_application_layer_and_the_faces_hold_the_whole_state() {
    let found = offenders(&tree(), &["AppState"], &["ops/", "http/", "cli/", "app.rs", "state.rs"]);
    assert!(found.is_empty(), "the whole state used below the application layer: {found:?}");
}

/// Files under src/http/ that reach the database or the cache themselves instead of through an
/// operation (the health check and the router's shared pieces may).
fn storage_in_handlers() -> Vec<String> {
    let needles = ["st.db", "st.cache", ".st.db", ".st.cache", "crate::store"];
    let t = tree();
    let handlers: Vec<String> = offenders(&t, &needles, &["http/health.rs", "http/mod.rs"]);
    handlers.into_iter().filter(|f| f.starts_with("http/")).collect()
}

#[test]
fn handlers_do_not_touch_storage() {
    let found = storage_in_handlers();
    assert!(found.is_empty(), "handlers reading the database or the cache themselves: {found:?}");
}
