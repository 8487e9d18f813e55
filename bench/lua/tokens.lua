-- Shared by userinfo.lua and introspect.lua: the access tokens in the file named by
-- $BENCH_TOKENS, one a line. Tokens are URL-safe (base64url and dots), so they go into a form
-- body unescaped.
function read_tokens()
  local path = os.getenv("BENCH_TOKENS")
  assert(path and #path > 0, "BENCH_TOKENS is not set")
  local out = {}
  for line in io.lines(path) do
    if #line > 0 then out[#out + 1] = line end
  end
  assert(#out > 0, "no token in " .. path)
  return out
end
