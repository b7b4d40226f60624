-- GET a keys page starting after a random key of a store holding FORMAT % 0 .. FORMAT % (N-1).
-- Arguments: PATH (the keys URL with ?limit=...), N, FORMAT (e.g. k%07d), PAGE (the limit).
-- The start index is drawn from 0 .. N-PAGE-1, so every page is full.
local path = "/"
local count = 0
local fmt = "k%07d"
local page = 1000

function init(args)
  path = args[1]
  count = tonumber(args[2])
  fmt = args[3]
  page = tonumber(args[4])
  math.randomseed(os.time())
end

function request()
  local start = string.format(fmt, math.random(0, count - page - 1))
  return wrk.format(nil, path .. "&exclusiveStartKey=" .. start)
end

-- The figures of the run, one machine-readable line (wrk runs from the repository root).
dofile("bench/lua/summary.lua")
