#!/usr/bin/env python3
"""Refresh-token rotation throughput (issue 14): `wrk` posts grant_type=refresh_token for a public
client, each answer's new refresh token going back into the thread's queue (bench/lua/refresh.lua),
so every request spends a live token and rotates it, as applications do. The tokens come from real
logins through the code flow (bench/login_storm's helpers). Also reported: the server's CPU time
per refresh (utime+stime from /proc/PID/stat) and the whole machine's busy time per refresh (from
/proc/stat: server, database, Redis and wrk together).

    python3 bench/refresh/run.py [--alg ES256] [--connections 64] [--duration 15]

SQLite with the in-process store; also PostgreSQL + Redis when BENCH_PG_URL and BENCH_REDIS_URL
are set (as for bench/login_storm). GERBANG_BIN: the release binary. Needs `wrk`.
Writes bench/results/refresh-latest.{md,json}.
"""

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from login_storm import run as storm  # noqa: E402
from oidcflow import password_login  # noqa: E402  (bench/lib, put on the path by login_storm)
from cpu import machine_ticks, ms_each, process_ticks, ticks_of  # noqa: E402
from benchproc import save  # noqa: E402
from pinning import Pinned, describe  # noqa: E402

ROOT = storm.ROOT
LUA = os.path.join(ROOT, "bench", "lua")
PG_DB = "gerbang_bench_refresh"


def wrk(port, client_id, tokens_file, args, seconds, out):
    env = dict(os.environ, BENCH_LUA_DIR=LUA, BENCH_CLIENT_ID=client_id, BENCH_TOKENS=tokens_file,
               BENCH_THREADS=str(args.threads), BENCH_OUT=out)
    subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
                    "--timeout", "10s", "-s", os.path.join(LUA, "refresh.lua"), f"http://127.0.0.1:{port}/token"],
                   env=env, check=True, capture_output=True)
    with open(out) as f:
        return json.load(f)


def bench(backend, args, tmp):
    env, port = storm.server_env(backend, tmp, PG_DB, "gerbang-refresh:")
    people = args.connections * 2
    print(f"[{backend}] {people} accounts, a public {args.alg} client", file=sys.stderr)
    client_id = storm.setup(env, backend, people, tmp, ("--public", "--grant", "authorization_code", "--grant",
                                                       "refresh_token", "--token-alg", args.alg))["client_id"]
    server = storm.start_server(env)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        tokens = [password_login(conn, client_id, storm.REDIRECT, storm.nik(i), storm.PASSWORD)["refresh_token"] for i in range(people)]
        tokens_file = os.path.join(tmp, "tokens.txt")
        with open(tokens_file, "w") as f:
            f.write("\n".join(tokens) + "\n")
        # The warm-up rotates every token; the measured run goes on from the ones it left.
        warm = wrk(port, client_id, tokens_file, args, args.warmup, os.path.join(tmp, "warm.json"))
        if warm["non2xx"] or warm["requests"] == 0:
            sys.exit(f"warm-up failed: {warm}")
        # Fresh tokens for the measured run: those the warm-up's queues held are gone with wrk.
        tokens = [password_login(conn, client_id, storm.REDIRECT, storm.nik(i), storm.PASSWORD)["refresh_token"] for i in range(people)]
        with open(tokens_file, "w") as f:
            f.write("\n".join(tokens) + "\n")
        t0, m0, d0 = process_ticks(server.pid), machine_ticks(), ticks_of()
        w0 = os.times()
        r = wrk(port, client_id, tokens_file, args, args.duration, os.path.join(tmp, "run.json"))
        w1 = os.times()
        t1, m1, d1 = process_ticks(server.pid), machine_ticks(), ticks_of()
        n = r["requests"]
        r["server_cpu_ms_per_refresh"] = ms_each(t1 - t0, n)
        r["services_cpu_ms_per_refresh"] = ms_each(d1 - d0, n)
        r["wrk_cpu_ms_per_refresh"] = round(1000 * ((w1.children_user + w1.children_system)
                                                    - (w0.children_user + w0.children_system)) / max(n, 1), 3)
        r["machine_cpu_ms_per_refresh"] = ms_each(m1 - m0, n)
        if server.poll() is not None:
            sys.exit(f"the server died (exit {server.returncode})")
    finally:
        server.terminate()
        server.wait()
    r["backend"] = backend
    print(f"[{backend}] {r['rps']:.0f} refreshes/s, p99 {r['p99_ms']:.1f} ms, non-2xx {r['non2xx']}, "
          f"server CPU {r['server_cpu_ms_per_refresh']} ms/refresh", file=sys.stderr)
    return r


def report(results, args):
    lines = [f"Refresh-token rotation: public client, {args.alg} tokens (access + ID token), wrk {args.threads} "
             f"threads × {args.connections} connections for {args.duration} s after a {args.warmup} s warm-up; wrk, "
             f"server, database and Redis on one machine of {os.cpu_count()} cores; {args.layout}", "",
             "CPU time per refresh, in ms: of the Gerbang process; of PostgreSQL's and Redis's processes; of wrk; "
             "and of the whole machine (everything else running included).", "",
             "| backend | refreshes/s | p50 ms | p99 ms | non-2xx | socket errors | CPU Gerbang | CPU PostgreSQL "
             "+ Redis | CPU wrk | CPU machine |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        e = r["errors"]
        sock = e["connect"] + e["read"] + e["write"] + e["timeout"]
        lines.append(f"| {r['backend']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non2xx']} "
                     f"| {sock} | {r['server_cpu_ms_per_refresh']} | {r['services_cpu_ms_per_refresh']} "
                     f"| {r['wrk_cpu_ms_per_refresh']} | {r['machine_cpu_ms_per_refresh']} |")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    load = os.getloadavg()[0]
    lines += ["", f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Linux "
              f"{platform.release()}; load average {load:.2f} at the end; Gerbang {commit.stdout.strip()}."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alg", default="ES256", choices=["RS256", "ES256", "EdDSA"])
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgres" if storm.PG_URL and storm.REDIS_URL else "sqlite")
    ap.add_argument("--pin", metavar="SERVER_CPUS",
                    help="run Gerbang on these CPUs (e.g. 0) and the load generator, PostgreSQL and Redis on "
                         "the others (bench/lib/pinning.py)")
    args = ap.parse_args()
    if not os.path.exists(storm.BIN):
        sys.exit(f"no binary at {storm.BIN}: cargo build --release, or set GERBANG_BIN")
    results = []
    with Pinned(args.pin) as pinned:
        args.layout = describe(pinned)
        for backend in args.backends.split(","):
            if backend == "postgres" and not (storm.PG_URL and storm.REDIS_URL):
                sys.exit("postgres needs BENCH_PG_URL and BENCH_REDIS_URL")
            with tempfile.TemporaryDirectory(prefix=f"gerbang-refresh-{backend}-") as tmp:
                results.append(bench(backend, args, tmp))
    text = report(results, args)
    print(text)
    save("refresh-latest", text, results)

if __name__ == "__main__":
    main()
