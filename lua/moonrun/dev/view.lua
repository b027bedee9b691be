-- The terminal view of `moonrun dev`: one line per invocation (time, function, trigger,
-- duration, result), the functions' own output under their name, the queues' depths and each
-- function's instances (running, warm, throttled, asynchronous events waiting): on a terminal
-- in a status line kept at the bottom, otherwise as a line whenever they change.
local json = require "moonrun.json"

local M = {}

local out = io.stdout
local tty = false
local color = false
local status_line = ""
local queues_text, functions_text = nil, nil
local name_width = 8

local function paint(code, text)
  if not color then return text end
  return "\27[" .. code .. "m" .. text .. "\27[0m"
end

local function clock()
  local ms = require("moonrun.time").now_ms()
  return os.date("!%H:%M:%S", ms // 1000) .. string.format(".%03d", ms % 1000)
end

-- Every line goes through here, so the status line is redrawn below it.
local function line(text)
  if tty and status_line ~= "" then
    out:write("\r\27[K", text, "\n", status_line)
  else
    out:write(text, "\n")
  end
  out:flush()
end

function M.setup(options)
  tty = options.tty
  color = options.color
  for _, name in ipairs(options.names or {}) do name_width = math.max(name_width, #name) end
end

function M.note(text)
  line(paint("2", clock()) .. "  " .. text)
end

function M.warn(text)
  line(paint("2", clock()) .. "  " .. paint("33", "warning: ") .. text)
end

function M.output(name, text)
  line(paint("2", clock() .. "  " .. string.format("%-" .. name_width .. "s", name) .. " |") .. " " .. text)
end

-- entry: {name, trigger, duration_ms, ok, summary, cold (the first of a new instance)}
--- A failed invocation's result as its line shows it: the error's type and message, the message
--- on one line and cut at 120 characters.
function M.failure_summary(outcome)
  local ok, err = pcall(json.decode, outcome.payload or "")
  if ok and type(err) == "table" then
    local message = tostring(err.errorMessage or ""):gsub("%s+", " ")
    if #message > 120 then message = message:sub(1, 117) .. "..." end
    return tostring(err.errorType or outcome.error_type or "error") .. ": " .. message
  end
  return outcome.error_type or "error"
end

function M.invocation(entry)
  local result = entry.ok and paint("32", entry.summary) or paint("31", entry.summary)
  if entry.cold then result = result .. paint("36", "  (cold start)") end
  line(string.format("%s  %s  %-22s %8.1f ms  %s", paint("2", clock()),
    paint("1", string.format("%-" .. name_width .. "s", entry.name)), entry.trigger,
    entry.duration_ms, result))
end

local function redraw()
  local parts = {}
  if queues_text then parts[#parts + 1] = queues_text end
  if functions_text then parts[#parts + 1] = functions_text end
  status_line = paint("7", " " .. table.concat(parts, "  |  ") .. " ")
  out:write("\r\27[K", status_line)
  out:flush()
end

-- depths: the store's {name, visible, in_flight, delayed} list.
function M.queues(depths)
  local parts = {}
  for _, q in ipairs(depths) do
    local text = string.format("%s %d", q.name, q.visible)
    if q.in_flight > 0 then text = text .. string.format(" (+%d in flight)", q.in_flight) end
    if q.delayed > 0 then text = text .. string.format(" (+%d delayed)", q.delayed) end
    parts[#parts + 1] = text
  end
  local text = "queues: " .. (#parts > 0 and table.concat(parts, "  ·  ") or "none")
  queues_text = text
  if tty then
    redraw()
  else
    line(paint("2", clock()) .. "  " .. text)
  end
end

--- The functions' text: for each, its instances running and warm, and, when there are any,
--- the synchronous invocations throttled so far and the asynchronous events not yet settled.
--- counts: a list of {name, running, warm, throttled, async}.
function M.functions_text(counts)
  local parts = {}
  for _, c in ipairs(counts) do
    local text = string.format("%s %d running, %d warm", c.name, c.running, c.warm)
    if c.throttled > 0 then text = text .. string.format(", %d throttled", c.throttled) end
    if c.async > 0 then text = text .. string.format(", %d async pending", c.async) end
    parts[#parts + 1] = text
  end
  return "functions: " .. (#parts > 0 and table.concat(parts, "  ·  ") or "none")
end

-- On a terminal, part of the status line; otherwise a line (dev calls this at most once a
-- second, and only when something changed, so a burst does not flood the output).
function M.functions(counts)
  functions_text = M.functions_text(counts)
  if tty then
    redraw()
  else
    line(paint("2", clock()) .. "  " .. functions_text)
  end
end

-- Leaves the terminal as it was: the status line is cleared.
function M.close()
  if tty and status_line ~= "" then out:write("\r\27[K") end
  status_line = ""
  queues_text, functions_text = nil, nil
  out:flush()
end

return M
