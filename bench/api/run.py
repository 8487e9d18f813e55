#!/usr/bin/env python3
"""Userinfo and introspection under load (issue 14): `GET /userinfo` with a bearer access token
and `POST /introspect` (HTTP Basic client authentication + the token), each run with wrk for
--duration seconds at --connections connections, on SQLite and on PostgreSQL + Redis.

The tokens are real: --accounts civil servants (in a three-level OPD tree, holding a global role
through the top unit and an application role of their own) log in through the whole code flow
(bench/lib/oidcflow.py) to a confidential first-party application with scopes
`openid profile nip opd roles`, and wrk uses their access tokens in turn. Before the load every
token is checked once: userinfo answers 200 with the token's `sub`, the `opd` and the `roles`;
introspection answers 200 with `active: true` and the client id. Any non-2xx answer under load
fails the run.

Before the timed runs, the server is started once with `sqlx::query` logged at debug level and
--count-requests of each kind are made: the SQL statements per request are counted from that
log and, with Redis, the Redis commands under the bench's key prefix from a `MONITOR`
connection (other users of a shared Redis are not counted).

    python3 bench/api/run.py [--duration 15] [--connections 64] [--threads 2] [--warmup 3]
                             [--accounts 20] [--backends sqlite,postgres]

PostgreSQL + Redis run when BENCH_PG_URL (a server the script may drop and create the database
BENCH_PG_DB, default gerbang_bench_api, on, e.g. postgres://postgres@127.0.0.1:5432) and
BENCH_REDIS_URL (e.g. redis://127.0.0.1:6379; keys under the prefix gerbang-api:) are set.
GERBANG_BIN: the release binary (default: $CARGO_TARGET_DIR or target, then release/gerbang).
Needs wrk (`apt-get install -y wrk`) and, for PostgreSQL, psql. Prints a Markdown report and
writes it, with the raw figures, to bench/results/api-latest.{md,json}.
"""

import argparse
import base64
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "lib"))
from oidcflow import basic_auth, password_login  # noqa: E402
from benchproc import BIN, free_port, gerbang, save, start_server  # noqa: E402
from pinning import Pinned, describe  # noqa: E402
from cpu import ms_each, process_ticks  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "")
PG_DB = os.environ.get("BENCH_PG_DB", "gerbang_bench_api")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
PG_PARAMS = os.environ.get("BENCH_PG_PARAMS", "")  # e.g. sslmode=disable (see bench/login_storm/run.py)
REDIS_PREFIX = "gerbang-api:"
LUA_DIR = os.path.join(ROOT, "bench", "lua")
PASSWORD = "kata-sandi-api-bench-2026"
REDIRECT = "https://aplikasi.contoh.go.id/callback"
SCOPE = "openid profile nip opd roles"
# The limiter runs on every request but never refuses one (as bench/run.sh).
RATE_LIMITS = "introspect=1000000000, introspect_client=1000000000"


