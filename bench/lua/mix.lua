-- Mixed API traffic for the soak (bench/soak/run.py): userinfo (Bearer $BENCH_ACCESS_TOKEN),
-- and, all with the confidential client's HTTP Basic $BENCH_BASIC, introspection, client_credentials
-- and refresh-token rotation from a queue of live tokens ($BENCH_TOKENS, as refresh.lua).
-- $BENCH_DELAY_MS paces each connection, so the run holds a chosen rate instead of the maximum.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")

local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
end

function init(args)
  local total = tonumber(os.getenv("BENCH_THREADS") or "1")
  queue, head, tail = {}, 1, 0
  local n = 0
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if n % total == index then
      tail = tail + 1
      queue[tail] = line
    end
    n = n + 1
  end
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
  if r < 0.20 and head <= tail then
    local token = queue[head]
    queue[head] = nil
    head = head + 1
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
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then
    tail = tail + 1
    queue[tail] = token
  end
end
