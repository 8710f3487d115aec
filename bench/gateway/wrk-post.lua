-- wrk script for bench/gateway/bench.py: POSTs the JSON body in BENCH_BODY_FILE with the headers in BENCH_HEADERS
-- ("Name: value" lines) and prints one machine-readable line at the end:
--   WRKJSON {"requests":..,"seconds":..,"rps":..,"p50_us":..,"p90_us":..,"p99_us":..,"mean_us":..,"non2xx":..,"socket_errors":..}
local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open BENCH_BODY_FILE " .. tostring(path))
  local data = f:read("*a")
  f:close()
  return data
end

wrk.method = "POST"
wrk.body = read_file(os.getenv("BENCH_BODY_FILE"))
wrk.headers["Content-Type"] = "application/json"
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^%s*([^:]+):%s*(.-)%s*$")
  if name then
    wrk.headers[name] = value
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'WRKJSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"non2xx":%d,"socket_errors":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.mean,
    e.status, e.connect + e.read + e.write + e.timeout))
end
