#!/usr/bin/env python3
"""Generates docs/desain-basis-data.md (the database design, in Bahasa Indonesia) from the
migrations, so the document cannot drift from the schema.

The SQLite migrations (migrations/sqlite/NNNN_*.sql) are applied in version order to an
in-memory database and the result is read back with PRAGMA table_info, foreign_key_list,
index_list and index_info. What each table and column holds, and which columns hold personal
data, comes from the hand-written docs/tools/schema-notes.toml; the document's other prose
(overview, conventions, personal-data categories, a summary of each migration) from
docs/tools/schema-intro.toml.

The English counterpart docs/database-design.md is generated from the same schema with the
English texts of docs/tools/schema-notes-en.toml and docs/tools/schema-intro-en.toml (the same
keys, plain strings; the personal-data category of a column is only in schema-notes.toml).
--check fails as well when any English text is missing or describes something that is gone.

    python3 docs/tools/dbdesign.py            # (re)write docs/desain-basis-data.md and docs/database-design.md
    python3 docs/tools/dbdesign.py --check    # exit 1 when notes, dialects or the file drifted

--check fails when a table or column has no note, a note names a table or column that no
longer exists, a personal-data category is unknown, a migration has no summary, the two migration folders differ in
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
import os
import sys
from pathlib import Path

# The helper modules beside this script; no __pycache__ left in the tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

from doctools import ROOT, Problem, finish, load_toml, md, para, rel  # noqa: E402
from schema import (  # noqa: E402
    PG_DIR,
    SQLITE_DIR,
    Migration,
    PgSchema,
    Table,
    apply_sqlite,
    compare_dialects,
    introspect,
    migrations,
    parse_pg,
    pg_from_database,
)

NOTES = ROOT / "docs" / "tools" / "schema-notes.toml"
INTRO = ROOT / "docs" / "tools" / "schema-intro.toml"
OUT = ROOT / "docs" / "desain-basis-data.md"
# The English counterpart: the same document from parallel notes holding only the English texts.
NOTES_EN = ROOT / "docs" / "tools" / "schema-notes-en.toml"
INTRO_EN = ROOT / "docs" / "tools" / "schema-intro-en.toml"
EN_OUT = ROOT / "docs" / "database-design.md"
SELF = "docs/tools/dbdesign.py"


# ---------------------------------------------------------------------------------------------
# Notes




def column_note(notes: dict, table: str, column: str) -> tuple[str, str | None]:
    """(description, personal-data category or None)."""
    v = notes["tables"][table]["columns"][column]
    if isinstance(v, str):
        return v, None
    return v["description"], v.get("personal")


def check_intro(notes: dict, tables: dict[str, Table], migs: list[Migration]) -> list[str]:
    problems = []
    where = rel(INTRO)
    for t in notes.get("order", []):
        if t not in tables:
            problems.append(f"{where}: `order` names table {t}, which the migrations do not create")
    summaries = notes.get("migrations", {})
    names = {m.path.name for m in migs}
    for m in migs:
        if not str(summaries.get(m.path.name, "")).strip():
            problems.append(f"migration {m.path.name} has no summary: add it under [migrations] in {where}")
    for n in sorted(set(summaries) - names):
        problems.append(f"{where}: [migrations] describes {n}, which is not in migrations/sqlite")
    return problems


def check_notes(notes: dict, tables: dict[str, Table]) -> list[str]:
    problems = []
    nt = notes.get("tables", {})
    cats = notes.get("categories", {})
    where = rel(NOTES)
    for t in sorted(tables):
        if t not in nt:
            problems.append(f"table {t} has no note: add [tables.{t}] to {where}")
            continue
        if not str(nt[t].get("description", "")).strip():
            problems.append(f"table {t} has no description in {where}")
        ncols = nt[t].get("columns", {})
        for c in tables[t].columns:
            if c.name not in ncols:
                problems.append(f"column {t}.{c.name} has no note: add it under [tables.{t}.columns] in {where}")
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
            problems.append(f"{where} describes column {t}.{c}, which the migrations do not create (renamed or dropped?)")
    for t in sorted(set(nt) - set(tables)):
        problems.append(f"{where} describes table {t}, which the migrations do not create (renamed or dropped?)")
    for k, v in cats.items():
        if not isinstance(v, dict) or not {"label", "pdp", "description"} <= set(v):
            problems.append(f"category {k} in {rel(INTRO)} needs label, pdp and description")
    return problems


def check_english(notes: dict, en: dict, tables: dict[str, Table], migs: list[Migration]) -> list[str]:
    """Every text the Indonesian notes give needs its English counterpart, and nothing more."""
    problems = []
    wn, wi = rel(NOTES_EN), rel(INTRO_EN)
    for key in ("overview", "dialects", "conventions", "personal_data"):
        if not str(en.get(key, "")).strip():
            problems.append(f"{wi}: `{key}` (English) is missing")
    ecats = en.get("categories", {})
    for k in notes.get("categories", {}):
        v = ecats.get(k)
        if not isinstance(v, dict) or not all(str(v.get(f, "")).strip() for f in ("label", "pdp", "description")):
            problems.append(f"category {k} has no English label, pdp and description under [categories.{k}] in {wi}")
    for k in sorted(set(ecats) - set(notes.get("categories", {}))):
        problems.append(f"{wi}: [categories.{k}] is not a category of {rel(INTRO)}")
    summaries = en.get("migrations", {})
    names = {m.path.name for m in migs}
    for m in migs:
        if not str(summaries.get(m.path.name, "")).strip():
            problems.append(f"migration {m.path.name} has no English summary: add it under [migrations] in {wi}")
    for n in sorted(set(summaries) - names):
        problems.append(f"{wi}: [migrations] describes {n}, which is not in migrations/sqlite")
    et = en.get("tables", {})
    for t in sorted(tables):
        if not str(et.get(t, {}).get("description", "")).strip():
            problems.append(f"table {t} has no English description: add [tables.{t}] to {wn}")
        ecols = et.get(t, {}).get("columns", {})
        for c in tables[t].columns:
            v = ecols.get(c.name)
            if not isinstance(v, str) or not v.strip():
                problems.append(f"column {t}.{c.name} has no English note: add it under [tables.{t}.columns] in {wn}")
        for c in sorted(set(ecols) - {c.name for c in tables[t].columns}):
            problems.append(f"{wn} describes column {t}.{c}, which the migrations do not create (renamed or dropped?)")
    for t in sorted(set(et) - set(tables)):
        problems.append(f"{wn} describes table {t}, which the migrations do not create (renamed or dropped?)")
    return problems


def english(notes: dict, en: dict) -> dict:
    """The Indonesian notes with every text replaced by its English counterpart; the table order
    and each column's personal-data category stay those of the Indonesian notes."""
    out = dict(notes)
    for key in ("overview", "dialects", "conventions", "personal_data", "migrations"):
        out[key] = en[key]
    out["categories"] = {k: en["categories"][k] for k in notes["categories"]}
    out["tables"] = {}
    for t, v in notes["tables"].items():
        cols = {}
        for c, cv in v["columns"].items():
            cols[c] = {"description": en["tables"][t]["columns"][c], "personal": cv.get("personal") if isinstance(cv, dict) else None}
        out["tables"][t] = {"description": en["tables"][t]["description"], "columns": cols}
    return out


