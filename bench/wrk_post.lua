-- wrk script of bench/throughput.py: POST one fixed body (JSON or CSV), report as JSON.
--
-- The body is read from the file named by $WRK_BODY_FILE, sent with the Content-Type in
-- $WRK_CONTENT_TYPE (default application/json). done() prints one line
-- "WRK_JSON {...}" with the counts and latency percentiles (in microseconds).
-- errors.status counts responses with an HTTP status >= 400 (wrk's "Non-2xx or 3xx").

local path = os.getenv("WRK_BODY_FILE")
local file = assert(io.open(path, "rb"), "cannot open WRK_BODY_FILE " .. tostring(path))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/json"

-- Hit-rate mode (bench/cache_http.py): with $WRK_POOL_FILE (one JSON body per
-- line) and $WRK_HIT_RATE, that share of requests repeats a pooled body (cache
-- hits once warmed) and the rest carry a row never sent before (misses).
local pool_path = os.getenv("WRK_POOL_FILE")
if pool_path then
  local pool = {}
  for line in io.lines(pool_path) do pool[#pool + 1] = line end
  local hit_rate = tonumber(os.getenv("WRK_HIT_RATE") or "0.9")
  local sent = 0
  local tag = tostring({}):match("0x(%x+)") or "0"  -- differs per wrk thread
  function request()
    local body
    if math.random() < hit_rate then
      body = pool[math.random(1, #pool)]
    else
      sent = sent + 1
      local value = tonumber(tag, 16) % 1000003 + sent / 1e7
      body = pool[1]:gsub("%[%[[^%]]*%]%]", "[[" .. string.format("%.7f", value)
        .. string.rep(",0.5", 19) .. "]]", 1)
    end
    return wrk.format(nil, nil, nil, body)
  end
end

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
