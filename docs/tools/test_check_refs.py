"""Tests of check_refs.py on a small repository made in a temporary directory.

    python3 -B -m unittest discover -s docs/tools -p 'test_*.py'
"""

import io
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout, redirect_stderr

sys.path.insert(0, os.path.dirname(__file__))
import check_refs  # noqa: E402

FILES = {
    "tests/it/main.rs": "mod replicas;\nmod tokens;\n",
    "tests/it/tokens.rs": "#[tokio::test]\nasync fn refresh_rotates() {}\n\nfn helper() {}\n"
    "#[tokio::test]\nasync fn a_code_redeemed_twice_is_refused_once() {}\n",
    "tests/it/replicas/mod.rs": "mod cycle;\n",
    "tests/it/replicas/cycle.rs": "#[tokio::test]\n#[ignore = \"own step\"]\nasync fn a_login_crosses() {}\n",
    "src/identity/nip.rs": "pub fn parse() {}\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn rejects_short() {}\n}\n",
    "docs/panduan/admin.md": "# Panduan Admin\n\n## Jejak audit\n\ntext\n",
    "Cargo.toml": "[package]\n",
}


def run(root, doc_text):
    with open(os.path.join(root, "docs/doc.md"), "w", encoding="utf-8") as f:
        f.write(doc_text)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = check_refs.main(["--root", root, "docs/doc.md"])
    return code, out.getvalue()


class CheckRefs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        for rel, text in FILES.items():
            path = os.path.join(self.tmp.name, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)

    def tearDown(self):
        self.tmp.cleanup()

    def test_existing_references_pass(self):
        doc = (
            "See `tests/it/tokens.rs::refresh_rotates` and `tests/it/replicas/::a_login_crosses`,\n"
            "`src/identity/nip.rs::rejects_short`, `docs/panduan/admin.md#jejak-audit`, `Cargo.toml`\n"
            "and [the manual](panduan/admin.md#jejak-audit).\n\n"
            "```sh\nnice -n 19 cargo test --test it replicas::cycle -- --ignored\n"
            "cargo test --lib nip::tests::rejects\n```\n"
            "By name alone: `a_code_redeemed_twice_is_refused_once`; short names such as\n"
            "`admin_min_level` are not test names and are not checked.\n"
        )
        code, out = run(self.tmp.name, doc)
        self.assertEqual(code, 0, out)
        self.assertIn("9 references checked", out)

    def test_each_kind_of_broken_reference_is_named(self):
        doc = (
            "`tests/it/tokens.rs::gone`\n"
            "`tests/it/tokens.rs::helper`\n"
            "`docs/panduan/nothing.md`\n"
            "`docs/panduan/admin.md#no-such-heading`\n"
            "`a_test_that_was_renamed_long_ago`\n"
            "[x](panduan/missing.md)\n\n"
            "```sh\ncargo test --test it tokens::nothing_like_this\n```\n"
        )
        code, out = run(self.tmp.name, doc)
        self.assertEqual(code, 1)
        self.assertIn("docs/doc.md:1: `tests/it/tokens.rs::gone`: no test function `gone`", out)
        self.assertIn("docs/doc.md:2:", out)  # a helper is not a test
        self.assertIn("no such file or directory: docs/panduan/nothing.md", out)
        self.assertIn("has no heading for #no-such-heading", out)
        self.assertIn("docs/doc.md:5: `a_test_that_was_renamed_long_ago`: no test function", out)
        self.assertIn("docs/doc.md:6: link `panduan/missing.md`", out)
        self.assertIn("filter `tokens::nothing_like_this` selects no test of it", out)

    def test_plain_text_and_patterns_are_not_references(self):
        doc = "Nanti ada docs/rencana.md tetapi belum. Pola: `tests/it/fuzz_*.rs`, `bench/results/<tanggal>.md`.\n"
        code, out = run(self.tmp.name, doc)
        self.assertEqual(code, 0, out)
        self.assertIn("0 references checked", out)

    def test_a_missing_document_fails(self):
        out = io.StringIO()
        with redirect_stdout(out), redirect_stderr(io.StringIO()):
            code = check_refs.main(["--root", self.tmp.name, "docs/absent.md"])
        self.assertEqual(code, 1)
        self.assertIn("docs/absent.md: the document does not exist", out.getvalue())


if __name__ == "__main__":
    unittest.main()
