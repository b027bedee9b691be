-- The terminal view of `moonrun dev`: one line per invocation (time, function, trigger,
-- duration, result), the functions' own output under their name, and the queues' depths: on a
-- terminal in a status line kept at the bottom, otherwise as a line whenever they change.
local M = {}

local out = io.stdout
local tty = false
local color = false
local status_line = ""
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
function M.invocation(entry)
  local result = entry.ok and paint("32", entry.summary) or paint("31", entry.summary)
  if entry.cold then result = result .. paint("36", "  (cold start)") end
  line(string.format("%s  %s  %-22s %8.1f ms  %s", paint("2", clock()),
    paint("1", string.format("%-" .. name_width .. "s", entry.name)), entry.trigger,
    entry.duration_ms, result))
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
  if tty then
    status_line = paint("7", " " .. text .. " ")
    out:write("\r\27[K", status_line)
    out:flush()
  else
    line(paint("2", clock()) .. "  " .. text)
  end
end

-- Leaves the terminal as it was: the status line is cleared.
function M.close()
  if tty and status_line ~= "" then out:write("\r\27[K") end
  status_line = ""
  out:flush()
end

return M
