"""`--pin SERVER_CPUS`: the benches' production-like layout on one machine (standard library only).

In production Gerbang's pods have CPUs of their own and PostgreSQL and Redis run elsewhere (the
production overlay), while browsers and applications are other people's machines. On one bench
machine all of them share the same cores, so every millisecond PostgreSQL, Redis or the load
generator spends is taken from Gerbang, and a figure like "% of the argon2id ceiling" measures the
co-tenants as much as Gerbang. With `--pin`, Gerbang (`gerbang serve`, and `gerbang hash-bench`
for the ceiling) runs on SERVER_CPUS only, and everything else this bench touches -- the load
generator (this process, its threads, wrk), PostgreSQL's processes and Redis -- on the other CPUs,
for the length of the run. The services' previous affinity is put back afterwards.

Both layouts are reported: shared cores is what a single small server sees; pinned is what one
Gerbang replica does with the CPUs it is given.
"""

import os

SERVICES = ("postgres", "redis-server")


def parse(spec):
    """"0" or "0-1" or "0,2" -> (Gerbang's CPUs, the others' CPUs); both must be non-empty."""
    cpus = set()
    for part in spec.split(","):
        a, _, b = part.partition("-")
        cpus.update(range(int(a), int(b or a) + 1))
    allowed = os.sched_getaffinity(0)
    if not cpus or not cpus < allowed:
        raise SystemExit(f"--pin {spec}: must name some, not all, of the CPUs {sorted(allowed)}")
    return cpus, allowed - cpus


def _service_tasks():
    """(pid, tid) of every thread of every PostgreSQL and Redis process."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
            if name not in SERVICES:
                continue
            out += [(int(pid), int(t)) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
    return out


class Pinned:
    """While open: this process and the services on the others' CPUs; `prefix()` runs a command
    on Gerbang's CPUs. Opening it with `spec` None changes nothing."""

    def __init__(self, spec):
        self.spec = spec
        self.server, self.others = parse(spec) if spec else (None, None)
        self.saved = {}

    def prefix(self):
        if not self.server:
            return []
        return ["taskset", "-c", ",".join(str(c) for c in sorted(self.server))]

    def __enter__(self):
        if not self.server:
            return self
        self.saved[0] = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self.others)
        for _, tid in _service_tasks():
            try:
                self.saved[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, self.others)
            except OSError:
                pass  # gone meanwhile, or not ours to move: it simply stays where it was
        # Processes forked later (a new PostgreSQL backend) inherit the postmaster's setting.
        os.environ["BENCH_SERVER_PREFIX"] = " ".join(self.prefix())
        return self

    def __exit__(self, *exc):
        os.environ.pop("BENCH_SERVER_PREFIX", None)
        for tid, cpus in self.saved.items():
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                pass
        # Backends forked while pinned inherited the pinned set; give them the machine back too.
        if self.saved:
            everything = self.saved[0]
            for _, tid in _service_tasks():
                try:
                    os.sched_setaffinity(tid, everything)
                except OSError:
                    pass
        return False


def describe(p):
    if not p.server:
        return "Gerbang, the load generator, PostgreSQL and Redis share all the cores."
    return (f"pinned: Gerbang on CPU {','.join(map(str, sorted(p.server)))}; the load generator, PostgreSQL and Redis "
            f"on CPU {','.join(map(str, sorted(p.others)))}; the argon2id ceiling is measured on Gerbang's CPUs.")
