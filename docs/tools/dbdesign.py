#!/usr/bin/env python3
"""Generates docs/desain-basis-data.md (the database design, in Bahasa Indonesia) from the
migrations, so the document cannot drift from the schema.

The SQLite migrations (migrations/sqlite/NNNN_*.sql) are applied in version order to an
in-memory database and the result is read back with PRAGMA table_info, foreign_key_list,
index_list and index_info. What each table and column holds, and which columns hold personal
data, comes from the hand-written docs/tools/schema-notes.toml.

    python3 docs/tools/dbdesign.py            # (re)write docs/desain-basis-data.md
    python3 docs/tools/dbdesign.py --check    # exit 1 when notes, dialects or the file drifted

--check fails when a table or column has no note, a note names a table or column that no
longer exists, a personal-data category is unknown, the two migration folders differ in
versions or in table, column or index names, or the committed document differs from what would
be generated. The PostgreSQL folder is read with a parser for the DDL Gerbang's migrations use
(CREATE TABLE, ALTER TABLE ADD/DROP/RENAME, CREATE/DROP INDEX, DROP TABLE); statements it does
not recognise are reported, not skipped. When GERBANG_DOCS_PG_URL is set, the PostgreSQL
migrations are also applied with psql into a scratch schema (dropped afterwards) and the parser's
result is compared with information_schema, so a parser mistake cannot hide a difference.
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQLITE_DIR = ROOT / "migrations" / "sqlite"
PG_DIR = ROOT / "migrations" / "postgres"
NOTES = ROOT / "docs" / "tools" / "schema-notes.toml"
OUT = ROOT / "docs" / "desain-basis-data.md"
SELF = "docs/tools/dbdesign.py"

# sqlx's file naming: <version>_<description>.sql (reversible .up.sql/.down.sql are not used here).
MIGRATION_NAME = re.compile(r"^(\d+)_([A-Za-z0-9_]+)\.sql$")


class Problem(Exception):
    """Something --check (or generation) must refuse, with a message saying what to do."""


# ---------------------------------------------------------------------------------------------
# Migrations


@dataclass
class Migration:
    version: int
    description: str
    path: Path


def migrations(folder: Path) -> list[Migration]:
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_dir() or not p.name.endswith(".sql"):
            continue
        m = MIGRATION_NAME.match(p.name)
        if not m:
            raise Problem(f"{p.relative_to(ROOT)}: not named <version>_<description>.sql as sqlx expects")
        out.append(Migration(int(m.group(1)), m.group(2).replace("_", " "), p))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise Problem(f"{folder.relative_to(ROOT)}: two migrations share a version: {versions}")
    return out


# ---------------------------------------------------------------------------------------------
# SQLite: apply and introspect


@dataclass
class Column:
    name: str
    type: str
    notnull: bool
    default: str | None
    pk: int  # position in the primary key, 0 when not part of it


@dataclass
class ForeignKey:
    columns: list[str]
    table: str
    to: list[str]
    on_delete: str


@dataclass
class Index:
    name: str
    unique: bool
    origin: str  # c: CREATE INDEX, u: UNIQUE constraint, pk: primary key
    columns: list[str]
    where: str | None


@dataclass
class Table:
    name: str
    columns: list[Column]
    fks: list[ForeignKey] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def pk(self) -> list[str]:
        return [c.name for c in sorted((c for c in self.columns if c.pk), key=lambda c: c.pk)]


def apply_sqlite(migs: list[Migration]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    # As sqlx opens SQLite databases: foreign keys enforced.
    db.execute("PRAGMA foreign_keys = ON")
    for m in migs:
        sql = m.path.read_text(encoding="utf-8")
        try:
            db.executescript(sql)
        except sqlite3.Error as e:
            raise Problem(f"{m.path.relative_to(ROOT)} does not apply to SQLite {sqlite3.sqlite_version}: {e}")
    return db


def top_level_split(s: str) -> list[str]:
    """Splits a column/constraint list on commas outside parentheses and quotes."""
    parts, depth, cur, quote = [], 0, [], False
    for ch in s:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def check_clauses(create_sql: str) -> list[str]:
    """CHECK constraints of a CREATE TABLE statement, column-level and table-level."""
    out = []
    for m in re.finditer(r"\bCHECK\s*\(", create_sql, re.I):
        depth, i = 1, m.end()
        while depth and i < len(create_sql):
            depth += {"(": 1, ")": -1}.get(create_sql[i], 0)
            i += 1
        out.append(" ".join(create_sql[m.end() : i - 1].split()))
    return out


def introspect(db: sqlite3.Connection) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    rows = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    for name, create_sql in rows:
        cols = [
            Column(r[1], r[2], bool(r[3]), r[4], r[5])
            for r in db.execute(f"PRAGMA table_info({quote_ident(name)})").fetchall()
        ]
        t = Table(name, cols, checks=check_clauses(strip_comments(create_sql)))
        fks: dict[int, ForeignKey] = {}
        for r in db.execute(f"PRAGMA foreign_key_list({quote_ident(name)})").fetchall():
            fk_id, _seq, ref, frm, to, _upd, on_delete = r[:7]
            fk = fks.setdefault(fk_id, ForeignKey([], ref, [], on_delete))
            fk.columns.append(frm)
            fk.to.append(to or "id")
        t.fks = [fks[k] for k in sorted(fks, key=lambda k: fks[k].columns)]
        for r in db.execute(f"PRAGMA index_list({quote_ident(name)})").fetchall():
            _seq, iname, unique, origin, partial = r[:5]
            icols = [c[2] for c in db.execute(f"PRAGMA index_info({quote_ident(iname)})").fetchall()]
            where = None
            if partial:
                (isql,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (iname,)).fetchone()
                wm = re.search(r"\bWHERE\b(.*)$", isql, re.I | re.S)
                where = " ".join(wm.group(1).split()) if wm else None
            t.indexes.append(Index(iname, bool(unique), origin, icols, where))
        t.indexes.sort(key=lambda i: (i.origin != "pk", i.origin != "u", i.name))
        tables[name] = t
    return tables


def quote_ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------
# PostgreSQL: parse the DDL (and, optionally, apply it)

CONSTRAINT_START = re.compile(r"^(PRIMARY\s+KEY|UNIQUE|CHECK|FOREIGN\s+KEY|CONSTRAINT|EXCLUDE)\b", re.I)
TYPE_END = re.compile(r"\s+(NOT\s+NULL|NULL|DEFAULT|PRIMARY|REFERENCES|UNIQUE|CHECK|CONSTRAINT|GENERATED|COLLATE)\b", re.I)


@dataclass
class PgSchema:
    tables: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> column -> type
    indexes: dict[str, str] = field(default_factory=dict)  # index -> table


def statements(sql: str) -> list[str]:
    """Splits a migration into statements on semicolons outside quotes and parentheses."""
    sql = strip_comments(sql)
    out, cur, depth, quote = [], [], 0, False
    for ch in sql:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == ";" and not quote and depth == 0:
            out.append(" ".join("".join(cur).split()))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append(" ".join("".join(cur).split()))
    return [s for s in out if s]


def column_type(defn: str) -> str:
    rest = defn.split(None, 1)[1] if len(defn.split(None, 1)) > 1 else ""
    m = TYPE_END.search(" " + rest)
    return (" " + rest)[: m.start()].strip().upper() if m else rest.strip().upper()


def parse_pg(migs: list[Migration]) -> PgSchema:
    s = PgSchema()
    ident = r'"?([A-Za-z_][A-Za-z0-9_]*)"?'
    for m in migs:
        where = m.path.relative_to(ROOT)
        for st in statements(m.path.read_text(encoding="utf-8")):
            if mm := re.match(rf"CREATE TABLE (?:IF NOT EXISTS )?{ident} \((.*)\)$", st, re.I | re.S):
                name, body = mm.group(1), mm.group(2)
                if name in s.tables:
                    raise Problem(f"{where}: table {name} created twice")
                cols = {}
                for part in top_level_split(body):
                    if CONSTRAINT_START.match(part):
                        continue
                    cname = part.split()[0].strip('"')
                    cols[cname] = column_type(part)
                s.tables[name] = cols
            elif mm := re.match(rf"ALTER TABLE (?:ONLY )?{ident} (.*)$", st, re.I | re.S):
                name, action = mm.group(1), mm.group(2)
                if name not in s.tables:
                    raise Problem(f"{where}: ALTER TABLE {name}, which does not exist at that point")
                for act in top_level_split(action):
                    if a := re.match(rf"ADD COLUMN (?:IF NOT EXISTS )?{ident}(.*)$", act, re.I | re.S):
                        s.tables[name][a.group(1)] = column_type(a.group(1) + a.group(2))
                    elif a := re.match(rf"DROP COLUMN (?:IF EXISTS )?{ident}", act, re.I):
                        s.tables[name].pop(a.group(1), None)
                    elif a := re.match(rf"RENAME COLUMN {ident} TO {ident}$", act, re.I):
                        s.tables[name][a.group(2)] = s.tables[name].pop(a.group(1))
                    elif a := re.match(rf"RENAME TO {ident}$", act, re.I):
                        s.tables[a.group(1)] = s.tables.pop(name)
                        for i, t in s.indexes.items():
                            if t == name:
                                s.indexes[i] = a.group(1)
                    elif a := re.match(rf"ALTER COLUMN {ident} TYPE (\S+)", act, re.I):
                        s.tables[name][a.group(1)] = a.group(2).upper()
                    elif re.match(r"(ADD CONSTRAINT|DROP CONSTRAINT|ALTER COLUMN \S+ (SET|DROP) )", act, re.I):
                        pass  # constraints and nullability: names are what is compared
                    else:
                        raise Problem(f"{where}: ALTER TABLE action not understood: {act!r}")
            elif mm := re.match(rf"CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?{ident} ON (?:ONLY )?{ident}", st, re.I):
                s.indexes[mm.group(1)] = mm.group(2)
            elif mm := re.match(rf"DROP INDEX (?:IF EXISTS )?{ident}", st, re.I):
                s.indexes.pop(mm.group(1), None)
            elif mm := re.match(rf"DROP TABLE (?:IF EXISTS )?{ident}", st, re.I):
                s.tables.pop(mm.group(1), None)
                s.indexes = {i: t for i, t in s.indexes.items() if t != mm.group(1)}
            elif re.match(r"(INSERT|UPDATE|DELETE|SELECT)\b", st, re.I):
                pass  # data, not schema
            else:
                raise Problem(f"{where}: statement not understood by the PostgreSQL DDL parser: {st[:80]!r}")
    return s


def pg_from_database(url: str, migs: list[Migration]) -> PgSchema:
    """Applies the PostgreSQL migrations with psql into a scratch schema and reads the catalogue."""
    schema = f"gerbang_docs_{os.getpid()}"
    script = [f"CREATE SCHEMA {schema};", f"SET search_path TO {schema};"]
    for m in migs:
        script.append(m.path.read_text(encoding="utf-8"))
        script.append(";")
    query = (
        "SELECT 'c', table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "UNION ALL SELECT 'i', tablename, indexname FROM pg_indexes WHERE schemaname = current_schema();"
    )
    script.append("\\pset format unaligned\n\\pset tuples_only on\n\\pset fieldsep '|'\n" + query)
    try:
        r = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url],
            input="\n".join(script),
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        subprocess.run(["psql", "-X", "-q", url, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE"], capture_output=True)
    if r.returncode != 0:
        raise Problem(f"applying migrations/postgres with psql failed: {r.stderr.strip()}")
    s = PgSchema()
    for line in r.stdout.splitlines():
        parts = line.split("|")
        if len(parts) != 3:
            continue
        kind, table, name = parts
        if kind == "c":
            s.tables.setdefault(table, {})[name] = ""
        else:
            s.indexes[name] = table
    s.tables.pop("_sqlx_migrations", None)
    return s


def pg_index_names(s: PgSchema) -> set[str]:
    # PostgreSQL also lists the indexes behind PRIMARY KEY and UNIQUE constraints (*_pkey, *_key).
    return {i for i in s.indexes if not re.search(r"_(pkey|key)$", i)}


def compare_dialects(lite: dict[str, Table], pg: PgSchema, label: str) -> list[str]:
    problems = []
    lt, pt = set(lite), set(pg.tables)
    for t in sorted(lt - pt):
        problems.append(f"table {t} exists in migrations/sqlite but not in migrations/postgres ({label})")
    for t in sorted(pt - lt):
        problems.append(f"table {t} exists in migrations/postgres ({label}) but not in migrations/sqlite")
    for t in sorted(lt & pt):
        lc, pc = {c.name for c in lite[t].columns}, set(pg.tables[t])
        for c in sorted(lc - pc):
            problems.append(f"column {t}.{c} exists in migrations/sqlite but not in migrations/postgres ({label})")
        for c in sorted(pc - lc):
            problems.append(f"column {t}.{c} exists in migrations/postgres ({label}) but not in migrations/sqlite")
    li = {i.name for t in lite.values() for i in t.indexes if i.origin == "c"}
    pi = pg_index_names(pg)
    for i in sorted(li - pi):
        problems.append(f"index {i} exists in migrations/sqlite but not in migrations/postgres ({label})")
    for i in sorted(pi - li):
        problems.append(f"index {i} exists in migrations/postgres ({label}) but not in migrations/sqlite")
    return problems


# ---------------------------------------------------------------------------------------------
# Notes


def load_notes() -> dict:
    try:
        with NOTES.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise Problem(f"{NOTES.relative_to(ROOT)}: {e}")


def column_note(notes: dict, table: str, column: str) -> tuple[str, str | None]:
    """(description, personal-data category or None)."""
    v = notes["tables"][table]["columns"][column]
    if isinstance(v, str):
        return v, None
    return v["description"], v.get("personal")


def check_notes(notes: dict, tables: dict[str, Table]) -> list[str]:
    problems = []
    nt = notes.get("tables", {})
    cats = notes.get("categories", {})
    rel = NOTES.relative_to(ROOT)
    for t in sorted(tables):
        if t not in nt:
            problems.append(f"table {t} has no note: add [tables.{t}] to {rel}")
            continue
        if not str(nt[t].get("description", "")).strip():
            problems.append(f"table {t} has no description in {rel}")
        ncols = nt[t].get("columns", {})
        for c in tables[t].columns:
            if c.name not in ncols:
                problems.append(f"column {t}.{c.name} has no note: add it under [tables.{t}.columns] in {rel}")
                continue
            v = ncols[c.name]
            if isinstance(v, dict):
                unknown = set(v) - {"description", "personal"}
                if unknown or not str(v.get("description", "")).strip():
                    problems.append(f"note of {t}.{c.name}: needs `description` (and optionally `personal`), got {sorted(v)}")
                elif v.get("personal") is not None and v["personal"] not in cats:
                    problems.append(f"note of {t}.{c.name}: personal-data category {v['personal']!r} is not in [categories]")
            elif not isinstance(v, str) or not v.strip():
                problems.append(f"note of {t}.{c.name} is empty")
        for c in sorted(set(ncols) - {c.name for c in tables[t].columns}):
            problems.append(f"{rel} describes column {t}.{c}, which the migrations do not create (renamed or dropped?)")
    for t in sorted(set(nt) - set(tables)):
        problems.append(f"{rel} describes table {t}, which the migrations do not create (renamed or dropped?)")
    for k, v in cats.items():
        if not isinstance(v, dict) or not {"label", "pdp", "description"} <= set(v):
            problems.append(f"category {k} in {rel} needs label, pdp and description")
    return problems


# ---------------------------------------------------------------------------------------------
# Markdown


def md(s: str) -> str:
    """A note's text inside a table cell: one line, pipes escaped."""
    return " ".join(str(s).split()).replace("|", "\\|")


