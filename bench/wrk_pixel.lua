-- wrk script for pixel_bench: rotates through many open-pixel URLs and labels every request,
-- so that each stored open event can be matched to the request that made it.
--
-- pixel_bench runs wrk with as many threads as connections (one connection per thread), so
-- a thread's requests and responses strictly alternate: the response always answers the
-- last request sent. Each request carries `User-Agent: <label>/<thread id>/<sequence>`.
-- A request whose response never arrives (a socket error, or in flight when wrk stops) is
-- listed as "unknown": the server may or may not have handled it.
--
-- pixel_bench writes the two lines below (tokens, host, label) in front of this file.
-- tokens = { "...", ... }   host = "127.0.0.1:PORT"   label = "wrk"

local counter = 1
local threads = {}

function setup(thread)
   thread:set("id", counter)
   table.insert(threads, thread)
   counter = counter + 1
end

function init(args)
   seq, ok, pending = 0, 0, 0
   unknown, bad = {}, {}
   heads = {}
   for i, t in ipairs(tokens) do
      heads[i] = "GET /t/o/" .. t .. ".gif HTTP/1.1\r\nHost: " .. host .. "\r\nUser-Agent: " .. label .. "/" .. id .. "/"
   end
   ntok = #heads
end

function request()
   -- wrk also calls this once on thread 1 before the run, to check the request parses:
   -- that sequence number is never sent and simply shows up as "unknown".
   if pending ~= 0 then
      table.insert(unknown, pending)
   end
   seq = seq + 1
   pending = seq
   return heads[(seq + id * 7919) % ntok + 1] .. seq .. "\r\n\r\n"
end

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   else
      table.insert(bad, pending)
   end
   pending = 0
end

local function list(t)
   local out = {}
   for i, v in ipairs(t) do out[i] = string.format("%d", v) end
   return "[" .. table.concat(out, ",") .. "]"
end

function done(summary, latency, requests)
   local parts = {}
   for _, t in ipairs(threads) do
      local p = t:get("pending")
      local unk = t:get("unknown")
      if p ~= 0 then table.insert(unk, p) end
      parts[#parts + 1] = string.format('{"id":%d,"sent":%d,"ok":%d,"unknown":%s,"bad":%s}',
         t:get("id"), t:get("seq"), t:get("ok"), list(unk), list(t:get("bad")))
   end
   local e = summary.errors
   io.write(string.format('WRKJSON {"label":"%s","requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_mean_us":%.1f,"latency_p50_us":%d,"latency_p99_us":%d,"latency_max_us":%d,"threads":[%s]}\n',
      label, summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(99), latency.max, table.concat(parts, ",")))
end
