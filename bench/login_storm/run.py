#!/usr/bin/env python3
"""The morning login storm (issue 14): password logins through the whole authorization code flow
(GET /authorize -> login page -> POST /login -> code -> POST /token, with PKCE, cookies and the
form's CSRF token) at increasing concurrency, next to the argon2id ceiling measured in the same
run (`gerbang hash-bench`: verifications/s on `max_concurrent_hashes` threads with the configured
parameters), with the server's RSS (VmRSS from /proc/PID/status) at idle, during the storm and
5 s after it.

Each level runs in `--rounds` rounds with a ceiling reading before the first and after each, and
each round is held against the mean of the two readings around it: on a shared virtual machine the
speed drifts by a third within minutes, and a ceiling read minutes earlier made the percentage
move by as much. Also reported: the share of the whole machine's CPU time the hashing threads got
during the storm (`gerbang-argon2`, from /proc), which does not depend on the ceiling at all.

    python3 bench/login_storm/run.py [--accounts 500] [--levels 2,4,8,16,32] [--duration 10]
        [--rounds 3] [--alg RS256|ES256|EdDSA] [--browsers returning|new] [--client loop|threads|rust]

Runs on SQLite; also on PostgreSQL + Redis when BENCH_PG_URL (a server the script may create the
database gerbang_bench_storm on, e.g. postgres://postgres@127.0.0.1:5432) and BENCH_REDIS_URL
(e.g. redis://127.0.0.1:6379/11; keys under the prefix gerbang-storm:) are set.
GERBANG_BIN: the release binary (default: $CARGO_TARGET_DIR or target, then release/gerbang).
MAX_CONCURRENT_HASHES (default 4, as k8s/base/configmap.yaml). Standard library only, plus `psql`
for PostgreSQL and cargo for `--client rust` (bench/storm_client, built into $STORM_CLIENT_TARGET,
default bench/storm_client/target, when its binary is missing or older than its sources;
STORM_CLIENT_BIN names a prebuilt one instead). Prints a Markdown report and writes it, with the
raw figures, to bench/results/login-storm-latest.{md,json}.
"""

import argparse
import functools
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "lib"))
from oidcflow import Failure, password_login  # noqa: E402
from loopflow import Driver  # noqa: E402
from cpu import capacity_ticks, grown, ms_each, process_ticks, thread_ticks, ticks_of  # noqa: E402
from benchproc import BIN, free_port, gerbang, save, start_server  # noqa: E402
from pinning import Pinned, describe  # noqa: E402
PG_URL = os.environ.get("BENCH_PG_URL", "")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
# Connection parameters for Gerbang's database URL, e.g. `sslmode=disable`: on loopback, TLS to
# PostgreSQL only costs CPU on both ends (sqlx's default, `prefer`, uses it when offered).
PG_PARAMS = os.environ.get("BENCH_PG_PARAMS", "")
HASH_THREADS = os.environ.get("MAX_CONCURRENT_HASHES", "4")
PG_DB = "gerbang_bench_storm"
# The name of Gerbang's password-hashing threads (src/password/pool.rs).
HASH_THREAD = "gerbang-argon2"
PASSWORD = "kata-sandi-pagi-senin-2026"
REDIRECT = "https://aplikasi.contoh.go.id/callback"
# The browser's long-lived cookie by which Gerbang tells a known device from a new one.
DEVICE_COOKIE = "gerbang_device"
# Outside the generated range, so the account whose hash is copied is not one of the storm's.
PROBE_NIK = "3509024203900001"
MIB = 1024 * 1024
CLIENTS = {"loop": "Python, every person on one thread", "threads": "Python, a thread per person",
           "rust": "Rust, a thread per person"}
# The Rust load generator (`--client rust`): a crate of its own, built on first use.
STORM_CLIENT = os.path.join(ROOT, "bench", "storm_client")


