-- The queues of moonrun dev's embedded SQS endpoint: standard and FIFO queues with SQS's
-- semantics (visibility timeout, delay, retention, receive counts, redrive to a dead-letter
-- queue, FIFO groups and deduplication), kept in memory and in an append-only journal so that
-- nothing is lost when moonrun dev restarts.
--
--   local store = sqs_store.new{state_dir = ".moonrun", now_ms = sched.now_ms,
--     base_url = "http://127.0.0.1:9324", account = "000000000000", region = "us-east-1"}
--   store:ensure_queue("orders", {VisibilityTimeout = "60"})
--
-- Every change is one JSON line in <state_dir>/sqs.journal, written and flushed before the
-- caller answers; the journal is replayed by new and rewritten (to a temporary file, then
-- renamed over it) when it holds much more than the live state.
--
-- Costs: send, receive, delete and visibility changes are O(log n) in the messages of the
-- queue (a heap of timers, a queue of visible messages, a heap of expiry times); nothing scans
-- the queue's messages except compaction, whose cost is paid for by the records it removes.
local digest = require "moonrun.digest"
local json = require "moonrun.json"
local time = require "moonrun.time"
local uuid = require "moonrun.uuid"

local M = {}

M.JOURNAL_NAME = "sqs.journal"
M.DEDUP_WINDOW_MS = 5 * 60 * 1000
M.PURGE_COOLDOWN_MS = 60 * 1000
M.RECREATE_COOLDOWN_MS = 60 * 1000
M.MAX_VISIBILITY_S = 43200

-- Queue attributes a caller may set: default, and a check of the value (a string) returning
-- the value to keep, or nil and the reason.
local function integer_in(low, high)
  return function(value)
    local n = math.tointeger(tonumber(value))
    if not n or not tostring(value):match("^%s*%-?%d+%s*$") or n < low or n > high then
      return nil, string.format("must be an integer from %d to %d", low, high)
    end
    return tostring(n)
  end
end

local function boolean_value(value)
  local lower = tostring(value):lower()
  if lower == "true" or lower == "false" then return lower end
  return nil, "must be true or false"
end

local function any_string(value) return tostring(value) end

local function one_of(...)
  local allowed = {...}
  return function(value)
    for _, v in ipairs(allowed) do if value == v then return v end end
    return nil, "must be one of " .. table.concat(allowed, ", ")
  end
end

local SETTABLE = {
  DelaySeconds = {"0", integer_in(0, 900)},
  MaximumMessageSize = {"1048576", integer_in(1024, 1048576)},
  MessageRetentionPeriod = {"345600", integer_in(60, 1209600)},
  ReceiveMessageWaitTimeSeconds = {"0", integer_in(0, 20)},
  VisibilityTimeout = {"30", integer_in(0, M.MAX_VISIBILITY_S)},
  Policy = {nil, any_string},
  RedrivePolicy = {nil, any_string},        -- checked against the other queues below
  RedriveAllowPolicy = {nil, any_string},   -- likewise
  KmsMasterKeyId = {nil, any_string},
  KmsDataKeyReusePeriodSeconds = {nil, integer_in(60, 86400)},
  SqsManagedSseEnabled = {"true", boolean_value},
  FifoQueue = {nil, boolean_value},
  ContentBasedDeduplication = {nil, boolean_value},
  DeduplicationScope = {nil, one_of("messageGroup", "queue")},
  FifoThroughputLimit = {nil, one_of("perQueue", "perMessageGroupId")},
}
M.SETTABLE = SETTABLE
local FIFO_ONLY = {ContentBasedDeduplication = true, DeduplicationScope = true, FifoThroughputLimit = true}
local COMPUTED = {
  ApproximateNumberOfMessages = true, ApproximateNumberOfMessagesNotVisible = true,
  ApproximateNumberOfMessagesDelayed = true, CreatedTimestamp = true,
  LastModifiedTimestamp = true, QueueArn = true,
}
M.COMPUTED = COMPUTED

-- The order GetQueueAttributes All lists them in (JSON objects have no order, but a stable
-- one makes answers comparable).
M.ATTRIBUTE_ORDER = {
  "QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
  "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
  "VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds",
  "ReceiveMessageWaitTimeSeconds", "Policy", "RedrivePolicy", "RedriveAllowPolicy",
  "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled", "FifoQueue",
  "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
}

-------------------------------------------------------------------------------------------
-- Small containers: a double-ended list and a min-heap, both with lazy deletion (entries of
-- messages gone are skipped when reached, and the container is rebuilt when they dominate).

