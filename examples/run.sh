#!/usr/bin/env bash
# Runs the integration examples against a live Gerbang, each through a whole sign-in:
#
#   examples/run.sh                 every example: php python node rust
#   examples/run.sh php python      only these
#
# Starts Gerbang (GERBANG_BIN, else target/debug/gerbang, built when missing) on a free port with
# a fresh SQLite database in a temporary directory, creates with the CLI an OPD unit, a civil
# servant with a known password, a global role and, per example, an application (confidential,
# code + refresh, scopes `openid profile nip opd roles`, a role of its own given to the person).
# Then for each example it starts the application on a free port and lets examples/browser.py
# sign in, check the claims, ask for a level the person cannot reach, and log out.
#
# What each example needs: php — Debian's php-cli and php-curl; python — authlib and requests
# (pip); node — `npm ci` in examples/node; rust — the `gerbang-rp` example of the main crate
# (`cargo build --example gerbang-rp`; `cargo test` builds it too), or RUST_EXAMPLE_BIN.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

EXAMPLES=("$@")
[ ${#EXAMPLES[@]} -gt 0 ] || EXAMPLES=(php python node rust)
for e in "${EXAMPLES[@]}"; do
    case "$e" in php | python | node | rust) ;; *) echo "unknown example \`$e\` (php, python, node, rust)" >&2; exit 2 ;; esac
done

BIN="${GERBANG_BIN:-$TARGET/debug/gerbang}"
if [ ! -x "$BIN" ]; then
    echo "building gerbang"
    cargo build --quiet --bin gerbang
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # URL NAME PID: wait until URL answers (any status), or fail when the process is gone
    for _ in $(seq 1 150); do
        curl -s -o /dev/null "$1" && return 0
        kill -0 "$3" 2>/dev/null || { echo "FAILED: $2 exited before answering at $1" >&2; return 1; }
        sleep 0.2
    done
    echo "FAILED: $2 does not answer at $1" >&2
    return 1
}

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

PORT="$(free_port)"
export GERBANG_ISSUER="http://localhost:$PORT"
export GERBANG_DATA_DIR="$TMP" GERBANG_DATABASE_URL="sqlite://$TMP/gerbang.db" GERBANG_BIND="127.0.0.1:$PORT"
export GERBANG_BOOTSTRAP=false GERBANG_LOG="${GERBANG_LOG:-gerbang=info,warn}"
cli() { # a CLI command, quiet unless it fails
    local out
    out="$("$BIN" --actor examples "$@" --json 2>&1)" || { echo "FAILED: gerbang $*: $out" >&2; return 1; }
}

# The person every example signs in: a civil servant of Dinas Kesehatan holding a global role.
export NIP=198503122010011001 PASSWORD=kata-sandi-contoh-2026 EXPECT_OPD=3509.11 EXPECT_ROLE=verifikator
export EXPECT_APP_ROLE=operator
cli opd create --code 3509 --name "Pemerintah Kabupaten Jember" --kind pemerintah_daerah
cli opd create --code "$EXPECT_OPD" --name "Dinas Kesehatan" --kind dinas --parent 3509
echo "$PASSWORD" | cli account create --nip "$NIP" --name "Siti Rahayu" --password-stdin
cli account update "$NIP" --opd "$EXPECT_OPD" --set jabatan="Analis Kesehatan"
cli role create --name "$EXPECT_ROLE"
cli role assign --role "$EXPECT_ROLE" --account "$NIP"

"$BIN" serve >"$TMP/gerbang.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/healthz" gerbang "${PIDS[-1]}" || { cat "$TMP/gerbang.log"; exit 1; }

start_app() { # NAME PORT: start the example's application in the background
    local name=$1 port=$2 cmd
    case "$name" in
        php) cmd=(php -S "127.0.0.1:$port" -t examples/php examples/php/index.php) ;;
        python) cmd=(python3 examples/python/app.py) ;;
        node) cmd=(node examples/node/app.mjs) ;;
        rust) cmd=("${RUST_EXAMPLE_BIN:-$TARGET/debug/examples/gerbang-rp}") ;;
    esac
    # A simple command, so that $! is the application itself (stopped by its id afterwards).
    "${cmd[@]}" >"$TMP/$name.log" 2>&1 &
    PIDS+=($!)
}

prerequisites() { # NAME: what the example needs, installed locally when that is cheap, else named
    case "$1" in
        php) php -r 'exit(function_exists("curl_init") && function_exists("openssl_verify") ? 0 : 1);' 2>/dev/null ||
            { echo "FAILED: the php example needs php-cli and php-curl (apt-get install php-cli php-curl)" >&2; return 1; }
            php examples/php/selftest.php ;;
        python) python3 -c 'import authlib, requests' 2>/dev/null ||
            { echo "FAILED: the python example needs authlib and requests (pip install -r examples/python/requirements.txt)" >&2; return 1; } ;;
        node) [ -d examples/node/node_modules/openid-client ] ||
            (cd examples/node && npm ci --no-audit --no-fund --loglevel=error) ;;
        rust) if [ -z "${RUST_EXAMPLE_BIN:-}" ] && [ ! -x "$TARGET/debug/examples/gerbang-rp" ]; then
            echo "building the Rust example"
            cargo build --quiet --example gerbang-rp
        fi ;;
    esac
}

FAILED=()
for name in "${EXAMPLES[@]}"; do
    echo "== example: $name"
    if ! prerequisites "$name"; then
        FAILED+=("$name")
        continue
    fi
    APP_PORT="$(free_port)"
    APP_URL="http://localhost:$APP_PORT"
    CLIENT_ID="contoh-$name"
    SECRET="$("$BIN" --actor examples client create --id "$CLIENT_ID" --name "Contoh $name" --development \
        --owner-opd "$EXPECT_OPD" --redirect-uri "$APP_URL/callback" --post-logout-redirect-uri "$APP_URL/" \
        --scope "openid profile nip opd roles" --grant authorization_code --grant refresh_token --json 2>>"$TMP/cli.log" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')"
    cli role create --name "$EXPECT_APP_ROLE" --client "$CLIENT_ID"
    cli role assign --role "$EXPECT_APP_ROLE" --client "$CLIENT_ID" --account "$NIP"
    export APP_URL APP_PORT CLIENT_ID CLIENT_SECRET="$SECRET"
    start_app "$name" "$APP_PORT"
    if wait_http "http://127.0.0.1:$APP_PORT/" "the $name example" "${PIDS[-1]}" &&
        python3 -B examples/browser.py "$APP_URL"; then
        echo "ok: $name"
    else
        FAILED+=("$name")
        echo "--- $name application log (tail)"; tail -n 40 "$TMP/$name.log"
        echo "--- gerbang log (tail)"; tail -n 20 "$TMP/gerbang.log"
    fi
    kill "${PIDS[-1]}" 2>/dev/null || true
done

if [ ${#FAILED[@]} -gt 0 ]; then
    echo "FAILED examples: ${FAILED[*]}" >&2
    exit 1
fi
echo "all examples passed: ${EXAMPLES[*]}"
