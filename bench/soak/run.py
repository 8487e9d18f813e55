#!/usr/bin/env python3
"""The soak (issue 14): mixed API traffic held at a fraction (default 80 %) of the capacity the
same mix reaches in this run, for ten minutes, with a burst of password logins every minute; zero
errors expected, and the server's memory flat: RSS (VmRSS) at the start, middle and end, its peak,
and before and after each burst of argon2id hashes.

The mix (bench/lua/mix.lua) per request: 40 % userinfo, 35 % introspection, 20 % refresh-token
rotation, 5 % client_credentials; one confidential ES256 client. The pace: `wrk` with a fixed delay
per connection, calibrated from a full-speed run and two short trial runs.

    python3 bench/soak/run.py [--minutes 10] [--fraction 0.8] [--burst 16]

SQLite with the in-process store, or PostgreSQL + Redis with --backend postgres (BENCH_PG_URL,
BENCH_REDIS_URL as for bench/login_storm). GERBANG_BIN: the release binary. Needs `wrk`.
Writes bench/results/soak-latest.{md,json}.
"""

import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from login_storm import run as storm  # noqa: E402
from oidcflow import basic_auth, password_login  # noqa: E402  (bench/lib, put on the path by login_storm)
from benchproc import save  # noqa: E402

ROOT = storm.ROOT
LUA = os.path.join(ROOT, "bench", "lua")
CONNECTIONS = 32
THREADS = 2


class Client:
    def __init__(self, port, info):
        self.port, self.id, self.secret = port, info["client_id"], info["client_secret"]

    def login(self, i):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            return password_login(conn, self.id, storm.REDIRECT, storm.nik(i), storm.PASSWORD,
                                  client_secret=self.secret)
        finally:
            conn.close()

    def refresh_tokens(self, n, tmp):
        """A file of `n` fresh refresh tokens (each wrk run spends the ones it was given)."""
        with ThreadPoolExecutor(4) as pool:
            tokens = [t["refresh_token"] for t in pool.map(self.login, range(n))]
        path = os.path.join(tmp, "tokens.txt")
        with open(path, "w") as f:
            f.write("\n".join(tokens) + "\n")
        return path


