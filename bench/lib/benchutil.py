#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only).

Subcommands:
  wait-http      poll a URL in a tight loop until it answers 2xx; print the time
  rss            sum VmRSS over a process group once
  rss-sample     sample that sum every N ms until stopped; keep the peak in a file
  check-token    check a token endpoint response holds a JWT access token with an alg
  client-json    pull {"client_id", "client_secret"} out of `gerbang client create` output
  check-json     check a GET response is a JSON object (discovery, JWKS)
  report         render the Markdown report from the collected JSON results
"""

import argparse
import base64
import datetime
import json
import os
import signal
import socket
import sys
import time
from urllib.parse import urlsplit


# --------------------------------------------------------------------------- wait-http

def _try_get(host, port, path, timeout):
    """One GET over a fresh connection; return the status code or None."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n".encode()
            )
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            line = buf.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            if len(parts) >= 2 and parts[0].startswith("HTTP/"):
                return int(parts[1])
    except (OSError, ValueError):
        return None
    return None


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def cmd_wait_http(a):
    u = urlsplit(a.url)
    host, port = u.hostname, u.port or 80
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")
    deadline = time.monotonic() + a.timeout
    pid = None
    while time.monotonic() < deadline:
        if pid is None and a.pid_file and os.path.exists(a.pid_file):
            try:
                pid = int(open(a.pid_file).read().strip())
            except ValueError:
                pid = None
        if pid is not None and not _alive(pid):
            print(f"process {pid} exited before answering {a.url}", file=sys.stderr)
            return 3
        status = _try_get(host, port, path, 1.0)
        if status is not None and 200 <= status < 300:
            # wall clock, to compare with bash's $EPOCHREALTIME taken before spawn
            print(time.time_ns())
            return 0
        time.sleep(a.interval_ms / 1000.0)
    print(f"timed out after {a.timeout}s waiting for {a.url}", file=sys.stderr)
    return 2


# --------------------------------------------------------------------------- rss

def group_rss_kb(pgid):
    """Sum VmRSS (kB) over all live processes of process group `pgid`."""
    total, count = 0, 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # fields: state ppid pgrp session ...
            if int(fields[2]) != pgid or fields[0] in ("Z", "X"):
                continue
            with open(f"/proc/{d}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        count += 1
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total, count


def cmd_rss(a):
    kb, n = group_rss_kb(a.pgid)
    print(json.dumps({"rss_kb": kb, "processes": n}))
    return 0 if n else 1


def cmd_rss_sample(a):
    stop = {"v": False}

    def handler(_sig, _frm):
        stop["v"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    peak_kb, peak_n, samples = 0, 0, 0
    while not stop["v"]:
        kb, n = group_rss_kb(a.pgid)
        if n == 0:
            break
        samples += 1
        if kb > peak_kb:
            peak_kb, peak_n = kb, n
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"peak_rss_kb": peak_kb, "processes": peak_n, "samples": samples}, f)
        os.replace(tmp, a.out)
        time.sleep(a.interval_ms / 1000.0)
    return 0


# --------------------------------------------------------------------------- checks

def _b64url_json(seg):
    seg += "=" * (-len(seg) % 4)
    return json.loads(base64.urlsafe_b64decode(seg))


def cmd_check_token(a):
    body = open(a.body).read()
    if not (200 <= a.status < 300):
        print(f"token endpoint answered HTTP {a.status}: {body[:500]}", file=sys.stderr)
        return 1
    try:
        resp = json.loads(body)
    except ValueError:
        print(f"token response is not JSON: {body[:500]}", file=sys.stderr)
        return 1
    tok = resp.get("access_token")
    if not isinstance(tok, str):
        print(f"no access_token in response: {body[:500]}", file=sys.stderr)
        return 1
    parts = tok.split(".")
    if len(parts) != 3 or not all(parts):
        print(f"access_token is not a signed compact JWT (JWS): {tok[:80]}...", file=sys.stderr)
        return 1
    try:
        header = _b64url_json(parts[0])
        payload = _b64url_json(parts[1])
    except (ValueError, TypeError) as e:
        print(f"access_token header/payload do not decode: {e}", file=sys.stderr)
        return 1
    if header.get("alg") != a.alg:
        print(f"access_token alg is {header.get('alg')!r}, expected {a.alg!r}", file=sys.stderr)
        return 1
    if str(resp.get("token_type", "")).lower() != "bearer":
        print(f"warning: token_type is {resp.get('token_type')!r}", file=sys.stderr)
    print(json.dumps({
        "header": header,
        "claims": sorted(payload.keys()),
        "token_type": resp.get("token_type"),
        "expires_in": resp.get("expires_in"),
        "token_bytes": len(tok),
    }))
    return 0


