#!/usr/bin/env bash
# Gerbang benchmark: measures Gerbang and the reference peer (panva's
# oidc-provider under node cluster) side by side with wrk, then prints a
# Markdown report and writes it to bench/results/latest.md (raw figures in
# bench/results/latest.json). See bench/README.md.
#
# Environment (all optional):
#   DURATION=15        seconds per measured wrk run
#   CONNECTIONS=64     wrk connections
#   THREADS=2          wrk threads
#   WARMUP=3           seconds of unrecorded wrk warm-up before each run (0: none)
#   ONLY=both          both | gerbang | peer
#   SKIP_BUILD=0       1: do not run cargo build (use the existing binary)
#   SKIP_PEER_SETUP=0  1: do not run bench/peers/setup.sh (npm ci)
#   GERBANG_BIN        path of the gerbang binary (default: <target dir>/release/gerbang)
#   GERBANG_PORT=18080 PEER_PORT=18081 PEER_WORKERS=2
#   IDLE_SETTLE=2      seconds to wait after start before reading idle RSS
#   RSS_INTERVAL_MS=200
#   STARTUP_TIMEOUT=60 seconds a server may take to answer its first request
#   WRK_TIMEOUT=10     wrk's per-request timeout in seconds
#   KEEP_TMP=0         1: keep the temp dir (server logs, wrk output) after exit
#   RATE_LIMITS        Gerbang's rate_limits setting (default: token limits far above
#                      what wrk reaches, so the limiter runs on every request but never
#                      refuses one; `off` measures without it)
set -euo pipefail
export LC_ALL=C

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"

DURATION="${DURATION:-15}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-3}"
ONLY="${ONLY:-both}"
SKIP_BUILD="${SKIP_BUILD:-0}"
SKIP_PEER_SETUP="${SKIP_PEER_SETUP:-0}"
GERBANG_PORT="${GERBANG_PORT:-18080}"
PEER_PORT="${PEER_PORT:-18081}"
PEER_WORKERS="${PEER_WORKERS:-2}"
IDLE_SETTLE="${IDLE_SETTLE:-2}"
RSS_INTERVAL_MS="${RSS_INTERVAL_MS:-200}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-60}"
WRK_TIMEOUT="${WRK_TIMEOUT:-10}"
KEEP_TMP="${KEEP_TMP:-0}"
RATE_LIMITS="${RATE_LIMITS:-token=1000000000, token_client=1000000000}"

PY="${PYTHON:-python3}"
UTIL="$BENCH_DIR/lib/benchutil.py"
LUA_DIR="$BENCH_DIR/lua"
PEER_DIR="$BENCH_DIR/peers/oidc-provider"
OUT_DIR="$BENCH_DIR/results"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[bench] FAIL: %s\n' "$*" >&2; exit 1; }

case "$ONLY" in both|gerbang|peer) ;; *) die "ONLY must be both, gerbang or peer (got '$ONLY')";; esac
for v in DURATION CONNECTIONS THREADS WARMUP GERBANG_PORT PEER_PORT PEER_WORKERS IDLE_SETTLE RSS_INTERVAL_MS STARTUP_TIMEOUT WRK_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number (got '${!v}')"
done
(( DURATION > 0 )) || die "DURATION must be > 0"
(( CONNECTIONS >= THREADS && THREADS > 0 )) || die "need CONNECTIONS >= THREADS > 0"

# ----------------------------------------------------------------- temp dir, cleanup

TMP="$(mktemp -d -t gerbang-bench.XXXXXX)"
RES="$TMP/results"
mkdir -p "$RES/gerbang" "$RES/peer"

SERVER_GROUPS=()   # process-group ids of servers we started (each in its own session)
BG_PIDS=()         # helper processes (pollers, RSS samplers)

# live (non-zombie) processes in session/process group $1
group_alive() {
  local st
  for st in $(ps -o stat= -s "$1" 2>/dev/null); do
    [[ "$st" == Z* ]] || return 0
  done
  return 1
}

