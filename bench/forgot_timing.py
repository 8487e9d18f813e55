#!/usr/bin/env python3
"""Does "forgot password" answer as fast for an account that exists as for one that does not?

Starts Gerbang (the binary in $GERBANG_BIN, default target/release/gerbang) on a temporary
SQLite database with a real SMTP sink (tests/smtp/sink.py, aiosmtpd), creates an account with a
verified address and one without, and posts the forgot-password form N times for each of three
identifiers (verified account, unverified account, unknown NIP) in shuffled order over one
keep-alive connection, each from its own client address (X-Forwarded-For from a trusted proxy,
so the per-address limit does not interfere). Prints the latency distribution per class and
checks that every answer is byte-identical. Standard library only.

    python3 bench/forgot_timing.py [N]
"""

import http.client
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GERBANG_BIN", os.path.join(ROOT, "target", "release", "gerbang"))
sys.path.insert(0, os.path.join(ROOT, "bench", "lib"))
from benchproc import free_port  # noqa: E402
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
PASSWORD = "kata-sandi-uji-coba-2026"
VERIFIED_NIP, UNVERIFIED_NIP, UNKNOWN_NIP = "199203172015032005", "198503122010011001", "197001011990031002"


def main():
    tmp = tempfile.mkdtemp(prefix="gerbang-forgot-")
    port, smtp_port = free_port(), free_port()
    env = dict(os.environ)
    env.update({
        "GERBANG_BIND": f"127.0.0.1:{port}", "GERBANG_DATA_DIR": tmp, "GERBANG_BOOTSTRAP": "false",
        "GERBANG_THEMES_DIR": os.path.join(ROOT, "themes"), "GERBANG_LOG": "warn",
        "GERBANG_TRUSTED_PROXIES": "127.0.0.1", "GERBANG_RATE_LIMITS": "off",
        "GERBANG_SMTP_HOST": "127.0.0.1", "GERBANG_SMTP_PORT": str(smtp_port), "GERBANG_SMTP_SECURITY": "none",
    })
    sink = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "smtp", "sink.py"), str(smtp_port),
                             os.path.join(tmp, "maildir")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert sink.stdout.readline().strip() == b"ready", "the SMTP sink did not start (pip install aiosmtpd)"
    for nip, name in [(VERIFIED_NIP, "Maya Sari"), (UNVERIFIED_NIP, "Siti Rahayu")]:
        subprocess.run([BIN, "account", "create", "--nip", nip, "--name", name, "--password-stdin", "--json"],
                       input=PASSWORD.encode(), env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    db = sqlite3.connect(os.path.join(tmp, "gerbang.db"))
    db.execute("UPDATE accounts SET email = 'maya@contoh.go.id', email_verified = 1 WHERE nip = ?", (VERIFIED_NIP,))
    db.execute("UPDATE accounts SET email = 'siti@contoh.go.id', email_verified = 0 WHERE nip = ?", (UNVERIFIED_NIP,))
    db.commit()
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        run(port, tmp)
    finally:
        server.terminate()
        server.wait()
        sink.stdin.close()
        sink.wait()


def run(port, tmp):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/login/forgot")
    res = conn.getresponse()
    page = res.read().decode()
    cookie = "; ".join(c.split(";")[0] for k, c in res.getheaders() if k.lower() == "set-cookie")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    classes = {"verified account": VERIFIED_NIP, "unverified account": UNVERIFIED_NIP, "no account": UNKNOWN_NIP}
    times = {k: [] for k in classes}
    bodies = set()
    order = [k for k in classes for _ in range(N)]
    random.shuffle(order)
    for i, kind in enumerate(order):
        body = urllib.parse.urlencode({"csrf": csrf, "identifier": classes[kind]})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
                   "X-Forwarded-For": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}
        t0 = time.perf_counter()
        conn.request("POST", "/login/forgot", body, headers)
        res = conn.getresponse()
        answer = res.read()
        times[kind].append((time.perf_counter() - t0) * 1000)
        assert res.status == 200, (res.status, answer[:200])
        bodies.add(answer)
    print(f"{N} requests per class, shuffled, one keep-alive connection; binary {BIN}")
    print("| identifier | median ms | p90 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|")
    for kind, t in times.items():
        t.sort()
        q = lambda p: t[min(len(t) - 1, int(p * len(t)))]
        print(f"| {kind} | {statistics.median(t):.3f} | {q(0.9):.3f} | {q(0.99):.3f} | {statistics.mean(t):.3f} |")
    print(f"distinct answer bodies: {len(bodies)}")
    time.sleep(1)
    mails = os.listdir(os.path.join(tmp, "maildir", "new"))
    print(f"mails sent: {len(mails)} (the verified account's hourly limit is 3)")


if __name__ == "__main__":
    main()
