-- A wrk thread's queue of live refresh tokens, for refresh.lua and mix.lua. A refresh token is
-- good for one use: a request takes one and the answer's new token goes back in. The tokens of
-- $BENCH_TOKENS (one per line) are split between the $BENCH_THREADS threads.
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
end

function load_tokens()
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
end

-- The next live token, or nil when the queue is empty.
function take_token()
  if head > tail then return nil end
  local token = queue[head]
  queue[head] = nil
  head = head + 1
  return token
end

function keep_token(body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then
    tail = tail + 1
    queue[tail] = token
  end
end