stop_group() {
  local g="$1" i
  group_alive "$g" || { wait "$g" 2>/dev/null || true; return 0; }
  kill -TERM -- "-$g" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    group_alive "$g" || break
    sleep 0.05
  done
  if group_alive "$g"; then
    log "process group $g ignored SIGTERM for 5 s; sending SIGKILL"
    kill -KILL -- "-$g" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do group_alive "$g" || break; sleep 0.05; done
  fi
  wait "$g" 2>/dev/null || true
}

untrack_group() {
  local g="$1" x keep=()
  for x in "${SERVER_GROUPS[@]}"; do [[ "$x" == "$g" ]] || keep+=("$x"); done
  SERVER_GROUPS=("${keep[@]}")
}

untrack_bg() {
  local p="$1" x keep=()
  for x in "${BG_PIDS[@]}"; do [[ "$x" == "$p" ]] || keep+=("$x"); done
  BG_PIDS=("${keep[@]}")
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p g
  for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for g in "${SERVER_GROUPS[@]}"; do stop_group "$g"; done
  wait 2>/dev/null || true
  if [[ "$KEEP_TMP" == 1 ]]; then
    log "kept temp dir $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_log() {
  [[ -f "$1" ]] || return 0
  echo "----- last lines of $1 -----" >&2
  tail -n 40 "$1" >&2 || true
  echo "-----" >&2
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ----------------------------------------------------------------- tools

ensure_wrk() {
  command -v wrk >/dev/null 2>&1 && return 0
  log "wrk not found; installing Debian's package wrk"
  local sudo=""
  (( EUID == 0 )) || sudo="sudo"
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; then
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
  command -v wrk >/dev/null 2>&1 || die "could not install wrk"
}

for tool in curl jq ps setsid "$PY"; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
ensure_wrk

# ----------------------------------------------------------------- server start / stop

# start_server NAME URL LOG CMD...  -> sets SERVER_PID and STARTUP_MS
# Spawns CMD in a new session (its own process group, so it and any children
# can be measured and killed as one) and measures the time from spawn to the
# first 2xx answer on URL. The poller is started first and polls every 5 ms, so
# its own start-up does not count.
start_server() {
  local name="$1" url="$2" logf="$3"; shift 3
  local ready="$TMP/$name.ready" pidf="$TMP/$name.pid" t1f="$TMP/$name.t1"
  rm -f "$ready" "$pidf" "$t1f"
  "$PY" "$UTIL" wait-http "$url" --ready-file "$ready" --pid-file "$pidf" \
    --timeout "$STARTUP_TIMEOUT" --interval-ms 5 >"$t1f" &
  local poller=$!
  BG_PIDS+=("$poller")
  while [[ ! -e "$ready" ]]; do
    kill -0 "$poller" 2>/dev/null || die "start-up poller for $name died"
    sleep 0.005
  done
  local t0="$EPOCHREALTIME"
  setsid "$@" >>"$logf" 2>&1 &
  SERVER_PID=$!
  SERVER_GROUPS+=("$SERVER_PID")
  echo "$SERVER_PID" >"$pidf"
  if ! wait "$poller"; then
    untrack_bg "$poller"
    show_log "$logf"
    die "$name did not answer $url"
  fi
  untrack_bg "$poller"
  local t1
  t1="$(cat "$t1f")"
  STARTUP_MS="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b / 1e6 - a * 1000 }')"
  local pgrp
  pgrp="$(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$SERVER_PID/stat")"
  [[ "$pgrp" == "$SERVER_PID" ]] || die "setsid did not put $name (pid $SERVER_PID) in its own process group (pgrp $pgrp)"
}

stop_server() {
  stop_group "$1"
  untrack_group "$1"
}

# ----------------------------------------------------------------- checks and load

http_get() {  # http_get URL BODYFILE -> prints status
  curl -sS --max-time 10 -o "$2" -w '%{http_code}' -H 'Accept: application/json' "$1" || echo 000
}

basic_auth() {  # RFC 6749 2.3.1: form-urlencode id and secret, then base64
  "$PY" -c 'import base64, sys, urllib.parse as u
print(base64.b64encode((u.quote_plus(sys.argv[1]) + ":" + u.quote_plus(sys.argv[2])).encode()).decode())' "$1" "$2"
}

