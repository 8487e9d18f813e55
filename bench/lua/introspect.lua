-- POST token=<access token> to the introspection endpoint (the URL given to wrk) with HTTP
-- Basic client authentication ($BENCH_BASIC, as token.lua); the tokens are read from
-- $BENCH_TOKENS (one a line, issued to that client) and used in turn.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/tokens.lua")

local basic = os.getenv("BENCH_BASIC")
assert(basic and #basic > 0, "BENCH_BASIC is not set")
local tokens = read_tokens()
local requests = {}
local i = 0

-- Formatted once per token (in init, once wrk has set the Host header), so wrk's own work per
-- request stays what it is for a fixed request and the server gets the same share of the
-- shared cores as in the other runs.
function init(args)
  for n, token in ipairs(tokens) do
    requests[n] = wrk.format("POST", nil, {
      ["Accept"] = "application/json",
      ["Authorization"] = "Basic " .. basic,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }, "token=" .. token)
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
