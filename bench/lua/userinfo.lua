-- GET /userinfo (the URL given to wrk) with a bearer access token; the tokens are read from the
-- file named by $BENCH_TOKENS (one a line, from real logins) and used in turn, so the requests
-- spread over several people and grants.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/tokens.lua")

local tokens = read_tokens()
local i = 0

function request()
  i = i % #tokens + 1
  return wrk.format("GET", nil, {
    ["Accept"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[i],
  })
end
