-- PUT a body of N bytes to a new key on every request: PREFIX .. 1, PREFIX .. 2, ...
-- Arguments (after `--`): PREFIX (a URL path ending in the start of the key), N.
local prefix = "/"
local counter = 0

function init(args)
  prefix = args[1]
  wrk.method = "PUT"
  wrk.body = string.rep("b", tonumber(args[2]))
end

function request()
  counter = counter + 1
  return wrk.format(nil, prefix .. counter)
end

-- The figures of the run, one machine-readable line (wrk runs from the repository root).
dofile("bench/lua/summary.lua")
