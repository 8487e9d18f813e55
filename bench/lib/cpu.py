"""CPU time by process from /proc, for the benches that say where a request's time goes
(standard library only). Ticks are 1/os.sysconf("SC_CLK_TCK") s."""

import os

# PostgreSQL's backends and Redis: the services a request may spend time in besides Gerbang.
SERVICES = ("postgres", "redis-server")
HZ = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        head, rest = f.read().rsplit(")", 1)
    return head.split("(", 1)[1], rest.split()


def process_ticks(pid):
    """utime + stime of one process (all its threads)."""
    fields = _stat(pid)[1]
    return int(fields[11]) + int(fields[12])


def ticks_of(names=SERVICES):
    """utime + stime summed over every process whose name is in `names`."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            name, fields = _stat(pid)
        except (OSError, IndexError):
            continue
        if name in names:
            total += int(fields[11]) + int(fields[12])
    return total


def machine_ticks():
    """Busy ticks of the whole machine (everything but idle and iowait), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def thread_ticks(pid, name):
    """{tid: utime + stime} of the process's threads whose name is `name` (threads that ended
    are not listed; compare two readings tid by tid)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            comm, fields = _stat(f"{pid}/task/{tid}")
        except (OSError, IndexError):
            continue
        if comm == name:
            out[tid] = int(fields[11]) + int(fields[12])
    return out


def grown(before, after):
    """Ticks the threads of `after` used since `before` (a thread new since then: all of it)."""
    return sum(t - before.get(tid, 0) for tid, t in after.items())


def capacity_ticks():
    """Every tick the machine's CPUs had to give, busy or idle, less the time the hypervisor
    took for others (steal), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:7])


def ms_each(ticks, count):
    """Ticks spread over `count` requests, in ms each."""
    return round(1000 * ticks / HZ / max(count, 1), 3)
