-- Asynchronous invocations of `moonrun dev`, as Lambda handles them: an internal queue (each
-- event waits for an instance of its function), up to MaximumRetryAttempts retries with a
-- backoff after a function error, MaximumEventAgeInSeconds, then the invocation record sent to
-- the OnSuccess or OnFailure destination (an SQS queue or another function of the template), or
-- the event to the function's dead-letter queue. Pending events are kept in a journal
-- (<state>/async.journal) so that they survive a restart, as queued messages do.
--
-- What it needs from dev is injected (functions by name, a way to send to a queue, the view,
-- the clock), so the specs can drive it without sockets or processes.
local json = require "moonrun.json"
local loop = require "moonrun.dev.loop"
local uuid = require "moonrun.uuid"

local M = {}

-- Lambda waits about a minute before the first retry and two before the second; moonrun dev
-- waits seconds, so that a retry can be watched.
M.RETRY_DELAYS_S = {1, 2}

local Async = {}
Async.__index = Async

local function iso_time(ms)
  return os.date("!%Y-%m-%dT%H:%M:%S", ms // 1000) .. string.format(".%03dZ", ms % 1000)
end

local function decoded_or_text(text)
  if text == nil or text == "" then return nil end
  local ok, value = pcall(json.decode, text)
  if ok then return value end
  return text
end

--- The invocation record Lambda sends to a destination: version, timestamp, requestContext
--- (requestId, functionArn, condition, approximateInvokeCount), requestPayload, and, once the
--- function ran, responseContext and responsePayload.
function M.record(entry, condition, outcome, arn, now_ms)
  local record = {
    version = "1.0", timestamp = iso_time(now_ms),
    requestContext = {requestId = entry.id, functionArn = arn .. ":$LATEST", condition = condition,
                      approximateInvokeCount = entry.attempts},
    requestPayload = decoded_or_text(entry.event),
  }
  if outcome then
    record.responseContext = {statusCode = 200, executedVersion = "$LATEST"}
    if not outcome.ok then record.responseContext.functionError = "Unhandled" end
    record.responsePayload = decoded_or_text(outcome.payload)
  end
  return record
end

-- ---- the journal: {op = "add", ...} when an event is accepted, {op = "try", id, n} after
-- each attempt, {op = "done", id} when it is settled ----

function Async:write(record)
  if not self.journal then return end
  local ok, why = self.journal:write(json.encode(record), "\n")
  if ok then ok, why = self.journal:flush() end
  if not ok then self.view.warn("cannot write " .. self.journal_path .. ": " .. tostring(why)) end
end

-- Reads the journal: the events not settled, in the order they came; then rewrites it with
-- only those (a temporary file renamed over it).
function Async:replay()
  local file = io.open(self.journal_path, "r")
  local pending, order = {}, {}
  if file then
    local number = 0
    for line in file:lines() do
      number = number + 1
      local ok, r = pcall(json.decode, line)
      if not ok or type(r) ~= "table" or type(r.id) ~= "string" then
        if line:find("%S") then
          self.view.warn(string.format("%s:%d: not a journal record, skipped", self.journal_path, number))
        end
      elseif r.op == "add" and type(r.fn) == "string" and type(r.event) == "string" then
        pending[r.id] = {id = r.id, fn = r.fn, event = r.event, received = tonumber(r.received) or 0,
                         attempts = 0, trigger = r.trigger}
        order[#order + 1] = r.id
      elseif r.op == "try" and pending[r.id] then
        pending[r.id].attempts = tonumber(r.n) or pending[r.id].attempts
      elseif r.op == "done" then
        pending[r.id] = nil
      end
    end
    file:close()
  end
  local list = {}
  for _, id in ipairs(order) do if pending[id] then list[#list + 1] = pending[id] end end
  local tmp = self.journal_path .. ".tmp"
  local out, why = io.open(tmp, "w")
  if not out then error(string.format("cannot write %s: %s", tmp, tostring(why)), 0) end
  for _, e in ipairs(list) do
    out:write(json.encode{op = "add", id = e.id, fn = e.fn, event = e.event, received = e.received,
                          trigger = e.trigger}, "\n")
    if e.attempts > 0 then out:write(json.encode{op = "try", id = e.id, n = e.attempts}, "\n") end
  end
  out:close()
  local renamed, rename_error = os.rename(tmp, self.journal_path)
  if not renamed then error(string.format("cannot replace %s: %s", self.journal_path, tostring(rename_error)), 0) end
  return list
end

-- ---- delivery ----

-- Sends the record to the OnSuccess or OnFailure destination, and a failed event to the
-- dead-letter queue (Lambda sends to both when both are set); a failure to send is a warning,
-- as Lambda counts it in DestinationDeliveryFailures.
function Async:deliver(fn, entry, condition, outcome)
  local config = fn.spec.async or {}
  local succeeded = outcome ~= nil and outcome.ok
  local target = succeeded and config.on_success or (not succeeded and config.on_failure) or nil
  if target then
    local record = json.encode(M.record(entry, condition, outcome, fn:arn(), self.now_ms()))
    local ok, why
    if target.type == "SQS" then
      ok, why = self.send_sqs(target.queue_name, record, nil)
    elseif self.functions[target.function_name] then
      self:submit(self.functions[target.function_name], record, {trigger = "destination of " .. fn.name})
      ok = true
    else
      why = "the template has no function " .. target.function_name
    end
    if ok then
      self.view.note(string.format("%s: %s record of %s sent to %s %s", fn.name, condition, entry.id,
        target.type == "SQS" and "queue" or "function", target.queue_name or target.function_name))
    else
      self.view.warn(string.format("%s: cannot send the %s record of %s to %s: %s", fn.name, condition,
        entry.id, target.arn, tostring(why)))
    end
  end
  if not succeeded and config.dead_letter then
    local err = outcome and decoded_or_text(outcome.payload)
    local message = type(err) == "table" and tostring(err.errorMessage or "") or ""
    local attributes = {
      RequestID = {DataType = "String", StringValue = entry.id},
      ErrorCode = {DataType = "Number", StringValue = "200"},
      ErrorMessage = {DataType = "String", StringValue = message ~= "" and message:sub(1, 1000) or condition},
    }
    local ok, why = self.send_sqs(config.dead_letter.queue_name, entry.event, attributes)
    if ok then
      self.view.note(string.format("%s: event %s sent to its dead-letter queue %s (%s)", fn.name, entry.id,
        config.dead_letter.queue_name, condition))
    else
      self.view.warn(string.format("%s: cannot send event %s to its dead-letter queue %s: %s", fn.name,
        entry.id, config.dead_letter.queue_name, tostring(why)))
    end
  elseif not succeeded and not target then
    self.view.warn(string.format("%s: asynchronous event %s discarded (%s; no OnFailure destination or dead-letter queue)",
      fn.name, entry.id, condition))
  end
end

-- ---- running an event ----

function Async:settle(fn, entry, condition, outcome)
  if self.stopping then return end -- stays in the journal: the next start runs it again
  self:deliver(fn, entry, condition, outcome)
  self:write{op = "done", id = entry.id}
  self.pending[fn.name] = self.pending[fn.name] - 1
  if self.on_change then self.on_change() end
end

function Async:too_old(fn, entry)
  local max_age_ms = ((fn.spec.async or {}).max_age_s or 21600) * 1000
  return self.now_ms() - entry.received > max_age_ms
end

function Async:run(fn, entry)
  local config = fn.spec.async or {}
  local max_attempts = (config.max_retries or 2) + 1
  while true do
    if self:too_old(fn, entry) then return self:settle(fn, entry, "EventAgeExceeded", entry.last_outcome) end
    if fn.limit == 0 then
      -- ReservedConcurrentExecutions 0: Lambda keeps the event, throttled, until it is too old
      loop.sleep(1)
      if self.stopping then return end
      goto continue
    end
    local outcome = fn:invoke(entry.event, entry.trigger, {request_id = entry.id})
    if self.stopping then return end
    entry.attempts = entry.attempts + 1
    self:write{op = "try", id = entry.id, n = entry.attempts}
    entry.last_outcome = outcome
    local trigger = entry.trigger .. " (async" .. (entry.attempts > 1 and ", retry " .. (entry.attempts - 1) or "") .. ")"
    if self.log then self.log(fn, trigger, outcome) end
    if outcome.ok then return self:settle(fn, entry, "Success", outcome) end
    if entry.attempts >= max_attempts then return self:settle(fn, entry, "RetriesExhausted", outcome) end
    loop.sleep(M.RETRY_DELAYS_S[math.min(entry.attempts, #M.RETRY_DELAYS_S)])
    if self.stopping then return end
    ::continue::
  end
end

function Async:start_entry(fn, entry)
  self.pending[fn.name] = (self.pending[fn.name] or 0) + 1
  if self.on_change then self.on_change() end
  loop.spawn(self.run, self, fn, entry)
end

--- Accepts an asynchronous invocation of fn with event (JSON text): journaled, then run.
--- options: request_id, trigger (for the view; default "invoke"). Returns the request id.
function Async:submit(fn, event, options)
  options = options or {}
  local entry = {id = options.request_id or uuid.v4(), fn = fn.name, event = event, received = self.now_ms(),
                 attempts = 0, trigger = options.trigger or "invoke"}
  self:write{op = "add", id = entry.id, fn = entry.fn, event = entry.event, received = entry.received,
             trigger = entry.trigger}
  self:start_entry(fn, entry)
  return entry.id
end

--- Events accepted and not yet settled, for fn's name.
function Async:depth(name)
  return self.pending[name] or 0
end

--- From now on nothing is settled: what runs stays in the journal for the next start.
function Async:stop()
  self.stopping = true
  if self.journal then self.journal:close() end
  self.journal = nil
end

--- options: functions (by name), send_sqs (function(queue_name, body, message_attributes) ->
--- true, or nil and why), view (note, warn), log (function(fn, trigger, outcome): an
--- invocation's line), journal_path (nil: not kept), now_ms, on_change. Events the journal
--- holds are started again (those of a function no longer in the template are reported and
--- dropped).
function M.new(options)
  local self = setmetatable({
    functions = options.functions, send_sqs = options.send_sqs, view = options.view, log = options.log,
    journal_path = options.journal_path, now_ms = options.now_ms or loop.now_ms, on_change = options.on_change,
    pending = {},
  }, Async)
  local resumed = {}
  if self.journal_path then
    resumed = self:replay()
    local why
    self.journal, why = io.open(self.journal_path, "a")
    if not self.journal then error(string.format("cannot write %s: %s", self.journal_path, tostring(why)), 0) end
  end
  if #resumed > 0 then
    self.view.note(string.format("%d pending asynchronous event%s from the last run", #resumed, #resumed == 1 and "" or "s"))
  end
  for _, entry in ipairs(resumed) do
    local fn = self.functions[entry.fn]
    if fn then
      self:start_entry(fn, entry)
    else
      self.view.warn(string.format("asynchronous event %s of %s dropped: the template has no such function now",
        entry.id, entry.fn))
      self:write{op = "done", id = entry.id}
    end
  end
  return self
end

return M