local function new_list() return {first = 1, last = 0} end
local function list_push(l, v) l.last = l.last + 1; l[l.last] = v end
local function list_size(l) return l.last - l.first + 1 end

-- A min-heap of (at, item, ver) in parallel arrays; entries with the same `at` come out in the
-- order they went in (tie: the push number), so messages due together keep their order.
local function new_heap() return {n = 0, pushes = 0, at = {}, tie = {}, item = {}, ver = {}} end

local function before(h, i, at, tie)
  local other = h.at[i]
  return other < at or (other == at and h.tie[i] < tie)
end

local function heap_push(h, at, item, ver)
  local n = h.n + 1
  h.n = n
  h.pushes = h.pushes + 1
  local tie = h.pushes
  local hat, htie, hitem, hver = h.at, h.tie, h.item, h.ver
  while n > 1 do
    local parent = n // 2
    if before(h, parent, at, tie) then break end
    hat[n], htie[n], hitem[n], hver[n] = hat[parent], htie[parent], hitem[parent], hver[parent]
    n = parent
  end
  hat[n], htie[n], hitem[n], hver[n] = at, tie, item, ver
end

local function heap_pop(h)
  local n = h.n
  if n == 0 then return nil end
  local hat, htie, hitem, hver = h.at, h.tie, h.item, h.ver
  local top_at, top_item, top_ver = hat[1], hitem[1], hver[1]
  local at, tie, item, ver = hat[n], htie[n], hitem[n], hver[n]
  hat[n], htie[n], hitem[n], hver[n] = nil, nil, nil, nil
  n = n - 1
  h.n = n
  if n > 0 then
    local i = 1
    while true do
      local child = 2 * i
      if child > n then break end
      if child < n and before(h, child + 1, hat[child], htie[child]) then child = child + 1 end
      if not before(h, child, at, tie) then break end
      hat[i], htie[i], hitem[i], hver[i] = hat[child], htie[child], hitem[child], hver[child]
      i = child
    end
    hat[i], htie[i], hitem[i], hver[i] = at, tie, item, ver
  end
  return top_at, top_item, top_ver
end

-------------------------------------------------------------------------------------------
-- Queues and their messages.

local Store = {}
Store.__index = Store

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
    expiry = new_heap(),      -- messages by the time retention ends
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
  while expiry.n > 0 and expiry.at[1] + retention <= now do
    local _, msg = heap_pop(expiry)
    if not msg.gone then self:remove(msg) end
  end
  local order = self.dedup_order
  while order.first <= order.last do
    local entry = order[order.first]
    if entry.at + M.DEDUP_WINDOW_MS > now then break end
    order[order.first] = nil
    order.first = order.first + 1
    if self.dedup[entry.key] == entry then self.dedup[entry.key] = nil end
  end
  self:maybe_rebuild()
end

-- The indexes of a heap's entries in the order they were pushed.
local function tie_order(h)
  local indexes = {}
  for i = 1, h.n do indexes[i] = i end
  table.sort(indexes, function(a, b) return h.tie[a] < h.tie[b] end)
  return indexes
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
  if self.expiry.n > limit then
    local old = self.expiry
    self.expiry = new_heap()
    for _, i in ipairs(tie_order(old)) do
      if not old.item[i].gone then heap_push(self.expiry, old.at[i], old.item[i], 0) end
    end
  end
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

