#!/usr/bin/env python3
"""Check that the manuals and their screenshots match.

    python3 docs/tools/check_images.py [--root DIR]

The manuals are docs/panduan/*.md; their pictures are docs/panduan/gambar/*.png, made by
docs/tools/screenshots.sh from the browser suite (never pasted by hand). Fails when:

- an image a manual shows (`![alt](path)` or `<img src="path">`, outside code blocks) does not
  exist, has no alternative text, or is not in docs/panduan/gambar/ (a remote or hand-placed
  picture);
- a file in docs/panduan/gambar/ is shown by no manual (a stale screenshot), or is not a PNG;
- the pictures together are larger than 2 MB.

Prints each problem as `FILE:LINE: ...` (or `FILE: ...`) and exits 1 when there is any;
otherwise prints how many references and pictures it checked and exits 0. Standard library
only (Python 3.11).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from urllib.parse import unquote

MANUALS = "docs/panduan"
PICTURES = "docs/panduan/gambar"
MAX_TOTAL_BYTES = 2 * 1024 * 1024

MD_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_IMAGE_RE = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"'][^>]*>", re.IGNORECASE)
HTML_ALT_RE = re.compile(r"\balt\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)
FENCE_RE = re.compile(r"^\s*(```|~~~)")


def images(text: str) -> list[tuple[int, str, str]]:
    """(line, target, alt text) of every image shown outside fenced code blocks."""
    found = []
    fence = None
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE_RE.match(line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        if fence:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not an image
        for alt, target in MD_IMAGE_RE.findall(line):
            found.append((n, target, alt.strip()))
        for tag in HTML_IMAGE_RE.finditer(line):
            alt = HTML_ALT_RE.search(tag.group(0))
            found.append((n, tag.group(1), alt.group(1).strip() if alt else ""))
    return found


def check(root: str) -> tuple[list[str], int, int]:
    """Problems found, references checked, pictures checked."""
    problems: list[str] = []
    manuals_dir = os.path.join(root, MANUALS)
    pictures_dir = os.path.realpath(os.path.join(root, PICTURES))
    used: set[str] = set()
    refs = 0
    for name in sorted(os.listdir(manuals_dir)):
        if not name.endswith(".md"):
            continue
        doc = os.path.join(MANUALS, name)
        with open(os.path.join(root, doc), encoding="utf-8") as f:
            text = f.read()
        for line, target, alt in images(text):
            refs += 1
            where = f"{doc}:{line}"
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("/"):
                problems.append(f"{where}: {target} is not a picture in {PICTURES}/ (made by docs/tools/screenshots.sh)")
                continue
            path = os.path.realpath(os.path.join(manuals_dir, unquote(target.split("#")[0])))
            if os.path.dirname(path) != pictures_dir:
                problems.append(f"{where}: {target} is not a picture in {PICTURES}/ (made by docs/tools/screenshots.sh)")
            elif not os.path.isfile(path):
                problems.append(f"{where}: {target} does not exist (run docs/tools/screenshots.sh)")
            else:
                used.add(os.path.basename(path))
            if not alt:
                problems.append(f"{where}: {target} has no alternative text")
    pictures = sorted(os.listdir(pictures_dir)) if os.path.isdir(pictures_dir) else []
    total = 0
    for name in pictures:
        rel = f"{PICTURES}/{name}"
        full = os.path.join(pictures_dir, name)
        if not os.path.isfile(full):
            problems.append(f"{rel}: not a file")
            continue
        total += os.path.getsize(full)
        with open(full, "rb") as f:
            if not name.endswith(".png") or f.read(8) != b"\x89PNG\r\n\x1a\n":
                problems.append(f"{rel}: not a PNG")
        if name not in used:
            problems.append(f"{rel}: shown by no manual in {MANUALS}/ (remove it from docs/tools/screenshots.sh)")
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{PICTURES}/: {total} bytes in all, more than {MAX_TOTAL_BYTES}")
    return problems, refs, len(pictures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    args = parser.parse_args(argv)
    problems, refs, count = check(args.root)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"check_images: {refs} image references in {MANUALS}/*.md, {count} pictures in {PICTURES}/, all matched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
