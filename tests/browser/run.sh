#!/usr/bin/env bash
# The browser suite: starts Gerbang (debug build, fresh SQLite) with a localhost issuer, creates
# an account and an application that demands level 3, and runs passkeys.mjs in headless
# Chromium; then, on the same server, console.mjs drives the admin console as an administrator
# (diskominfo-admin + opd-admin of a unit, at level 3 with a passkey) over a staff account and a
# global role made here; reset.mjs then resets a password through "Lupa kata sandi?" with the
# mail read from the SMTP sink (tests/smtp/sink.py); last, signer.mjs logs in at level 4 (a passkey
# and a bound certificate) and is refused once the certificate is revoked; screenshots.mjs then
# photographs the pages the manuals show (docs/tools/screenshots.sh copies them into
# docs/panduan/gambar/). Screenshots go to target/browser-artifacts/. Installs Chromium
# (Debian's package) and playwright-core (from package-lock.json) when missing; never downloads
# a browser of its own.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
# CI passes the binary `cargo test` just built (same features); alone, build it here.
BIN="${GERBANG_BIN:-}"
if [ -z "$BIN" ]; then
    cargo build --quiet --bin gerbang
    BIN="$ROOT/target/debug/gerbang"
fi

TMP="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
export GERBANG_DATA_DIR="$TMP" GERBANG_DATABASE_URL="sqlite://$TMP/gerbang.db" GERBANG_BIND="127.0.0.1:$PORT"
export GERBANG_ISSUER="http://localhost:$PORT" GERBANG_BOOTSTRAP=false GERBANG_LOG=${GERBANG_LOG:-gerbang=info,warn}
# Applications requested in the console must send people back under the region's domains.
export GERBANG_REDIRECT_DOMAINS="contoh.go.id,*.contoh.go.id"
# Electronic certificates bind only through a path to a configured root: the fixtures' CA.
export GERBANG_CERTIFICATE_ISSUERS="$ROOT/tests/fixtures/certs/ca.pem"
NIP=198503122010011001
PASSWORD=kunci-uji-peramban-2026
echo "$PASSWORD" | "$BIN" account create --nip "$NIP" --name "Siti Rahmawati" --password-stdin --json >/dev/null
"$BIN" client create --id e2e-strict --name "Aplikasi Tingkat 3" --public --first-party --development --min-level 3 \
    --redirect-uri "http://localhost:$PORT/e2e/callback" --scope "openid profile" --json >/dev/null

# The console run: an administrator and a staff member in one unit, and a role to give. The
# admin roles are ordinary global roles; administration keeps its default level 3 (a passkey).
account_id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["account"]["id"])'; }
ADMIN_NIP=197902152005012002
STAFF_NIP=198807222012011003
"$BIN" opd create --code 3509.13 --name "Dinas Komunikasi dan Informatika" --kind dinas --json >/dev/null
ADMIN_ID="$(echo "$PASSWORD" | "$BIN" account create --nip "$ADMIN_NIP" --name "Rina Wulandari" --password-stdin --json | account_id)"
STAFF_ID="$("$BIN" account create --nip "$STAFF_NIP" --name "Agus Prasetyo" --json | account_id)"
for nip in "$ADMIN_NIP" "$STAFF_NIP"; do "$BIN" account update "$nip" --opd 3509.13 --json >/dev/null; done
for role in diskominfo-admin opd-admin; do
    "$BIN" role create --name "$role" --json >/dev/null
    "$BIN" role assign --role "$role" --account "$ADMIN_NIP" --json >/dev/null
