#!/usr/bin/env bash
# Generated hostile requests against the admin API: starts Gerbang (debug build unless GERBANG_BIN
# is given, fresh SQLite in a temporary directory, a free port), makes a Diskominfo administrator
# with the CLI, signs it in through the real console login (authorization code + PKCE, see
# bench/fuzz/console_token.py) and runs Schemathesis against /admin/api/openapi.json with that
# bearer token. Fails on any 5xx and on any response that differs from what the OpenAPI document
# declares (status code, content type, headers, body schema).
#
# Administration is opened at level 1 (GERBANG_ADMIN_MIN_LEVEL=1, a password) for the run: the
# default level 3 needs a passkey, which a script cannot hold. Rate limits are off for the run
# (below). Everything else is the default.
#
#   bench/schemathesis.sh            short run (CI): FUZZ_EXAMPLES=15 cases per operation and phase
#   FUZZ_EXAMPLES=300 bench/schemathesis.sh   long run (the figures in docs/fuzzing.md)
#   Further arguments go to `schemathesis run` (e.g. --include-path-regex sessions).
#
# Schemathesis comes from PyPI into a virtualenv under the target directory, made once and reused.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$TARGET" && TARGET="$(cd "$TARGET" && pwd)"
EXAMPLES="${FUZZ_EXAMPLES:-15}"
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"

VENV="$TARGET/schemathesis-venv"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" requests
fi

BIN="${GERBANG_BIN:-}"
if [ -z "$BIN" ]; then
    cargo build --quiet --bin gerbang
    BIN="$TARGET/debug/gerbang"
fi

TMP="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
export GERBANG_DATA_DIR="$TMP" GERBANG_DATABASE_URL="sqlite://$TMP/gerbang.db" GERBANG_BIND="127.0.0.1:$PORT"
export GERBANG_ISSUER="$BASE" GERBANG_BOOTSTRAP=false GERBANG_LOG=${GERBANG_LOG:-error}
export GERBANG_ADMIN_MIN_LEVEL=1
# The run tests the operations, not the rate limiter (its 429 is declared and tested elsewhere):
# at the default 300 admin requests a minute from one address, most requests would be 429s.
export GERBANG_RATE_LIMITS=off

ADMIN_NIP=197902152005012002
PASSWORD=kunci-uji-schemathesis-2026
"$BIN" opd create --code 3509.13 --name "Dinas Komunikasi dan Informatika" --kind dinas --json >/dev/null
ADMIN_ID="$(echo "$PASSWORD" | "$BIN" account create --nip "$ADMIN_NIP" --name "Rina Wulandari" --password-stdin --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["account"]["id"])')"
"$BIN" account update "$ADMIN_NIP" --opd 3509.13 --json >/dev/null
"$BIN" role create --name diskominfo-admin --json >/dev/null
"$BIN" role assign --role diskominfo-admin --account "$ADMIN_NIP" --json >/dev/null
# Something for the read operations to find.
"$BIN" account create --nip 198807222012011003 --name "Agus Prasetyo" --json >/dev/null

REPORT="$TARGET/schemathesis-report"
rm -rf "$REPORT"; mkdir -p "$REPORT"
"$BIN" serve >"$TMP/server.log" 2>&1 &
PID=$!
cleanup() {
    kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true
    cp "$TMP/server.log" "$REPORT/server.log" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

TOKEN="$(echo "$PASSWORD" | "$VENV/bin/python" bench/fuzz/console_token.py "$BASE" "$ADMIN_NIP")"

START=$(date +%s)
set +e
# From the report directory: Schemathesis keeps a cache in its working directory.
# The hooks keep the run from revoking its own token (see bench/fuzz/gerbang_hooks.py).
(cd "$REPORT" && FUZZ_ADMIN_ID="$ADMIN_ID" PYTHONPATH="$ROOT/bench/fuzz" SCHEMATHESIS_HOOKS=gerbang_hooks \
    "$VENV/bin/schemathesis" run "$BASE/admin/api/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" --seed "${FUZZ_SEED:-20261201}" --workers "${FUZZ_WORKERS:-2}" \
    --generation-database none --no-color --output-truncate true \
    --report junit,ndjson --report-dir "$REPORT" "$@")
STATUS=$?
set -e
echo "schemathesis: exit $STATUS in $(( $(date +%s) - START ))s; reports in $REPORT"
"$VENV/bin/python" "$ROOT/bench/fuzz/summary.py" "$REPORT" || true
if [ "$STATUS" != 0 ]; then
    echo "--- server log (tail)"; tail -n 50 "$TMP/server.log"
fi
exit "$STATUS"