def nip(i):
    """The i-th generated NIP: born 1 January 1980, appointed June 2006, male, sequence i + 1."""
    return f"198001012006061{i + 1:03}"


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def setup(env, accounts):
    """The OPD tree, roles, the application and the accounts. Returns (client id, secret)."""
    gerbang(env, "migrate")
    gerbang(env, "opd", "create", "--code", "9.00", "--name", "Pemerintah Kabupaten Uji", "--kind",
            "pemerintah_daerah", "--json")
    gerbang(env, "opd", "create", "--code", "9.01", "--name", "Dinas Uji", "--kind", "dinas", "--parent", "9.00",
            "--json")
    gerbang(env, "opd", "create", "--code", "9.01.1", "--name", "Bidang Uji", "--kind", "bidang", "--parent",
            "9.01", "--json")
    client = last_json(gerbang(env, "client", "create", "--name", "API bench", "--redirect-uri", REDIRECT,
                               "--first-party", "--scope", SCOPE, "--json"))
    client_id, secret = client["client_id"], client["client_secret"]
    gerbang(env, "role", "create", "--name", "pegawai-uji", "--json")
    gerbang(env, "role", "assign", "--role", "pegawai-uji", "--opd", "9.00", "--json")
    gerbang(env, "role", "create", "--name", "operator", "--client", client_id, "--json")
    for i in range(accounts):
        gerbang(env, "account", "create", "--nip", nip(i), "--name", f"Pegawai Uji {i}", "--password-stdin",
                "--json", stdin=PASSWORD.encode())
        gerbang(env, "account", "update", nip(i), "--opd", "9.01.1", "--json")
        gerbang(env, "role", "assign", "--role", "operator", "--client", client_id, "--account", nip(i), "--json")
    return client_id, secret


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def jwt_claims(token):
    seg = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def call(conn, kind, token, basic):
    if kind == "userinfo":
        conn.request("GET", "/userinfo", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    else:
        conn.request("POST", "/introspect", body=urllib.parse.urlencode({"token": token}),
                     headers={"Authorization": f"Basic {basic}", "Accept": "application/json",
                              "Content-Type": "application/x-www-form-urlencoded"})
    res = conn.getresponse()
    return res.status, res.read()


def check(port, tokens, client_id, basic):
    """Every token answers as it should, once, before any load."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for t in tokens:
        sub = jwt_claims(t)["sub"]
        status, body = call(conn, "userinfo", t, basic)
        info = json.loads(body) if status == 200 else {}
        if status != 200 or info.get("sub") != sub or "opd" not in info or "pegawai-uji" not in info.get("roles", []) \
                or "operator" not in info.get("app_roles", []):
            sys.exit(f"userinfo: {status} {body[:300]!r}")
        status, body = call(conn, "introspect", t, basic)
        v = json.loads(body) if status == 200 else {}
        if status != 200 or v.get("active") is not True or v.get("client_id") != client_id or v.get("sub") != sub:
            sys.exit(f"introspect: {status} {body[:300]!r}")
    conn.close()
    return info, v


class Monitor(threading.Thread):
    """Counts the Redis commands naming the bench's key prefix, over a MONITOR connection."""

    def __init__(self, url):
        super().__init__(daemon=True)
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=5)
        if u.password:
            self.sock.sendall(f"AUTH {urllib.parse.unquote(u.password)}\r\n".encode())
        self.sock.sendall(b"MONITOR\r\n")
        self.count, self.commands, self.stopped = 0, {}, False

    def run(self):
        buf = b""
        self.sock.settimeout(0.5)
        while not self.stopped:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\r\n")
            for line in lines:
                if REDIS_PREFIX.encode() in line and line.startswith(b"+"):
                    self.count += 1
                    parts = line.split(b'"')
                    name = parts[1].decode().upper() if len(parts) > 1 else "?"
                    self.commands[name] = self.commands.get(name, 0) + 1

    def snapshot(self):
        time.sleep(0.3)  # MONITOR lines arrive after the answers
        return self.count, dict(self.commands)

    def stop(self):
        self.stopped = True
        self.sock.close()


def count_queries(env, port, tokens, basic, n, log_path):
    """SQL statements and Redis commands per request, with the server logging every statement."""
    env = dict(env, GERBANG_LOG="warn,sqlx::query=debug")
    server = start_server(env, log_path)
    mon = Monitor(env["GERBANG_REDIS_URL"]) if env.get("GERBANG_REDIS_URL") else None
    if mon:
        mon.start()
    out = {}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for kind in ("userinfo", "introspect"):
            for t in tokens[:3]:  # warm whatever is cached, uncounted
                call(conn, kind, t, basic)
            time.sleep(0.3)
            before_sql = sql_lines(log_path)
            before_redis = mon.snapshot() if mon else (0, {})
            for i in range(n):
                status, body = call(conn, kind, tokens[i % len(tokens)], basic)
                if status != 200:
                    sys.exit(f"{kind} while counting: {status} {body[:200]!r}")
            time.sleep(0.3)
            after_redis = mon.snapshot() if mon else (0, {})
            out[kind] = {
                "requests": n,
                "sql_per_request": round((sql_lines(log_path) - before_sql) / n, 2),
                "redis_per_request": round((after_redis[0] - before_redis[0]) / n, 2) if mon else None,
                "redis_commands": {k: v - before_redis[1].get(k, 0) for k, v in after_redis[1].items()
                                   if v - before_redis[1].get(k, 0)} if mon else None,
            }
        conn.close()
    finally:
        if mon:
            mon.stop()
        stop_server(server)
    return out


