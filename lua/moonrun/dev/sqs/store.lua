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
--
-- This file holds the store and SQS's operations on it; the rest is in modules of their own:
-- sqs/rules.lua (the attributes and limits), sqs/queue.lua (a queue and its messages),
-- sqs/containers.lua (the list and heap the queues use), sqs/journal.lua (the journal).
local digest = require "moonrun.digest"
local json = require "moonrun.json"
local time = require "moonrun.time"
local uuid = require "moonrun.uuid"
local rules = require "moonrun.dev.sqs.rules"
local heap_pop = require("moonrun.dev.sqs.containers").heap_pop
local sqs_queue = require "moonrun.dev.sqs.queue"
local append_file = require "moonrun.append_file"
local journal = require "moonrun.dev.sqs.journal"

local M = {}

M.JOURNAL_NAME = "sqs.journal"
M.DURABILITY = {write = true, sync = true, interval = true}
M.DEDUP_WINDOW_MS = rules.DEDUP_WINDOW_MS
M.PURGE_COOLDOWN_MS = rules.PURGE_COOLDOWN_MS
M.RECREATE_COOLDOWN_MS = rules.RECREATE_COOLDOWN_MS
M.MAX_VISIBILITY_S = rules.MAX_VISIBILITY_S

-- The attribute rules, as sqs/operations.lua reads them from here.
local SETTABLE, FIFO_ONLY, COMPUTED = rules.SETTABLE, rules.FIFO_ONLY, rules.COMPUTED
local boolean_value = rules.boolean_value
M.SETTABLE = SETTABLE
M.COMPUTED = COMPUTED

local new_queue, new_message, group_head = sqs_queue.new, sqs_queue.new_message, sqs_queue.group_head
local message_record, queue_record = journal.message_record, journal.queue_record

local Store = {}
Store.__index = Store

-- write, flush, live_records, compact, apply and replay: the journal's, in sqs/journal.lua;
-- compact_soon and the rest of compaction while the service runs, in sqs/compaction.lua.
for name, method in pairs(journal.methods) do Store[name] = method end
for name, method in pairs(require("moonrun.dev.sqs.compaction").methods) do Store[name] = method end

-------------------------------------------------------------------------------------------
-- The store.

--- A store. options: state_dir (the journal's directory, created 0700 if missing; nil keeps
-- everything in memory), durability ("write", the default, "sync" or "interval": see
-- sqs/journal.lua), now_ms (wall-clock milliseconds), base_url, account, region, warn
-- (function(message), default: a line on stderr), spawn and pause (the event loop's: start a
-- task, let other tasks run; with them, compaction runs a slice at a time, sqs/compaction.lua),
-- slice_s (how long a slice may run; a spec sets 0, one batch, so slices do not depend on speed).
function M.new(options)
  options = options or {}
  local durability = options.durability or "write"
  assert(M.DURABILITY[durability], "durability: write, sync or interval")
  local self = setmetatable({
    now_ms = options.now_ms or time.now_ms,
    base_url = (options.base_url or "http://127.0.0.1:9324"):gsub("/+$", ""),
    account = options.account or "000000000000",
    region = options.region or "us-east-1",
    warn = options.warn or function(message) io.stderr:write(message, "\n") end,
    durability = durability, spawn = options.spawn, pause = options.pause, slice_s = options.slice_s,
    queues = {}, deleted = {}, order = 0,
    records = 0, journal_bytes = 0,
  }, Store)
  if options.state_dir then
    local dir = options.state_dir
    local made, why = append_file.private_dir(dir)
    if not made then error("sqs: cannot make the state folder " .. tostring(why), 0) end
    self.journal_path = dir .. "/" .. M.JOURNAL_NAME
    -- the journal is rewritten first when it needs it (what replay skipped, a line cut short,
    -- much more history than state); else appended to as it is, so a restart costs a replay
    if self:replay() then self:compact() end
    if not self.journal then
      local file, open_error = append_file.open(self.journal_path)
      if not file then error("sqs: cannot open the journal " .. tostring(open_error), 0) end
      self.journal = file
      self.journal_bytes = file:size()
    end
  end
  return self
end

function Store:close()
  if self.journal then
    pcall(self.flush, self)
    self:sync()
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
  local msg = new_message(uuid.v4(), fields.body, now, now + delay * 1000, 0, self.order, fields.sender)
  msg.attributes, msg.system, msg.group, msg.dedup = fields.attributes, fields.system, fields.group, fields.dedup
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
  local moved = new_message(msg.id, msg.body, dlq.fifo and now or msg.sent, now, msg.receives, self.order, msg.sender)
  moved.attributes, moved.system, moved.group, moved.dedup = msg.attributes, msg.system, msg.group, msg.dedup
  moved.first_receive, moved.source_arn = msg.first_receive, q.arn
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
