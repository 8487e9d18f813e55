#!/usr/bin/env python3
"""Bulk import at regional scale (issue 12): imports N citizen rows (default 1,000,000) with
`gerbang import citizens` on SQLite and on PostgreSQL and times it; then measures, with the
accounts present and on an empty database, the latency of a password login (HTTP, the whole
POST /login) and of the NIK lookup a login makes (the same SQL, at the database).

    python3 bench/import/run.py [--rows N] [--backends sqlite,postgres] [--logins 40] [--lookups 20000]

GERBANG_BIN: the binary (default: $CARGO_TARGET_DIR or target, then release/gerbang).
BENCH_PG_URL: a PostgreSQL server the script may create a database on (default
postgres://postgres@127.0.0.1:5432). Standard library only, plus `psql` and `pgbench`.
Prints a Markdown report and writes it, with the raw figures, to bench/results/import-latest.*.
"""

import argparse
import http.client
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "lib"))
from benchproc import BIN, free_port, save  # noqa: E402
from benchproc import start_server as serve  # noqa: E402
from oidcflow import Browser, hidden  # noqa: E402
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
PG_DB = "gerbang_bench_import"
PASSWORD = "kata-sandi-uji-coba-2026"
# Outside the generated range (a different district), so the probe account is not in the file.
PROBE_NIK = "3509024203900001"
COLUMNS = "id, kind, nip, nik, name, password_hash, is_admin, status, created_at, updated_at, opd_id, " \
          "profile, email, email_verified, phone_number, locale"


def nik(i):
    """The i-th generated NIK (Jember, Kaliwates district); distinct for i < 3,359,664."""
    seq, rest = 1 + i % 9999, i // 9999
    return f"350901{1 + rest % 28:02}{1 + (rest // 28) % 12:02}90{seq:04}"