def para(s: str) -> str:
    return str(s).strip()


def yes_no(b: bool) -> str:
    return "ya" if b else "tidak"


def render(tables: dict[str, Table], pg: PgSchema, lite_migs: list[Migration], notes: dict) -> str:
    version = max(m.version for m in lite_migs)
    cats = notes["categories"]
    nt = notes["tables"]
    order = [t for t in notes.get("order", []) if t in tables] + sorted(t for t in tables if t not in notes.get("order", []))
    L: list[str] = []
    w = L.append
    w("# Desain Basis Data Gerbang")
    w("")
    w(
        f"<!-- Dihasilkan oleh `{SELF}` dari `migrations/sqlite/*.sql` dan `docs/tools/schema-notes.toml`. "
        "Jangan disunting langsung: ubah catatan atau migrasi, lalu jalankan skripnya. -->"
    )
    w("")
    w(
        f"Dokumen ini dihasilkan oleh skrip `{SELF}` dari berkas migrasi skema di repositori dan "
        "catatan `docs/tools/schema-notes.toml`. Pemeriksaan `python3 docs/tools/dbdesign.py --check` "
        "gagal bila ada tabel atau kolom tanpa keterangan, keterangan untuk kolom yang sudah tidak ada, "
        "perbedaan nama tabel, kolom, atau indeks antara dialek SQLite dan PostgreSQL, atau bila isi "
        "dokumen ini berbeda dari hasil skrip. Dengan demikian dokumen ini selalu sesuai dengan skema "
        "yang dibawa program."
    )
    w("")
    w("## 1. Ringkasan")
    w("")
    w(para(notes["overview"]))
    w("")
    w(f"- **Versi skema**: {version} (migrasi tertinggi, `{lite_migs[-1].path.name}`).")
    w(f"- **Jumlah tabel**: {len(tables)}; **jumlah kolom**: {sum(len(t.columns) for t in tables.values())}.")
    npd = sum(1 for t in tables for c in tables[t].columns if column_note(notes, t, c.name)[1])
    w(f"- **Kolom yang memuat data pribadi**: {npd} (lihat bagian 6).")
    w("")
    w("## 2. Dua dialek, satu skema")
    w("")
    w(para(notes["dialects"]))
    w("")
    w("Riwayat migrasi (sama untuk kedua folder):")
    w("")
    w("| Versi | Berkas | Isi |")
    w("|---:|---|---|")
    for m in lite_migs:
        w(f"| {m.version} | `{m.path.name}` | {md(notes.get('migrations', {}).get(m.path.name, m.description))} |")
    w("")
    diffs = []
    for t in order:
        for c in tables[t].columns:
            pt = pg.tables.get(t, {}).get(c.name, "")
            if pt and pt != c.type.upper():
                diffs.append((t, c.name, c.type.upper(), pt))
    w("Kolom yang tipe datanya ditulis berbeda pada kedua dialek (nilai yang disimpan sama):")
    w("")
    w("| Tabel | Kolom | SQLite | PostgreSQL |")
    w("|---|---|---|---|")
    for t, c, a, b in diffs:
        w(f"| `{t}` | `{c}` | {a} | {b} |")
    w("")
    w("## 3. Konvensi")
    w("")
    w(para(notes["conventions"]))
    w("")
    w("## 4. Relasi antartabel")
    w("")
    w("Setiap kunci asing (*foreign key*) dalam skema. Kolom yang merujuk akun tanpa kunci asing disebut pada keterangan kolomnya.")
    w("")
    w("| Dari | Ke | Saat baris rujukan dihapus |")
    w("|---|---|---|")
    for t in order:
        for fk in tables[t].fks:
            w(
                f"| `{t}.{', '.join(fk.columns)}` | `{fk.table}.{', '.join(fk.to)}` | "
                f"{ON_DELETE.get(fk.on_delete, fk.on_delete)} |"
            )
    w("")
    w("## 5. Tabel")
    w("")
    for n, t in enumerate(order, 1):
        w(f"- 5.{n} [`{t}`](#5{n}-{t})")
    w("")
    for n, tname in enumerate(order, 1):
        t = tables[tname]
        w(f"### 5.{n} `{tname}`")
        w("")
        w(para(nt[tname]["description"]))
        w("")
        w("| Kolom | Tipe | Null | Bawaan | Kunci | Data pribadi | Keterangan |")
        w("|---|---|---|---|---|---|---|")
        fk_of = {c: fk for fk in t.fks for c in fk.columns}
        uniq_single = {i.columns[0] for i in t.indexes if i.unique and len(i.columns) == 1 and not i.where and i.origin != "pk"}
        for c in t.columns:
            desc, cat = column_note(notes, tname, c.name)
            keys = []
            if c.pk:
                keys.append("PK")
            if c.name in fk_of:
                fk = fk_of[c.name]
                keys.append(f"FK → `{fk.table}.{fk.to[fk.columns.index(c.name)]}`")
            if c.name in uniq_single:
                keys.append("UNIQUE")
            pgt = pg.tables.get(tname, {}).get(c.name, "")
            ty = c.type.upper() if not pgt or pgt == c.type.upper() else f"{c.type.upper()} (PG: {pgt})"
            nullable = "tidak" if (c.notnull or c.pk) else "ya"
            default = f"`{c.default}`" if c.default is not None else ""
            w(
                f"| `{c.name}` | {ty} | {nullable} | {md(default)} | {', '.join(keys)} | "
                f"{md(cats[cat]['label']) if cat else ''} | {md(desc)} |"
            )
        w("")
        w(f"- **Kunci primer**: {', '.join(f'`{c}`' for c in t.pk) or '—'}")
        if t.fks:
            fks = "; ".join(
                f"`{', '.join(fk.columns)}` → `{fk.table} ({', '.join(fk.to)})`, {ON_DELETE.get(fk.on_delete, fk.on_delete)}"
                for fk in t.fks
            )
            w(f"- **Kunci asing**: {fks}")
        else:
            w("- **Kunci asing**: —")
        others = [i for i in t.indexes if i.origin != "pk"]
        if others:
            w("- **Keunikan dan indeks**:")
            for i in others:
                what = "batasan UNIQUE" if i.origin == "u" else ("indeks unik" if i.unique else "indeks")
                name = f"`{i.name}`" if i.origin == "c" else "(indeks dibuat otomatis)"
                cond = f", hanya baris dengan `{i.where}`" if i.where else ""
                w(f"  - {what} {name} pada ({', '.join(f'`{c}`' for c in i.columns)}){cond}")
        else:
            w("- **Keunikan dan indeks**: —")
        if t.checks:
            w("- **Batasan CHECK**: " + "; ".join(f"`{md(c)}`" for c in t.checks))
        w("")
    w("## 6. Kolom yang memuat data pribadi")
    w("")
    w(para(notes["personal_data"]))
    w("")
    w("Kategori yang dipakai:")
    w("")
    w("| Kategori | Jenis menurut UU 27/2022 Pasal 4 | Penjelasan |")
    w("|---|---|---|")
    for k, v in cats.items():
        w(f"| {md(v['label'])} | {md(v['pdp'])} | {md(v['description'])} |")
    w("")
    w("Daftar kolom (urut menurut kategori, lalu tabel):")
    w("")
    w("| Tabel | Kolom | Kategori | Keterangan |")
    w("|---|---|---|---|")
    cat_order = list(cats)
    rows = []
    for t in order:
        for pos, c in enumerate(tables[t].columns):
            desc, cat = column_note(notes, t, c.name)
            if cat:
                rows.append((cat_order.index(cat), order.index(t), pos, t, c.name, cat, desc))
    for _, _, _, t, c, cat, desc in sorted(rows):
        w(f"| `{t}` | `{c}` | {md(cats[cat]['label'])} | {md(desc)} |")
    w("")
    return "\n".join(L)


