"""The gerbang binary in the benches (standard library only): a free port, one-shot commands,
`gerbang serve` started and awaited, and the results files under bench/results/."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.environ.get("GERBANG_BIN", os.path.join(TARGET, "release", "gerbang"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def prefix():
    """`taskset -c …` while a bench runs pinned (bench/lib/pinning.py), else nothing."""
    return os.environ.get("BENCH_SERVER_PREFIX", "").split()


def gerbang(env, *args, stdin=None):
    """A one-shot `gerbang` command; its stdout, or the bench stops with its output. Runs on
    Gerbang's CPUs when pinned, so `hash-bench` measures the ceiling of those."""
    out = subprocess.run([*prefix(), BIN, *args], input=stdin, env=env, capture_output=True)
    if out.returncode != 0:
        sys.exit(f"gerbang {' '.join(args)} failed: {out.stdout.decode()} {out.stderr.decode()}")
    return out.stdout.decode()


def start_server(env, log_path=None):
    """`gerbang serve` on env's GERBANG_BIND, once discovery answers 200."""
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen([*prefix(), BIN, "serve"], env=env, stdout=out, stderr=out)
    port = int(env["GERBANG_BIND"].rsplit(":", 1)[1])
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/.well-known/openid-configuration")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("the server did not start")


def save(path, text, data):
    """The report as `path`.md and the raw figures as `path`.json; `path` without a directory
    goes under bench/results/."""
    if not os.path.dirname(path):
        path = os.path.join(ROOT, "bench", "results", path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".md", "w") as f:
        f.write(text)
    with open(path + ".json", "w") as f:
        json.dump(data, f, indent=2)
