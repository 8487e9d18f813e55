"""Sums up a Schemathesis NDJSON report: requests recorded and distinct ones, 5xx among them, and 401s to requests
with an Authorization header (Schemathesis also sends broken tokens on purpose; a count far above
those would mean the administrator's token was revoked mid-run and the rest stayed at the door).

Usage: python summary.py REPORT_DIR
"""
import collections
import json
import pathlib
import sys


def interactions(o):
    if isinstance(o, dict):
        req, res = o.get("request"), o.get("response")
        if isinstance(req, dict) and isinstance(res, dict) and "status_code" in res:
            yield req, res
        for v in o.values():
            yield from interactions(v)
    elif isinstance(o, list):
        for v in o:
            yield from interactions(v)


def main():
    seen = {}
    recorded = 0
    for f in pathlib.Path(sys.argv[1]).glob("*.ndjson"):
        for line in f.open():
            for req, res in interactions(json.loads(line)):
                recorded += 1
                # The same interaction can be reported more than once (per check, per phase).
                key = (req.get("method"), req.get("uri"), json.dumps(req.get("body")), json.dumps(req.get("headers")))
                seen[key] = (req, res["status_code"])
    statuses = collections.Counter(s for _, s in seen.values())
    with_token_401 = sum(1 for req, s in seen.values() if s == 401 and "Authorization" in (req.get("headers") or {}))
    print("requests recorded: %d, distinct: %d; 5xx: %d; 401 with an Authorization header: %d" % (
        recorded, len(seen), sum(n for s, n in statuses.items() if s >= 500), with_token_401))
    print("by status: " + ", ".join("%d x%d" % (s, n) for s, n in sorted(statuses.items())))


if __name__ == "__main__":
    main()
