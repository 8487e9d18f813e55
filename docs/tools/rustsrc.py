"""Just enough reading of Rust source for the documentation scripts: string literals, comments
and brace-delimited blocks, so lists (scopes, claims, audit kinds) can be taken from the code
with regular expressions applied to the right function body. Not a parser: it understands
string, raw string, char and lifetime tokens and comments, which is what brace matching needs.
Python 3.11 standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path

from doctools import Problem, rel


# Strings, raw strings, char literals and comments: what brace matching must step over. A quote
# not matched here (a lifetime such as 'static) is an ordinary character.
TOKEN = re.compile(
    r"//[^\n]*"
    r"|/\*.*?\*/"
    r'|(?<![A-Za-z0-9_])b?r(#*)".*?"\1'
    r'|b?"(?:[^"\\]|\\.)*"'
    r"|b?'(?:\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'",
    re.S,
)
SCAN = re.compile(TOKEN.pattern + r"|[{}()\[\]]", re.S)
PAIRS = {"{": "}", "(": ")", "[": "]"}


def block_end(text: str, open_at: int) -> int:
    """Index just after the bracket matching the one at `open_at` ({, ( or [)."""
    stack = [PAIRS[text[open_at]]]
    for m in SCAN.finditer(text, open_at + 1):
        c = m.group(0)
        if len(c) != 1 or c not in "{}()[]":
            continue
        if c in PAIRS:
            stack.append(PAIRS[c])
        else:
            if c != stack.pop():
                raise ValueError(f"unbalanced {c!r} at {m.start()}")
            if not stack:
                return m.end()
    raise ValueError("unterminated block")


def without_comments(text: str) -> str:
    """The text with comments blanked (same length, so positions stay valid)."""

    def blank(m: re.Match) -> str:
        t = m.group(0)
        return re.sub(r"[^\n]", " ", t) if t.startswith("/") else t

    return TOKEN.sub(blank, text)


def without_tests(text: str) -> str:
    """The text with `#[cfg(test)]` items (test modules and functions) blanked."""
    out = text
    for m in reversed(list(re.finditer(r"#\[cfg\(test\)\]", text))):
        brace = text.find("{", m.end())
        semi = text.find(";", m.end())
        if brace < 0 or (0 <= semi < brace):
            continue  # `#[cfg(test)] use …;` and the like
        end = block_end(text, brace)
        out = out[: m.start()] + re.sub(r"[^\n]", " ", out[m.start() : end]) + out[end:]
    return out


def read(path: Path) -> str:
    """A source file with comments and test code blanked."""
    try:
        return without_tests(without_comments(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as e:
        raise Problem(f"{rel(path)} could not be read: {e}")


def fn_body(text: str, name: str, path: Path) -> str:
    """The body (between the braces) of the function `name`."""
    m = re.search(rf"\bfn {re.escape(name)}\b", text)
    if not m:
        raise Problem(f"{rel(path)}: function `{name}` not found; update docs/tools/dictionary.py")
    brace = text.find("{", m.end())
    # Skip a `where` clause or return type with braces? Gerbang's signatures have none.
    return text[brace + 1 : block_end(text, brace) - 1]


def functions(text: str) -> list[tuple[str, str, int, str]]:
    """(name, signature, body offset, body) of every `fn` with a body in `text`."""
    out = []
    for m in re.finditer(r"\bfn (\w+)\s*(?:<[^>{]*>)?\s*\(", text):
        paren = m.end() - 1
        after = block_end(text, paren)
        brace = text.find("{", after)
        semi = text.find(";", after)
        if brace < 0 or (0 <= semi < brace):
            continue
        out.append((m.group(1), text[m.start() : brace], brace + 1, text[brace + 1 : block_end(text, brace) - 1]))
    return out


def struct_fields(text: str, name: str, path: Path) -> list[tuple[str, str]]:
    """(field, type) of `struct name { … }`."""
    m = re.search(rf"\bstruct {re.escape(name)}\s*\{{", text)
    if not m:
        raise Problem(f"{rel(path)}: struct `{name}` not found; update docs/tools/dictionary.py")
    body = text[m.end() : block_end(text, m.end() - 1) - 1]
    body = re.sub(r"#\[[^\]]*\]", "", body)
    return [(f.group(1), f.group(2).strip()) for f in re.finditer(r"\bpub (\w+)\s*:\s*([^,]+),", body)]


def str_list(text: str, const: str, path: Path) -> list[str]:
    """The string literals of `const NAME: … = &[ … ];`."""
    m = re.search(rf"\bconst {re.escape(const)}\s*:[^=]*=\s*&?\[", text)
    if not m:
        raise Problem(f"{rel(path)}: constant `{const}` not found; update docs/tools/dictionary.py")
    body = text[m.end() : block_end(text, m.end() - 1) - 1]
    return re.findall(r'"((?:[^"\\]|\\.)*)"', body)


def top_level_items(body: str) -> list[str]:
    """Splits `body` on commas that are outside brackets, strings and comments."""
    items, start, pos = [], 0, 0
    pattern = re.compile(TOKEN.pattern + r"|[{(\[,]", re.S)
    while m := pattern.search(body, pos):
        c = m.group(0)
        if c == ",":
            items.append(body[start : m.start()].strip())
            start = m.end()
            pos = m.end()
        elif c in PAIRS:
            pos = block_end(body, m.start())
        else:
            pos = m.end()
    if body[start:].strip():
        items.append(body[start:].strip())
    return items
