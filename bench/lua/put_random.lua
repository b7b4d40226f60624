-- PUT a body of SIZE bytes to a key drawn at random on every request: one of the PREFIXES (drawn
-- at random too) .. string.format(FORMAT, i), i in 0 .. N-1, so keys are written over and over.
-- Arguments (after `--`): PREFIXES (comma-separated URL paths, each ending in '/'), N, FORMAT
-- (e.g. s3-%05d), SIZE, SEED (optional, default 1: every system is sent the same sequence).
local prefixes = {}
local count = 1
local fmt = "%d"

function init(args)
  for prefix in string.gmatch(args[1], "[^,]+") do
    prefixes[#prefixes + 1] = prefix
  end
  count = tonumber(args[2])
  fmt = args[3]
  wrk.method = "PUT"
  wrk.body = string.rep("b", tonumber(args[4]))
  math.randomseed(tonumber(args[5] or "1"))
end

function request()
  local prefix = prefixes[math.random(1, #prefixes)]
  return wrk.format(nil, prefix .. string.format(fmt, math.random(0, count - 1)))
end

-- The figures of the run, one machine-readable line (wrk runs from the repository root).
dofile("bench/lua/summary.lua")