done
"$BIN" role create --name verifikator --description "Verifikator dokumen" --json >/dev/null
# A second Diskominfo administrator reviews the request the first one makes (four eyes).
REVIEWER_NIP=198104102006042004
echo "$PASSWORD" | "$BIN" account create --nip "$REVIEWER_NIP" --name "Dewi Anggraini" --password-stdin --json >/dev/null
"$BIN" role assign --role diskominfo-admin --account "$REVIEWER_NIP" --json >/dev/null
# Administrators enrol their first passkey only through a one-time link (a password alone never does).
enrol_url() { "$BIN" account enrolment-link "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["enrolment_link"]["url"])'; }
ADMIN_ENROL_URL="$(enrol_url "$ADMIN_NIP")"
REVIEWER_ENROL_URL="$(enrol_url "$REVIEWER_NIP")"

# The level-4 run: a signer whose certificate (made here with openssl, under a CA of its own) is
# bound in the database with its possession proven and a good revocation answer — the binding
# flow itself is tested in tests/it/ — and an application that demands level 4 and the `signer`
# scope. signer.mjs revokes the binding (in the database) half-way through.
SIGNER_NIP=199001012015041006
SIGNER_ID="$(echo "$PASSWORD" | "$BIN" account create --nip "$SIGNER_NIP" --name "Budi Santoso" --password-stdin --json | account_id)"
"$BIN" client create --id e2e-signer --name "Aplikasi Penandatanganan" --public --first-party --development --min-level 4 \
    --redirect-uri "http://localhost:$PORT/e2e/callback" --scope "openid profile roles signer" --json >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/ca.key" -out "$TMP/ca.pem" \
    -days 3650 -subj "/C=ID/O=Gerbang Uji/CN=CA Uji DS G1" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/signer.key" -out "$TMP/signer.csr" \
    -subj "/C=ID/CN=Budi Santoso" 2>/dev/null
openssl x509 -req -in "$TMP/signer.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -days 730 -set_serial 0x1a2b3c4d5e6f \
    -out "$TMP/signer.pem" 2>/dev/null
SIGNER_CERT_ID="$(python3 - "$TMP/gerbang.db" "$SIGNER_ID" "$TMP/signer.pem" "$TMP/ca.pem" <<'PY'
import hashlib, ssl, sqlite3, sys, time, uuid
db, account, pem_path, ca_path = sys.argv[1:5]
pem = open(pem_path).read()
der = ssl.PEM_cert_to_DER_cert(pem)
info = ssl._ssl._test_decode_cert(pem_path)
ts = lambda s: int(ssl.cert_time_to_seconds(s))
dn = lambda name: ", ".join(f"{'CN' if k == 'commonName' else 'O' if k == 'organizationName' else 'C'}={v}" for rdn in reversed(name) for k, v in rdn)
cid, now = str(uuid.uuid4()), int(time.time())
c = sqlite3.connect(db)
c.execute(
    "INSERT INTO certificates (id, account_id, fingerprint, subject, issuer, serial, not_before, not_after, status, pem, "
    "bound_by, created_at, pending, possession, possession_at, name_match, check_status, check_source, checked_at, "
    "check_valid_until, issuer_pem) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, '', 'signature', ?, 'name', 'good', "
    "'crl', ?, ?, ?)",
    (cid, account, hashlib.sha256(der).hexdigest(), dn(info["subject"]), dn(info["issuer"]), info["serialNumber"].lower(),
     ts(info["notBefore"]), ts(info["notAfter"]), pem, account, now, now, now, now + 30 * 86400, open(ca_path).read()))
c.commit()
print(cid)
PY
)"
SIGNER_X5T="$(openssl x509 -in "$TMP/signer.pem" -outform DER | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"

# The reset run: an account with a verified address (set in the database: proving an address is
# another part's flow), and a real SMTP server (aiosmtpd) storing mail into a Maildir that
# reset.mjs reads. The sink stops when its standard input (a FIFO held open here) closes.
RESET_NIP=199203172015032005
RESET_EMAIL="maya.sari@surel.contoh.go.id"
echo "$PASSWORD" | "$BIN" account create --nip "$RESET_NIP" --name "Maya Sari" --password-stdin --json >/dev/null
python3 - "$TMP/gerbang.db" "$RESET_NIP" "$RESET_EMAIL" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE accounts SET email = ?, email_verified = 1 WHERE nip = ?", (sys.argv[3], sys.argv[2]))
db.commit()
PY
python3 -c 'import aiosmtpd' 2>/dev/null || pip install --quiet aiosmtpd
MAILDIR="$TMP/maildir"
SMTP_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
mkfifo "$TMP/sink.in"
python3 tests/smtp/sink.py "$SMTP_PORT" "$MAILDIR" <"$TMP/sink.in" >"$TMP/sink.log" 2>&1 &
SINK=$!
exec 7>"$TMP/sink.in"
for _ in $(seq 1 100); do grep -q ready "$TMP/sink.log" 2>/dev/null && break; sleep 0.1; done
export GERBANG_SMTP_HOST=127.0.0.1 GERBANG_SMTP_PORT="$SMTP_PORT" GERBANG_SMTP_SECURITY=none
export GERBANG_MAIL_FROM="SSO Uji <sso@contoh.go.id>"
# Mail goes to the SMTP sink (tests/smtp/sink.py, aiosmtpd) when it is not running already; it
# stops when this script ends and closes its input. Citizens may register themselves.
if [ -z "${MAILDIR:-}" ]; then
    SMTP_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
    MAILDIR="$TMP/maildir"
    mkfifo "$TMP/sink.in"
    python3 tests/smtp/sink.py "$SMTP_PORT" "$MAILDIR" <"$TMP/sink.in" >"$TMP/sink.out" 2>&1 &
    exec 9>"$TMP/sink.in"
    for _ in $(seq 1 100); do grep -q ready "$TMP/sink.out" 2>/dev/null && break; sleep 0.1; done
    export GERBANG_SMTP_HOST=127.0.0.1 GERBANG_SMTP_PORT="$SMTP_PORT" GERBANG_SMTP_SECURITY=none