check_token() {  # check_token SERVER TOKEN_URL BASIC ALG -> writes $RES/SERVER/token_ALG.check.json
  local server="$1" url="$2" basic="$3" alg="$4" body="$TMP/$1.token.$4.body" status
  status="$(curl -sS --max-time 10 -o "$body" -w '%{http_code}' \
    -H "Authorization: Basic $basic" -H 'Accept: application/json' \
    --data 'grant_type=client_credentials' "$url" || echo 000)"
  "$PY" "$UTIL" check-token --status "$status" --body "$body" --alg "$alg" \
    >"$RES/$server/token_$alg.check.json" \
    || die "$server: token endpoint $url did not return a JWT access token signed $alg"
  log "$server: $alg token ok: $(jq -c .header "$RES/$server/token_$alg.check.json")"
}

# run_wrk SECONDS JSON_OUT TEXT_OUT LUA URL BASIC
# wrk runs in the background and is waited for, so a signal to this script is
# handled at once (the trap then stops wrk too).
run_wrk() {
  BENCH_LUA_DIR="$LUA_DIR" BENCH_OUT="$2" BENCH_BASIC="$6" \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${1}s" --timeout "${WRK_TIMEOUT}s" \
    -s "$LUA_DIR/$4" "$5" >"$3" 2>&1 &
  local w=$! rc=0
  BG_PIDS+=("$w")
  wait "$w" || rc=$?
  untrack_bg "$w"
  return "$rc"
}

# run_load SERVER SCENARIO PGID URL LUA [BASIC]
run_load() {
  local server="$1" sc="$2" pgid="$3" url="$4" lua="$5" basic="${6:-}"
  local out="$RES/$server/$sc.json" wout="$TMP/$server.$sc.wrk.txt"
  local rssf="$TMP/$server.$sc.rss.json"
  rm -f "$rssf"
  "$PY" "$UTIL" rss-sample --pgid "$pgid" --out "$rssf" --interval-ms "$RSS_INTERVAL_MS" &
  local sampler=$!
  BG_PIDS+=("$sampler")

  if (( WARMUP > 0 )); then
    run_wrk "$WARMUP" "$TMP/$server.$sc.warmup.json" "$wout.warmup" "$lua" "$url" "$basic" \
      || { cat "$wout.warmup" >&2; die "$server $sc: wrk warm-up failed"; }
  fi
  run_wrk "$DURATION" "$out.wrk" "$wout" "$lua" "$url" "$basic" \
    || { cat "$wout" >&2; die "$server $sc: wrk failed"; }

  kill -TERM "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  untrack_bg "$sampler"

  [[ -s "$out.wrk" ]] || { cat "$wout" >&2; die "$server $sc: wrk wrote no result"; }
  local peak=0
  [[ -s "$rssf" ]] && peak="$(jq .peak_rss_kb "$rssf")"
  jq --argjson peak "$peak" '. + {peak_rss_kb: $peak}' "$out.wrk" >"$out"
  rm -f "$out.wrk"

  local non2xx warm_non2xx=0 sock
  non2xx="$(jq .non2xx "$out")"
  [[ -s "$TMP/$server.$sc.warmup.json" ]] && warm_non2xx="$(jq .non2xx "$TMP/$server.$sc.warmup.json")"
  sock="$(jq '.errors.connect + .errors.read + .errors.write + .errors.timeout' "$out")"
  log "$(printf '%-8s %-12s %10.0f req/s  p99 %8.2f ms  non-2xx %s  socket errors %s  peak RSS %.1f MiB' \
    "$server" "$sc" "$(jq .rps "$out")" "$(jq .p99_ms "$out")" "$non2xx" "$sock" \
    "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')")"
  if (( non2xx > 0 || warm_non2xx > 0 )); then
    cat "$wout" >&2
    die "$server $sc: $non2xx non-2xx responses under load (warm-up: $warm_non2xx)"
  fi
  (( sock == 0 )) || log "WARNING: $server $sc: $sock socket errors (see the report)"
  group_alive "$pgid" || die "$server died during $sc"
}

