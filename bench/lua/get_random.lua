-- GET a record drawn at random on every request: PREFIX .. string.format(FORMAT, i), i in
-- 0 .. N-1: the requests spread over N records (W1 repeats one, which a memo of answers replays).
-- Arguments (after `--`): PREFIX (the records' URL path, ending in '/'), N, FORMAT (e.g. w8-%05d),
-- SEED (optional, default 1: the same seed gives every system the same sequence of keys).
local prefix = "/"
local count = 1
local fmt = "%d"

function init(args)
  prefix = args[1]
  count = tonumber(args[2])
  fmt = args[3]
  math.randomseed(tonumber(args[4] or "1"))
end

function request()
  return wrk.format(nil, prefix .. string.format(fmt, math.random(0, count - 1)))
end

-- The figures of the run, one machine-readable line (wrk runs from the repository root).
dofile("bench/lua/summary.lua")
