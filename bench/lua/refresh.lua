-- Refresh-token rotation: POST grant_type=refresh_token for a public client ($BENCH_CLIENT_ID).
-- Each refresh token is good for one use, so every thread keeps a queue of live tokens, read from
-- $BENCH_TOKENS (one per line, split between threads), and puts back the one each answer carries.
-- A thread needs at least as many tokens as it has connections.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")

local client_id = os.getenv("BENCH_CLIENT_ID")
assert(client_id and #client_id > 0, "BENCH_CLIENT_ID is not set")

local threads, counter = {}, 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
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
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Accept"] = "application/json"
end

function request()
  local token = "exhausted"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then
    tail = tail + 1
    queue[tail] = token
  end
end
