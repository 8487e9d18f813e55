-- Shared wrk `done` hook: writes one JSON object with the run's figures to the
-- file named by $BENCH_OUT (latencies in ms). Loaded by get.lua and token.lua.
-- wrk counts a response as a "status" error when its code is > 399 (what it
-- prints as "Non-2xx or 3xx responses"); the harness treats any as fatal.

function done(summary, latency, requests)
  local out = os.getenv("BENCH_OUT")
  if not out then return end
  local secs = summary.duration / 1e6
  local e = summary.errors
  local f = assert(io.open(out, "w"))
  f:write(string.format(
    '{"requests": %d, "duration_s": %.6f, "rps": %.3f, "bytes": %d, ' ..
    '"p50_ms": %.4f, "p75_ms": %.4f, "p90_ms": %.4f, "p99_ms": %.4f, "p999_ms": %.4f, ' ..
    '"mean_ms": %.4f, "max_ms": %.4f, "stdev_ms": %.4f, "non2xx": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(75) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000,
    latency.mean / 1000, latency.max / 1000, latency.stdev / 1000, e.status,
    e.connect, e.read, e.write, e.status, e.timeout))
  f:close()
end