def nik(i):
    """The i-th generated NIK (Jember, Kaliwates district); distinct for i < 3,359,664."""
    seq, rest = 1 + i % 9999, i // 9999
    return f"350901{1 + rest % 28:02}{1 + (rest // 28) % 12:02}90{seq:04}"


def rss_kib(pid):
    """VmRSS of the process in KiB, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Sampler(threading.Thread):
    """VmRSS every `interval` seconds, tagged with the phase the main thread is in."""

    def __init__(self, pid, interval=0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.phase, self.samples, self.stop = pid, interval, "idle", [], False

    def run(self):
        while not self.stop:
            kib = rss_kib(self.pid)
            if kib is not None:
                self.samples.append((time.monotonic(), self.phase, kib))
            time.sleep(self.interval)

    def peak(self, phase):
        xs = [k for _, p, k in self.samples if p == phase]
        return max(xs) / 1024 if xs else None


def login_once(conn, client_id, username, device=None):
    """One person's login through the code flow. Returns (flow seconds, POST /login seconds,
    the browser's device cookie) or raises Failure with the step and status. `device`: the
    device cookie of the person's own browser, None for a browser never seen."""
    t0 = time.perf_counter()
    timings = {}
    jar = {DEVICE_COOKIE: device} if device else {}
    password_login(conn, client_id, REDIRECT, username, PASSWORD, timings=timings, cookies=jar)
    return time.perf_counter() - t0, timings["login"], jar.get(DEVICE_COOKIE)


@functools.cache
def storm_client_bin():
    """The Rust load generator's binary: $STORM_CLIENT_BIN, or bench/storm_client built (once,
    and again when a source is newer than the binary) into $STORM_CLIENT_TARGET, default
    bench/storm_client/target."""
    given = os.environ.get("STORM_CLIENT_BIN")
    if given:
        if not os.access(given, os.X_OK):
            sys.exit(f"STORM_CLIENT_BIN={given}: not an executable")
        return given
    target = os.environ.get("STORM_CLIENT_TARGET", os.path.join(STORM_CLIENT, "target"))
    binary = os.path.join(target, "release", "storm_client")
    sources = [os.path.join(STORM_CLIENT, f) for f in ("Cargo.toml", "Cargo.lock")]
    for d, _, files in os.walk(os.path.join(STORM_CLIENT, "src")):
        sources += [os.path.join(d, f) for f in files]
    if not os.path.exists(binary) or os.path.getmtime(binary) < max(os.path.getmtime(f) for f in sources):
        print(f"building the Rust load generator into {target}", file=sys.stderr)
        env = dict(os.environ, CARGO_TARGET_DIR=target)
        cmd = ["cargo", "build", "--release", "--locked", "--manifest-path", os.path.join(STORM_CLIENT, "Cargo.toml")]
        if subprocess.run(cmd, env=env).returncode != 0 or not os.path.exists(binary):
            sys.exit("building bench/storm_client failed")
    return binary


