#!/usr/bin/env bash
# Regenerates the screenshots in the manuals (docs/panduan/gambar/*.png) from the browser suite.
#
#     GERBANG_BIN=target/debug/gerbang bash docs/tools/screenshots.sh        # runs the suite first
#     bash docs/tools/screenshots.sh --no-run      # reuses target/browser-artifacts/panduan/
#
# tests/browser/run.sh starts a fresh Gerbang with its test data and runs every browser script;
# the last one, tests/browser/screenshots.mjs, photographs the pages the manuals show, in Bahasa
# Indonesia at a fixed 1024x700 viewport, into target/browser-artifacts/panduan/. This script
# then replaces docs/panduan/gambar/ with the curated set named below (optimised with optipng
# when it is installed) and checks the manuals' image references (docs/tools/check_images.py).
# Nothing in the pictures is real: names, NIPs, codes and secrets belong to the throwaway
# instance the suite starts.
#
# Run it by hand when a page the manuals show changes, and commit the PNGs. CI does not
# regenerate them (PNG bytes differ from run to run: dates, ids, the random port, font
# rendering); CI runs screenshots.mjs as part of the browser suite, so the pass keeps working,
# and check_images.py, so the manuals and the pictures match.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# The pictures the manuals use: docs/panduan/gambar/<name>.png.
NAMES=(
    login persetujuan naik-tingkat tingkat4-ditolak akun-ringkasan akun-passkey autentikator
    kode-pemulihan faktor-kedua lupa-sandi daftar-warga aplikasi-terhubung sertifikat
    konsol-dasbor konsol-akun konsol-konfirmasi konsol-opd konsol-aplikasi konsol-permohonan
    konsol-sertifikat konsol-audit
)
SRC="$ROOT/target/browser-artifacts/panduan"
DEST="$ROOT/docs/panduan/gambar"

# Chromium's own widgets (date fields) speak Indonesian only with Debian's locale files.
if [ "${1:-}" != --no-run ] && [ ! -f /usr/lib/chromium/locales/id.pak ]; then
    echo "installing Debian's chromium-l10n (Indonesian date fields)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-l10n >/dev/null
fi
case "${1:-}" in
    --no-run) ;;
    "") bash tests/browser/run.sh ;;
    *) echo "usage: $0 [--no-run]" >&2; exit 2 ;;
esac

missing=0
for name in "${NAMES[@]}"; do
    [ -f "$SRC/$name.png" ] || { echo "missing: $SRC/$name.png" >&2; missing=1; }
done
[ "$missing" = 0 ] || { echo "the screenshot pass did not photograph every page; nothing copied" >&2; exit 1; }

mkdir -p "$DEST"
rm -f "$DEST"/*.png
for name in "${NAMES[@]}"; do cp "$SRC/$name.png" "$DEST/$name.png"; done
if command -v optipng >/dev/null 2>&1; then
    optipng -quiet -o2 -strip all "$DEST"/*.png
else
    echo "optipng is not installed (apt-get install optipng): the PNGs are copied as Chromium wrote them"
fi
echo "$(ls "$DEST"/*.png | wc -l) pictures, $(du -sh "$DEST" | cut -f1) in docs/panduan/gambar/"
python3 -B docs/tools/check_images.py
