-- GET /userinfo (the URL given to wrk) with a bearer access token; the tokens are read from the
-- file named by $BENCH_TOKENS (one a line, from real logins) and used in turn, so the requests
-- spread over several people and grants.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/tokens.lua")

local tokens = read_tokens()
local requests = {}
local i = 0

-- Formatted once per token (in init, once wrk has set the Host header), so wrk's own work per
-- request stays what it is for a fixed request and the server gets the same share of the
-- shared cores as in the other runs.
function init(args)
  for n, token in ipairs(tokens) do
    requests[n] = wrk.format("GET", nil, {
      ["Accept"] = "application/json",
      ["Authorization"] = "Bearer " .. token,
    })
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