# ---------------------------------------------------------------------------------------------
# Markdown








def render(tables: dict[str, Table], pg: PgSchema, lite_migs: list[Migration], notes: dict, en: bool = False) -> str:
    """The document in Bahasa Indonesia, or with `en` in English (notes merged by `english`)."""

    def T(id_text: str, en_text: str) -> str:
        return en_text if en else id_text

    version = max(m.version for m in lite_migs)
    cats = notes["categories"]
    nt = notes["tables"]
    on_delete = ON_DELETE_EN if en else ON_DELETE
    order = [t for t in notes.get("order", []) if t in tables] + sorted(t for t in tables if t not in notes.get("order", []))
    L: list[str] = []
    w = L.append
    w(T("# Desain Basis Data Gerbang", "# Gerbang Database Design"))
    w("")
    w(T(f"*English version: [{EN_OUT.name}]({EN_OUT.name})*", f"*Versi Bahasa Indonesia: [{OUT.name}]({OUT.name})*"))
    w("")
    w(
        T(
            f"<!-- Dihasilkan oleh `{SELF}` dari `migrations/sqlite/*.sql` dan catatan di `docs/tools/`. "
            "Jangan disunting langsung: ubah catatan atau migrasi, lalu jalankan skripnya. -->",
            f"<!-- Generated by `{SELF}` from `migrations/sqlite/*.sql` and the notes in `docs/tools/`. "
            "Do not edit by hand: change the notes or the migrations, then run the script. -->",
        )
    )
    w("")
    w(
        T(
            f"Dokumen ini dihasilkan oleh skrip `{SELF}` dari berkas migrasi skema di repositori dan "
            "catatan `docs/tools/schema-notes.toml` dan `docs/tools/schema-intro.toml`. Pemeriksaan `python3 docs/tools/dbdesign.py --check` "
            "gagal bila ada tabel atau kolom tanpa keterangan, keterangan untuk kolom yang sudah tidak ada, "
            "perbedaan nama tabel, kolom, atau indeks antara dialek SQLite dan PostgreSQL, atau bila isi "
            "dokumen ini berbeda dari hasil skrip. Dengan demikian dokumen ini selalu sesuai dengan skema "
            "yang dibawa program.",
            f"This document is generated by the script `{SELF}` from the schema migration files in the repository and "
            "the notes `docs/tools/schema-notes.toml` and `docs/tools/schema-intro.toml` (English texts: "
            "`docs/tools/schema-notes-en.toml` and `docs/tools/schema-intro-en.toml`). The check `python3 docs/tools/dbdesign.py --check` "
            "fails when a table or column has no description (in either language), a description names a column that no longer exists, "
            "table, column, or index names differ between the SQLite and PostgreSQL dialects, or the content "
            "of this document differs from the script's output. This document therefore always matches the schema "
            "the program ships.",
        )
    )
    w("")
    w(T("## 1. Ringkasan", "## 1. Overview"))
    w("")
    w(para(notes["overview"]))
    w("")
    w(T(f"- **Versi skema**: {version} (migrasi tertinggi, `{lite_migs[-1].path.name}`).", f"- **Schema version**: {version} (highest migration, `{lite_migs[-1].path.name}`)."))
    ncols = sum(len(t.columns) for t in tables.values())
    w(T(f"- **Jumlah tabel**: {len(tables)}; **jumlah kolom**: {ncols}.", f"- **Tables**: {len(tables)}; **columns**: {ncols}."))
    npd = sum(1 for t in tables for c in tables[t].columns if column_note(notes, t, c.name)[1])
    w(T(f"- **Kolom yang memuat data pribadi**: {npd} (lihat bagian 6).", f"- **Columns holding personal data**: {npd} (see section 6)."))
    w("")
    w(T("## 2. Dua dialek, satu skema", "## 2. Two dialects, one schema"))
    w("")
    w(para(notes["dialects"]))
    w("")
    w(T("Riwayat migrasi (sama untuk kedua folder):", "Migration history (the same for both folders):"))
    w("")
    w(T("| Versi | Berkas | Isi |", "| Version | File | Contents |"))
    w("|---:|---|---|")
    for m in lite_migs:
        w(f"| {m.version} | `{m.path.name}` | {md(notes['migrations'][m.path.name])} |")
    w("")
    diffs = []
    for t in order:
        for c in tables[t].columns:
            pt = pg.tables.get(t, {}).get(c.name, "")
            if pt and pt != c.type.upper():
                diffs.append((t, c.name, c.type.upper(), pt))
    w(T("Kolom yang tipe datanya ditulis berbeda pada kedua dialek (nilai yang disimpan sama):", "Columns whose data type is written differently in the two dialects (the stored values are the same):"))
    w("")
    w(T("| Tabel | Kolom | SQLite | PostgreSQL |", "| Table | Column | SQLite | PostgreSQL |"))
    w("|---|---|---|---|")
    for t, c, a, b in diffs:
        w(f"| `{t}` | `{c}` | {a} | {b} |")
    w("")
    w(T("## 3. Konvensi", "## 3. Conventions"))
    w("")
    w(para(notes["conventions"]))
    w("")
    w(T("## 4. Relasi antartabel", "## 4. Relations between tables"))
    w("")
    w(
        T(
            "Setiap kunci asing (*foreign key*) dalam skema, sebagai diagram (tabel yang dirujuk di kiri; "
            "`|o` berarti rujukan boleh kosong; `o|` di kanan berarti paling banyak satu baris per baris rujukan) dan sebagai tabel. Kolom yang merujuk akun atau aplikasi tanpa "
            "kunci asing disebut pada keterangan kolomnya.",
            "Every foreign key in the schema, as a diagram (the referenced table on the left; "
            "`|o` means the reference may be empty; `o|` on the right means at most one row per referenced row) and as a table. Columns that refer to an account or application without "
            "a foreign key say so in their description.",
        )
    )
    w("")
    w("```mermaid")
    w("erDiagram")
    for t in order:
        for fk in tables[t].fks:
            cols = {c.name: c for c in tables[t].columns}
            optional = any(not cols[c].notnull and not cols[c].pk for c in fk.columns)
            unique = fk.columns == tables[t].pk or any(
                i.unique and not i.where and sorted(i.columns) == sorted(fk.columns) for i in tables[t].indexes
            )
            w(f'    {fk.table} {"|o" if optional else "||"}--{"o|" if unique else "o{"} {t} : "{", ".join(fk.columns)}"')
    w("```")
    w("")
    w(T("| Dari | Ke | Saat baris rujukan dihapus |", "| From | To | When the referenced row is deleted |"))
    w("|---|---|---|")
    for t in order:
        for fk in tables[t].fks:
            w(
                f"| `{t}.{', '.join(fk.columns)}` | `{fk.table}.{', '.join(fk.to)}` | "
                f"{on_delete.get(fk.on_delete, fk.on_delete)} |"
            )
    w("")
    w(T("## 5. Tabel", "## 5. Tables"))
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
        w(T("| Kolom | Tipe | Boleh NULL | Bawaan | Kunci | Data pribadi | Keterangan |", "| Column | Type | Nullable | Default | Key | Personal data | Description |"))
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
            nullable = T("tidak", "no") if (c.notnull or c.pk) else T("ya", "yes")
            default = f"`{c.default}`" if c.default is not None else ""
            w(
                f"| `{c.name}` | {ty} | {nullable} | {md(default)} | {', '.join(keys)} | "
                f"{md(cats[cat]['label']) if cat else ''} | {md(desc)} |"
            )
        w("")
        w(T("- **Kunci primer**: ", "- **Primary key**: ") + (', '.join(f'`{c}`' for c in t.pk) or '—'))
        if t.fks:
            fks = "; ".join(
                f"`{', '.join(fk.columns)}` → `{fk.table} ({', '.join(fk.to)})`, {on_delete.get(fk.on_delete, fk.on_delete)}"
                for fk in t.fks
            )
            w(T("- **Kunci asing**: ", "- **Foreign keys**: ") + fks)
        else:
            w(T("- **Kunci asing**: —", "- **Foreign keys**: —"))
        others = [i for i in t.indexes if i.origin != "pk"]
        if others:
            w(T("- **Keunikan dan indeks**:", "- **Uniqueness and indexes**:"))
            for i in others:
                what = T("batasan UNIQUE", "UNIQUE constraint") if i.origin == "u" else (T("indeks unik", "unique index") if i.unique else T("indeks", "index"))
                name = f"`{i.name}`" if i.origin == "c" else T("(indeks dibuat otomatis)", "(automatically created index)")
                cond = T(", hanya baris dengan ", ", only rows with ") + f"`{i.where}`" if i.where else ""
                w(f"  - {what} {name} {T('pada', 'on')} ({', '.join(f'`{c}`' for c in i.columns)}){cond}")
        else:
            w(T("- **Keunikan dan indeks**: —", "- **Uniqueness and indexes**: —"))
        if t.checks:
            w(T("- **Batasan CHECK**: ", "- **CHECK constraints**: ") + "; ".join(f"`{md(c)}`" for c in t.checks))
        w("")
    w(T("## 6. Kolom yang memuat data pribadi", "## 6. Columns holding personal data"))
    w("")
    w(para(notes["personal_data"]))
    w("")
    w(T("Kategori yang dipakai:", "Categories used:"))
    w("")
    w(T("| Kategori | Jenis menurut UU 27/2022 Pasal 4 | Penjelasan |", "| Category | Type under Law 27/2022 (UU PDP) Article 4 | Explanation |"))
    w("|---|---|---|")
    for k, v in cats.items():
        w(f"| {md(v['label'])} | {md(v['pdp'])} | {md(v['description'])} |")
    w("")
    w(T("Daftar kolom (urut menurut kategori, lalu tabel):", "Columns (ordered by category, then table):"))
    w("")
    w(T("| Tabel | Kolom | Kategori | Keterangan |", "| Table | Column | Category | Description |"))
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
ON_DELETE_EN = {
    "CASCADE": "deleted too (CASCADE)",
    "NO ACTION": "refused while still referenced (NO ACTION)",
    "RESTRICT": "refused (RESTRICT)",
    "SET NULL": "set to NULL (SET NULL)",
}


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on any difference")
    args = ap.parse_args()
    problems: list[str] = []
    tables: dict[str, Table] = {}
    pg = PgSchema()
    lite_migs: list[Migration] = []
    notes: dict = {}
    en: dict = {}
    try:
        lite_migs, pg_migs = migrations(SQLITE_DIR), migrations(PG_DIR)
        lv, pv = [m.version for m in lite_migs], [m.version for m in pg_migs]
        if lv != pv:
            problems.append(
                f"migration versions differ: only in sqlite {sorted(set(lv) - set(pv))}, "
                f"only in postgres {sorted(set(pv) - set(lv))}"
            )
        for a, b in zip(lite_migs, pg_migs):
            if a.version == b.version and a.path.name != b.path.name:
                problems.append(f"migration {a.version} is named {a.path.name} for SQLite but {b.path.name} for PostgreSQL")
        tables = introspect(apply_sqlite(lite_migs))
        pg = parse_pg(pg_migs)
        problems += compare_dialects(tables, pg, "parsed")
        url = os.environ.get("GERBANG_DOCS_PG_URL")
        if url:
            problems += compare_dialects(tables, pg_from_database(url, pg_migs), "applied with psql")
        notes = load_toml(INTRO) | load_toml(NOTES)
        for key in ("overview", "dialects", "conventions", "personal_data", "categories"):
            if not notes.get(key):
                problems.append(f"{rel(INTRO)}: `{key}` is missing")
        problems += check_notes(notes, tables)
        problems += check_intro(notes, tables, lite_migs)
        en = load_toml(INTRO_EN) | load_toml(NOTES_EN)
        problems += check_english(notes, en, tables, lite_migs)
    except Problem as e:
        problems.append(str(e))
    version = max((m.version for m in lite_migs), default=0)
    summary = f"{len(tables)} tables, schema version {version}"
    rc = finish(SELF, OUT, problems, lambda: render(tables, pg, lite_migs, notes), args.check, summary)
    if problems:
        return rc
    rc_en = finish(SELF, EN_OUT, [], lambda: render(tables, pg, lite_migs, english(notes, en), en=True), args.check, summary)
    return max(rc, rc_en)


if __name__ == "__main__":
    sys.exit(main())