def wrk(client, access, tmp, seconds, delay_ms, name, tokens=None):
    """One wrk run of the mix; `tokens`: a file of fresh refresh tokens, else made here."""
    out = os.path.join(tmp, f"{name}.json")
    env = dict(os.environ, BENCH_LUA_DIR=LUA, BENCH_THREADS=str(THREADS), BENCH_OUT=out,
               BENCH_TOKENS=tokens or client.refresh_tokens(CONNECTIONS * 2, tmp), BENCH_ACCESS_TOKEN=access,
               BENCH_DELAY_MS=str(delay_ms),
               BENCH_BASIC=basic_auth(client.id, client.secret))
    subprocess.run(["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--timeout", "10s", "-s",
                    os.path.join(LUA, "mix.lua"), f"http://127.0.0.1:{client.port}"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def errors(r):
    e = r["errors"]
    return r["non2xx"] + e["connect"] + e["read"] + e["write"] + e["timeout"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--fraction", type=float, default=0.8)
    ap.add_argument("--burst", type=int, default=16, help="password logins at once, every minute")
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    if not os.path.exists(storm.BIN):
        sys.exit(f"no binary at {storm.BIN}: cargo build --release, or set GERBANG_BIN")
    with tempfile.TemporaryDirectory(prefix="gerbang-soak-") as tmp:
        result = soak(args, tmp)
    text = report(result, args)
    print(text)
    save("soak-latest", text, result)
    if result["wrk_errors"] or result["login_errors"]:
        sys.exit("the soak had errors")


def soak(args, tmp):
    # Access tokens outlive the run, so the one userinfo and introspection use stays valid.
    env, port = storm.server_env(args.backend, tmp, "gerbang_bench_soak", "gerbang-soak:",
                                 access_token_ttl=int(args.minutes * 60) + 600)
    people = CONNECTIONS * 2 + args.burst * 2
    info = storm.setup(env, args.backend, people, tmp, ("--grant", "authorization_code", "--grant", "refresh_token",
                                                        "--grant", "client_credentials", "--token-alg", "ES256"))
    server = storm.start_server(env)
    sampler = storm.Sampler(server.pid, interval=1.0)
    sampler.start()
    try:
        client = Client(port, info)
        access = client.login(0)["access_token"]
        print("[soak] capacity of the mix at full speed (10 s)", file=sys.stderr)
        full = wrk(client, access, tmp, 10, 0, "capacity")
        if errors(full):
            sys.exit(f"errors at full speed: {full}")
        target = args.fraction * full["rps"]
        # rate ≈ connections / (delay + latency); two short trials correct the guess.
        delay = max(1, round(1000 * CONNECTIONS / target))
        for trial in range(2):
            t = wrk(client, access, tmp, 5, delay, f"trial{trial}")
            period = 1000 * CONNECTIONS / t["rps"]
            delay = max(1, round(delay + 1000 * CONNECTIONS / target - period))
            print(f"[soak] trial {trial}: {t['rps']:.0f}/s for {target:.0f}/s; delay now {delay} ms", file=sys.stderr)
        seconds = int(args.minutes * 60)
        print(f"[soak] {seconds} s at ~{target:.0f} requests/s, {args.burst} logins every 60 s", file=sys.stderr)
        bursts, login_errors = [], {}
        stop = threading.Event()

        def burster():
            i = 0
            while not stop.wait(60 if bursts else 30):
                before = storm.rss_kib(server.pid)
                with ThreadPoolExecutor(args.burst) as pool:
                    futs = [pool.submit(client.login, CONNECTIONS * 2 + (i + k) % (args.burst * 2))
                            for k in range(args.burst)]
                    for f in futs:
                        try:
                            f.result()
                        except Exception as e:  # counted, reported, fails the run
                            k = getattr(e, "key", type(e).__name__)
                            login_errors[k] = login_errors.get(k, 0) + 1
                peak = storm.rss_kib(server.pid)
                time.sleep(10)
                bursts.append({"before_mib": before / 1024, "right_after_mib": peak / 1024,
                               "ten_s_after_mib": storm.rss_kib(server.pid) / 1024})
                i += args.burst

        tokens = client.refresh_tokens(CONNECTIONS * 2, tmp)
        # The logins that made the tokens leave hash buffers that the server frees after 2 s
        # idle; starting after that keeps them out of the run's first memory reading.
        time.sleep(3)
        sampler.phase = "soak"
        started = time.monotonic()
        b = threading.Thread(target=burster, daemon=True)
        b.start()
        run = wrk(client, access, tmp, seconds, delay, "soak", tokens)
        stop.set()
        b.join()
        if server.poll() is not None:
            sys.exit(f"the server died (exit {server.returncode})")
    finally:
        sampler.stop = True
        server.terminate()
        server.wait()
    samples = [(t - started, k / 1024) for t, p, k in sampler.samples if p == "soak"]

    def at(s):
        return round(min(samples, key=lambda x: abs(x[0] - s))[1], 1) if samples else None

    return {"backend": args.backend, "capacity_rps": full["rps"], "target_rps": target, "delay_ms": delay,
            "run": run, "wrk_errors": errors(run), "login_errors": login_errors, "bursts": bursts,
            "rss_mib": {"start": at(1), "middle": at(seconds / 2), "end": at(seconds - 1),
                        "peak": round(max(k for _, k in samples), 1) if samples else None}}


def report(r, args):
    run, rss = r["run"], r["rss_mib"]
    lines = [f"Soak ({r['backend']}): {args.minutes:g} min of mixed API traffic (40 % userinfo, 35 % introspection, "
             f"20 % refresh rotation, 5 % client_credentials; ES256) at {run['rps']:,.0f} requests/s, "
             f"{100 * run['rps'] / r['capacity_rps']:.0f} % of the {r['capacity_rps']:,.0f}/s the mix reached at "
             f"full speed in the same run; {args.burst} password logins at once every minute. wrk {THREADS} threads "
             f"× {CONNECTIONS} connections, paced {r['delay_ms']} ms; everything on the same {os.cpu_count()} cores.",
             "",
             f"- Requests: {run['requests']:,}; p50 {run['p50_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms; errors (non-2xx "
             f"and socket): **{r['wrk_errors']}**; login errors: **{sum(r['login_errors'].values())}** "
             f"{r['login_errors'] or ''}",
             f"- RSS: start {rss['start']} MiB, middle {rss['middle']} MiB, end {rss['end']} MiB, peak {rss['peak']} MiB.",
             "- Bursts (RSS before → right after → 10 s after, MiB): "
             + "; ".join(f"{b['before_mib']:.1f} → {b['right_after_mib']:.1f} → {b['ten_s_after_mib']:.1f}"
                         for b in r["bursts"]) + "."]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    lines += ["", f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Linux "
              f"{platform.release()}; Gerbang {commit.stdout.strip()}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
