-- Mixed API traffic for the soak (bench/soak/run.py): userinfo (Bearer $BENCH_ACCESS_TOKEN),
-- and, all with the confidential client's HTTP Basic $BENCH_BASIC, introspection, client_credentials
-- and refresh-token rotation from a queue of live tokens ($BENCH_TOKENS, as refresh.lua).
-- $BENCH_DELAY_MS paces each connection, so the run holds a chosen rate instead of the maximum.
local dir = os.getenv("BENCH_LUA_DIR") or "bench/lua"
dofile(dir .. "/report.lua")
dofile(dir .. "/queue.lua")

function init(args)
  load_tokens()
  math.randomseed(os.time() + index)
  pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
  bearer = { ["Authorization"] = "Bearer " .. os.getenv("BENCH_ACCESS_TOKEN") }
  basic = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Accept"] = "application/json",
            ["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC") }
  introspect_body = "token=" .. os.getenv("BENCH_ACCESS_TOKEN")
  debug = os.getenv("BENCH_DEBUG") ~= nil
end

function delay()
  return pause
end

function request()
  local r = math.random()
  local token = r < 0.20 and take_token()
  if token then
    return wrk.format("POST", "/token", basic, "grant_type=refresh_token&refresh_token=" .. token)
  elseif r < 0.55 then
    return wrk.format("POST", "/introspect", basic, introspect_body)
  elseif r < 0.60 then
    return wrk.format("POST", "/token", basic, "grant_type=client_credentials")
  end
  return wrk.format("GET", "/userinfo", bearer, nil)
end

function response(status, headers, body)
  if status ~= 200 and debug then
    io.stderr:write(status .. " " .. body:sub(1, 200) .. "\n")
  end
  keep_token(body)
end
