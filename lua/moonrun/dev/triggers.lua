-- The SQS triggers of `moonrun dev`: each is a set of poller processes (poller.lua), scaled as
-- Lambda scales an SQS event source mapping: more pollers while the queue has a backlog, up to
-- ScalingConfig.MaximumConcurrency (and never beyond the function's own concurrency limit),
-- fewer once it has been empty a while. A poller that stops unasked is restarted.
local json = require "moonrun.json"
local loop = require "moonrun.dev.loop"
local process = require "moonrun.process"

local M = {}

M.TICK_S = 0.25       -- how often a trigger looks at its queue
M.GROW_STEP = 10      -- pollers added at most per look (Lambda adds them gradually too)
M.IDLE_S = 5          -- an empty queue for this long lets one poller go

--- The number of pollers a trigger wants, from what it saw (pure, for the specs):
--- current (pollers running), max (the most it may run), batch_size, and facts: visible and
--- in_flight (the queue's messages, when the queue is the embedded one; nil otherwise), busy
--- (this trigger's invocations running now), idle_s (how long the queue has been empty).
function M.wanted(current, max, batch_size, facts)
  local want = current
  if facts.visible ~= nil then
    if facts.visible > 0 then
      local step = math.min(M.GROW_STEP, math.max(1, math.ceil(facts.visible / batch_size)))
      want = current + step
    elseif facts.in_flight == 0 and (facts.idle_s or 0) >= M.IDLE_S then
      want = current - 1
    end
  elseif (facts.busy or 0) >= current then
    -- another SQS: no depth to read, so every poller busy is taken as the backlog
    want = current + 1
  end
  return math.max(1, math.min(max, want))
end

local Trigger = {}
Trigger.__index = Trigger

function Trigger:spawn()
  local child = {}
  child.process = process.spawn{
    argv = {self.exe, "run", self.poller_path, self.config_text},
    env = self.env,
    on_output = function(_, line) self.view.output("sqs " .. self.event.queue_name, line) end,
    on_exit = function(code, signal)
      child.gone = true
      self.children[child] = nil
      loop.notify(child)
      if self.stopping or child.stopping then return end
      self.view.warn(string.format("the trigger of %s on %s stopped (%s); restarting it", self.fn.name,
        self.event.queue_name, code and ("exit status " .. code) or tostring(signal)))
      loop.spawn(function() loop.sleep(1); if not self.stopping then self:spawn() end end)
    end,
  }
  self.children[child] = true
  return child
end

local function stop_child(child)
  if child.gone then return end
  child.stopping = true
  child.process:kill("TERM")
  local deadline = loop.monotonic() + 2
  while not child.gone and loop.monotonic() < deadline do loop.wait(child, deadline - loop.monotonic()) end
  if not child.gone then child.process:kill("KILL") end
end

function Trigger:running()
  local n = 0
  for child in pairs(self.children) do if not child.stopping then n = n + 1 end end
  return n
end

-- One look at the queue: start or stop pollers to what wanted() says.
function Trigger:tick()
  local facts = {busy = self.busy and self.busy() or 0}
  local depth = self.depth and self.depth()
  if depth then
    facts.visible, facts.in_flight = depth.visible, depth.in_flight
    local now = loop.monotonic()
    if depth.visible > 0 or depth.in_flight > 0 then self.empty_since = now end
    facts.idle_s = now - (self.empty_since or now)
  end
  local current = self:running()
  local want = M.wanted(current, self.max, self.event.batch_size or 10, facts)
  for _ = current + 1, want do self:spawn() end
  if want < current then
    for child in pairs(self.children) do
      if not child.stopping then
        loop.spawn(stop_child, child)
        self.empty_since = loop.monotonic() -- the next one goes after another idle period
        break
      end
    end
  end
  if want ~= current and self.on_scale then self.on_scale(self, want) end
end

function Trigger:stop()
  self.stopping = true
  loop.notify(self)
  local pending = 0
  for child in pairs(self.children) do
    pending = pending + 1
    loop.spawn(function() stop_child(child); pending = pending - 1; loop.notify(self.children) end)
  end
  while pending > 0 do loop.wait(self.children, 1) end
end

function Trigger:kill_all()
  for child in pairs(self.children) do child.process:kill("KILL") end
end

--- Starts a trigger's first poller and its scaling task. options: exe, poller_path, env, view,
--- fn (the dev function it invokes), event (the template model's SQS event), config (the
--- poller's configuration), depth (a function giving the queue's {visible, in_flight}, or nil
--- when the queue is not the embedded one), busy (a function giving the trigger's running
--- invocations), on_scale (told of each change).
function M.start(options)
  local limit = math.max(1, options.fn.limit)
  local self = setmetatable({
    exe = options.exe, poller_path = options.poller_path, env = options.env, view = options.view,
    fn = options.fn, event = options.event, config_text = json.encode(options.config),
    depth = options.depth, busy = options.busy, on_scale = options.on_scale,
    max = math.min(options.event.max_concurrency or limit, limit), children = {},
  }, Trigger)
  self:spawn()
  loop.spawn(function()
    while not self.stopping do
      self:tick() -- at once too: a backlog waiting at start gets its pollers without delay
      loop.wait(self, M.TICK_S)
    end
  end)
  return self
end

return M
