-- wrk script for bench/bench_http.py: POST /validate/check answering challenges
-- issued beforehand.
--
--   wrk ... -s bench/http_validate.lua URL -- ANSWERS_FILE THREADS
--
-- ANSWERS_FILE has one "user,transaction_id,response" line per challenge. Each
-- challenge can be answered once, so wrk thread i takes every THREADS-th line
-- starting at line i: the slices are disjoint. Only a 200 whose body says ACCEPT
-- counts as accepted, so a server that refuses or fails is never measured as fast.
-- A thread whose slice runs out stops and says so (the rate is then a lower bound).

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, count = args[1], tonumber(args[2])
  bodies, next_body = {}, 1
  accepted, other, ran_out = 0, 0, 0
  local line_no = 0
  for line in io.lines(path) do
    if line_no % count == thread_index then
      local user, transaction, answer = line:match("^([^,]+),([^,]+),([^,]+)$")
      bodies[#bodies + 1] = "user=" .. user .. "&pass=" .. answer .. "&transaction_id=" .. transaction
    end
    line_no = line_no + 1
  end
end

local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
  local body = bodies[next_body]
  if body == nil then
    -- wrk needs a request to send before the thread stops: a harmless one, not counted
    ran_out = 1
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  next_body = next_body + 1
  return wrk.format("POST", "/validate/check", form, body)
end

function response(status, headers, body)
  if ran_out == 1 then
    return
  end
  if status == 200 and body:find('"ACCEPT"', 1, true) then
    accepted = accepted + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local ok, bad, out = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("accepted")
    bad = bad + thread:get("other")
    out = out + thread:get("ran_out")
  end
  local e = summary.errors
  io.write(string.format(
    "dsc-bench accepted=%d other=%d ran_out=%d errors=%d duration_us=%d p50_us=%d p99_us=%d\n",
    ok, bad, out, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
