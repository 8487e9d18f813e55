#!/usr/bin/env python3
"""The audit-chain check a replica runs when it starts (for `gerbang_audit_chain_intact`): its
peak memory and time on a long trail. Standard library only.

A fresh SQLite install is started once (migrations, the chain's head), stopped, and given
`--rows` more records, linked exactly as Gerbang links them (HMAC-SHA256 under the chain key;
on a new install the root secret is the master key). The server is started again with the
metrics listener on; the bench samples its RSS until the first verification has set the
gauges, and reads them back to show the chain it built verifies.

  GERBANG_BIN=target/release/gerbang python3 bench/audit_verify/run.py --rows 1000000
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from benchproc import BIN, ROOT, free_port, save, start_server  # noqa: E402


def framed(fields):
    return "".join(f"{len(f.encode())}:{f}" for f in fields)


def mac(key, fields):
    return hmac.new(key, framed(fields).encode(), hashlib.sha256).hexdigest()


def fill(db_path, master, rows):
    """Appends `rows` records to the chain in the SQLite file and moves its head."""
    key = hmac.new(master, b"gerbang audit chain v1", hashlib.sha256).digest()
    db = sqlite3.connect(db_path)
    seq, prev, keyed_from = db.execute("SELECT seq, hash, keyed_from FROM audit_head WHERE id = 1").fetchone()
    now = int(time.time()) - rows
    batch = []
    for i in range(rows):
        seq += 1
        at = now + i
        fields = ("login.failed", "", f"subject-{i % 5000:05d}", "10.20.30.40",
                  json.dumps({"reason": "wrong_password", "n": i}, separators=(",", ":")))
        h = mac(key, ["link", prev, str(seq), str(at), *fields])
        batch.append((seq, at, *fields, prev, h))
        prev = h
        if len(batch) == 20000:
            db.executemany("INSERT INTO audit_events (seq, at, kind, actor, subject, ip, detail, prev_hash, hash) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    if batch:
        db.executemany("INSERT INTO audit_events (seq, at, kind, actor, subject, ip, detail, prev_hash, hash) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
    db.execute("UPDATE audit_head SET seq = ?, hash = ?, mac = ? WHERE id = 1",
               (seq, prev, mac(key, ["head", str(seq), prev, str(keyed_from)])))
    db.commit()
    db.close()
    return seq


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def gauges(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("gerbang_audit_chain_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", default="audit_verify")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gerbang-audit-")
    master = secrets.token_bytes(32)
    env = dict(os.environ, GERBANG_DATA_DIR=tmp, GERBANG_BOOTSTRAP="false", GERBANG_DEMO="false",
               GERBANG_THEMES_DIR=os.path.join(ROOT, "themes"), GERBANG_LOG="warn",
               GERBANG_DATABASE_URL=f"sqlite://{tmp}/gerbang.db",
               GERBANG_MASTER_KEY=base64.b64encode(master).decode(),
               GERBANG_BIND=f"127.0.0.1:{free_port()}")
    env.pop("GERBANG_REDIS_URL", None)
    proc = start_server(env)
    proc.terminate()
    proc.wait()
    t = time.time()
    head = fill(os.path.join(tmp, "gerbang.db"), master, args.rows)
    print(f"{args.rows} records linked in {time.time() - t:.0f} s; head #{head}", flush=True)

    metrics_port = free_port()
    env["GERBANG_METRICS_LISTEN"] = f"127.0.0.1:{metrics_port}"
    started = time.time()
    proc = start_server(env)
    samples = []
    seen = {}
    while time.time() - started < 600:
        samples.append((time.time() - started, status_kib(proc.pid, "VmRSS")))
        try:
            seen = gauges(metrics_port)
        except OSError:
            seen = {}
        if "gerbang_audit_chain_records" in seen:
            break
        time.sleep(0.05)
    took = time.time() - started
    peak = status_kib(proc.pid, "VmHWM")
    time.sleep(3)
    after = status_kib(proc.pid, "VmRSS")
    proc.terminate()
    proc.wait()
    if seen.get("gerbang_audit_chain_intact") != 1.0 or seen.get("gerbang_audit_chain_records", 0) < args.rows:
        sys.exit(f"the chain did not verify as built: {seen}")
    result = {
        "binary": BIN, "records": int(seen["gerbang_audit_chain_records"]),
        "start_to_verified_s": round(took, 2), "peak_rss_mib": round(peak / 1024, 1),
        "rss_3s_after_mib": round(after / 1024, 1),
    }
    text = (f"# Audit-chain check at start\n\n{result['records']} records: verified {took:.1f} s after start; "
            f"peak RSS {peak / 1024:.0f} MiB, {after / 1024:.0f} MiB three seconds later.\n")
    print(text)
    save(args.out, text, result)


if __name__ == "__main__":
    main()
