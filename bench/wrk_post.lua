-- wrk script of bench/throughput.py: POST one fixed JSON body, report as JSON.
--
-- The body is read from the file named by $WRK_BODY_FILE. done() prints one line
-- "WRK_JSON {...}" with the counts and latency percentiles (in microseconds).
-- errors.status counts responses with an HTTP status >= 400 (wrk's "Non-2xx or 3xx").

local path = os.getenv("WRK_BODY_FILE")
local file = assert(io.open(path, "rb"), "cannot open WRK_BODY_FILE " .. tostring(path))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,'
      .. '"p50":%d,"p90":%d,"p99":%d,"p999":%d}',
      latency.min, latency.mean, latency.max, latency.stdev,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9)),
  }
  io.write("WRK_JSON {" .. table.concat(parts, ",") .. "}\n")
end
