#!/usr/bin/env python3
"""Tests of the documentation generators' --check: each case copies what the scripts read
(docs/, migrations/, src/) into a scratch directory, breaks one thing the way a change to the
code would, and expects --check to fail naming it. The repository itself is never touched.

    python3 docs/tools/test_generators.py

Python 3.11 standard library only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Generators(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="gerbang-docs-")
        self.root = Path(self.tmp.name)
        for d in ("docs", "migrations", "src"):
            shutil.copytree(ROOT / d, self.root / d, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def run_check(self, script: str) -> tuple[int, str]:
        r = subprocess.run(
            [sys.executable, str(self.root / "docs" / "tools" / script), "--check"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin"},
        )
        return r.returncode, r.stdout + r.stderr

    def edit(self, rel: str, old: str, new: str) -> None:
        p = self.root / rel
        text = p.read_text(encoding="utf-8")
        self.assertIn(old, text, f"{rel} no longer contains the text this test edits")
        p.write_text(text.replace(old, new, 1), encoding="utf-8")

    def write(self, rel: str, text: str) -> None:
        (self.root / rel).write_text(text, encoding="utf-8")

    def assert_fails(self, script: str, *needles: str) -> None:
        rc, out = self.run_check(script)
        self.assertNotEqual(rc, 0, out)
        for n in needles:
            self.assertIn(n, out)

    # -- the committed documents

    def test_committed_documents_are_current(self) -> None:
        for script in ("dbdesign.py", "dictionary.py"):
            rc, out = self.run_check(script)
            self.assertEqual(rc, 0, out)

    def test_an_edited_document_is_out_of_date(self) -> None:
        self.edit("docs/desain-basis-data.md", "Kunci primer", "Primary key")
        self.assert_fails("dbdesign.py", "out of date")
        self.edit("docs/kamus-data.md", "Jenis peristiwa audit", "Audit")
        self.assert_fails("dictionary.py", "out of date")
        for doc in ("docs/desain-basis-data.md", "docs/kamus-data.md"):
            shutil.copy(ROOT / doc, self.root / doc)
        self.edit("docs/database-design.md", "Primary key", "Kunci primer")
        self.edit("docs/data-dictionary.md", "Audit event kinds", "Audit")
        self.assert_fails("dbdesign.py", "docs/database-design.md is out of date")
        self.assert_fails("dictionary.py", "docs/data-dictionary.md is out of date")

    def test_a_missing_english_note_fails_the_check(self) -> None:
        self.edit("docs/tools/schema-notes-en.toml", 'jti = "ID of the revoked access token (the `jti` claim)."\n', "")
        self.edit("docs/tools/schema-intro-en.toml", '"0016_scim.sql" = "SCIM 2.0 provisioning."\n', "")
        self.assert_fails(
            "dbdesign.py",
            "column revoked_tokens.jti has no English note",
            "migration 0016_scim.sql has no English summary",
        )
        self.edit("docs/tools/dictionary-notes-en.toml", '"logout" = ', '"logout_old" = ')
        self.assert_fails(
            "dictionary.py",
            "audit event kind `logout` has no description: add it under [audit] in docs/tools/dictionary-notes-en.toml",
            "dictionary-notes-en.toml describes audit event kind `logout_old`",
        )

    # -- database design

    def test_a_new_column_needs_a_note_and_both_dialects(self) -> None:
        self.write("migrations/sqlite/0999_test.sql", "ALTER TABLE accounts ADD COLUMN birth_place TEXT;\n")
        self.write("migrations/postgres/0999_test.sql", "ALTER TABLE accounts ADD COLUMN birthplace TEXT;\n")
        self.assert_fails(
            "dbdesign.py",
            "column accounts.birth_place has no note",
            "column accounts.birth_place exists in migrations/sqlite but not in migrations/postgres",
            "column accounts.birthplace exists in migrations/postgres",
            "migration 0999_test.sql has no summary",
        )

    def test_a_migration_in_one_folder_only_is_refused(self) -> None:
        self.write("migrations/sqlite/0999_test.sql", "CREATE INDEX accounts_name ON accounts (name);\n")
        self.assert_fails("dbdesign.py", "migration versions differ", "index accounts_name exists in migrations/sqlite")

    def test_a_note_for_a_dropped_table_or_column_is_stale(self) -> None:
        for d in ("sqlite", "postgres"):
            self.write(f"migrations/{d}/0999_test.sql", "DROP TABLE known_devices;\n")
        self.edit("docs/tools/schema-intro.toml", '"0022_role_lookups.sql"', '"0999_test.sql" = "Uji."\n"0022_role_lookups.sql"')
        self.assert_fails("dbdesign.py", "describes table known_devices, which the migrations do not create")

    def test_unknown_postgres_ddl_is_reported(self) -> None:
        self.write("migrations/sqlite/0999_test.sql", "CREATE VIEW v AS SELECT 1;\n")
        self.write("migrations/postgres/0999_test.sql", "CREATE VIEW v AS SELECT 1;\n")
        self.assert_fails("dbdesign.py", "statement not understood by the PostgreSQL DDL parser")

    def test_an_unknown_personal_data_category_is_refused(self) -> None:
        self.edit("docs/tools/schema-notes.toml", 'personal = "kontak"', 'personal = "telepon"')
        self.assert_fails("dbdesign.py", "personal-data category 'telepon' is not in [categories]")

    # -- data dictionary

    def test_new_scopes_claims_and_audit_kinds_need_descriptions(self) -> None:
        self.edit("src/oidc/mod.rs", '    "offline_access",\n', '    "offline_access",\n    "kepegawaian",\n')
        self.edit(
            "src/oidc/claims.rs",
            '        m.insert("name".into(), a.name.clone().into());\n',
            '        m.insert("name".into(), a.name.clone().into());\n        m.insert("gelar".into(), a.name.clone().into());\n',
        )
        self.edit("src/ops/units.rs", 'Event::new("opd.created")', 'Event::new("opd.moved")')
        self.assert_fails(
            "dictionary.py",
            "scope `kepegawaian` has no description",
            "claim `gelar` has no description",
            "claims_supported differs",
            "audit event kind `opd.moved` has no description",
            "describes audit event kind `opd.created`",
        )

    def test_audit_kinds_behind_variables_and_constants_are_found(self) -> None:
        extra = (
            '\nconst DOC_TEST_KIND: &str = "doc.constant";\n'
            "async fn doc_test(st: &AppState, ok: bool, now: i64) {\n"
            '    let kind = if ok { "doc.yes" } else { "doc.no" };\n'
            "    audit::record(&st.db, Event::new(kind), now).await;\n"
            "    audit::record(&st.db, Event::new(DOC_TEST_KIND), now).await;\n"
            "    doc_helper(st, \"doc.param\", now).await;\n"
            "}\n"
            "async fn doc_helper(st: &AppState, kind: &'static str, now: i64) {\n"
            "    audit::record(&st.db, Event::new(kind), now).await;\n"
            "}\n"
            '#[cfg(test)]\nmod doc_tests {\n    fn t() { let _ = Event::new("doc.test_only"); }\n}\n'
        )
        p = self.root / "src/ops/units.rs"
        p.write_text(p.read_text(encoding="utf-8") + extra, encoding="utf-8")
        rc, out = self.run_check("dictionary.py")
        self.assertNotEqual(rc, 0, out)
        for kind in ("doc.constant", "doc.yes", "doc.no", "doc.param"):
            self.assertIn(f"audit event kind `{kind}` has no description", out)
        self.assertNotIn("doc.test_only", out, "test code is not part of the product")

    def test_a_new_profile_attribute_needs_a_description(self) -> None:
        self.edit(
            "src/identity/profile.rs",
            "pub const SCHEMA: &[Attribute] = &[\n",
            "pub const SCHEMA: &[Attribute] = &[\n    Attribute {\n        name: \"gelar\",\n        ty: AttrType::Text,\n"
            "        account_type: AccountKind::Asn,\n        scope: \"asn_profile\",\n        description: \"title\",\n    },\n",
        )
        self.assert_fails("dictionary.py", "profile attribute `gelar` has no description")


if __name__ == "__main__":
    unittest.main()
