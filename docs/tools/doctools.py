"""What the documentation generators share: the repository root, reading notes files, Markdown
cells, and writing a generated document or (with --check) comparing it with the committed one.
Python 3.11 standard library only.
"""

from __future__ import annotations

import difflib
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Problem(Exception):
    """Something --check (or generation) must refuse, with a message saying what to do."""


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def load_toml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise Problem(f"{rel(path)} is missing")
    except tomllib.TOMLDecodeError as e:
        raise Problem(f"{rel(path)}: {e}")


def md(s: object) -> str:
    """A note's text inside a table cell: one line, pipes escaped."""
    return " ".join(str(s).split()).replace("|", "\\|")


def para(s: object) -> str:
    """A note's multi-line text as a Markdown block."""
    return str(s).strip()


def finish(script: str, out: Path, problems: list[str], render, check: bool, summary: str) -> int:
    """Reports `problems` (exit 1), or writes `render()` to `out`, or with `check` compares it
    with the committed file and shows the start of the difference (exit 1 when they differ)."""
    if problems:
        print(f"{script}: {rel(out)} cannot be generated:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    text = render()
    if not check:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {rel(out)} ({summary})")
        return 0
    current = out.read_text(encoding="utf-8") if out.exists() else ""
    if current == text:
        print(f"{script}: {rel(out)} is up to date ({summary})")
        return 0
    print(f"{script}: {rel(out)} is out of date; run `python3 {script}` and commit the result. Difference:", file=sys.stderr)
    diff = difflib.unified_diff(current.splitlines(), text.splitlines(), "committed", "generated", lineterm="", n=1)
    for i, line in enumerate(diff):
        if i >= 40:
            print("  ...", file=sys.stderr)
            break
        print("  " + line, file=sys.stderr)
    return 1
