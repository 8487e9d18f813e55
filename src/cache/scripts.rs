//! The Lua scripts the Redis backend runs for its atomic steps (read-and-delete under a moved
//! test clock, windowed counters, compare-and-swap, bounded counts, GCRA buckets).

// Sent with EVAL rather than EVALSHA: the text is short, Redis caches it, and there is no
// NOSCRIPT round trip after a Redis restart. The first line names the script.
//
// Redis expires keys by the wall clock. A clock moved forward by `shift` ms (tests) keeps them in
// step: every TTL is written `shift` longer, so a key has expired by the server's clock once it
// has no more than the current `shift` left to live. Every script gets that shift as ARGV[1] and
// treats such a key as absent; Redis may hold it longer, never shorter. In production the shift
// is 0 and `gone` costs nothing.
//
// A counter's window starts when the key is made (it has no TTL yet), not when its count
// leaves 0: a count taken back to 0 keeps the window it had, as in the in-process store.
macro_rules! script {
    ($name:literal, $body:literal) => {
        concat!(
            "-- gerbang:",
            $name,
            "
local shift = tonumber(ARGV[1])
local function gone(k)
  if shift <= 0 then return false end
  local t = redis.call('PTTL', k)
  return t >= 0 and t <= shift
end
",
            $body
        )
    };
}

pub(super) const GET_SCRIPT: &str = script!(
    "get",
    "if gone(KEYS[1]) then return false end
return redis.call('GET', KEYS[1])"
);

pub(super) const TAKE_SCRIPT: &str = script!(
    "take",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) return false end
return redis.call('GETDEL', KEYS[1])"
);

pub(super) const TAKE_MARKING_SCRIPT: &str = script!(
    "take_marking",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) return false end
local v = redis.call('GETDEL', KEYS[1])
if v then
  local ok, obj = pcall(cjson.decode, v)
  if ok and type(obj) == 'table' and obj[ARGV[3]] ~= nil then
    redis.call('SET', KEYS[2], cjson.encode(obj[ARGV[3]]), 'PX', ARGV[2])
  end
end
return v"
);

pub(super) const INCR_SCRIPT: &str = script!(
    "incr",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) end
local n = redis.call('INCRBY', KEYS[1], ARGV[3])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n"
);

pub(super) const INCR_WINDOW_SCRIPT: &str = script!(
    "incr_window",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) end
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {n, redis.call('PTTL', KEYS[1])}"
);

pub(super) const SWAP_SCRIPT: &str = script!(
    "swap",
    "local cur = redis.call('GET', KEYS[1])
if cur and gone(KEYS[1]) then cur = false end
if ARGV[2] == '1' then
  if cur ~= ARGV[3] then return 0 end
elseif cur then
  return 0
end
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
return 1"
);

pub(super) const SWAP_KEEP_TTL_SCRIPT: &str = script!(
    "swap_keep_ttl",
    "local cur = redis.call('GET', KEYS[1])
if cur and gone(KEYS[1]) then cur = false end
if cur ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
return 1"
);

pub(super) const COUNT_BELOW_SCRIPT: &str = script!(
    "count_below",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then return -1 end
n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return n"
);

pub(super) const REFUND_SCRIPT: &str = script!(
    "refund",
    "if gone(KEYS[1]) then return 0 end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0"
);

pub(super) const SETTLE_SCRIPT: &str = script!(
    "settle",
    "redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if not gone(KEYS[i]) then
    local n = tonumber(redis.call('GET', KEYS[i]) or '0')
    if n > 0 then redis.call('DECR', KEYS[i]) end
  end
end
return 0"
);

pub(super) const COUNT_BOTH_SCRIPT: &str = script!(
    "count_both",
    "if gone(KEYS[1]) then redis.call('DEL', KEYS[1]) end
if gone(KEYS[2]) then redis.call('DEL', KEYS[2]) end
local a = tonumber(redis.call('GET', KEYS[1]) or '0')
local b = tonumber(redis.call('GET', KEYS[2]) or '0')
if a >= tonumber(ARGV[2]) then return {2, b} end
if b >= tonumber(ARGV[3]) then return {3, b} end
redis.call('INCR', KEYS[1])
redis.call('INCR', KEYS[2])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
end
return {1, b + 1}"
);

/// One request against a GCRA bucket (the same algorithm as `governor`): 0 when admitted, else
/// milliseconds until it would be. The time is Redis's own, so the replicas' clocks do not
/// matter; the numbers are whole milliseconds, which Lua prints exactly. No clock shift here:
/// ARGV[1] is the interval.
pub(super) const GCRA_SCRIPT: &str = "-- gerbang:gcra
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local cost = interval * tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + cost - interval * tonumber(ARGV[2])
if now < allow_at then return allow_at - now end
redis.call('SET', KEYS[1], tat + cost, 'PX', tat + cost - now + 1000)
return 0";
