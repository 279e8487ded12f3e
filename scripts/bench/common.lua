-- Shared by every scenario: counts statuses and collects Server-Timing per thread;
-- done() prints one JSON line that scripts/bench.py reads.
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  app_ms, psp_ms, db_queries, ok, limited, other, fivexx = {}, {}, 0, 0, 0, 0, 0
  counter = 0
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 429 then limited = limited + 1
  else
    other = other + 1
    if status >= 500 then fivexx = fivexx + 1 end
  end
  local timing = headers["Server-Timing"] or headers["server-timing"]
  if timing then
    local app = string.match(timing, "app;dur=([%d%.]+)")
    if app then table.insert(app_ms, app) end
    local psp = string.match(timing, "psp;dur=([%d%.]+)")
    if psp then table.insert(psp_ms, psp) end
    local q = string.match(timing, 'desc="(%d+) queries"')
    if q then db_queries = db_queries + tonumber(q) end
  end
end

function done(summary, latency, requests)
  local ok_all, limited_all, other_all, fivexx_all, queries_all, apps, psps = 0, 0, 0, 0, 0, {}, {}
  for _, thread in ipairs(threads) do
    ok_all = ok_all + thread:get("ok")
    limited_all = limited_all + thread:get("limited")
    other_all = other_all + thread:get("other")
    fivexx_all = fivexx_all + thread:get("fivexx")
    queries_all = queries_all + thread:get("db_queries")
    for _, value in ipairs(thread:get("app_ms")) do table.insert(apps, value) end
    for _, value in ipairs(thread:get("psp_ms")) do table.insert(psps, value) end
  end
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, ' ..
    '"ok": %d, "limited": %d, "non_2xx": %d, "5xx": %d, "socket_errors": %d, "db_queries": %d, "app_ms": "%s", "psp_ms": "%s"}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, ok_all, limited_all, other_all, fivexx_all,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    queries_all, table.concat(apps, ","), table.concat(psps, ",")))
end
