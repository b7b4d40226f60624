-- Fill a store with N tiny records FORMAT % 0 .. FORMAT % (N-1), then stop.
-- Arguments: PREFIX (records URL path ending in '/'), N, FORMAT, SLACK, DONE_FILE.
-- Requests past the N-th overwrite keys from the start again (harmless) until N + SLACK
-- responses have come back; then it creates DONE_FILE (on which bench/wrk.py ends wrk: its main
-- thread would sleep out the whole -d). bench/populate.py then checks every key is there.
local prefix = "/"
local count = 0
local fmt = "k%07d"
local counter = 0
local answered = 0
local stop_after = 0
local done_file = nil

function init(args)
  prefix = args[1]
  count = tonumber(args[2])
  fmt = args[3]
  stop_after = count + tonumber(args[4])
  done_file = args[5]
  wrk.method = "PUT"
  wrk.body = "1"
end

function request()
  local key = string.format(fmt, counter % count)
  counter = counter + 1
  return wrk.format(nil, prefix .. key)
end

function response(status, headers, body)
  answered = answered + 1
  if answered == stop_after then
    io.open(done_file, "w"):close()
    wrk.thread:stop()
  end
end

-- The figures of the run, one machine-readable line (wrk runs from the repository root).
dofile("bench/lua/summary.lua")
