#!/usr/bin/env python3
"""Generates docs/kamus-data.md (the metadata / data dictionary, in Bahasa Indonesia) from the
Rust source, so that a new scope, claim, profile attribute, level, discovery field or audit event
kind cannot go undocumented.

What is taken from the code (comments and #[cfg(test)] code ignored):
- scopes: `USER_SCOPES` in src/oidc/mod.rs;
- claims about people and the scopes releasing them: `person_claims` in src/oidc/claims.rs
  (each `m.insert("…")` under the `if has_scope(scope, "…")` that encloses it, and the profile
  attributes that `profile::released(…, "<scope>")` adds); the fields of the `cert` and `region`
  claims from `cert_claim` and `region`;
- the other ID token claims: `c.insert("…")` in `user_tokens` (src/oidc/token.rs); userinfo:
  `userinfo` in src/oidc/introspect.rs; access tokens: `struct AccessClaims`; logout tokens:
  `struct LogoutClaims` (src/oidc/logout_token.rs);
- profile attributes: `SCHEMA` in src/identity/profile.rs; levels: `LEVELS` in
  src/identity/levels.rs; discovery fields: the `json!` object of `document` in
  src/oidc/discovery.rs (its `claims_supported` must equal the claims found above);
- audit event kinds: every `Event::new(…)` under src/: a string literal, a constant (resolved),
  or a variable set from literals in the same function (`let kind = if … { "a" } else { "b" }`)
  or passed as a `kind: &'static str` parameter by callers in the same file.

Descriptions come from docs/tools/dictionary-notes.toml; the English counterpart
docs/data-dictionary.md takes them from docs/tools/dictionary-notes-en.toml (the same keys, plain
strings; whether a claim is personal data is only in dictionary-notes.toml), and --check fails
as well when an English description is missing or stale.

    python3 docs/tools/dictionary.py            # (re)write docs/kamus-data.md and docs/data-dictionary.md
    python3 docs/tools/dictionary.py --check    # exit 1 when a note is missing or stale, or the file drifted

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

# The helper modules beside this script; no __pycache__ left in the tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

from doctools import ROOT, Problem, finish, load_toml, md, para, rel  # noqa: E402
from rustsrc import block_end, fn_body, functions, read, str_list, struct_fields, top_level_items  # noqa: E402

SRC = ROOT / "src"
NOTES = ROOT / "docs" / "tools" / "dictionary-notes.toml"
OUT = ROOT / "docs" / "kamus-data.md"
# The English counterpart, from parallel notes holding only the English texts.
NOTES_EN = ROOT / "docs" / "tools" / "dictionary-notes-en.toml"
EN_OUT = ROOT / "docs" / "data-dictionary.md"
SELF = "docs/tools/dictionary.py"

MOD = SRC / "oidc" / "mod.rs"
CLAIMS = SRC / "oidc" / "claims.rs"
TOKEN = SRC / "oidc" / "token.rs"
INTROSPECT = SRC / "oidc" / "introspect.rs"
LOGOUT_TOKEN = SRC / "oidc" / "logout_token.rs"
DISCOVERY = SRC / "oidc" / "discovery.rs"
PROFILE = SRC / "identity" / "profile.rs"
LEVELS = SRC / "identity" / "levels.rs"
KEYS = SRC / "oidc" / "keys.rs"

KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
LIT = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass
class Attribute:
    name: str
    type: str
    values: list[str]
    account_type: str
    scope: str


@dataclass
class Source:
    scopes: list[str] = field(default_factory=list)
    # claim -> scopes that release it ("" = always, with openid); claim -> account type limit
    person: dict[str, set[str]] = field(default_factory=dict)
    person_kind: dict[str, str] = field(default_factory=dict)
    id_token: list[str] = field(default_factory=list)
    userinfo: list[str] = field(default_factory=list)
    access: list[tuple[str, bool]] = field(default_factory=list)  # (claim, optional)
    logout: list[tuple[str, bool]] = field(default_factory=list)
    nested: dict[str, list[str]] = field(default_factory=dict)  # claim -> its JSON keys
    attributes: list[Attribute] = field(default_factory=list)
    levels: list[tuple[int, str, str, str]] = field(default_factory=list)
    token_types: list[tuple[str, str]] = field(default_factory=list)  # (TokenType variant, typ)
    discovery: list[tuple[str, str]] = field(default_factory=list)  # (field, value as shown)
    audit: dict[str, set[str]] = field(default_factory=dict)  # kind -> modules
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Extraction


def profile_schema(s: Source) -> None:
    text = read(PROFILE)
    m = re.search(r"\bconst SCHEMA\s*:[^=]*=\s*&\[", text)
    if not m:
        s.problems.append(f"{rel(PROFILE)}: constant SCHEMA not found; update {SELF}")
        return
    schema = text[m.end() : block_end(text, m.end() - 1) - 1]
    for a in re.finditer(r"\bAttribute\s*\{", schema):
        body = schema[a.end() : block_end(schema, a.end() - 1) - 1]
        f = dict(
            (k.strip(), v.strip()) for k, _, v in (item.partition(":") for item in top_level_items(body)) if v
        )
        try:
            name = LIT.fullmatch(f["name"]).group(1)
            scope = LIT.fullmatch(f["scope"]).group(1)
            kind = f["account_type"].split("::")[-1].lower()
            tm = re.fullmatch(r"AttrType::(\w+)(?:\((.*)\))?", f["ty"], re.S)
            ty = tm.group(1).lower()
        except (KeyError, AttributeError):
            s.problems.append(f"{rel(PROFILE)}: an Attribute could not be read: {body.strip()[:80]!r}")
            continue
        values: list[str] = []
        if tm.group(2):
            arg = tm.group(2).strip()
            values = LIT.findall(arg) if arg.startswith("&") else str_list(text, arg, PROFILE)
        s.attributes.append(Attribute(name, ty, values, kind, scope))
    if not s.attributes:
        s.problems.append(f"{rel(PROFILE)}: no profile attributes found; update {SELF}")


def person_claims(s: Source) -> None:
    text = read(CLAIMS)
    body = fn_body(text, "person_claims", CLAIMS)
    blocks = []  # (start, end, scope, account kind)
    for m in re.finditer(r'\bif has_scope\(scope, "([^"]+)"\)([^{]*)\{', body):
        kind = re.search(r"AccountKind::(\w+)", m.group(2))
        blocks.append((m.end(), block_end(body, m.end() - 1), m.group(1), kind.group(1).lower() if kind else ""))

    def scope_at(pos: int) -> tuple[str, str]:
        inner = [b for b in blocks if b[0] <= pos < b[1]]
        if not inner:
            return "", ""
        b = max(inner, key=lambda b: b[0])
        return b[2], b[3]

    kinds: dict[str, set[str]] = {}  # claim -> account kind of each place that releases it
    for m in re.finditer(r'\bm\.insert\("([^"]+)"', body):
        scope, kind = scope_at(m.start())
        s.person.setdefault(m.group(1), set()).add(scope)
        kinds.setdefault(m.group(1), set()).add(kind)
    for m in re.finditer(r'profile::released\([^,]+,\s*"([^"]+)"\)', body):
        scope, kind = scope_at(m.start())
        for a in s.attributes:
            if a.scope == m.group(1):
                s.person.setdefault(a.name, set()).add(scope)
                kinds.setdefault(a.name, set()).add(kind or a.account_type)
    # Limited to one kind of account only when every place that releases it is.
    s.person_kind = {c: k.pop() for c, k in kinds.items() if len(k) == 1 and "" not in k}
    if not s.person:
        s.problems.append(f"{rel(CLAIMS)}: no claims found in person_claims; update {SELF}")
    for claim, fn in (("cert", "cert_claim"), ("region", "region")):
        keys = re.findall(r'"([^"]+)"\s*:', fn_body(text, fn, CLAIMS))
        s.nested[claim] = list(dict.fromkeys(keys))


def token_claims(s: Source) -> None:
    body = fn_body(read(TOKEN), "user_tokens", TOKEN)
    own = re.findall(r'\bc\.insert\("([^"]+)"', body)
    s.id_token = list(dict.fromkeys(list(s.person) + own))
    body = fn_body(read(INTROSPECT), "userinfo", INTROSPECT)
    if "person_claims(" not in body:
        s.problems.append(f"{rel(INTROSPECT)}: userinfo no longer calls person_claims; update {SELF}")
    s.userinfo = list(dict.fromkeys(list(s.person) + re.findall(r'\bm\.insert\("([^"]+)"', body)))
    s.access = [(n, t.startswith("Option<")) for n, t in struct_fields(read(CLAIMS), "AccessClaims", CLAIMS)]
    s.logout = [(n, t.startswith("Option<")) for n, t in struct_fields(read(LOGOUT_TOKEN), "LogoutClaims", LOGOUT_TOKEN)]


def levels(s: Source) -> None:
    text = read(LEVELS)
    for m in re.finditer(r'Level \{ level: (\d+), name_id: "([^"]+)", name_en: "([^"]+)", acr: "([^"]+)" \}', text):
        s.levels.append((int(m.group(1)), m.group(2), m.group(3), m.group(4)))
    if not s.levels:
        s.problems.append(f"{rel(LEVELS)}: no levels found; update {SELF}")


def token_types(s: Source) -> None:
    body = fn_body(read(KEYS), "typ", KEYS)
    s.token_types = re.findall(r'TokenType::(\w+)\s*=>\s*"([^"]+)"', body)
    if not s.token_types:
        s.problems.append(f"{rel(KEYS)}: no token types found in `typ`; update {SELF}")


def discovery(s: Source) -> None:
    body = fn_body(read(DISCOVERY), "document", DISCOVERY)
    m = re.search(r"json!\(\{", body)
    if not m:
        s.problems.append(f"{rel(DISCOVERY)}: the json! object of `document` was not found; update {SELF}")
        return
    obj = body[m.end() : block_end(body, m.end() - 1) - 1]
    for item in top_level_items(obj):
        km = re.match(r'"([^"]+)"\s*:\s*(.*)$', item, re.S)
        if not km:
            s.problems.append(f"{rel(DISCOVERY)}: discovery entry not understood: {item[:60]!r}")
            continue
        s.discovery.append((km.group(1), show_value(km.group(2).strip(), s)))


def show_value(v: str, s: Source) -> str:
    if f := re.fullmatch(r'format!\("\{i\}([^"]*)"\)', v):
        return f"`<issuer>{f.group(1)}`"
    if v == "i":
        return "`<issuer>` (pengaturan `issuer`)"
    if v.endswith("USER_SCOPES"):
        return "semua cakupan di bagian 1"
    if v.endswith("acr_values()"):
        return ", ".join(f"`{lv[3]}`" for lv in s.levels)
    if v.startswith("["):
        return ", ".join(f"`{x}`" for x in LIT.findall(v)) or "—"
    return f"`{v}`"


def audit_kinds(s: Source) -> None:
    raw = {p: p.read_text(encoding="utf-8") for p in sorted(SRC.rglob("*.rs"))}
    tests = {p for p in raw if p.name == "tests.rs" or p.name.endswith("_tests.rs")}
    texts = {p: read(p) for p, t in raw.items() if "Event::new(" in t and p not in tests}
    consts: dict[str, set[str]] = {}
    for p, t in raw.items():
        if p in tests:
            continue
        for m in re.finditer(r'\bconst (\w+)\s*:\s*&(?:\'static )?str\s*=\s*"([^"]*)"', t):
            consts.setdefault(m.group(1), set()).add(m.group(2))

    def add(kind: str, p: Path, how: str) -> None:
        if not KIND.match(kind):
            s.problems.append(f"{rel(p)}: audit kind {kind!r} ({how}) does not look like one; update {SELF}")
            return
        mod = str(p.relative_to(SRC).with_suffix("")).replace("/", "::").removesuffix("::mod")
        s.audit.setdefault(kind, set()).add(mod)

    for p, text in texts.items():
        fns = functions(text)
        for m in re.finditer(r"\bEvent::new\(\s*([^)]*?)\s*\)", text):
            arg = m.group(1)
            if lit := LIT.fullmatch(arg):
                add(lit.group(1), p, "literal")
            elif re.fullmatch(r"[A-Z][A-Z0-9_]*", arg) or "::" in arg:
                name = arg.split("::")[-1]
                vals = consts.get(name, set())
                if len(vals) != 1:
                    s.problems.append(f"{rel(p)}: Event::new({arg}): constant not found or ambiguous; update {SELF}")
                for v in vals:
                    add(v, p, f"constant {name}")
            elif re.fullmatch(r"[a-z_][a-z0-9_]*", arg):
                found = variable_kinds(text, fns, m.start(), arg)
                if not found:
                    s.problems.append(f"{rel(p)}: Event::new({arg}): the kinds it can hold were not found; update {SELF}")
                for v in found:
                    add(v, p, f"variable {arg}")
            else:
                s.problems.append(f"{rel(p)}: Event::new({arg}) not understood; update {SELF}")
    if not s.audit:
        s.problems.append(f"src: no audit event kinds found; update {SELF}")


def variable_kinds(text: str, fns: list[tuple[str, str, int, str]], pos: int, var: str) -> list[str]:
    """Literals a variable passed to Event::new can hold: from `let var = …;` in the enclosing
    function, or, when it is a `var: &'static str` parameter, from calls in the same file."""
    out: list[str] = []
    for name, sig, start, body in fns:
        if not (start <= pos < start + len(body)):
            continue
        for m in re.finditer(rf"\blet {var}\s*=([^;]*);", body):
            out += [v for v in LIT.findall(m.group(1)) if "." in v]
        if re.search(rf"\b{var}\s*:\s*&'static str", sig):
            for call in re.finditer(rf"\b{name}\(", text):
                if text[call.start() - 3 : call.start()] == "fn ":
                    continue
                args = text[call.end() : block_end(text, call.end() - 1) - 1]
                out += [v for v in LIT.findall(args) if KIND.match(v) and "." in v]
    return sorted(set(out))


def extract() -> Source:
    s = Source()
    s.scopes = str_list(read(MOD), "USER_SCOPES", MOD)
    profile_schema(s)
    person_claims(s)
    token_claims(s)
    levels(s)
    token_types(s)
    discovery(s)
    audit_kinds(s)
    supported = dict(s.discovery).get("claims_supported", "")
    listed = set(re.findall(r"`([^`]+)`", supported))
    released = set(s.id_token) | set(s.userinfo)
    if listed != released:
        s.problems.append(
            f"{rel(DISCOVERY)}: claims_supported differs from the claims the code releases: "
            f"not listed {sorted(released - listed)}, listed but never released {sorted(listed - released)}"
        )
    return s


# ---------------------------------------------------------------------------------------------
# Notes


def note(notes: dict, section: str, key: str) -> tuple[str, bool]:
    """(description, personal) of one entry."""
    v = notes.get(section, {}).get(key)
    if isinstance(v, dict):
        return str(v.get("description", "")), bool(v.get("personal"))
    return str(v or ""), False


def check(s: Source, notes: dict, where: str = rel(NOTES)) -> list[str]:
    problems = []
    attrs = {a.name for a in s.attributes}
    claims = set(s.person) | set(s.id_token) | set(s.userinfo) | {c for c, _ in s.access} | {c for c, _ in s.logout}
    wanted = {
        "scopes": set(s.scopes),
        "claims": claims - attrs,
        "attributes": attrs,
        "levels": {lv[3] for lv in s.levels},
        "token_types": {t for t, _ in s.token_types},
        "discovery": {k for k, _ in s.discovery},
        "audit": set(s.audit),
    }
    what = {
        "scopes": "scope",
        "claims": "claim",
        "attributes": "profile attribute",
        "levels": "level (acr)",
        "token_types": "token type",
        "discovery": "discovery field",
        "audit": "audit event kind",
    }
    for section, keys in wanted.items():
        have = notes.get(section, {})
        for k in sorted(keys):
            text, _ = note(notes, section, k)
            if not text.strip():
                problems.append(f"{what[section]} `{k}` has no description: add it under [{section}] in {where}")
        for k in sorted(set(have) - keys):
            problems.append(f"{where} describes {what[section]} `{k}` under [{section}], which the code no longer has")
        for k, v in have.items():
            if isinstance(v, dict) and (set(v) - {"description", "personal"} or not isinstance(v.get("description"), str)):
                problems.append(f"{where}: [{section}] `{k}` needs `description` (and optionally `personal`)")
    for claim, keys in s.nested.items():
        text, _ = note(notes, "claims", claim)
        for k in keys:
            if f"`{k}`" not in text:
                problems.append(f"the `{claim}` claim has a field `{k}` its description in {where} does not mention")
    for key in ("intro", "scopes_intro", "claims_intro", "audit_intro"):
        if not str(notes.get(key, "")).strip():
            problems.append(f"{where}: `{key}` (a section's text) is missing")
    return problems


# ---------------------------------------------------------------------------------------------
# Markdown


def codes(items) -> str:
    return ", ".join(f"`{i}`" for i in items) or "—"


ACCOUNT = {"asn": "ASN", "citizen": "warga", "": "semua"}
ACCOUNT_EN = {"asn": "ASN", "citizen": "citizen", "": "all"}
SECTIONS = ("scopes", "claims", "attributes", "levels", "token_types", "discovery", "audit")
# Values `show_value` writes in Indonesian, as the English document shows them.
VALUE_EN = {
    "`<issuer>` (pengaturan `issuer`)": "`<issuer>` (the `issuer` setting)",
    "semua cakupan di bagian 1": "all scopes in section 1",
}


def english(notes: dict, en: dict) -> dict:
    """The Indonesian notes with every text replaced by its English counterpart; whether a claim
    is personal data stays that of the Indonesian notes."""
    out = dict(notes)
    for key in ("intro", "scopes_intro", "claims_intro", "audit_intro"):
        out[key] = en[key]
    for section in SECTIONS:
        out[section] = {
            k: {"description": note(en, section, k)[0], "personal": note(notes, section, k)[1]}
            for k in notes.get(section, {})
        }
    return out


def render(s: Source, notes: dict, en: bool = False) -> str:
    """The dictionary in Bahasa Indonesia, or with `en` in English (notes merged by `english`)."""

    def T(id_text: str, en_text: str) -> str:
        return en_text if en else id_text

    account = ACCOUNT_EN if en else ACCOUNT
    L: list[str] = []
    w = L.append
    attr_of = {a.name: a for a in s.attributes}

    def desc(section: str, key: str) -> str:
        return md(note(notes, section, key)[0])

    def claim_desc(c: str) -> str:
        if c in attr_of:
            return md(note(notes, "attributes", c)[0]) + T(" (atribut profil, bagian 4)", " (profile attribute, section 4)")
        return desc("claims", c)

    def personal(c: str) -> str:
        return T("ya", "yes") if c in attr_of or note(notes, "claims", c)[1] else ""

    w(T("# Kamus Data Gerbang", "# Gerbang Data Dictionary"))
    w("")
    w(T(f"*English version: [{EN_OUT.name}]({EN_OUT.name})*", f"*Versi Bahasa Indonesia: [{OUT.name}]({OUT.name})*"))
    w("")
    w(
        T(
            f"<!-- Dihasilkan oleh `{SELF}` dari kode sumber dan `docs/tools/dictionary-notes.toml`. "
            "Jangan disunting langsung: ubah catatan atau kode, lalu jalankan skripnya. -->",
            f"<!-- Generated by `{SELF}` from the source code and `docs/tools/dictionary-notes-en.toml`. "
            "Do not edit by hand: change the notes or the code, then run the script. -->",
        )
    )
    w("")
    w(para(notes["intro"]))
    w("")
    nclaims = len(set(s.id_token) | set(s.userinfo))
    w(
        T(
            f"Ringkasan: {len(s.scopes)} cakupan, {nclaims} klaim di ID token dan userinfo, "
            f"{len(s.attributes)} atribut profil, {len(s.levels)} tingkat keamanan, {len(s.discovery)} field discovery, "
            f"{len(s.audit)} jenis peristiwa audit.",
            f"Summary: {len(s.scopes)} scopes, {nclaims} claims in ID tokens and userinfo, "
            f"{len(s.attributes)} profile attributes, {len(s.levels)} security levels, {len(s.discovery)} discovery fields, "
            f"{len(s.audit)} audit event kinds.",
        )
    )
    w("")
    w(T("## 1. Cakupan (scope)", "## 1. Scopes"))
    w("")
    w(para(notes["scopes_intro"]))
    w("")
    w(T("| Cakupan | Klaim yang dirilis | Keterangan |", "| Scope | Claims released | Description |"))
    w("|---|---|---|")
    for sc in s.scopes:
        released = [c for c, scs in s.person.items() if sc in scs or (sc == "openid" and "" in scs)]
        w(f"| `{sc}` | {codes(released)} | {desc('scopes', sc)} |")
    w("")
    w(T("## 2. Jenis token", "## 2. Token types"))
    w("")
    w(T("| Jenis | Header `typ` | Keterangan |", "| Type | `typ` header | Description |"))
    w("|---|---|---|")
    for t, typ in s.token_types:
        w(f"| {t} | `{typ}` | {desc('token_types', t)} |")
    w("")
    w(T("## 3. Klaim", "## 3. Claims"))
    w("")
    w(para(notes["claims_intro"]))
    w("")
    w(T("### 3.1 Klaim tentang orang (ID token dan userinfo)", "### 3.1 Claims about the person (ID token and userinfo)"))
    w("")
    w(T("| Klaim | Cakupan | Jenis akun | Data pribadi | Keterangan |", "| Claim | Scope | Account type | Personal data | Description |"))
    w("|---|---|---|---|---|")
    for c, scs in s.person.items():
        scope = codes(sorted(scs - {""})) if scs - {""} else T("selalu (dengan `openid`)", "always (with `openid`)")
        w(f"| `{c}` | {scope} | {account[s.person_kind.get(c, '')]} | {personal(c)} | {claim_desc(c)} |")
    w("")
    w(T("### 3.2 Klaim protokol ID token", "### 3.2 ID token protocol claims"))
    w("")
    w(T("| Klaim | Keterangan |", "| Claim | Description |"))
    w("|---|---|")
    for c in s.id_token:
        if c not in s.person:
            w(f"| `{c}` | {claim_desc(c)} |")
    w("")
    extra = codes(sorted(set(s.userinfo) - set(s.person)))
    only = set(s.userinfo) <= set(s.person)
    w(
        T(
            "Respons userinfo memuat klaim 3.1 saja" + ("." if only else f", ditambah {extra}.")
            + " Klaim `sub` di userinfo selalu sama dengan `sub` di ID token aplikasi yang sama.",
            "The userinfo response carries only the claims of 3.1" + ("." if only else f", plus {extra}.")
            + " The `sub` claim in userinfo is always the same as `sub` in the same application's ID token.",
        )
    )
    w("")
    for title, items in (
        ("3.3 Access token (JWT, RFC 9068)", s.access),
        ("3.4 Logout token (Back-Channel Logout 1.0)", s.logout),
    ):
        w(f"### {title}")
        w("")
        w(T("| Klaim | Selalu ada | Data pribadi | Keterangan |", "| Claim | Always present | Personal data | Description |"))
        w("|---|---|---|---|")
        for c, optional in items:
            w(f"| `{c}` | {T('tidak', 'no') if optional else T('ya', 'yes')} | {personal(c)} | {claim_desc(c)} |")
        w("")
    w(T("## 4. Atribut profil", "## 4. Profile attributes"))
    w("")
    w(
        T(
            "Atribut profil disimpan di kolom `accounts.profile` (JSON) dan diisi oleh admin, impor, atau SCIM. "
            "Nilai diperiksa terhadap skema ini sebelum disimpan; nilai kosong menghapus atribut.",
            "Profile attributes are stored in the column `accounts.profile` (JSON) and filled in by admins, imports, or SCIM. "
            "Values are checked against this schema before they are stored; an empty value removes the attribute.",
        )
    )
    w("")
    w(T("| Atribut | Jenis akun | Tipe | Nilai yang diizinkan | Cakupan | Keterangan |", "| Attribute | Account type | Type | Allowed values | Scope | Description |"))
    w("|---|---|---|---|---|---|")
    types = {"text": "text", "enum": "choice", "bool": "boolean"} if en else {"text": "teks", "enum": "pilihan", "bool": "boolean"}
    for a in s.attributes:
        w(
            f"| `{a.name}` | {account[a.account_type]} | {types.get(a.type, a.type)} | {codes(a.values) if a.values else '—'} "
            f"| `{a.scope}` | {desc('attributes', a.name)} |"
        )
    w("")
    w(T("## 5. Tingkat keamanan login", "## 5. Sign-in security levels"))
    w("")
    w(
        T(
            "Aplikasi meminta tingkat minimum dengan `acr_values` (atau mendaftarkannya sebagai `min_level`); "
            "token memuat tingkat yang dicapai di `acr` dan `security_level`.",
            "An application requests a minimum level with `acr_values` (or registers it as `min_level`); "
            "tokens carry the level reached in `acr` and `security_level`.",
        )
    )
    w("")
    w(T("| Tingkat | Nama | `acr` | Keterangan |", "| Level | Name | `acr` | Description |"))
    w("|---:|---|---|---|")
    for level, name_id, name_en, acr in s.levels:
        name = f"{name_en} (*{name_id}*)" if en else f"{name_id} (*{name_en}*)"
        w(f"| {level} | {name} | `{acr}` | {desc('levels', acr)} |")
    w("")
    w(T("## 6. Metadata discovery", "## 6. Discovery metadata"))
    w("")
    w(T("Dokumen `GET /.well-known/openid-configuration`. `<issuer>` adalah nilai pengaturan `issuer`.", "The document `GET /.well-known/openid-configuration`. `<issuer>` is the value of the `issuer` setting."))
    w("")
    w(T("| Field | Nilai | Keterangan |", "| Field | Value | Description |"))
    w("|---|---|---|")
    for k, v in s.discovery:
        w(f"| `{k}` | {md(VALUE_EN.get(v, v) if en else v)} | {desc('discovery', k)} |")
    w("")
    w(T("## 7. Jenis peristiwa audit", "## 7. Audit event kinds"))
    w("")
    w(para(notes["audit_intro"]))
    w("")
    w(T("| Jenis | Dicatat oleh | Keterangan |", "| Kind | Recorded by | Description |"))
    w("|---|---|---|")
    for k in sorted(s.audit):
        w(f"| `{k}` | {', '.join(f'`{m}`' for m in sorted(s.audit[k]))} | {desc('audit', k)} |")
    w("")
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on any difference")
    args = ap.parse_args()
    problems: list[str] = []
    s, notes, en = Source(), {}, {}
    try:
        s = extract()
        problems += s.problems
        notes = load_toml(NOTES)
        problems += check(s, notes)
        en = load_toml(NOTES_EN)
        problems += check(s, en, rel(NOTES_EN))
    except Problem as e:
        problems.append(str(e))
    summary = f"{len(s.scopes)} scopes, {len(s.audit)} audit event kinds"
    rc = finish(SELF, OUT, problems, lambda: render(s, notes), args.check, summary)
    if problems:
        return rc
    rc_en = finish(SELF, EN_OUT, [], lambda: render(s, english(notes, en), en=True), args.check, summary)
    return max(rc, rc_en)


if __name__ == "__main__":
    sys.exit(main())
