-- The Schedule and ScheduleV2 events of `moonrun dev`: each enabled schedule waits for its next
-- firing (cron.lua, in UTC) and then invokes its function asynchronously (async.lua) with
-- EventBridge's event (or the event's Input); any schedule, enabled or not, can be fired at once
-- from the HTTP front, so that nobody waits an hour for an hourly job.
local json = require "moonrun.json"
local loop = require "moonrun.dev.loop"
local cron = require "moonrun.dev.cron"
local uuid = require "moonrun.uuid"

local M = {}

M.PATH = "/_moonrun/schedules"

local function iso_seconds(s)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", s)
end

--- The event a schedule sends: its Input when it has one, else EventBridge's scheduled event
--- (a rule's from "aws.events", EventBridge Scheduler's from "aws.scheduler").
function M.event(schedule, fn, at_s)
  if schedule.event.input then return schedule.event.input end
  local v2 = schedule.event.type == "ScheduleV2"
  local resource = v2 and string.format("arn:aws:scheduler:%s:%s:schedule/default/%s", fn.region, fn.account,
                                        schedule.event.rule_name)
                      or string.format("arn:aws:events:%s:%s:rule/%s", fn.region, fn.account, schedule.event.rule_name)
  return json.encode{
    version = "0", id = uuid.v4(), ["detail-type"] = "Scheduled Event",
    source = v2 and "aws.scheduler" or "aws.events", account = fn.account, time = iso_seconds(at_s),
    region = fn.region, resources = json.array{resource}, detail = {},
  }
end

local Schedules = {}
Schedules.__index = Schedules

-- The key a schedule is named by on the front: Function/Event.
local function key(fn, event) return fn.name .. "/" .. event.name end

function Schedules:fire(schedule, why)
  local now = self.now_s()
  self.async:submit(schedule.fn, M.event(schedule, schedule.fn, now), {trigger = "schedule " .. schedule.event.name})
  schedule.fired = (schedule.fired or 0) + 1
  if why then self.view.note(string.format("schedule %s fired %s", schedule.key, why)) end
end

function Schedules:describe_next(schedule)
  if not schedule.event.enabled then return "disabled" end
  if not schedule.next_s then return "no next firing" end
  return "next " .. os.date("!%Y-%m-%d %H:%M:%S UTC", schedule.next_s)
end

function Schedules:run(schedule)
  local started = self.now_s()
  while not self.stopping do
    schedule.next_s = cron.next(schedule.expression, self.now_s(), started)
    if not schedule.next_s then
      self.view.note(string.format("schedule %s: no next firing", schedule.key))
      return
    end
    while not self.stopping and loop.now_ms() < schedule.next_s * 1000 do
      loop.wait(self, math.min(schedule.next_s - loop.now_ms() / 1000, 60))
    end
    if self.stopping then return end
    self:fire(schedule)
    self.view.note(string.format("schedule %s fired; %s", schedule.key,
      self:describe_next({event = schedule.event, next_s = cron.next(schedule.expression, self.now_s(), started)})))
  end
end

--- Answers the front's /_moonrun/schedules requests: GET lists the schedules (name,
--- expression, enabled, next firing), POST .../Function/Event fires one now. nil when the path
--- is not one of these.
function Schedules:handle(req)
  if req.path ~= M.PATH and req.path:sub(1, #M.PATH + 1) ~= M.PATH .. "/" then return nil end
  local headers = {["content-type"] = "application/json"}
  local name = req.path:sub(#M.PATH + 2)
  if name == "" then
    if req.method ~= "GET" then return 405, headers, json.encode{message = "GET lists the schedules; POST " .. M.PATH .. "/FUNCTION/EVENT fires one"} end
    local list = json.array{}
    for _, s in ipairs(self.list) do
      list[#list + 1] = {name = s.key, expression = s.event.expression, enabled = s.event.enabled,
                         next = s.event.enabled and s.next_s and iso_seconds(s.next_s) or json.null,
                         fire = self.base_url .. M.PATH .. "/" .. s.key}
    end
    return 200, headers, json.encode{schedules = list}
  end
  local schedule = self.by_key[require("moonrun.event_text").percent_decode(name)]
  if not schedule then
    local names = {}
    for _, s in ipairs(self.list) do names[#names + 1] = s.key end
    return 404, headers, json.encode{message = string.format("no schedule %s (the schedules: %s)", name,
      #names > 0 and table.concat(names, ", ") or "none")}
  end
  if req.method ~= "POST" then return 405, headers, json.encode{message = "POST fires the schedule"} end
  self:fire(schedule, "on demand")
  return 202, headers, json.encode{fired = schedule.key}
end

function Schedules:stop()
  self.stopping = true
  loop.notify(self)
end

--- options: functions (dev's, each with spec.schedule_events), async (async.lua's invoker),
--- view, base_url (the front's URL, for the hints), now_s (the clock; default wall-clock
--- seconds). Starts every enabled schedule.
function M.start(options)
  local self = setmetatable({async = options.async, view = options.view, base_url = options.base_url,
                             now_s = options.now_s or function() return loop.now_ms() // 1000 end,
                             list = {}, by_key = {}}, Schedules)
  for _, fn in ipairs(options.functions) do
    for _, event in ipairs(fn.spec.schedule_events or {}) do
      local schedule = {fn = fn, event = event, key = key(fn, event),
                        expression = assert(cron.parse(event.expression, {at = event.type == "ScheduleV2"}))}
      self.list[#self.list + 1] = schedule
      self.by_key[schedule.key] = schedule
      if event.enabled then loop.spawn(self.run, self, schedule) end
    end
  end
  return self
end

return M