def rust_storm(port, client_id, accounts, concurrency, seconds, devices, limit):
    """One storm by the Rust load generator, a process of its own: the people in order (account i
    with its device cookie, when `devices` is kept), its answer as a dict (flows, posts, errors,
    devices, cpu_s, seconds)."""
    people = [[nik(i), devices.get(nik(i)) if devices is not None else None] for i in range(accounts)]
    cmd = [storm_client_bin(), "--port", str(port), "--client-id", client_id, "--redirect", REDIRECT,
           "--password", PASSWORD, "--device-cookie", DEVICE_COOKIE, "--concurrency", str(concurrency),
           "--seconds", str(seconds)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    if devices is not None:
        cmd.append("--keep-devices")
    out = subprocess.run(cmd, input=json.dumps({"people": people}).encode(), stdout=subprocess.PIPE)
    if out.returncode != 0:
        sys.exit(f"the Rust load generator failed (exit {out.returncode})")
    return json.loads(out.stdout)


def storm(port, client_id, accounts, concurrency, seconds, server_pid, devices=None, limit=None, client="loop"):
    """`concurrency` people logging in back to back for `seconds`, the next account each time,
    over the thread's keep-alive connection. With `devices` (a dict, account → device cookie)
    each person comes back in their own browser, its single sign-on session over but its device
    cookie kept, as on a working morning; without, every login is a browser never seen. `limit`
    stops after that many logins. `client`: "loop", every person on one thread
    (bench/lib/loopflow.py), "threads", a thread per person with `http.client`, or "rust",
    bench/storm_client in a process of its own (a thread per person; its CPU is its own
    getrusage)."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    flows, posts, errors = [], [], {}
    counter = [0]

    def person():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                i = counter[0]
                counter[0] += 1
            if limit is not None and i >= limit:
                break
            try:
                who = nik(i % accounts)
                flow, post, device = login_once(conn, client_id, who, devices.get(who) if devices is not None else None)
                with lock:
                    flows.append(flow)
                    posts.append(post)
                    if devices is not None and device:
                        devices[who] = device
            except (Failure, OSError, http.client.HTTPException, ValueError) as e:
                key = getattr(e, "key", type(e).__name__)
                with lock:
                    errors[key] = errors.get(key, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.close()

    def next_login():
        with lock:
            i = counter[0]
            counter[0] += 1
        if limit is not None and i >= limit:
            return None
        who = nik(i % accounts)
        return who, devices.get(who) if devices is not None else None

    def done(flow, post, who, device):
        flows.append(flow)
        posts.append(post)
        if devices is not None and device:
            devices[who] = device

    def failed(key):
        errors[key] = errors.get(key, 0) + 1

    start = time.monotonic()
    # Where a login's CPU goes: this client (all its threads), the server, PostgreSQL + Redis;
    # and how much of the whole machine went to the password hashes themselves.
    c0, s0, d0 = time.process_time(), process_ticks(server_pid), ticks_of()
    h0, m0 = thread_ticks(server_pid, HASH_THREAD), capacity_ticks()
    client_s = None
    if client == "loop":
        driver = Driver(port, client_id, REDIRECT, PASSWORD, DEVICE_COOKIE)
        driver.run(concurrency, deadline, next_login, done, failed)
    elif client == "rust":
        out = rust_storm(port, client_id, accounts, concurrency, seconds, devices, limit)
        flows, posts, client_s = out["flows"], out["posts"], out["cpu_s"]
        errors.update(out["errors"])
        if devices is not None:
            devices.update(out["devices"])
    else:
        threads = [threading.Thread(target=person) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    took = time.monotonic() - start
    if client == "rust":
        # The storm's own wall time, without starting the process and handing it the people.
        took = out["seconds"]
    else:
        client_s = time.process_time() - c0
    n = len(flows)
    cpu = {"client": round(1000 * client_s / max(n, 1), 2),
           "server": ms_each(process_ticks(server_pid) - s0, n), "services": ms_each(ticks_of() - d0, n)}
    hashing = grown(h0, thread_ticks(server_pid, HASH_THREAD)) / max(capacity_ticks() - m0, 1)
    return {"concurrency": concurrency, "seconds": took, "logins": n, "per_second": n / took, "cpu_ms": cpu,
            "hash_share": hashing, "flow_p50_ms": pct(flows, 50), "flow_p99_ms": pct(flows, 99),
            "login_p50_ms": pct(posts, 50), "login_p99_ms": pct(posts, 99), "errors": errors,
            "_flows": flows, "_posts": posts}


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(1000 * xs[min(len(xs) - 1, int(len(xs) * p / 100))], 1)


def setup(env, backend, accounts, tmp, client_args=("--public",)):
    """The database: `accounts` citizens imported from a CSV, all with the probe's password hash,
    and a first-party client (`client_args`: `gerbang client create` options). Returns the
    client's JSON (client_id, and client_secret when confidential)."""
    csv = os.path.join(tmp, "warga.csv")
    with open(csv, "w", encoding="utf-8") as f:
        f.write("nik,nama,status\n")
        for i in range(accounts):
            f.write(f"{nik(i)},Warga Pagi {i},aktif\n")
    gerbang(env, "migrate")
    gerbang(env, "import", "citizens", csv, "--json")
    gerbang(env, "account", "create", "--nik", PROBE_NIK, "--name", "Warga Uji", "--password-stdin", "--json",
            stdin=PASSWORD.encode())
    sql = ("UPDATE accounts SET password_hash = (SELECT password_hash FROM accounts WHERE nik = "
           f"'{PROBE_NIK}') WHERE nik <> '{PROBE_NIK}'")
    if backend == "sqlite":
        import sqlite3
        db = sqlite3.connect(os.path.join(tmp, "gerbang.db"))
        db.execute(sql)
        db.commit()
        db.close()
    else:
        subprocess.run(["psql", env["GERBANG_DATABASE_URL"], "-qc", sql], check=True, capture_output=True)
    out = gerbang(env, "client", "create", "--name", "Storm", "--redirect-uri", REDIRECT, "--first-party", "--json",
                  *client_args)
    return json.loads(out.strip().splitlines()[-1])


def server_env(backend, tmp, pg_db, redis_prefix, **settings):
    """(env, port) of a server of its own: a temp data dir, SQLite or a fresh PostgreSQL database
    `pg_db` + Redis keys under `redis_prefix`, rate limits off; `settings`: more GERBANG_* values."""
    port = free_port()
    env = dict(os.environ)
    env.update({
        "GERBANG_BIND": f"127.0.0.1:{port}", "GERBANG_ISSUER": f"http://127.0.0.1:{port}",
        "GERBANG_DATA_DIR": tmp, "GERBANG_BOOTSTRAP": "false", "GERBANG_DEMO": "false",
        "GERBANG_THEMES_DIR": os.path.join(ROOT, "themes"), "GERBANG_LOG": "warn",
        "GERBANG_RATE_LIMITS": "off", "GERBANG_MAX_FLOWS_PER_ADDRESS": "100000000",
    })
    env.update({f"GERBANG_{k.upper()}": str(v) for k, v in settings.items()})
    if backend == "sqlite":
        env["GERBANG_DATABASE_URL"] = f"sqlite://{tmp}/gerbang.db"
        env.pop("GERBANG_REDIS_URL", None)
    else:
        for sql in (f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)", f"CREATE DATABASE {pg_db}"):
            subprocess.run(["psql", PG_URL, "-qc", sql], check=True, capture_output=True)
        env["GERBANG_DATABASE_URL"] = f"{PG_URL.rstrip('/')}/{pg_db}" + (f"?{PG_PARAMS}" if PG_PARAMS else "")
        env["GERBANG_REDIS_URL"] = REDIS_URL
        env["GERBANG_REDIS_PREFIX"] = redis_prefix
    return env, port


def bench(backend, args, tmp):
    env, port = server_env(backend, tmp, PG_DB, "gerbang-storm:", max_concurrent_hashes=HASH_THREADS,
                           hash_queue=256)
    print(f"[{backend}] creating {args.accounts} accounts", file=sys.stderr)
    client_id = setup(env, backend, args.accounts, tmp, ("--public", "--token-alg", args.alg))["client_id"]
    server = start_server(env)
    sampler = Sampler(server.pid)
    sampler.start()

    def ceiling():
        print(f"[{backend}] measuring the argon2id ceiling ({args.ceiling_seconds} s)", file=sys.stderr)
        out = gerbang(env, "hash-bench", "--seconds", str(args.ceiling_seconds))
        return json.loads(out.strip().splitlines()[-1])

    try:
        time.sleep(2)
        idle = rss_kib(server.pid) / 1024
        login_once(http.client.HTTPConnection("127.0.0.1", port, timeout=60), client_id, nik(0))
        devices = None
        if args.browsers == "returning":
            # Yesterday: everyone signed in once from their own browser, which Gerbang now knows.
            print(f"[{backend}] each of {args.accounts} people signs in once (their browser becomes known)",
                  file=sys.stderr)
            devices = {}
            storm(port, client_id, args.accounts, 4, 3600, server.pid, devices, limit=args.accounts)
        # The ceiling is measured between the rounds of the storm, so every round has one just
        # before and one just after it: a shared machine's speed drifts within minutes, and a
        # round is held against the mean of the two readings around it (the idle server beside
        # the measurement takes nothing).
        ceilings = [ceiling()]
        levels = []
        for c in args.levels:
            sampler.phase = f"storm-{c}"
            rounds = []
            for k in range(args.rounds):
                print(f"[{backend}] {c} at once for {args.duration} s (round {k + 1} of {args.rounds})",
                      file=sys.stderr)
                r = storm(port, client_id, args.accounts, c, args.duration, server.pid, devices,
                          client=args.client)
                sampler.phase = "between"
                ceilings.append(ceiling())
                sampler.phase = f"storm-{c}"
                r["ceiling"] = (ceilings[-2]["per_second"] + ceilings[-1]["per_second"]) / 2
                r["of_ceiling"] = r["per_second"] / r["ceiling"]
                rounds.append(r)
                print(f"[{backend}]   {r['per_second']:.1f} logins/s, {100 * r['of_ceiling']:.0f} % of the ceiling, "
                      f"hashing {100 * r['hash_share']:.0f} % of the machine, p99 {r['flow_p99_ms']} ms, "
                      f"errors {r['errors']}", file=sys.stderr)
            lv = merge(rounds)
            lv["peak_rss_mib"] = sampler.peak(f"storm-{c}")
            levels.append(lv)
        sampler.phase = "after"
        after = []
        for wait in (1, 5, 10):
            time.sleep(wait - (after[-1][0] if after else 0))
            after.append((wait, rss_kib(server.pid) / 1024))
        if server.poll() is not None:
            sys.exit(f"the server died (exit {server.returncode})")
    finally:
        sampler.stop = True
        server.terminate()
        server.wait()
    storm_peak = max(r["peak_rss_mib"] or 0 for r in levels)
    return {"backend": backend, "accounts": args.accounts, "ceilings": ceilings, "idle_rss_mib": round(idle, 1),
            "storm_peak_rss_mib": round(storm_peak, 1), "after_rss_mib": {str(w): round(m, 1) for w, m in after},
            "levels": levels}


def merge(rounds):
    """One level's rounds as one row: logins/s over all of them, the median round's share of its
    ceiling (and the lowest and highest), latency over every login of every round."""
    flows = [x for r in rounds for x in r.pop("_flows")]
    posts = [x for r in rounds for x in r.pop("_posts")]
    n, took = sum(r["logins"] for r in rounds), sum(r["seconds"] for r in rounds)
    errors = {}
    for r in rounds:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    shares = sorted(r["of_ceiling"] for r in rounds)
    hashing = sorted(r["hash_share"] for r in rounds)
    cpu = {k: round(sum(r["cpu_ms"][k] * r["logins"] for r in rounds) / max(n, 1), 3)
           for k in ("client", "server", "services")}
    return {"concurrency": rounds[0]["concurrency"], "seconds": took, "logins": n, "per_second": n / took,
            "of_ceiling": statistics.median(shares), "of_ceiling_range": [shares[0], shares[-1]],
            "hash_share": statistics.median(hashing), "cpu_ms": cpu, "errors": errors,
            "flow_p50_ms": pct(flows, 50), "flow_p99_ms": pct(flows, 99), "login_p50_ms": pct(posts, 50),
            "login_p99_ms": pct(posts, 99), "rounds": rounds}


def report(results, args):
    who = ("each person in their own browser, known to Gerbang from an earlier login (device cookie kept, "
           "single sign-on session over)" if args.browsers == "returning" else "each login a browser never seen")
    lines = [f"Login storm: public client with PKCE, {args.alg} tokens, {args.duration} s per level; {who}; "
             f"client ({CLIENTS[args.client]}) and server on one machine; {args.layout}", ""]
    for r in results:
        c, readings = r["ceilings"][0], [x["per_second"] for x in r["ceilings"]]
        lines += [f"### {r['backend']}", "",
                  f"argon2id ceiling ({c['params']}, {c['threads']} threads): {len(readings)} readings, "
                  f"**{min(readings):.1f}–{max(readings):.1f} hashes/s**, one before and one after each round "
                  f"of {args.duration} s; each round against the mean of the two around it (the median round, "
                  f"lowest–highest in brackets); {r['accounts']} accounts.", "",
                  "| at once | logins/s | % of ceiling | hashing, % of the machine | flow p50 ms | flow p99 ms "
                  "| POST /login p99 ms | errors | peak RSS MiB | CPU ms/login: client, server, PostgreSQL + Redis |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
        for lv in r["levels"]:
            errs = ", ".join(f"{k}: {v}" for k, v in sorted(lv["errors"].items())) or "0"
            lo, hi = lv["of_ceiling_range"]
            lines.append(f"| {lv['concurrency']} | {lv['per_second']:.1f} | {100 * lv['of_ceiling']:.0f} % "
                         f"({100 * lo:.0f}–{100 * hi:.0f}) | {100 * lv['hash_share']:.0f} % "
                         f"| {lv['flow_p50_ms']} | {lv['flow_p99_ms']} | {lv['login_p99_ms']} | {errs} "
                         f"| {lv['peak_rss_mib']:.1f} | {lv['cpu_ms']['client']}, {lv['cpu_ms']['server']}, "
                         f"{lv['cpu_ms']['services']} |")
        a = r["after_rss_mib"]
        lines += ["", f"RSS: idle {r['idle_rss_mib']} MiB; storm peak {r['storm_peak_rss_mib']} MiB; after the storm "
                  + ", ".join(f"{v} MiB at {k} s" for k, v in a.items()) + ".", ""]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    lines += [f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
              f"Linux {platform.release()}; Gerbang {commit.stdout.strip()}."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--levels", default="2,4,8,16,32")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--ceiling-seconds", type=float, default=4)
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds per level, the ceiling measured before the first and after each")
    ap.add_argument("--backends", default="sqlite,postgres" if PG_URL and REDIS_URL else "sqlite")
    ap.add_argument("--alg", default="RS256", choices=["RS256", "ES256", "EdDSA"],
                    help="the application's token signing algorithm (access and ID token)")
    ap.add_argument("--browsers", default="returning", choices=["returning", "new"],
                    help="returning: each person's own browser, known from an earlier login; new: never seen")
    ap.add_argument("--client", default="rust", choices=list(CLIENTS),
                    help="the load generator: loop, every person on one thread over a selector "
                         "(bench/lib/loopflow.py); threads, a thread per person with http.client; "
                         "rust, bench/storm_client (a thread per person, far less CPU per login; "
                         "built with cargo on first use)")
    ap.add_argument("--pin", metavar="SERVER_CPUS",
                    help="run Gerbang on these CPUs (e.g. 0) and the load generator, PostgreSQL and Redis on "
                         "the others (bench/lib/pinning.py)")
    args = ap.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    if not os.path.exists(BIN):
        sys.exit(f"no binary at {BIN}: cargo build --release, or set GERBANG_BIN")
    if args.client == "rust":
        storm_client_bin()  # built before the server starts, so the build takes no CPU from any measurement
    results = []
    with Pinned(args.pin) as pinned:
        args.layout = describe(pinned)
        for backend in args.backends.split(","):
            if backend == "postgres" and not (PG_URL and REDIS_URL):
                sys.exit("postgres needs BENCH_PG_URL and BENCH_REDIS_URL")
            with tempfile.TemporaryDirectory(prefix=f"gerbang-storm-{backend}-") as tmp:
                results.append(bench(backend, args, tmp))
    text = report(results, args)
    print(text)
    save("login-storm-latest", text, results)

if __name__ == "__main__":
    main()