def generate(path, rows):
    """A population export: NIK, name, and for some people an address and a phone number."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("nik,nama,email,telepon,status\n")
        for i in range(rows):
            email = f"warga{i}@contoh.go.id" if i % 4 == 0 else ""
            phone = f"0812{i:08}" if i % 2 == 0 else ""
            f.write(f"{nik(i)},Warga Nomor {i},{email},{phone},aktif\n")


def gerbang(env, *args, stdin=None):
    t = time.monotonic()
    out = subprocess.run([BIN, *args], input=stdin, env=env, capture_output=True)
    took = time.monotonic() - t
    if out.returncode != 0:
        sys.exit(f"gerbang {' '.join(args)} failed: {out.stdout.decode()} {out.stderr.decode()}")
    return out.stdout.decode(), took


def login_latencies(port, n):
    """Seconds per POST /login of the probe citizen, each in a fresh browser (after one warm-up)."""
    out = []
    for i in range(n + 1):
        b = Browser(http.client.HTTPConnection("127.0.0.1", port, timeout=30))
        status, loc, _ = b.request("GET", "/account")
        assert status == 303, status
        u = urllib.parse.urlsplit(loc)
        status, _, html = b.request("GET", u.path + (f"?{u.query}" if u.query else ""))
        assert status == 200, status
        form = {"login_id": hidden(html, "login_id"), "csrf": hidden(html, "csrf"),
                "username": PROBE_NIK, "password": PASSWORD}
        if None in form.values():
            sys.exit("no login form fields in the login page")
        t = time.perf_counter()
        status, _, body = b.request("POST", "/login", form)
        took = time.perf_counter() - t
        assert status == 303, f"login answered {status}: {body[:300]}"
        if i > 0:
            out.append(took)
    return out


def start_server(env):
    port = free_port()
    e = dict(env, GERBANG_BIND=f"127.0.0.1:{port}", GERBANG_ISSUER=f"http://127.0.0.1:{port}")
    return serve(e), port


def lookups_sqlite(db_path, rows, n):
    """Seconds per `SELECT … WHERE nik = ?` (the login's lookup) of random present NIKs."""
    db = sqlite3.connect(db_path)
    sql = f"SELECT {COLUMNS} FROM accounts WHERE nik = ?"
    keys = [nik(random.randrange(max(rows, 1))) if rows else PROBE_NIK for _ in range(n)]
    out = []
    for k in keys:
        t = time.perf_counter()
        db.execute(sql, (k,)).fetchall()
        out.append(time.perf_counter() - t)
    plan = " ".join(str(r[-1]) for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", (PROBE_NIK,)))
    db.close()
    return out, plan


def lookups_postgres(url, rows, n, tmp):
    """pgbench's average latency of the same lookup, random NIKs of the generated range."""
    script = os.path.join(tmp, "lookup.sql")
    r = max(rows, 1) - 1
    with open(script, "w") as f:
        f.write(f"\\set i random(0, {r})\n")
        f.write(f"SELECT {COLUMNS} FROM accounts WHERE nik = '350901' || lpad((1 + (:i / 9999) % 28)::text, 2, '0') "
                f"|| lpad((1 + (:i / 9999 / 28) % 12)::text, 2, '0') || '90' || lpad((1 + :i % 9999)::text, 4, '0');\n")
    out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", "1", "-t", str(n), "-f", script, url],
                         capture_output=True, text=True, check=True).stdout
    avg = float(re.search(r"latency average = ([\d.]+) ms", out).group(1)) / 1000
    plan = subprocess.run(["psql", url, "-Atc", f"EXPLAIN SELECT {COLUMNS} FROM accounts WHERE nik = '{PROBE_NIK}'"],
                          capture_output=True, text=True).stdout.replace("\n", " ")
    return avg, plan


def ms(x):
    return f"{x * 1000:.2f}"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def bench(backend, rows, csv_path, logins, lookups, tmp):
    data = tempfile.mkdtemp(prefix=f"import-{backend}-", dir=tmp)
    env = dict(os.environ, GERBANG_DATA_DIR=data, GERBANG_BOOTSTRAP="false", GERBANG_LOG="warn",
               GERBANG_THEMES_DIR=os.path.join(ROOT, "themes"), GERBANG_RATE_LIMITS="off")
    env.pop("GERBANG_CONFIG", None)
    env.pop("GERBANG_REDIS_URL", None)
    if backend == "postgres":
        admin = f"{PG_URL}/postgres"
        subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {PG_DB}"], check=True)
        subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {PG_DB}"], check=True)
        url = f"{PG_URL}/{PG_DB}"
    else:
        url = f"sqlite://{data}/gerbang.db"
    env["GERBANG_DATABASE_URL"] = url
    gerbang(env, "migrate")
    gerbang(env, "account", "create", "--nik", PROBE_NIK, "--name", "Warga Uji", "--password-stdin", "--json",
            stdin=PASSWORD.encode())

    def measure(present):
        proc, port = start_server(env)
        try:
            lat = login_latencies(port, logins)
        finally:
            proc.terminate()
            proc.wait()
        if backend == "postgres":
            avg, plan = lookups_postgres(url, present, lookups, tmp)
            look = {"avg": avg, "plan": plan}
        else:
            xs, plan = lookups_sqlite(f"{data}/gerbang.db", present, lookups)
            look = {"avg": statistics.mean(xs), "p50": pct(xs, 0.5), "p99": pct(xs, 0.99), "plan": plan}
        return {"login_p50": pct(lat, 0.5), "login_p95": pct(lat, 0.95), "login_mean": statistics.mean(lat),
                "lookup": look}

    empty = measure(0)
    out, took = gerbang(env, "import", "citizens", csv_path, "--json")
    summary = json.loads(out)
    assert summary["created"] == rows, summary
    out, again = gerbang(env, "import", "citizens", csv_path, "--json")
    assert json.loads(out)["unchanged"] == rows
    full = measure(rows)
    return {"backend": backend, "rows": rows, "import_s": took, "reimport_s": again, "empty": empty, "full": full}


def report(results, rows):
    lines = [f"### Import of {rows:,} citizens, then login and NIK lookup with them present", "",
             "| Backend | Import | Re-import (all unchanged) | Rows/s |",
             "| --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['backend']} | {r['import_s']:.1f} s | {r['reimport_s']:.1f} s | {rows / r['import_s']:,.0f} |")
    lines += ["", "| Backend | Accounts | Login p50 | Login p95 | NIK lookup (mean) | Lookup plan |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        for label, m, n in (("empty", r["empty"], 1), ("full", r["full"], rows + 1)):
            lines.append(f"| {r['backend']} | {n:,} | {ms(m['login_p50'])} ms | {ms(m['login_p95'])} ms | "
                         f"{m['lookup']['avg'] * 1e6:.0f} µs | {m['lookup']['plan'].strip()[:60]} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--backends", default="postgres,sqlite")
    p.add_argument("--logins", type=int, default=40)
    p.add_argument("--lookups", type=int, default=20_000)
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="gerbang-import-bench-")
    csv_path = os.path.join(tmp, "warga.csv")
    t = time.monotonic()
    generate(csv_path, a.rows)
    print(f"generated {a.rows:,} rows in {time.monotonic() - t:.1f} s ({os.path.getsize(csv_path) >> 20} MiB)",
          file=sys.stderr)
    results = []
    for backend in a.backends.split(","):
        print(f"{backend}: importing", file=sys.stderr)
        results.append(bench(backend, a.rows, csv_path, a.logins, a.lookups, tmp))
        print(json.dumps(results[-1]), file=sys.stderr)
    md = report(results, a.rows)
    print(md)
    save("import-latest", md, results)

if __name__ == "__main__":
    main()