# measure SERVER PGID BASE BASIC_ES256 BASIC_RS256 [JWKS_URL TOKEN_URL]
# Idle RSS first (only the start-up poll has hit the server), then the
# correctness checks, then the four load runs. JWKS and token URLs default to
# the ones the discovery document announces.
measure() {
  local server="$1" pgid="$2" base="$3" b_es="$4" b_rs="$5" jwks="${6:-}" tok="${7:-}"
  local disc="$base/.well-known/openid-configuration"

  sleep "$IDLE_SETTLE"
  "$PY" "$UTIL" rss --pgid "$pgid" >"$TMP/$server.idle.json" || die "$server: no process to measure"
  log "$server: idle RSS $(jq .rss_kb "$TMP/$server.idle.json") kB over $(jq .processes "$TMP/$server.idle.json") process(es)"

  local body="$TMP/$server.disc.body" status
  status="$(http_get "$disc" "$body")"
  "$PY" "$UTIL" check-json --status "$status" --body "$body" --what "$server discovery" \
    --require issuer --require jwks_uri --require token_endpoint >/dev/null || die "$server: bad discovery document"
  [[ "$(jq -r .issuer "$body")" == "$base" ]] || log "WARNING: $server issuer is $(jq -r .issuer "$body"), expected $base"
  local d_jwks d_tok
  d_jwks="$(jq -r .jwks_uri "$body")"
  d_tok="$(jq -r .token_endpoint "$body")"
  [[ -z "$jwks" || "$jwks" == "$d_jwks" ]] || log "WARNING: $server discovery says jwks_uri $d_jwks; benchmarking $jwks"
  [[ -z "$tok" || "$tok" == "$d_tok" ]] || log "WARNING: $server discovery says token_endpoint $d_tok; benchmarking $tok"
  jwks="${jwks:-$d_jwks}"
  tok="${tok:-$d_tok}"

  body="$TMP/$server.jwks.body"
  status="$(http_get "$jwks" "$body")"
  "$PY" "$UTIL" check-json --status "$status" --body "$body" --what "$server JWKS" --require keys >/dev/null \
    || die "$server: bad JWKS at $jwks"
  log "$server: JWKS has $(jq '.keys | length' "$body") key(s): $(jq -c '[.keys[] | .kty + "/" + (.alg // "?")]' "$body")"
  check_token "$server" "$tok" "$b_es" ES256
  check_token "$server" "$tok" "$b_rs" RS256

  run_load "$server" discovery "$pgid" "$disc" get.lua
  run_load "$server" jwks "$pgid" "$jwks" get.lua
  run_load "$server" token_es256 "$pgid" "$tok" token.lua "$b_es"
  run_load "$server" token_rs256 "$pgid" "$tok" token.lua "$b_rs"
}

# write_summary SERVER WARM_MS COLD_MS
write_summary() {
  local s="$1"
  jq -n \
    --argjson startup "$2" --argjson cold "$3" \
    --slurpfile idle "$TMP/$s.idle.json" \
    --slurpfile d "$RES/$s/discovery.json" --slurpfile j "$RES/$s/jwks.json" \
    --slurpfile e "$RES/$s/token_es256.json" --slurpfile r "$RES/$s/token_rs256.json" \
    --slurpfile te "$RES/$s/token_ES256.check.json" --slurpfile tr "$RES/$s/token_RS256.check.json" \
    '{startup_ms: $startup, cold_startup_ms: $cold,
      idle_rss_kb: $idle[0].rss_kb, processes: $idle[0].processes,
      peak_rss_kb: ([$d[0], $j[0], $e[0], $r[0]] | map(.peak_rss_kb) | max),
      tokens: {ES256: $te[0], RS256: $tr[0]}}' >"$RES/$s/summary.json"
}

# ----------------------------------------------------------------- machine

log "temp dir $TMP; DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS WARMUP=$WARMUP ONLY=$ONLY"

if [[ "$ONLY" != gerbang && "$SKIP_PEER_SETUP" != 1 ]]; then
  log "installing the peer (bench/peers/setup.sh)"
  bash "$BENCH_DIR/peers/setup.sh" >&2
fi

GERBANG_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')"
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null || true)" ]]; then
  GERBANG_COMMIT="$GERBANG_COMMIT (with uncommitted changes)"