def cmd_check_json(a):
    body = open(a.body).read()
    if not (200 <= a.status < 300):
        print(f"{a.what} answered HTTP {a.status}: {body[:300]}", file=sys.stderr)
        return 1
    try:
        doc = json.loads(body)
    except ValueError:
        print(f"{a.what} is not JSON: {body[:300]}", file=sys.stderr)
        return 1
    if not isinstance(doc, dict):
        print(f"{a.what} is not a JSON object", file=sys.stderr)
        return 1
    for key in a.require or []:
        if key not in doc:
            print(f"{a.what} lacks {key!r}", file=sys.stderr)
            return 1
    if a.get:
        v = doc.get(a.get)
        print(v if isinstance(v, str) else json.dumps(v))
    return 0


def cmd_client_json(a):
    text = open(a.file).read()
    dec = json.JSONDecoder()
    found = None
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            found = obj
    except ValueError:
        i = 0
        while True:
            i = text.find("{", i)
            if i < 0:
                break
            try:
                obj, end = dec.raw_decode(text, i)
            except ValueError:
                i += 1
                continue
            if isinstance(obj, dict) and "client_id" in obj:
                found = obj
            i = end
    if not found or not found.get("client_id") or not found.get("client_secret"):
        print("no JSON object with client_id and client_secret in `client create` output:\n"
              + text[:1000], file=sys.stderr)
        return 1
    print(f"{found['client_id']}\t{found['client_secret']}")
    return 0


# --------------------------------------------------------------------------- report

SCENARIOS = [
    ("discovery", "Discovery `GET /.well-known/openid-configuration`", "requests/s"),
    ("jwks", "JWKS `GET jwks_uri`", "requests/s"),
    ("token_es256", "Token `POST /token` client_credentials, JWT ES256", "tokens/s"),
    ("token_rs256", "Token `POST /token` client_credentials, JWT RS256", "tokens/s"),
]


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _fmt(v, nd=0):
    if v is None:
        return "—"
    if nd == 0:
        return f"{v:,.0f}"
    return f"{v:,.{nd}f}"


def _ratio(ours, peer):
    if ours is None or peer is None or peer == 0:
        return "—"
    return f"{ours / peer:.2f}×"


