#!/usr/bin/env python3
"""Check that every test and file cited in the compliance documents exists.

    python3 docs/tools/check_refs.py [--root DIR] [FILE.md ...]

Without files it checks docs/kepatuhan.md, docs/kebutuhan.md, docs/pengujian.md and its English
counterpart docs/testing.md. A reference is what a document writes in `code` (inline or in a
fenced block), or the target of a relative Markdown link:

- `path/to/file.rs::name`: the file exists and defines a test function `name` (a `fn` under
  `#[test]` or `#[tokio::test]`); a directory instead of a file means "somewhere under it";
- `path/to/file` or `path/to/dir/` under a known top-level directory (src, tests, docs, bench,
  k8s, migrations, themes, examples, data, .ci) or a known top-level file: it exists; for a
  Markdown file, `#anchor` must name one of its headings (a path running into `*`, `<`, `{` or
  `[` is a pattern, not a reference, and is skipped);
- a bare `snake_case_name` of six or more words (the way tests are named here): a test function
  of that name exists somewhere under tests/ or src/;
- `cargo test ... FILTER` in a code block: FILTER selects at least one test of the target named
  (`--test it`, `--lib`, or both when neither is given), the way cargo matches names (substring
  of `module::path::function`);
- `[text](relative/path.md#anchor)`: the path exists relative to the document, the anchor too.

Prints each broken reference as `FILE:LINE: ...` and exits 1 when there is any; otherwise
prints how many references it checked and exits 0. Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from dataclasses import dataclass, field

DEFAULT_DOCS = ["docs/kepatuhan.md", "docs/kebutuhan.md", "docs/pengujian.md", "docs/testing.md"]
ROOTS = ("src", "tests", "docs", "bench", "k8s", "migrations", "themes", "examples", "data", ".ci")
TOP_FILES = ("Cargo.toml", "Cargo.lock", "README.md", "CHANGELOG.md", "build.rs")

PATH_RE = re.compile(
    r"(?<![\w./-])((?:" + "|".join(re.escape(r) for r in ROOTS) + r")/[\w./-]*?)"
    r"(?:::([A-Za-z_][A-Za-z0-9_]*))?(#[\w-]+)?(?![\w/.-])"
)
TOP_RE = re.compile(r"(?<![\w./-])(" + "|".join(re.escape(f) for f in TOP_FILES) + r")(#[\w-]+)?(?![\w/.-])")
BARE_TEST_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+){5,}$")
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
TEST_ATTR_RE = re.compile(r"^\s*#\[(?:tokio::)?test\b")
FN_RE = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")
MOD_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{")


@dataclass
class Tests:
    """Test functions found in the repository: per file, and as cargo names per target."""

    by_file: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)  # target ("it", "lib") -> names


def test_fns(path: str) -> tuple[list[str], list[str]]:
    """The test functions of one Rust file, and the names of the modules declared inline in it."""
    lines = open(path, encoding="utf-8").read().split("\n")
    found, mods = [], []
    for i, line in enumerate(lines):
        m = MOD_RE.match(line)
        if m:
            mods.append(m.group(1))
        if TEST_ATTR_RE.match(line):
            for nxt in lines[i : i + 12]:
                fm = FN_RE.search(nxt)
                if fm:
                    found.append(fm.group(1))
                    break
    return found, mods


def module_path(rel: str, base: str) -> list[str]:
    """`tests/it/replicas/cycle.rs` under `tests/it` -> ["replicas", "cycle"]."""
    parts = os.path.relpath(rel, base).split(os.sep)
    parts[-1] = parts[-1][: -len(".rs")]
    if parts[-1] in ("mod", "main", "lib"):
        parts.pop()
    return parts


def collect_tests(root: str) -> Tests:
    tests = Tests()
    for base, target in (("tests/it", "it"), ("src", "lib")):
        names = tests.names.setdefault(target, [])
        for dp, _, files in os.walk(os.path.join(root, base)):
            for f in sorted(files):
                if not f.endswith(".rs"):
                    continue
                full = os.path.join(dp, f)
                rel = os.path.relpath(full, root)
                fns, mods = test_fns(full)
                tests.by_file[rel] = set(fns)
                prefix = module_path(rel, base)
                for fn in fns:
                    # Unit tests usually sit in an inline module (`mod tests { … }`).
                    for inner in [[]] + [[m] for m in mods]:
                        names.append("::".join(prefix + inner + [fn]))
    return tests


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: str) -> set[str]:
    found, in_code = set(), False
    for line in open(path, encoding="utf-8"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            base = slug(line.lstrip("#"))
            n, name = 0, base
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def code_spans(text: str) -> list[tuple[int, str, bool]]:
    """(line number, code, is a fenced block line) for every piece of code in a Markdown text."""
    out, fenced = [], False
    for no, line in enumerate(text.split("\n"), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            out.append((no, line, True))
        else:
            out.extend((no, m.group(1), False) for m in re.finditer(r"`([^`]+)`", line))
    return out


def cargo_filters(command: str) -> list[tuple[list[str], str]]:
    """The (targets, filter) of each `cargo test` in a shell line; no filter gives none."""
    out = []
    for part in re.split(r"&&|\|\||;|\|", command):
        try:
            words = shlex.split(part)
        except ValueError:
            continue
        words = [w for w in words if "=" not in w or w.startswith("-")]  # drop VAR=value
        while words and words[0] in ("nice", "-n", "19", "time", "env"):
            words = words[1:]
        if len(words) < 2 or words[0] != "cargo" or words[1] != "test":
            continue
        targets, filt, i = [], None, 2
        while i < len(words):
            w = words[i]
            if w == "--":
                break
            if w in ("--test", "-p", "--package", "--features", "--bin", "--target-dir", "-j", "--jobs"):
                if w == "--test" and i + 1 < len(words):
                    targets.append(words[i + 1])
                i += 2
                continue
            if w == "--lib":
                targets.append("lib")
            elif not w.startswith("-") and filt is None:
                filt = w
            i += 1
        if filt is not None:
            out.append((targets or ["lib", "it"], filt))
    return out


def check_path(root: str, rel: str, anchor: str | None, name: str | None, tests: Tests) -> str | None:
    """Why the reference is broken, or None."""
    full = os.path.join(root, rel.rstrip("/"))
    if not os.path.exists(full):
        return f"no such file or directory: {rel}"
    if anchor and full.endswith(".md") and anchor[1:] not in anchors(full):
        return f"{rel} has no heading for {anchor}"
    if name:
        if os.path.isdir(full):
            prefix = os.path.relpath(full, root) + os.sep
            files = [f for f in tests.by_file if f.startswith(prefix)]
        else:
            files = [os.path.relpath(full, root)]
        if not any(name in tests.by_file.get(f, ()) for f in files):
            return f"no test function `{name}` in {rel}"
    return None


def check_doc(root: str, doc: str, tests: Tests) -> tuple[list[str], int]:
    """Broken references of one document, and how many references it holds."""
    path = os.path.join(root, doc)
    if not os.path.isfile(path):
        return [f"{doc}: the document does not exist"], 0
    text = open(path, encoding="utf-8").read()
    errors, count = [], 0
    for no, code, fenced in code_spans(text):
        for m in PATH_RE.finditer(code):
            rel, name, anchor = m.group(1), m.group(2), m.group(3)
            if code[m.end() : m.end() + 1] in ("*", "<", "{", "["):
                continue  # a pattern such as `tests/it/fuzz_*.rs` or `gerbang-<date>.age`, not a path
            if rel.endswith("."):
                rel = rel[:-1]
            count += 1
            why = check_path(root, rel, anchor, name, tests)
            if why:
                errors.append(f"{doc}:{no}: `{m.group(0)}`: {why}")
        for m in TOP_RE.finditer(code):
            count += 1
            why = check_path(root, m.group(1), m.group(2), None, tests)
            if why:
                errors.append(f"{doc}:{no}: `{m.group(0)}`: {why}")
        if not fenced and BARE_TEST_RE.match(code):
            count += 1
            if not any(code in fns for fns in tests.by_file.values()):
                errors.append(f"{doc}:{no}: `{code}`: no test function of that name in tests/ or src/")
        if fenced or code.startswith("cargo ") or " cargo test" in code:
            for targets, filt in cargo_filters(code):
                count += 1
                if not any(filt in n for t in targets for n in tests.names.get(t, [])):
                    errors.append(f"{doc}:{no}: `cargo test` filter `{filt}` selects no test of {'/'.join(targets)}")
    for no, line in enumerate(text.split("\n"), 1):
        for m in LINK_RE.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            count += 1
            rel, _, anchor = target.partition("#")
            if not rel:
                if anchor not in anchors(path):
                    errors.append(f"{doc}:{no}: link `{target}`: no heading for #{anchor}")
                continue
            resolved = os.path.normpath(os.path.join(os.path.dirname(doc), rel))
            why = check_path(root, resolved, "#" + anchor if anchor else None, None, tests)
            if why:
                errors.append(f"{doc}:{no}: link `{target}`: {why}")
    return errors, count


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("docs", nargs="*", default=DEFAULT_DOCS)
    args = ap.parse_args(argv)
    tests = collect_tests(args.root)
    errors, total = [], 0
    for doc in args.docs:
        errs, n = check_doc(args.root, doc, tests)
        errors += errs
        total += n
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} broken reference(s) of {total} checked", file=sys.stderr)
        return 1
    print(f"{total} references checked in {len(args.docs)} document(s): all exist")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