fi
OIDC_PROVIDER_VERSION="$(jq -r .version "$PEER_DIR/node_modules/oidc-provider/package.json" 2>/dev/null \
  || jq -r '.dependencies["oidc-provider"]' "$PEER_DIR/package.json")"
jq -n \
  --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
  --arg nproc "$(nproc)" \
  --arg cpu "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo unknown)" \
  --arg kernel "$(uname -srm)" \
  --arg rustc "$(rustc --version 2>/dev/null || echo 'not found')" \
  --arg node "$(node --version 2>/dev/null || echo 'not found')" \
  --arg oidc_provider "$OIDC_PROVIDER_VERSION" \
  --arg wrk "$( (wrk -v 2>&1 || true) | head -n1 | sed 's/ Copyright.*//')" \
  --arg commit "$GERBANG_COMMIT" \
  --arg only "$ONLY" \
  --argjson duration "$DURATION" --argjson connections "$CONNECTIONS" --argjson threads "$THREADS" \
  --argjson warmup "$WARMUP" --argjson workers "$PEER_WORKERS" --argjson rss_ms "$RSS_INTERVAL_MS" \
  '{date: $date, nproc: $nproc, cpu: $cpu, kernel: $kernel, rustc: $rustc, node: $node,
    oidc_provider: $oidc_provider, wrk: $wrk, gerbang_commit: $commit, only: $only,
    duration: $duration, connections: $connections, threads: $threads, warmup: $warmup,
    peer_workers: $workers, rss_interval_ms: $rss_ms}' >"$RES/machine.json"

# ----------------------------------------------------------------- Gerbang