def cmd_report(a):
    res = a.results
    machine = _load(os.path.join(res, "machine.json")) or {}
    servers = {s: _load(os.path.join(res, s, "summary.json")) for s in ("gerbang", "peer")}
    runs = {s: {sc: _load(os.path.join(res, s, f"{sc}.json")) for sc, _, _ in SCENARIOS}
            for s in ("gerbang", "peer")}
    peer_name = f"oidc-provider {machine.get('oidc_provider', '?')}"

    def run_val(server, sc, key):
        r = runs[server][sc]
        return None if r is None else r.get(key)

    def srv_val(server, key):
        s = servers[server]
        return None if s is None else s.get(key)

    out = []
    w = out.append
    w(f"# Gerbang benchmark — {machine.get('date', '?')}")
    w("")
    w(f"Gerbang vs. the reference peer **{peer_name}** (panva, OpenID Certified; "
      f"node `cluster`, {machine.get('peer_workers', '?')} workers). "
      f"Load: `wrk`, {machine.get('duration', '?')} s per run at {machine.get('connections', '?')} "
      f"connections, {machine.get('threads', '?')} wrk threads, after a {machine.get('warmup', '?')} s warm-up; "
      "client and server share the machine. "
      "Ratio = Gerbang ÷ peer: above 1× is better for throughput, below 1× is better for latency, "
      "start-up and memory.")
    w("")
    w(f"| Metric | Gerbang | {peer_name} | Ratio (Gerbang ÷ peer) |")
    w("| --- | ---: | ---: | ---: |")
    for sc, title, unit in SCENARIOS:
        g, p = run_val("gerbang", sc, "rps"), run_val("peer", sc, "rps")
        w(f"| {title}: {unit} | {_fmt(g)} | {_fmt(p)} | {_ratio(g, p)} |")
        g, p = run_val("gerbang", sc, "p99_ms"), run_val("peer", sc, "p99_ms")
        w(f"| {title}: p99 latency (ms) | {_fmt(g, 2)} | {_fmt(p, 2)} | {_ratio(g, p)} |")
    for key, title in (("startup_ms", "Start-up to first 2xx response (ms)"),
                       ("cold_startup_ms", "Cold start-up, fresh state: keys generated (ms)")):
        g, p = srv_val("gerbang", key), srv_val("peer", key)
        w(f"| {title} | {_fmt(g, 1)} | {_fmt(p, 1)} | {_ratio(g, p)} |")
    for key, title in (("idle_rss_kb", "Idle RSS after start (MiB)"),
                       ("peak_rss_kb", "Peak RSS under load (MiB)")):
        g, p = srv_val("gerbang", key), srv_val("peer", key)
        g = None if g is None else g / 1024
        p = None if p is None else p / 1024
        w(f"| {title} | {_fmt(g, 1)} | {_fmt(p, 1)} | {_ratio(g, p)} |")
    w("")
    w("RSS is VmRSS summed over every process of the server "
      f"(Gerbang: {srv_val('gerbang', 'processes') or '—'} process(es); "
      f"peer: {srv_val('peer', 'processes') or '—'} = master + workers), sampled every "
      f"{machine.get('rss_interval_ms', '?')} ms during warm-up and load.")
    w("")
    w("## Runs")
    w("")
    w("| Server | Run | Requests | Req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors | peak RSS MiB |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for server, label in (("gerbang", "Gerbang"), ("peer", "oidc-provider")):
        for sc, _, _ in SCENARIOS:
            r = runs[server][sc]
            if r is None:
                continue
            sock = sum(r.get("errors", {}).get(k, 0) for k in ("connect", "read", "write", "timeout"))
            rss = r.get("peak_rss_kb")
            w(f"| {label} | {sc} | {_fmt(r.get('requests'))} | {_fmt(r.get('rps'))} | "
              f"{_fmt(r.get('p50_ms'), 2)} | {_fmt(r.get('p90_ms'), 2)} | {_fmt(r.get('p99_ms'), 2)} | "
              f"{_fmt(r.get('max_ms'), 2)} | {r.get('non2xx', 0)} | {sock} | "
              f"{_fmt(None if rss is None else rss / 1024, 1)} |")
    w("")
    for server, label in (("gerbang", "Gerbang"), ("peer", "oidc-provider")):
        s = servers[server]
        if s and s.get("tokens"):
            for alg, info in sorted(s["tokens"].items()):
                w(f"- {label} {alg} access token: header `{json.dumps(info.get('header'))}`, "
                  f"{info.get('token_bytes')} bytes, claims {', '.join(info.get('claims', []))}")
    if any(servers.values()):
        w("")
    w("## Machine")
    w("")
    for key, label in (("nproc", "nproc"), ("cpu", "CPU"), ("kernel", "Kernel"),
                       ("rustc", "rustc"), ("node", "node"), ("oidc_provider", "oidc-provider"),
                       ("wrk", "wrk"), ("gerbang_commit", "Gerbang commit")):
        w(f"- {label}: {machine.get(key, '?')}")
    if machine.get("only"):
        w(f"- Servers measured: {machine['only']}")
    w("")
    w("Reproduce: `bash bench/run.sh` (see bench/README.md). Numbers from one machine, "
      "with wrk on the same 2 cores as the server; compare ratios, not absolutes.")
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("wait-http")
    s.add_argument("url")
    s.add_argument("--ready-file")
    s.add_argument("--pid-file")
    s.add_argument("--timeout", type=float, default=120)
    s.add_argument("--interval-ms", type=float, default=5)
    s.set_defaults(fn=cmd_wait_http)

    s = sub.add_parser("rss")
    s.add_argument("--pgid", type=int, required=True)
    s.set_defaults(fn=cmd_rss)

    s = sub.add_parser("rss-sample")
    s.add_argument("--pgid", type=int, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--interval-ms", type=float, default=200)
    s.set_defaults(fn=cmd_rss_sample)

    s = sub.add_parser("check-token")
    s.add_argument("--status", type=int, required=True)
    s.add_argument("--body", required=True)
    s.add_argument("--alg", required=True)
    s.set_defaults(fn=cmd_check_token)

    s = sub.add_parser("check-json")
    s.add_argument("--status", type=int, required=True)
    s.add_argument("--body", required=True)
    s.add_argument("--what", default="response")
    s.add_argument("--require", action="append")
    s.add_argument("--get")
    s.set_defaults(fn=cmd_check_json)

    s = sub.add_parser("client-json")
    s.add_argument("file")
    s.set_defaults(fn=cmd_client_json)

    s = sub.add_parser("report")
    s.add_argument("--results", required=True)
    s.add_argument("--out")
    s.set_defaults(fn=cmd_report)

    a = p.parse_args()
    sys.exit(a.fn(a))


if __name__ == "__main__":
    main()
