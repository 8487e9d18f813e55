-- Plain GET of the URL given to wrk; only adds the JSON report hook.
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")

wrk.method = "GET"
wrk.headers["Accept"] = "application/json"
