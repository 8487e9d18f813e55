-- POST token=<access token> to the introspection endpoint (the URL given to wrk) with HTTP
-- Basic client authentication ($BENCH_BASIC, as token.lua); the tokens are read from
-- $BENCH_TOKENS (one a line, issued to that client) and used in turn.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/tokens.lua")

local basic = os.getenv("BENCH_BASIC")
assert(basic and #basic > 0, "BENCH_BASIC is not set")
local tokens = read_tokens()
local i = 0

function request()
  i = i % #tokens + 1
  return wrk.format("POST", nil, {
    ["Accept"] = "application/json",
    ["Authorization"] = "Basic " .. basic,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "token=" .. tokens[i])
end