fi
export MAILDIR GERBANG_CITIZEN_REGISTRATION=true

# The manuals' screenshot pass (screenshots.mjs, last): a civil servant who has never used an
# application that asks for consent, that application (not first-party), and one more
# Diskominfo administrator with an enrolment link of their own. docs/tools/screenshots.sh copies
# what it photographs into docs/panduan/gambar/.
MANUAL_NIP=199105232019032007
echo "$PASSWORD" | "$BIN" account create --nip "$MANUAL_NIP" --name "Dian Lestari" --password-stdin --json >/dev/null
"$BIN" account update "$MANUAL_NIP" --opd 3509.13 --json >/dev/null
"$BIN" client create --id layanan-perizinan --name "Layanan Perizinan Online" --public --development --owner-opd 3509.13 \
    --redirect-uri "http://localhost:$PORT/e2e/callback" --scope "openid profile nip opd email" --json >/dev/null
MANUAL_ADMIN_NIP=198206142008011004
echo "$PASSWORD" | "$BIN" account create --nip "$MANUAL_ADMIN_NIP" --name "Hendra Gunawan" --password-stdin --json >/dev/null
"$BIN" account update "$MANUAL_ADMIN_NIP" --opd 3509.13 --json >/dev/null
"$BIN" role assign --role diskominfo-admin --account "$MANUAL_ADMIN_NIP" --json >/dev/null
MANUAL_ADMIN_ENROL_URL="$(enrol_url "$MANUAL_ADMIN_NIP")"

"$BIN" serve >"$TMP/server.log" 2>&1 &
PID=$!
cleanup() {
    kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true
    exec 7>&-; wait "$SINK" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
# A target directory shared with other checkouts can hold a build without the console.
if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/console/login")" != 303 ]; then
    echo "$BIN serves no /console/login: a stale build (shared target directory?); rebuild it" >&2
    exit 1
fi

ARTIFACTS="$ROOT/target/browser-artifacts"
rm -rf "$ARTIFACTS"
echo "screenshots: $ARTIFACTS"
export BASE="http://localhost:$PORT" PASSWORD ARTIFACTS
if ! { NIP="$NIP" CLIENT_ID=e2e-strict node tests/browser/passkeys.mjs &&
       ADMIN_NIP="$ADMIN_NIP" ADMIN_ID="$ADMIN_ID" STAFF_ID="$STAFF_ID" ROLE=verifikator REVIEWER_NIP="$REVIEWER_NIP" \
       ADMIN_ENROL_URL="$ADMIN_ENROL_URL" REVIEWER_ENROL_URL="$REVIEWER_ENROL_URL" node tests/browser/console.mjs &&
       RESET_NIP="$RESET_NIP" RESET_EMAIL="$RESET_EMAIL" MAILDIR="$MAILDIR" node tests/browser/reset.mjs &&
       node tests/browser/register.mjs &&
       SIGNER_NIP="$SIGNER_NIP" SIGNER_CERT_ID="$SIGNER_CERT_ID" SIGNER_X5T="$SIGNER_X5T" DB="$TMP/gerbang.db" \
       node tests/browser/signer.mjs &&
       MANUAL_NIP="$MANUAL_NIP" MANUAL_ADMIN_NIP="$MANUAL_ADMIN_NIP" MANUAL_ADMIN_ENROL_URL="$MANUAL_ADMIN_ENROL_URL" \
       STAFF_ID="$STAFF_ID" node tests/browser/screenshots.mjs; }; then
    echo "--- server log"; cat "$TMP/server.log"
    exit 1
fi
