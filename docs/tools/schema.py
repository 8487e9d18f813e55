"""Gerbang's schema as the migrations build it, for the documentation scripts.

The SQLite migrations are applied to an in-memory database and read back (PRAGMA table_info,
foreign_key_list, index_list, index_info). The PostgreSQL migrations are read with a parser for
the DDL Gerbang's migrations use, or applied with psql into a scratch schema and read from the
catalogue; `compare_dialects` says where the two folders differ in table, column or index names.
Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from doctools import ROOT, Problem

SQLITE_DIR = ROOT / "migrations" / "sqlite"
PG_DIR = ROOT / "migrations" / "postgres"

# sqlx's file naming: <version>_<description>.sql (reversible .up.sql/.down.sql are not used here).
MIGRATION_NAME = re.compile(r"^(\d+)_([A-Za-z0-9_]+)\.sql$")


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


def split_outside(s: str, sep: str) -> list[str]:
    """Splits `s` on `sep` where it stands outside parentheses and quotes; the parts as written."""
    parts, depth, cur, quote = [], 0, [], False
    for ch in s:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quote:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def top_level_split(s: str) -> list[str]:
    """Splits a column/constraint list on commas outside parentheses and quotes."""
    return [p.strip() for p in split_outside(s, ",") if p.strip()]


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
    # Statements the parser could not follow: reported by --check, never skipped silently.
    problems: list[str] = field(default_factory=list)


def statements(sql: str) -> list[str]:
    """Splits a migration into statements on semicolons outside quotes and parentheses."""
    parts = (" ".join(p.split()) for p in split_outside(strip_comments(sql), ";"))
    return [p for p in parts if p]


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
                    s.problems.append(f"{where}: table {name} created twice")
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
                    s.problems.append(f"{where}: ALTER TABLE {name}, which does not exist at that point")
                    continue
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
                        s.problems.append(f"{where}: ALTER TABLE action not understood by the DDL parser: {act!r}")
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
                s.problems.append(f"{where}: statement not understood by the PostgreSQL DDL parser: {st[:80]!r}")
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
        # Indexes made by CREATE INDEX only: those behind PRIMARY KEY and UNIQUE constraints
        # have no counterpart among SQLite's named indexes.
        "UNION ALL SELECT 'i', i.tablename, i.indexname FROM pg_indexes i WHERE i.schemaname = current_schema() "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname "
        "AND c.connamespace = current_schema()::regnamespace);"
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


def compare_dialects(lite: dict[str, Table], pg: PgSchema, label: str) -> list[str]:
    problems = list(pg.problems)
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
    pi = set(pg.indexes)
    for i in sorted(li - pi):
        problems.append(f"index {i} exists in migrations/sqlite but not in migrations/postgres ({label})")
    for i in sorted(pi - li):
        problems.append(f"index {i} exists in migrations/postgres ({label}) but not in migrations/sqlite")
    return problems

