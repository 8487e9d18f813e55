-- Refresh-token rotation: POST grant_type=refresh_token for a public client ($BENCH_CLIENT_ID),
-- each thread spending its queue of live tokens (queue.lua). A thread needs at least as many
-- tokens as it has connections.
local dir = os.getenv("BENCH_LUA_DIR") or "bench/lua"
dofile(dir .. "/report.lua")
dofile(dir .. "/queue.lua")

local client_id = os.getenv("BENCH_CLIENT_ID")
assert(client_id and #client_id > 0, "BENCH_CLIENT_ID is not set")

function init(args)
  load_tokens()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Accept"] = "application/json"
end

function request()
  local token = take_token() or "exhausted"
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token=" .. token)
end

function response(status, headers, body)
  keep_token(body)
end
