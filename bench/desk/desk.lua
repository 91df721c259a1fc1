-- wrk script for the review desk (bench/desk/run.sh, tests/t_desk_load.sh).
-- DESK_WORK=read: the queue API, a page of 50 pending outputs after a
-- random cursor (one request in 20 a first page, with the counts).
-- DESK_WORK=mixed: reviewers at work: approvals (3 in 4) and edits (1 in 4)
-- of a hot set of DESK_HOT outputs, each with the version this thread last
-- saw (every answer, 200 or 409, carries the output's id and current
-- version); a 409 for a stale version is expected and counted apart, and
-- every 200 records exactly one review (load.sh checks the store agrees).
-- After DESK_SECS seconds it only asks GET /api/session (wrk runs 3 s
-- longer), so that no write is in flight when wrk stops: a write wrk gave
-- up on would still be recorded, uncounted.
-- Environment: DESK_COOKIE (a session), DESK_CSRF, DESK_N (outputs in the
-- store), DESK_HOT, DESK_SECS.  done() prints one line "desk-result {json}": latency
-- percentiles and the responses counted by status.
local WORK = os.getenv("DESK_WORK") or "read"
local N = tonumber(os.getenv("DESK_N") or "100000")
local HOT = tonumber(os.getenv("DESK_HOT") or "1000")
local SECS = tonumber(os.getenv("DESK_SECS") or "30")
local headers = { Cookie = "quill_session=" .. (os.getenv("DESK_COOKIE") or "") }
if WORK == "mixed" then
  headers["X-CSRF-Token"] = os.getenv("DESK_CSRF") or ""
  headers["Content-Type"] = "application/json"
end
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  counts = {}
  versions = {}
  n = 0
  writes = 0 -- 200s that answered a write: the output, not the session
  deadline = os.time() + SECS
end

local function read()
  local path = "/api/outputs?status=pending&limit=50"
  if math.random(20) > 1 then path = path .. "&cursor=" .. math.random(0, N) end
  return wrk.format("GET", path, headers)
end

local function write()
  if os.time() >= deadline then return wrk.format("GET", "/api/session", headers) end
  local out = math.random(HOT)
  local v = versions[out] or 1
  n = n + 1
  if math.random(4) == 1 then
    return wrk.format("POST", "/api/outputs/" .. out .. "/edit", headers,
      string.format('{"text":"prompt %d, edited (%d.%d)","version":%d}', out, id, n, v))
  end
  return wrk.format("POST", "/api/outputs/" .. out .. "/review", headers,
    string.format('{"verdict":"approve","version":%d,"note":"bench"}', v))
end

request = WORK == "mixed" and write or read

function response(status, hdrs, body)
  counts[status] = (counts[status] or 0) + 1
  if WORK == "mixed" then
    local out, v = string.match(body or "",
      '"id":(%d+),"status":"%a+","approvals":%d+,"needed":%d+,"version":(%d+)')
    if out then versions[tonumber(out)] = tonumber(v) end
    if out and status == 200 then writes = writes + 1 end
  end
end

-- Sum the threads' counts and print the result line.
function done(summary, latency, requests)
  local s200, s409, s5xx, other, w200 = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    w200 = w200 + t:get("writes")
    for status, k in pairs(t:get("counts")) do
      if status == 200 then s200 = s200 + k
      elseif status == 409 then s409 = s409 + k
      elseif status >= 500 then s5xx = s5xx + k
      else other = other + k end
    end
  end
  local e = summary.errors
  io.write(string.format(
    'desk-result {"requests":%d,"seconds":%.2f,"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,' ..
    '"max_ms":%.2f,"s200":%d,"s409":%d,"s5xx":%d,"other":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"write_200":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    s200, s409, s5xx, other, e.connect, e.read, e.write, e.timeout, w200))
end
