"""Tests of check_images.py on small manuals made in a temporary directory.

    python3 -B -m unittest discover -s docs/tools -p 'test_*.py'
"""

import io
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(__file__))
import check_images  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


class CheckImages(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        os.makedirs(os.path.join(self.root, "docs/panduan/gambar"))
        for name in ("login.png", "konsol.png"):
            self.picture(name, PNG)

    def tearDown(self):
        self.tmp.cleanup()

    def picture(self, name, data):
        with open(os.path.join(self.root, "docs/panduan/gambar", name), "wb") as f:
            f.write(data)

    def manual(self, name, text):
        with open(os.path.join(self.root, "docs/panduan", name), "w", encoding="utf-8") as f:
            f.write(text)

    def run_check(self):
        out = io.StringIO()
        with redirect_stdout(out):
            code = check_images.main(["--root", self.root])
        return code, out.getvalue()

    def test_every_picture_shown_and_present_passes(self):
        self.manual("pengguna.md", "# P\n\n![Halaman masuk](gambar/login.png)\n")
        self.manual("admin.md", '# A\n\n<img src="gambar/konsol.png" alt="Konsol">\n')
        code, out = self.run_check()
        self.assertEqual(code, 0, out)
        self.assertIn("2 image references", out)

    def test_a_missing_picture_is_named_with_its_line(self):
        self.manual("pengguna.md", "# P\n\n![Halaman masuk](gambar/login.png)\n![Konsol](gambar/konsol.png)\n"
                    "![Lama](gambar/lama.png)\n")
        code, out = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("docs/panduan/pengguna.md:5: gambar/lama.png does not exist", out)

    def test_a_picture_no_manual_shows_is_stale(self):
        self.manual("pengguna.md", "# P\n\n![Halaman masuk](gambar/login.png)\n")
        code, out = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("docs/panduan/gambar/konsol.png: shown by no manual", out)

    def test_remote_or_hand_placed_pictures_and_missing_alt_text_are_refused(self):
        self.manual("pengguna.md", "# P\n\n![](gambar/login.png)\n![Konsol](gambar/konsol.png)\n"
                    "![Luar](https://contoh.go.id/a.png)\n![Tempel](../lain.png)\n")
        code, out = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("pengguna.md:3: gambar/login.png has no alternative text", out)
        self.assertIn("pengguna.md:5: https://contoh.go.id/a.png is not a picture in docs/panduan/gambar/", out)
        self.assertIn("pengguna.md:6: ../lain.png is not a picture in docs/panduan/gambar/", out)

    def test_code_blocks_and_inline_code_are_not_images(self):
        self.manual("pengguna.md", "# P\n\n![Masuk](gambar/login.png) ![Konsol](gambar/konsol.png)\n\n"
                    "```md\n![Contoh](gambar/tidak-ada.png)\n```\n`![x](gambar/juga-tidak.png)`\n")
        code, out = self.run_check()
        self.assertEqual(code, 0, out)

    def test_a_non_png_and_too_large_a_set_are_refused(self):
        self.manual("pengguna.md", "# P\n\n![Masuk](gambar/login.png) ![Konsol](gambar/konsol.png) ![Foto](gambar/foto.jpg)\n")
        self.picture("foto.jpg", b"\xff\xd8\xff")
        self.picture("konsol.png", PNG + b"\0" * check_images.MAX_TOTAL_BYTES)
        code, out = self.run_check()
        self.assertEqual(code, 1)
        self.assertIn("docs/panduan/gambar/foto.jpg: not a PNG", out)
        self.assertIn("more than 2097152", out)


if __name__ == "__main__":
    unittest.main()
