-- Handlers that run past their invocation's deadline, each in another way; used by the
-- deadline tests.
local http = require "moonrun.http"
local time = require "moonrun.time"

local M = {}

local function spin()
  local n = 0
  while true do n = n + 1 end
end

function M.loop() spin() end

function M.sleep() time.sleep(100) end

-- Catches the Timeout error and carries on, in every way Lua offers.
function M.swallow(event)
  if event.how == "pcall" then
    while true do pcall(spin) end
  elseif event.how == "xpcall" then
    while true do xpcall(spin, function(e) return e end) end
  elseif event.how == "coroutine" then
    while true do coroutine.resume(coroutine.create(spin)) end
  elseif event.how == "sleep" then
    while true do pcall(time.sleep, 100) end
  end
end

-- Spins inside a coroutine: one made while the module loaded (before any deadline), or a
-- coroutine.wrap made by the handler.
local made_at_load = coroutine.create(spin)

function M.in_coroutine(event)
  if event.how == "wrap" then
    coroutine.wrap(function() coroutine.wrap(spin)() end)()
  else
    local ok, err = coroutine.resume(made_at_load)
    return {ok = ok, err = tostring(err)}
  end
end

-- A request to a server that never answers, with a timeout longer than the deadline.
function M.http(event)
  return http.request{url = event.url, timeout = 600}
end

-- Reports the error it caught, to show what the value looks like.
function M.caught()
  local ok, err = pcall(spin)
  return {ok = ok, type = err.errorType, text = tostring(err)}
end

function M.quick(event) return {echo = event} end

-- Sleeps event.seconds, then answers: with a deadline, decides whether one is stopped.
function M.nap(event)
  time.sleep(event.seconds)
  return {slept = event.seconds}
end

-- Either of the above, by event.how: one handler for tests that mix them.
function M.mixed(event)
  if event.how == "loop" then spin() end
  if event.how == "nap" then return M.nap(event) end
  return M.quick(event)
end

return M