-- Adds msg (a table of the message's fields) to the queue.
function Queue:insert(msg, now)
  self.messages[msg.id] = msg
  self.count = self.count + 1
  heap_push(self.expiry, msg.sent, msg, 0)
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

-------------------------------------------------------------------------------------------
-- The journal.

local function message_record(q, msg)
  return {op = "msg", q = q.name, id = msg.id, body = msg.body, ma = msg.attributes,
    sa = msg.system, sent = msg.sent, vis = msg.visible_at, g = msg.group, d = msg.dedup,
    seq = msg.sequence, sender = msg.sender, n = msg.receives, first = msg.first_receive,
    h = msg.handle, rat = msg.received_at, src = msg.source_arn}
end

function Store:write(record)
  if self.replaying or not self.journal then return end
  local line = json.encode(record)
  local ok, why = self.journal:write(line, "\n")
  if not ok then error(string.format("sqs: cannot write %s: %s", self.journal_path, tostring(why)), 0) end
  self.journal_bytes = self.journal_bytes + #line + 1
  self.records = self.records + 1
end

-- Writes what was journaled so far; callers answer only after this.
function Store:flush()
  if self.journal and self.records > self.flushed then
    local ok, why = self.journal:flush()
    if not ok then error(string.format("sqs: cannot write %s: %s", self.journal_path, tostring(why)), 0) end
    self.flushed = self.records
    if self.records > 4096 and self.records > 4 * (self:live_records() + 64) then
      self:compact()
    end
  end
end

function Store:live_records()
  local n = 0
  for _, q in pairs(self.queues) do
    n = n + 1 + q.count + list_size(q.dedup_order)
  end
  return n
end

local function queue_record(q)
  return {op = "queue", name = q.name, attrs = q.attributes, tags = q.tags,
    created = q.created_ms, modified = q.modified_ms, purged = q.purged_ms, seqno = q.sequence}
end

-- Rewrites the journal as the live state: a temporary file, then renamed over the journal.
function Store:compact()
  if not self.journal_path then return end
  local now = self.now_ms()
  local temporary = self.journal_path .. ".tmp"
  local file, why = io.open(temporary, "wb")
  if not file then
    self.warn("sqs: cannot compact the journal: " .. tostring(why))
    return
  end
  local lines, bytes = 0, 0
  local function put(record)
    local line = json.encode(record)
    file:write(line, "\n")
    lines, bytes = lines + 1, bytes + #line + 1
  end
  local names = {}
  for name in pairs(self.queues) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local q = self.queues[name]
    q:settle(now)
    put(queue_record(q))
    local live = {}
    for _, msg in pairs(q.messages) do live[#live + 1] = msg end
    table.sort(live, function(a, b)
      if a.order ~= b.order then return a.order < b.order end
      return a.id < b.id
    end)
    for _, msg in ipairs(live) do put(message_record(q, msg)) end
    local order = q.dedup_order
    for i = order.first, order.last do
      local entry = order[i]
      if q.dedup[entry.key] == entry then
        put({op = "dedup", q = name, key = entry.key, at = entry.at, id = entry.id, seq = entry.sequence})
      end
    end
  end
  for name, at in pairs(self.deleted) do
    if now - at < M.RECREATE_COOLDOWN_MS then
      put({op = "gone", name = name, at = at})
    else
      self.deleted[name] = nil
    end
  end
  local ok, err = file:close()
  if not ok then
    self.warn("sqs: cannot compact the journal: " .. tostring(err))
    os.remove(temporary)
    return
  end
  if self.journal then self.journal:close() end
  local renamed, rename_error = os.rename(temporary, self.journal_path)
  if not renamed then self.warn("sqs: cannot compact the journal: " .. tostring(rename_error)) end
  self.journal = assert(io.open(self.journal_path, "ab"))
  self.journal:setvbuf("full", 65536)
  self.records, self.flushed, self.journal_bytes = lines, lines, bytes
end

-- Applies one journal record to the state (during replay).
function Store:apply(record, now)
  local op = record.op
  if op == "queue" then
    local q = self.queues[record.name]
    if q then
      q.attributes, q.tags, q.modified_ms = record.attrs, record.tags or {}, record.modified
      q.purged_ms = record.purged
    else
      q = new_queue(self, record.name, record.attrs, record.created, record.tags)
      q.modified_ms, q.purged_ms = record.modified, record.purged
      self.queues[record.name] = q
      self.deleted[record.name] = nil
    end
    q.sequence = math.max(q.sequence, record.seqno or 0)
  elseif op == "dq" then
    self.queues[record.name] = nil
    self.deleted[record.name] = record.at
  elseif op == "gone" then
    self.deleted[record.name] = record.at
  else
    local q = self.queues[record.q]
    if not q then return end
    if op == "msg" then
      if q.messages[record.id] then return end
      local msg = {id = record.id, body = record.body, attributes = record.ma, system = record.sa,
        sent = record.sent, visible_at = record.vis, group = record.g, dedup = record.d,
        sequence = record.seq, sender = record.sender, receives = record.n or 0,
        first_receive = record.first, handle = record.h, received_at = record.rat,
        source_arn = record.src}
      self.order = self.order + 1
      msg.order = self.order
      if msg.sequence then q.sequence = math.max(q.sequence, tonumber(msg.sequence) or 0) end
      q:insert(msg, now)
      if record.d and record.dk then q:remember_dedup(record.dk, record.sent, record.id, record.seq) end
    elseif op == "recv" then
      local msg = q.messages[record.id]
      if msg then
        q:settle(record.at)
        q:apply_receive(msg, record.at, record.vis - record.at, record.h)
      end
    elseif op == "vis" then
      local msg = q.messages[record.id]
      if msg then q:apply_visibility(msg, record.vis, record.at) end
    elseif op == "del" then
      local msg = q.messages[record.id]
      if msg then q:remove(msg) end
    elseif op == "purge" then
      for _, msg in pairs(q.messages) do q:remove(msg) end
      q.purged_ms = record.at
    elseif op == "dedup" then
      q:remember_dedup(record.key, record.at, record.id, record.seq)
    end
  end
end

function Store:replay()
  local file = io.open(self.journal_path, "rb")
  if not file then return end
  local now = self.now_ms()
  local number = 0
  self.replaying = true
  for line in file:lines() do
    number = number + 1
    if line ~= "" then
      local ok, record = pcall(json.decode, line)
      if ok and type(record) == "table" and type(record.op) == "string" then
        local applied, err = pcall(self.apply, self, record, now)
        if not applied then
          self.warn(string.format("sqs: %s line %d: record skipped: %s", self.journal_path, number,
            tostring(err)))
        end
      else
        self.warn(string.format("sqs: %s line %d is not a whole record (a write cut short?): " ..
          "skipped", self.journal_path, number))
      end
    end
  end
  file:close()
  self.replaying = false
  for _, q in pairs(self.queues) do q:settle(now) end
end

-------------------------------------------------------------------------------------------
-- The store.

--- A store. options: state_dir (the journal's directory, created if missing; nil keeps
-- everything in memory), now_ms (wall-clock milliseconds), base_url, account, region, warn
-- (function(message), default: a line on stderr).
function M.new(options)
  options = options or {}
  local self = setmetatable({
    now_ms = options.now_ms or time.now_ms,
    base_url = (options.base_url or "http://127.0.0.1:9324"):gsub("/+$", ""),
    account = options.account or "000000000000",
    region = options.region or "us-east-1",
    warn = options.warn or function(message) io.stderr:write(message, "\n") end,
    queues = {}, deleted = {}, order = 0,
    records = 0, flushed = 0, journal_bytes = 0,
  }, Store)
  if options.state_dir then
    local dir = options.state_dir
    os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
    self.journal_path = dir .. "/" .. M.JOURNAL_NAME
    self:replay()
    -- a fresh file for this run: the live state, without what replay skipped
    self.journal = nil
    self:compact()
    if not self.journal then
      local file, why = io.open(self.journal_path, "ab")
      if not file then
        error(string.format("sqs: cannot open the journal %s: %s", self.journal_path, tostring(why)), 0)
      end
      self.journal = file
    end
  end
  return self
end

function Store:close()
  if self.journal then
    self.journal:flush()
    self.journal:close()
    self.journal = nil
  end
end

function Store:queue(name) return self.queues[name] end

-- The queue a QueueUrl names (any scheme and host: clients reach us under several names), or
-- nil.
function Store:queue_from_url(url)
  if type(url) ~= "string" then return nil end
  local account, name = url:match("^https?://[^/]+/(%d+)/([^/?#]+)/?$")
  if not account then account, name = url:match("^/?(%d+)/([^/?#]+)/?$") end
  if not account or account ~= self.account then return nil end
  return self.queues[name]
end

function M.valid_queue_name(name, fifo)
  if type(name) ~= "string" then return false end
  local base = name
  if fifo then
    base = name:match("^(.*)%.fifo$")
    if not base then return false end
  end
  return #name >= 1 and #name <= 80 and #base >= 1 and not base:find("[^%w_%-]")
end

-- Checks attributes for a queue (new, or existing as `q`); returns the map to keep, or nil,
-- a code and a message.
function Store:check_attributes(name, attributes, q)
  local kept = {}
  local fifo
  if q then fifo = q.fifo else fifo = tostring(attributes.FifoQueue or "false"):lower() == "true" end
  for key, value in pairs(attributes) do
    local spec = SETTABLE[key]
    if type(key) ~= "string" or not spec or (FIFO_ONLY[key] and not fifo) or
        (key == "FifoQueue" and q and boolean_value(value) ~= (q.fifo and "true" or "false")) then
      if key == "FifoQueue" and q then
        return nil, "InvalidAttributeValue", "Invalid value for the parameter FifoQueue. " ..
          "Reason: a queue's type cannot be changed after it is created."
      end
      return nil, "InvalidAttributeName", string.format("Unknown Attribute %s.", tostring(key))
    end
    if type(value) ~= "string" and type(value) ~= "number" and type(value) ~= "boolean" then
      return nil, "InvalidAttributeValue", string.format("Invalid value for the parameter %s.", key)
    end
    local checked, why = spec[2](tostring(value))
    if not checked then
      return nil, "InvalidAttributeValue", string.format(
        "Invalid value for the parameter %s. Reason: %s.", key, why)
    end
    kept[key] = checked
  end
  if kept.FifoQueue == "false" then kept.FifoQueue = nil end
  if not q and not M.valid_queue_name(name, fifo) then
    if fifo then
      return nil, "InvalidParameterValue", "The name of a FIFO queue can only include " ..
        "alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
    end
    return nil, "InvalidParameterValue",
      "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
  end
  if kept.RedrivePolicy and kept.RedrivePolicy ~= "" then
    local policy, code, why = self:check_redrive(name, fifo, kept.RedrivePolicy)
    if not policy then return nil, code, why end
    kept.RedrivePolicy = policy
  end
  if kept.RedriveAllowPolicy and kept.RedriveAllowPolicy ~= "" then
    local ok, policy = pcall(json.decode, kept.RedriveAllowPolicy)
    local permission = ok and type(policy) == "table" and policy.redrivePermission
    if permission ~= "allowAll" and permission ~= "denyAll" and permission ~= "byQueue" or
        (permission == "byQueue") ~= (type(policy.sourceQueueArns) == "table") then
      return nil, "InvalidAttributeValue", "Invalid value for the parameter RedriveAllowPolicy. " ..
        "Reason: redrivePermission must be allowAll, denyAll or byQueue, and sourceQueueArns " ..
        "is given with byQueue only."
    end
  end
  return kept
end

local function arn_name(arn)
  return type(arn) == "string" and arn:match("^arn:aws[%w-]*:sqs:[^:]*:[^:]*:([^:]+)$")
end

-- A redrive policy, normalized as SQS returns it, or nil, a code and a message. The target
-- must exist, be of the same type and allow this queue (unless lenient: queues made from a
-- template may name a dead-letter queue made after them).
function Store:check_redrive(name, fifo, text)
  local ok, policy = pcall(json.decode, text)
  local function invalid(why)
    return nil, "InvalidParameterValue", string.format(
      "Value %s for parameter RedrivePolicy is invalid. Reason: %s", text, why)
  end
  if not ok or type(policy) ~= "table" then return invalid("Redrive policy is not a valid JSON map.") end
  local target = policy.deadLetterTargetArn
  local count = math.tointeger(tonumber(policy.maxReceiveCount))
  if not arn_name(target) then return invalid("Invalid value for deadLetterTargetArn.") end
  if not count or count < 1 or count > 1000 then
    return invalid("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.")
  end
  local dlq = self.queues[arn_name(target)]
  if not dlq or dlq.arn ~= target then
    if not self.lenient then return invalid("Dead letter target does not exist.") end
  else
    if dlq.fifo ~= fifo then
      return invalid("Dead-letter queue must be same type of queue as the source.")
    end
    local allow = dlq.attributes.RedriveAllowPolicy
    local decoded, permit = pcall(json.decode, allow or "")
    local allowed = true
    if not decoded or type(permit) ~= "table" then permit = nil end
    if permit and permit.redrivePermission == "denyAll" then allowed = false end
    if permit and permit.redrivePermission == "byQueue" then
      allowed = false
      local arn = string.format("arn:aws:sqs:%s:%s:%s", self.region, self.account, name)
      for _, source in ipairs(permit.sourceQueueArns) do if source == arn then allowed = true end end
    end
    if not allowed then
      return invalid("Queue " .. target .. " does not allow this queue to use it as a dead-letter queue.")
    end
  end
  return json.encode({deadLetterTargetArn = target, maxReceiveCount = count})
end

local function attributes_equal(q, attributes)
  for key, value in pairs(attributes) do
    if q:attribute(key) ~= value and not (key == "FifoQueue" and value == "false" and not q.fifo) then
      return false
    end
  end
  return true
end

function Store:new_queue_record(name, kept, tags, now)
  local q = new_queue(self, name, kept, now, tags)
  self.queues[name] = q
  self.deleted[name] = nil
  self:write(queue_record(q))
  return q
end

--- CreateQueue: returns the queue, or nil, a code and a message.
function Store:create_queue(name, attributes, tags)
  attributes = attributes or {}
  local now = self.now_ms()
  local existing = self.queues[name]
  local kept, code, why = self:check_attributes(name, attributes, nil)
  if not kept then return nil, code, why end
  if existing then
    if existing.fifo ~= (kept.FifoQueue == "true") or not attributes_equal(existing, kept) then
      return nil, "QueueNameExists", "A queue already exists with the same name and a different value for attribute(s) " ..
        table.concat((function()
          local names = {}
          for key in pairs(kept) do
            if existing:attribute(key) ~= kept[key] then names[#names + 1] = key end
          end
          table.sort(names)
          return names
        end)(), ", ")
    end
    return existing
  end
  local deleted_at = self.deleted[name]
  if deleted_at and now - deleted_at < M.RECREATE_COOLDOWN_MS then
    return nil, "QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before " ..
      "you can create another with the same name."
  end
  local q = self:new_queue_record(name, kept, tags, now)
  self:flush()
  return q
end

--- Creates the queue, or sets the attributes of the existing one (for queues a template
-- declares: no QueueNameExists, no cool-down, and a dead-letter queue may come later).
-- Raises an error string naming the queue and attribute at fault.
function Store:ensure_queue(name, attributes)
  attributes = attributes or {}
  self.lenient = true
  local q = self.queues[name]
  local kept, _, why = self:check_attributes(name, attributes, q)
  self.lenient = false
  if not kept then error(string.format("queue '%s': %s", name, why), 0) end
  local now = self.now_ms()
  if q then
    for key, value in pairs(kept) do q.attributes[key] = value end
    q.modified_ms = now
    self:write(queue_record(q))
  else
    q = self:new_queue_record(name, kept, nil, now)
  end
  self:flush()
  return q
end

function Store:delete_queue(q)
  local now = self.now_ms()
  self.queues[q.name] = nil
  self.deleted[q.name] = now
  q.deleted = true
  self:write({op = "dq", name = q.name, at = now})
  self:flush()
end

--- Queue names in byte order, those starting with prefix.
function Store:names(prefix)
  local names = {}
  for name in pairs(self.queues) do
    if not prefix or name:sub(1, #prefix) == prefix then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

--- SetQueueAttributes: nil, or a code and a message.
function Store:set_attributes(q, attributes)
  local kept, code, why = self:check_attributes(q.name, attributes, q)
  if not kept then return code, why end
  for key, value in pairs(kept) do
    if value == "" and (key == "RedrivePolicy" or key == "RedriveAllowPolicy" or key == "Policy") then
      q.attributes[key] = nil
    else
      q.attributes[key] = value
    end
  end
  q.modified_ms = self.now_ms()
  self:write(queue_record(q))
  self:flush()
end

--- The attributes asked for (a set of names, or nil for all).
function Store:get_attributes(q, wanted)
  local now = self.now_ms()
  q:settle(now)
  local values = {
    QueueArn = q.arn,
    ApproximateNumberOfMessages = tostring(q.n_visible),
    ApproximateNumberOfMessagesNotVisible = tostring(q.n_inflight),
    ApproximateNumberOfMessagesDelayed = tostring(q.n_delayed),
    CreatedTimestamp = tostring(q.created_ms // 1000),
    LastModifiedTimestamp = tostring(q.modified_ms // 1000),
  }
  for key in pairs(SETTABLE) do
    if not FIFO_ONLY[key] or q.fifo then values[key] = q:attribute(key) end
  end
  if q.fifo then
    values.FifoQueue = "true"
    values.ContentBasedDeduplication = q:attribute("ContentBasedDeduplication") or "false"
    values.DeduplicationScope = q:attribute("DeduplicationScope") or "queue"
    values.FifoThroughputLimit = q:attribute("FifoThroughputLimit") or "perQueue"
  else
    values.FifoQueue = nil
  end
  if not wanted then return values end
  local chosen = {}
  for key in pairs(wanted) do chosen[key] = values[key] end
  return chosen
end

function Store:tag(q, tags)
  for key, value in pairs(tags) do q.tags[key] = value end
  self:write(queue_record(q))
  self:flush()
end

function Store:untag(q, keys)
  for _, key in ipairs(keys) do q.tags[key] = nil end
  self:write(queue_record(q))
  self:flush()
end

--- PurgeQueue: nil, or a code and a message (SQS allows one purge a minute).
function Store:purge(q)
  local now = self.now_ms()
  if q.purged_ms and now - q.purged_ms < M.PURGE_COOLDOWN_MS then
    return "PurgeQueueInProgress", string.format(
      "Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.name)
  end
  for _, msg in pairs(q.messages) do q:remove(msg) end
  q.purged_ms = now
  self:write({op = "purge", q = q.name, at = now})
  self:flush()
end

--- The queues that name q as their dead-letter queue, by name.
function Store:dead_letter_sources(q)
  local names = {}
  for name, source in pairs(self.queues) do
    local policy = source:redrive()
    if policy and policy.deadLetterTargetArn == q.arn then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

--- SendMessage, after the API checked it. fields: body, attributes, system (the message and
-- system attributes as sent, binary values in base64), delay_s (nil: the queue's), group,
-- dedup, sender. Returns {id=, sequence=} (a duplicate within the window gives the first
-- message's).
function Store:send(q, fields)
  local now = self.now_ms()
  q:settle(now)
  local dedup_key
  if q.fifo then
    local dedup = fields.dedup
    if not dedup and q:attribute("ContentBasedDeduplication") == "true" then
      dedup = digest.sha256_hex(fields.body)
    end
    fields.dedup = dedup
    dedup_key = dedup
    if q:attribute("DeduplicationScope") == "messageGroup" then dedup_key = fields.group .. "\0" .. dedup end
    local seen = q.dedup[dedup_key]
    if seen then return {id = seen.id, sequence = seen.sequence, duplicate = true} end
  end
  local delay = fields.delay_s or q:number("DelaySeconds")
  self.order = self.order + 1
  local msg = {
    id = uuid.v4(), body = fields.body, attributes = fields.attributes, system = fields.system,
    sent = now, visible_at = now + delay * 1000, group = fields.group, dedup = fields.dedup,
    sender = fields.sender, receives = 0, order = self.order,
  }
  if q.fifo then
    msg.sequence = string.format("%020d", q:next_sequence())
    q:remember_dedup(dedup_key, now, msg.id, msg.sequence)
  end
  q:insert(msg, now)
  local record = message_record(q, msg)
  record.dk = dedup_key
  self:write(record)
  if self.on_available and msg.state == "visible" then self.on_available(q.name) end
  return {id = msg.id, sequence = msg.sequence}
end

-- A receipt handle: the message, which receive, and a random part, so each receive's handle is
-- new and none can be guessed from another.
local function new_handle(msg)
  return string.format("%s#%d#%s", msg.id, msg.receives + 1, (uuid.v4():gsub("-", "")))
end

-- Moves msg from q to its dead-letter queue dlq (same id, body and attributes; a standard
-- queue's message keeps its original sent time, a FIFO one's starts anew, as in SQS).
function Store:move_to_dead_letter(q, msg, dlq, now)
  q:remove(msg)
  self:write({op = "del", q = q.name, id = msg.id})
  self.order = self.order + 1
  local moved = {
    id = msg.id, body = msg.body, attributes = msg.attributes, system = msg.system,
    sent = dlq.fifo and now or msg.sent, visible_at = now, group = msg.group, dedup = msg.dedup,
    sender = msg.sender, receives = msg.receives, first_receive = msg.first_receive,
    order = self.order, source_arn = q.arn,
  }
  if dlq.messages[moved.id] then return end
  if dlq.fifo then moved.sequence = string.format("%020d", dlq:next_sequence()) end
  -- the message is visible in the dead-letter queue right away, whatever its receive count
  local receives = moved.receives
  moved.receives = 0
  dlq:settle(now)
  dlq:insert(moved, now)
  moved.receives = receives
  self:write(message_record(dlq, moved))
  if self.on_available then self.on_available(dlq.name) end
end

-- Whether msg, about to be received, goes to the dead-letter queue instead: the queue the
-- policy names, if it exists.
function Store:dead_letter_for(q, msg)
  local policy = q:redrive()
  if not policy or msg.receives < policy.maxReceiveCount then return nil end
  local dlq = self.queues[arn_name(policy.deadLetterTargetArn)]
  if dlq and dlq ~= q and dlq.fifo == q.fifo then return dlq end
end

--- ReceiveMessage: up to max messages now visible, made in flight for visibility_s (nil: the
-- queue's). Returns a list of messages (tables with id, body, attributes, system, handle,
-- receives, first_receive, sent, group, dedup, sequence, sender, source_arn).
function Store:receive(q, max, visibility_s)
  local now = self.now_ms()
  q:settle(now)
  if q.n_visible == 0 then return {} end
  local visibility_ms = (visibility_s or q:number("VisibilityTimeout")) * 1000
  local taken = {}
  local function take(msg)
    local dlq = self:dead_letter_for(q, msg)
    if dlq then
      self:move_to_dead_letter(q, msg, dlq, now)
      return false
    end
    local handle = new_handle(msg)
    q:apply_receive(msg, now, visibility_ms, handle)
    self:write({op = "recv", q = q.name, id = msg.id, at = now, vis = now + visibility_ms, h = handle})
    taken[#taken + 1] = msg
    return true
  end
  if q.fifo then
    local groups = q.ready_groups
    while #taken < max and groups.first <= groups.last do
      local group = groups[groups.first]
      groups[groups.first] = nil
      groups.first = groups.first + 1
      group.queued = false
      if q.groups[group.id] == group and group.inflight == 0 then
        local list = group.list
        local i = list.first
        while #taken < max and i <= list.last do
          if i < list.first then i = list.first end
          local msg = list[i]
          if msg == nil then break end
          if not msg.gone then
            if msg.state ~= "visible" then break end
            take(msg)
          end
          i = i + 1
        end
        if group.inflight == 0 then
          if group_head(group) then
            if group_head(group).state == "visible" then q:offer_group(group) end
          else
            q.groups[group.id] = nil
          end
        end
      end
    end
  else
    local ready = q.ready
    while #taken < max and ready.first <= ready.last do
      local msg = ready[ready.first]
      ready[ready.first] = nil
      ready.first = ready.first + 1
      if not msg.gone and msg.state == "visible" then take(msg) end
    end
  end
  return taken
end

-- The message a receipt handle names in q, and whether it is the latest handle; or nil.
function Store:message_for_handle(q, handle)
  if type(handle) ~= "string" then return nil, false, false end
  local id = handle:match("^([%x%-]+)#%d+#%x+$")
  if not id then return nil, false, false end
  local msg = q.messages[id]
  return msg, msg ~= nil and msg.handle == handle, true
end

--- DeleteMessage: nil, or a code and a message. A handle of an earlier receive deletes the
-- message in a standard queue; in a FIFO queue it is accepted and does nothing, so a
-- consumer whose visibility timeout passed cannot delete what another consumer now holds.
function Store:delete(q, handle)
  local msg, latest, well_formed = self:message_for_handle(q, handle)
  if not well_formed then
    return "ReceiptHandleIsInvalid", string.format(
      'The input receipt handle "%s" is not a valid receipt handle.', tostring(handle))
  end
  if not msg then return nil end
  if q.fifo and not latest then return nil end
  q:remove(msg)
  self:write({op = "del", q = q.name, id = msg.id})
  if q.fifo and self.on_available then self.on_available(q.name) end
  return nil
end

--- ChangeMessageVisibility: nil, or a code and a message.
function Store:change_visibility(q, handle, visibility_s)
  local now = self.now_ms()
  q:settle(now)
  local msg, latest, well_formed = self:message_for_handle(q, handle)
  if not well_formed then
    return "ReceiptHandleIsInvalid", string.format(
      'The input receipt handle "%s" is not a valid receipt handle.', tostring(handle))
  end
  if not msg or not latest then
    return "InvalidParameterValue", string.format("Value %s for parameter ReceiptHandle is " ..
      "invalid. Reason: Message does not exist or is not available for visibility timeout change.",
      handle)
  end
  if msg.state ~= "inflight" then
    return "MessageNotInflight", "Message not inflight."
  end
  if now + visibility_s * 1000 > msg.received_at + M.MAX_VISIBILITY_S * 1000 then
    return "InvalidParameterValue", string.format("Value %d for parameter VisibilityTimeout is " ..
      "invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
      visibility_s)
  end
  local at = now + visibility_s * 1000
  q:apply_visibility(msg, at, now)
  self:write({op = "vis", q = q.name, id = msg.id, at = now, vis = at})
  if msg.state == "visible" and self.on_available then self.on_available(q.name) end
  return nil
end

--- When the next delayed or in-flight message of q becomes visible (ms), or nil.
function Store:next_due(q)
  local timers = q.timers
  while timers.n > 0 do
    local msg, ver = timers.item[1], timers.ver[1]
    if not msg.gone and msg.ver == ver and msg.state ~= "visible" then return timers.at[1] end
    heap_pop(timers)
  end
  return nil
end

--- The depth of every queue, sorted by name: {name=, visible=, in_flight=, delayed=}.
function Store:depths()
  local now = self.now_ms()
  local list = {}
  for _, name in ipairs(self:names()) do
    local q = self.queues[name]
    q:settle(now)
    list[#list + 1] = {name = name, visible = q.n_visible, in_flight = q.n_inflight, delayed = q.n_delayed}
  end
  return list
end

return M