def sql_lines(path):
    with open(path, "rb") as f:
        return sum(1 for line in f if b"sqlx::query" in line)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def wrk(args, kind, url, tokens_file, basic, seconds, out_json):
    env = dict(os.environ, BENCH_LUA_DIR=LUA_DIR, BENCH_OUT=out_json, BENCH_TOKENS=tokens_file, BENCH_BASIC=basic)
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s",
           "-s", os.path.join(LUA_DIR, f"{kind}.lua"), url]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0 or not os.path.exists(out_json):
        sys.exit(f"wrk failed: {res.stdout} {res.stderr}")
    with open(out_json) as f:
        r = json.load(f)
    if r["non2xx"]:
        sys.exit(f"{kind}: {r['non2xx']} non-2xx answers under load\n{res.stdout}")
    return r


def bench(backend, args, tmp):
    port = free_port()
    env = dict(os.environ)
    env.update({
        "GERBANG_BIND": f"127.0.0.1:{port}", "GERBANG_ISSUER": f"http://127.0.0.1:{port}",
        "GERBANG_DATA_DIR": tmp, "GERBANG_BOOTSTRAP": "false", "GERBANG_DEMO": "false",
        "GERBANG_THEMES_DIR": os.path.join(ROOT, "themes"), "GERBANG_LOG": "warn",
        "GERBANG_RATE_LIMITS": RATE_LIMITS, "GERBANG_ACCESS_TOKEN_TTL": "3600",
    })
    if backend == "sqlite":
        env["GERBANG_DATABASE_URL"] = f"sqlite://{tmp}/gerbang.db"
        env.pop("GERBANG_REDIS_URL", None)
    else:
        subprocess.run(["psql", PG_URL, "-qc", f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"], check=True,
                       capture_output=True)
        subprocess.run(["psql", PG_URL, "-qc", f"CREATE DATABASE {PG_DB}"], check=True, capture_output=True)
        env["GERBANG_DATABASE_URL"] = f"{PG_URL.rstrip('/')}/{PG_DB}" + (f"?{PG_PARAMS}" if PG_PARAMS else "")
        env["GERBANG_REDIS_URL"] = REDIS_URL
        env["GERBANG_REDIS_PREFIX"] = REDIS_PREFIX
    print(f"[{backend}] creating {args.accounts} accounts", file=sys.stderr)
    client_id, secret = setup(env, args.accounts)
    basic = basic_auth(client_id, secret)
    server = start_server(env)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        tokens = [password_login(conn, client_id, REDIRECT, nip(i), PASSWORD, scope=SCOPE,
                                 client_secret=secret)["access_token"] for i in range(args.accounts)]
        conn.close()
        tokens_file = os.path.join(tmp, "tokens.txt")
        with open(tokens_file, "w") as f:
            f.write("\n".join(tokens) + "\n")
        info, intro = check(port, tokens, client_id, basic)
        print(f"[{backend}] {len(tokens)} tokens checked; userinfo claims {sorted(info)}", file=sys.stderr)
    finally:
        stop_server(server)
    counts = {}
    if args.count_requests:
        counts = count_queries(env, port, tokens, basic, args.count_requests, os.path.join(tmp, "count.log"))
        print(f"[{backend}] per request: {json.dumps(counts)}", file=sys.stderr)
    server = start_server(env)
    runs = {}
    try:
        time.sleep(1)
        for kind in ("userinfo", "introspect"):
            url = f"http://127.0.0.1:{port}/{kind}"
            if args.warmup:
                wrk(args, kind, url, tokens_file, basic, args.warmup, os.path.join(tmp, f"{kind}.warm.json"))
            load_before = loadavg()
            t0 = process_ticks(server.pid)
            r = wrk(args, kind, url, tokens_file, basic, args.duration, os.path.join(tmp, f"{kind}.json"))
            # Server CPU per request: steadier than req/s on a machine whose speed wanders.
            r["server_cpu_us"] = round(1000 * ms_each(process_ticks(server.pid) - t0, r["requests"]), 1)
            r["loadavg_before"], r["loadavg_after"] = load_before, loadavg()
            r.update(counts.get(kind, {}))
            runs[kind] = r
            print(f"[{backend}] {kind}: {r['rps']:.0f} req/s, p99 {r['p99_ms']:.2f} ms, non-2xx {r['non2xx']}, "
                  f"server CPU {r['server_cpu_us']} µs/request, "
                  f"load {load_before}", file=sys.stderr)
            if server.poll() is not None:
                sys.exit(f"the server died (exit {server.returncode})")
    finally:
        stop_server(server)
    return {"backend": backend, "accounts": args.accounts, "runs": runs}


def report(results, args):
    lines = [f"Userinfo and introspection: wrk {args.threads} threads, {args.connections} connections, "
             f"{args.duration} s per run after {args.warmup} s of warm-up, {args.accounts} people's RS256 access "
             f"tokens in turn (scope `{SCOPE}`); wrk and server on one machine of {os.cpu_count()} cores; {args.layout}", "",
             "| backend | endpoint | req/s | p50 ms | p99 ms | non-2xx | socket errors | server CPU µs/request "
             "| SQL/request | Redis/request | load avg before |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        for kind, x in r["runs"].items():
            sock = sum(v for k, v in x["errors"].items() if k != "status")
            redis = x.get("redis_per_request")
            lines.append(f"| {r['backend']} | {kind} | {x['rps']:.0f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} "
                         f"| {x['non2xx']} | {sock} | {x.get('server_cpu_us', '—')} | {x.get('sql_per_request', '—')} "
                         f"| {'—' if redis is None else redis} | {x['loadavg_before']} |")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    lines += ["", f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
              f"Linux {platform.release()}; Gerbang {commit.stdout.strip()} ({BIN})."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--accounts", type=int, default=20)
    ap.add_argument("--count-requests", type=int, default=200,
                    help="requests of each kind for the SQL and Redis counts (0: skip)")
    ap.add_argument("--backends", default="sqlite,postgres" if PG_URL and REDIS_URL else "sqlite")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "api-latest"),
                    help="path of the report without .md/.json")
    ap.add_argument("--pin", metavar="SERVER_CPUS",
                    help="run Gerbang on these CPUs (e.g. 0) and the load generator, PostgreSQL and Redis on "
                         "the others (bench/lib/pinning.py)")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"no binary at {BIN}: cargo build --release, or set GERBANG_BIN")
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    results = []
    with Pinned(args.pin) as pinned:
        args.layout = describe(pinned)
        for backend in args.backends.split(","):
            if backend == "postgres" and not (PG_URL and REDIS_URL):
                sys.exit("postgres needs BENCH_PG_URL and BENCH_REDIS_URL")
            with tempfile.TemporaryDirectory(prefix=f"gerbang-api-{backend}-") as tmp:
                results.append(bench(backend, args, tmp))
    text = report(results, args)
    print(text)
    save(args.out, text, results)


if __name__ == "__main__":
    main()
