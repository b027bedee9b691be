-- One queue of moonrun dev's embedded SQS and its messages: their states (delayed, visible, in
-- flight), the timers that move them between states, retention, FIFO message groups (one
-- group's messages in order, none while one is in flight) and deduplication ids.
--
-- Its own module because this is the in-memory model, apart from how it is kept (the journal,
-- sqs/journal.lua) and from the operations SQS's API asks of it (sqs/store.lua): a queue
-- changes only through these methods, whoever calls them (an operation, or the journal's
-- replay).
local json = require "moonrun.json"
local rules = require "moonrun.dev.sqs.rules"
local containers = require "moonrun.dev.sqs.containers"

local new_list, list_push, list_size = containers.new_list, containers.list_push, containers.list_size
local new_heap, heap_push, heap_pop = containers.new_heap, containers.heap_push, containers.heap_pop
local tie_order = containers.tie_order
local new_keyed_heap, keyed_push, keyed_pop = containers.new_keyed_heap, containers.keyed_push, containers.keyed_pop
local keyed_filter = containers.keyed_filter
local SETTABLE = rules.SETTABLE

local Queue = {}
Queue.__index = Queue

local function new_queue(store, name, attributes, created_ms, tags)
  local q = setmetatable({
    store = store, name = name, fifo = attributes.FifoQueue == "true",
    attributes = attributes, tags = tags or {},
    created_ms = created_ms, modified_ms = created_ms,
    arn = string.format("arn:aws:sqs:%s:%s:%s", store.region, store.account, name),
    url = store.base_url .. "/" .. store.account .. "/" .. name,
    messages = {}, count = 0,
    n_visible = 0, n_inflight = 0, n_delayed = 0,
    ready = new_list(),       -- standard: visible messages, oldest first
    groups = {},              -- FIFO: group id -> {list, inflight, queued}
    ready_groups = new_list(),-- FIFO: groups that may have a message to give
    timers = new_heap(),      -- messages that become visible at a time (delayed, in flight)
    expiry = new_keyed_heap("sent", "order"), -- messages by the time retention ends
    dedup = {}, dedup_order = new_list(),
    sequence = 0, purged_ms = nil,
  }, Queue)
  return q
end

function Queue:attribute(name)
  local value = self.attributes[name]
  if value ~= nil then return value end
  local spec = SETTABLE[name]
  return spec and spec[1]
end

function Queue:number(name) return math.tointeger(tonumber(self:attribute(name))) end

function Queue:redrive()
  local text = self.attributes.RedrivePolicy
  if not text or text == "" then return nil end
  if self.redrive_text ~= text then
    local ok, policy = pcall(json.decode, text)
    self.redrive_text = text
    self.redrive_policy = ok and type(policy) == "table" and policy or nil
  end
  return self.redrive_policy
end

-- Marks msg visible (it was delayed or in flight) and puts it where receives find it.
function Queue:make_visible(msg)
  if msg.state == "inflight" then
    self.n_inflight = self.n_inflight - 1
  elseif msg.state == "delayed" then
    self.n_delayed = self.n_delayed - 1
  else
    return
  end
  msg.state = "visible"
  self.n_visible = self.n_visible + 1
  if self.fifo then
    local group = self.groups[msg.group]
    if msg.was_inflight then group.inflight = group.inflight - 1 end
    msg.was_inflight = nil
    self:offer_group(group)
  else
    list_push(self.ready, msg)
  end
end

-- Sets a not-yet-visible msg to become visible at `at`.
function Queue:set_timer(msg, at)
  msg.ver = (msg.ver or 0) + 1
  msg.visible_at = at
  heap_push(self.timers, at, msg, msg.ver)
end

-- Applies every time-driven change due by now: messages whose delay or visibility timeout
-- ended, messages past the retention period, deduplication ids past their window.
function Queue:settle(now)
  local timers = self.timers
  while timers.n > 0 and timers.at[1] <= now do
    local _, msg, ver = heap_pop(timers)
    if not msg.gone and msg.ver == ver and msg.state ~= "visible" then self:make_visible(msg) end
  end
  local retention = self:number("MessageRetentionPeriod") * 1000
  local expiry = self.expiry
  while expiry.n > 0 and expiry[1].sent + retention <= now do
    local msg = keyed_pop(expiry)
    if not msg.gone then self:remove(msg) end
  end
  local order = self.dedup_order
  while order.first <= order.last do
    local entry = order[order.first]
    if entry.at + rules.DEDUP_WINDOW_MS > now then break end
    order[order.first] = nil
    order.first = order.first + 1
    if self.dedup[entry.key] == entry then self.dedup[entry.key] = nil end
  end
  self:maybe_rebuild()
end


-- The containers are rebuilt when entries of messages gone dominate them.
function Queue:maybe_rebuild()
  local live = self.count
  local limit = 2 * live + 256
  if self.timers.n > limit then
    local old = self.timers
    self.timers = new_heap()
    for _, i in ipairs(tie_order(old)) do
      local msg, ver = old.item[i], old.ver[i]
      if not msg.gone and msg.ver == ver and msg.state ~= "visible" then
        heap_push(self.timers, old.at[i], msg, ver)
      end
    end
  end
  if self.expiry.n > limit then keyed_filter(self.expiry, function(msg) return not msg.gone end) end
  if not self.fifo and list_size(self.ready) > limit then
    local old, ready = self.ready, new_list()
    for i = old.first, old.last do
      local msg = old[i]
      if not msg.gone and msg.state == "visible" then list_push(ready, msg) end
    end
    self.ready = ready
  end
end

function Queue:offer_group(group)
  if group.queued or group.inflight > 0 then return end
  group.queued = true
  list_push(self.ready_groups, group)
end

-- The first message of a group still in the queue.
local function group_head(group)
  local list = group.list
  while list.first <= list.last do
    local msg = list[list.first]
    if not msg.gone then return msg end
    list[list.first] = nil
    list.first = list.first + 1
  end
  return nil
end

-- A message as queues keep it, with the fields every message has; the others (attributes,
-- system, group, dedup, sequence, source_arn, and those of receives) are set on it when they
-- have a value. Why one constructor of exactly these eight: a table is made with room for the
-- fields its constructor names, nil or not, in powers of two, and a queue holds one per
-- message: eight fields take 8 slots, the thirteen of a constructor naming every field 16
-- (some 200 bytes more a message).
local function new_message(id, body, sent, visible_at, receives, order, sender)
  return {id = id, body = body, sent = sent, visible_at = visible_at, receives = receives,
    order = order, sender = sender, state = "delayed"}
end

-- Adds msg (a table of the message's fields, from new_message) to the queue.
function Queue:insert(msg, now)
  self.messages[msg.id] = msg
  self.count = self.count + 1
  keyed_push(self.expiry, msg)
  if self.fifo then
    local group = self.groups[msg.group]
    if not group then
      group = {id = msg.group, list = new_list(), inflight = 0}
      self.groups[msg.group] = group
    end
    list_push(group.list, msg)
  end
  local at = msg.visible_at or 0
  if at > now then
    msg.state = msg.receives > 0 and "inflight" or "delayed"
    if msg.state == "inflight" then
      self.n_inflight = self.n_inflight + 1
      if self.fifo then
        msg.was_inflight = true
        self.groups[msg.group].inflight = self.groups[msg.group].inflight + 1
      end
    else
      self.n_delayed = self.n_delayed + 1
    end
    self:set_timer(msg, at)
  else
    msg.state = "delayed" -- made visible next, through the one path that counts it
    self.n_delayed = self.n_delayed + 1
    self:make_visible(msg)
  end
end

function Queue:remove(msg)
  if msg.gone then return end
  msg.gone = true
  self.messages[msg.id] = nil
  self.count = self.count - 1
  if msg.state == "visible" then
    self.n_visible = self.n_visible - 1
  elseif msg.state == "inflight" then
    self.n_inflight = self.n_inflight - 1
  else
    self.n_delayed = self.n_delayed - 1
  end
  if self.fifo then
    local group = self.groups[msg.group]
    if msg.was_inflight then
      group.inflight = group.inflight - 1
      msg.was_inflight = nil
    end
    if group_head(group) then
      self:offer_group(group)
    elseif group.inflight == 0 then
      self.groups[msg.group] = nil
    end
  end
end

-- Marks msg received: in flight until now + visibility_s, with a new receipt handle.
function Queue:apply_receive(msg, now, visibility_ms, handle)
  if msg.state == "visible" then self.n_visible = self.n_visible - 1
  elseif msg.state == "delayed" then self.n_delayed = self.n_delayed - 1
  else self.n_inflight = self.n_inflight - 1 end
  msg.state = "inflight"
  self.n_inflight = self.n_inflight + 1
  if self.fifo and not msg.was_inflight then
    msg.was_inflight = true
    local group = self.groups[msg.group]
    group.inflight = group.inflight + 1
  end
  msg.receives = msg.receives + 1
  msg.first_receive = msg.first_receive or now
  msg.received_at = now
  msg.handle = handle
  self:set_timer(msg, now + visibility_ms)
end

-- Changes when an in-flight msg becomes visible again.
function Queue:apply_visibility(msg, at, now)
  if at <= now then
    msg.ver = (msg.ver or 0) + 1
    self:make_visible(msg)
  else
    self:set_timer(msg, at)
  end
end

function Queue:next_sequence()
  self.sequence = self.sequence + 1
  return self.sequence
end

function Queue:remember_dedup(key, at, id, sequence)
  local entry = {key = key, at = at, id = id, sequence = sequence}
  self.dedup[key] = entry
  list_push(self.dedup_order, entry)
end


return {new = new_queue, new_message = new_message, group_head = group_head, Queue = Queue}