ON_DELETE = {
    "CASCADE": "ikut terhapus (CASCADE)",
    "NO ACTION": "ditolak selama masih dirujuk (NO ACTION)",
    "RESTRICT": "ditolak (RESTRICT)",
    "SET NULL": "diisi NULL (SET NULL)",
}


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on any difference")
    args = ap.parse_args()
    problems: list[str] = []
    try:
        lite_migs, pg_migs = migrations(SQLITE_DIR), migrations(PG_DIR)
        lv, pv = [m.version for m in lite_migs], [m.version for m in pg_migs]
        if lv != pv:
            problems.append(
                f"migration versions differ: only in sqlite {sorted(set(lv) - set(pv))}, only in postgres {sorted(set(pv) - set(lv))}"
            )
        for a, b in zip(lite_migs, pg_migs):
            if a.version == b.version and a.path.name != b.path.name:
                problems.append(f"migration {a.version} is named {a.path.name} for SQLite but {b.path.name} for PostgreSQL")
        tables = introspect(apply_sqlite(lite_migs))
        pg = parse_pg(pg_migs)
        problems += compare_dialects(tables, pg, "parsed")
        url = os.environ.get("GERBANG_DOCS_PG_URL")
        if url:
            applied = pg_from_database(url, pg_migs)
            problems += compare_dialects(tables, applied, "applied with psql")
        notes = load_notes()
        for key in ("overview", "dialects", "conventions", "personal_data"):
            if not str(notes.get(key, "")).strip():
                problems.append(f"{NOTES.relative_to(ROOT)}: `{key}` (a section's text) is missing")
        problems += check_notes(notes, tables)
    except Problem as e:
        problems.append(str(e))
    if problems:
        print(f"{SELF}: the database design cannot be generated:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    text = render(tables, pg, lite_migs, notes)
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), "committed", "generated", lineterm="", n=1
            )
            print(
                f"{SELF}: {OUT.relative_to(ROOT)} is out of date; run `python3 {SELF}` and commit it. Difference:",
                file=sys.stderr,
            )
            for i, line in enumerate(diff):
                if i >= 40:
                    print("  ...", file=sys.stderr)
                    break
                print("  " + line, file=sys.stderr)
            return 1
        print(f"{SELF}: {OUT.relative_to(ROOT)} is up to date ({len(tables)} tables, schema version {max(lv)})")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(tables)} tables, schema version {max(lv)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
