-- Prints one line `BENCH_RESULT {json}` when wrk finishes: counts, latency percentiles (µs) and errors.
-- It defines only setup() and done(): a response() hook would make wrk parse every response in Lua and
-- slow it. setup() keeps the threads (calling a setup() the request script defined before this one) so
-- that done() can add up their `bench_overrun` (requests past the end of a one-use list, wrk-headers.mjs).
local bench_threads = {}
local bench_user_setup = setup
setup = function(thread)
  bench_threads[#bench_threads + 1] = thread
  if bench_user_setup then bench_user_setup(thread) end
end
done = function(summary, latency, requests)
  local e = summary.errors
  local overruns = 0
  for _, thread in ipairs(bench_threads) do overruns = overruns + (tonumber(thread:get("bench_overrun")) or 0) end
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"http_errors":%d,"overruns":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status, overruns))
end