run_gerbang() {
  local bin
  if [[ -n "${GERBANG_BIN:-}" ]]; then
    bin="$GERBANG_BIN"
  else
    bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/gerbang"
    [[ "$bin" == /* ]] || bin="$ROOT/$bin"
  fi
  if [[ "$SKIP_BUILD" != 1 ]]; then
    local locked=()
    [[ -f "$ROOT/Cargo.lock" ]] && locked=(--locked)
    log "building Gerbang: cargo build --release ${locked[*]}"
    (cd "$ROOT" && cargo build --release "${locked[@]}") >&2
  fi
  [[ -x "$bin" ]] || die "Gerbang binary $bin not found (build failed, or set GERBANG_BIN)"
  port_in_use "$GERBANG_PORT" && die "127.0.0.1:$GERBANG_PORT is already in use"

  local base="http://127.0.0.1:$GERBANG_PORT" data="$TMP/gerbang/data" logf="$TMP/gerbang.cold.log"
  mkdir -p "$data"
  local genv=(env "GERBANG_BIND=127.0.0.1:$GERBANG_PORT" "GERBANG_ISSUER=$base"
    "GERBANG_DATA_DIR=$data" "GERBANG_DATABASE_URL=sqlite://$data/gerbang.db" "GERBANG_LOG=warn"
    "GERBANG_RATE_LIMITS=$RATE_LIMITS")
  local disc="$base/.well-known/openid-configuration"

  # 1. cold start: empty data dir, so the server creates its keys, admin and demo client
  log "gerbang: cold start (empty data dir)"
  start_server gerbang "$disc" "$logf" "${genv[@]}" "$bin" serve
  local cold="$STARTUP_MS"
  log "gerbang: cold start-up ${cold} ms"
  stop_server "$SERVER_PID"
  logf="$TMP/gerbang.log"

  # 2. the two bench clients (server stopped: no concurrent writer on the SQLite file)
  local alg id_es sec_es id_rs sec_rs
  for alg in ES256 RS256; do
    local cout="$TMP/gerbang.client.$alg.out"
    "${genv[@]}" "$bin" client create --name "bench-${alg,,}" --grant client_credentials \
      --token-alg "$alg" --json >"$cout" 2>>"$logf" \
      || { show_log "$logf"; cat "$cout" >&2; die "gerbang client create --token-alg $alg failed"; }
    local pair
    pair="$("$PY" "$UTIL" client-json "$cout")" || die "could not read the $alg client"
    if [[ "$alg" == ES256 ]]; then
      IFS=$'\t' read -r id_es sec_es <<<"$pair"
    else
      IFS=$'\t' read -r id_rs sec_rs <<<"$pair"
    fi
  done
  log "gerbang: clients $id_es (ES256), $id_rs (RS256)"

  # 3. warm start (existing keys and database): the figure the report leads with
  log "gerbang: start"
  start_server gerbang "$disc" "$logf" "${genv[@]}" "$bin" serve
  local warm="$STARTUP_MS" pgid="$SERVER_PID"
  log "gerbang: start-up ${warm} ms (pid $pgid)"

  measure gerbang "$pgid" "$base" "$(basic_auth "$id_es" "$sec_es")" "$(basic_auth "$id_rs" "$sec_rs")" \
    "$base/jwks" "$base/token"
  write_summary gerbang "$warm" "$cold"
  stop_server "$pgid"
}

# ----------------------------------------------------------------- peer

run_peer() {
  [[ -f "$PEER_DIR/node_modules/oidc-provider/package.json" ]] \
    || die "peer not installed: run bash bench/peers/setup.sh"
  port_in_use "$PEER_PORT" && die "127.0.0.1:$PEER_PORT is already in use"

  local base="http://127.0.0.1:$PEER_PORT" logf="$TMP/peer.cold.log" keys="$TMP/peer-keys.json"
  local secret
  secret="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')"
  local penv=(env -C "$PEER_DIR" NODE_ENV=production "PEER_PORT=$PEER_PORT" "PEER_WORKERS=$PEER_WORKERS"
    "PEER_ISSUER=$base" "PEER_CLIENT_SECRET=$secret")
  local disc="$base/.well-known/openid-configuration"

  # 1. cold start: the master generates the RSA-2048 and P-256 keys
  log "peer: cold start (keys generated at start)"
  start_server peer "$disc" "$logf" "${penv[@]}" node server.mjs
  local cold="$STARTUP_MS"
  log "peer: cold start-up ${cold} ms"
  stop_server "$SERVER_PID"

  # 2. keys generated ahead, like Gerbang's existing data dir
  (cd "$PEER_DIR" && node server.mjs --gen-keys "$keys")

  log "peer: start"
  logf="$TMP/peer.log"
  start_server peer "$disc" "$logf" "${penv[@]}" "PEER_KEYS_FILE=$keys" node server.mjs
  local warm="$STARTUP_MS" pgid="$SERVER_PID" i
  log "peer: start-up ${warm} ms (pid $pgid)"
  # the port answers as soon as one worker listens; the master logs "ready:"
  # once all of them do
  for ((i = 0; i < 600; i++)); do
    grep -q '^ready:' "$logf" && break
    sleep 0.05
  done
  grep -q '^ready:' "$logf" || { show_log "$logf"; die "peer: not all $PEER_WORKERS workers came up"; }

  measure peer "$pgid" "$base" "$(basic_auth bench-es256 "$secret")" "$(basic_auth bench-rs256 "$secret")"
  write_summary peer "$warm" "$cold"
  stop_server "$pgid"
}

[[ "$ONLY" == peer ]] || run_gerbang
[[ "$ONLY" == gerbang ]] || run_peer

# ----------------------------------------------------------------- report

mkdir -p "$OUT_DIR"
jq -n \
  --slurpfile m "$RES/machine.json" \
  '{machine: $m[0], gerbang: {}, peer: {}}' >"$TMP/latest.json"
for s in gerbang peer; do
  for f in "$RES/$s"/*.json; do
    [[ -e "$f" ]] || continue
    k="$(basename "$f" .json)"
    jq --arg s "$s" --arg k "$k" --slurpfile v "$f" '.[$s][$k] = $v[0]' "$TMP/latest.json" >"$TMP/latest.json.new"
    mv "$TMP/latest.json.new" "$TMP/latest.json"
  done
done
cp "$TMP/latest.json" "$OUT_DIR/latest.json"
echo >&2
"$PY" "$UTIL" report --results "$RES" --out "$OUT_DIR/latest.md"
log "report written to ${OUT_DIR#"$ROOT"/}/latest.md (raw figures: latest.json)"
