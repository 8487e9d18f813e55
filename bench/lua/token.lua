-- POST grant_type=client_credentials to the token endpoint (the URL given to
-- wrk), authenticating with HTTP Basic: $BENCH_BASIC is base64(id:secret),
-- id and secret form-urlencoded first (RFC 6749 section 2.3.1).
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")

local basic = os.getenv("BENCH_BASIC")
assert(basic and #basic > 0, "BENCH_BASIC is not set")

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. basic
