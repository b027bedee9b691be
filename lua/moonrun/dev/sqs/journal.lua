-- The journal of moonrun dev's embedded SQS: every change as one JSON line in
-- <state_dir>/sqs.journal, written before the caller answers, replayed when the store starts,
-- and rewritten as the live state (to a temporary file, then renamed over it) when it holds much
-- more than that state.
--
-- A change is acknowledged only once its lines are in the file: a request's lines are kept
-- until its flush, then appended in one write that lands whole or not at all
-- (moonrun.append_file). When that write fails (a full disk), the memory is rebuilt from the
-- journal, so what was not saved leaves no trace: a send answered 500 is not delivered. How far a
-- written line survives is the durability ("write": a crash of moonrun dev; "sync": fdatasync
-- before each answer, an OS crash or power loss too; "interval": fdatasync every interval_ms).
--
-- Its own module because keeping the queues across restarts is a concern apart from what the
-- queues do (sqs/queue.lua) and what SQS's operations ask (sqs/store.lua). Its functions are
-- methods of the store (self is the store: its queues, journal file and counters), which
-- sqs/store.lua takes into its Store class; the records they write are built here too.
local append_file = require "moonrun.append_file"
local json = require "moonrun.json"
local rules = require "moonrun.dev.sqs.rules"
local list_size = require("moonrun.dev.sqs.containers").list_size
local sqs_queue = require "moonrun.dev.sqs.queue"

local new_queue, new_message = sqs_queue.new, sqs_queue.new_message

-- The journal's own files are private: they hold message bodies.
local function open_private(path)
  local file, why = append_file.open(path)
  if not file then error(string.format("sqs: cannot open the journal %s", tostring(why)), 0) end
  return file
end

local M = {}

local ENOENT = 2 -- Linux's errno for a file that does not exist

-- Methods of sqs/store.lua's Store.
local Store = {}

-- A message's record. The fields every message has go in the constructor, the others only when
-- set: a constructor naming all seventeen makes a table with room for 32 (some 800 bytes)
-- for each message sent, garbage as soon as its line is written.
local function message_record(q, msg)
  local record = {op = "msg", q = q.name, id = msg.id, body = msg.body, sent = msg.sent,
    vis = msg.visible_at, n = msg.receives, sender = msg.sender}
  record.ma, record.sa, record.g, record.d = msg.attributes, msg.system, msg.group, msg.dedup
  record.seq, record.first, record.h = msg.sequence, msg.first_receive, msg.handle
  record.rat, record.src = msg.received_at, msg.source_arn
  return record
end

-- Stages record's line in the journal (append_file's stage: encoded into the file's own
-- buffer, not made a Lua string), for the flush that ends the request.
function Store:write(record)
  if self.replaying or not self.journal then return end
  self.journal:stage(record)
  if self.compaction then self:compaction_copy(record) end
end

-- The error a failed flush raises: sqs/api.lua answers it as InternalFailure.
local save_failed_mt = {__tostring = function(e) return e.message end}

-- Appends what was journaled since the last flush; callers answer only after this. When the
-- append fails, the journal still ends on the last whole flush and the memory is rebuilt from it.
function Store:flush()
  if not self.journal then return end
  local staged = self.journal:staged()
  if staged == 0 then return end
  local ok, why = self.journal:commit(self.durability == "sync")
  if not ok then
    self:abandon_compaction()
    self:rebuild()
    error(setmetatable({message = string.format("sqs: cannot write %s: %s (the change was not made)",
      self.journal_path, tostring(why))}, save_failed_mt), 0)
  end
  self.unsynced = self.durability == "interval"
  self.records = self.records + staged
  self.journal_bytes = self.journal:size()
  if self.compaction then
    self:compaction_flush()
  elseif self.records > 4096 and self.records > 4 * (self:live_records() + 64) then
    self:compact_soon()
  end
end

function Store.is_save_failure(err) return getmetatable(err) == save_failed_mt end

-- For --durability interval: the appended lines reach the disk itself.
function Store:sync()
  if self.journal and self.unsynced then
    local ok, why = self.journal:sync()
    if not ok then self.warn(string.format("sqs: cannot sync %s: %s", self.journal_path, tostring(why))) end
    self.unsynced = not ok
  end
end

-- The memory as the journal has it: queues and messages of the failed change are dropped (the
-- old objects are marked gone, so a long poll or a receive attempt holding them sees nothing).
function Store:rebuild()
  self:abandon_compaction()
  for _, q in pairs(self.queues) do
    q.deleted = true
    for _, msg in pairs(q.messages) do msg.gone = true end
  end
  self.queues, self.deleted, self.order = {}, {}, 0
  self:replay()
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
  if self.journal and self.journal:staged() > 0 then self:flush() end -- staged lines go with the file
  self:abandon_compaction()
  local now = self.now_ms()
  local temporary = self.journal_path .. ".tmp"
  os.remove(temporary)
  local file, why = append_file.open(temporary)
  if not file then
    self.warn("sqs: cannot compact the journal: " .. tostring(why))
    return
  end
  local lines, chunk, chunk_bytes, failure = 0, {}, 0, nil
  local function write_chunk()
    if #chunk == 0 or failure then return end
    chunk[#chunk + 1] = ""
    local ok, err = file:append(table.concat(chunk, "\n"))
    if not ok then failure = err end
    chunk, chunk_bytes = {}, 0
  end
  local function put(record)
    local line = json.encode(record)
    chunk[#chunk + 1] = line
    lines, chunk_bytes = lines + 1, chunk_bytes + #line + 1
    if chunk_bytes >= 1 << 20 then write_chunk() end
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
    if now - at < rules.RECREATE_COOLDOWN_MS then
      put({op = "gone", name = name, at = at})
    else
      self.deleted[name] = nil
    end
  end
  write_chunk()
  if not failure and self.durability ~= "write" then
    local synced, err = file:sync()
    if not synced then failure = err end
  end
  file:close()
  if failure then
    self.warn("sqs: cannot compact the journal: " .. tostring(failure))
    os.remove(temporary)
    if not self.journal then self.journal = open_private(self.journal_path) end
    return
  end
  local renamed, rename_error = os.rename(temporary, self.journal_path)
  if not renamed then
    self.warn("sqs: cannot compact the journal: " .. tostring(rename_error))
    os.remove(temporary)
    if not self.journal then self.journal = open_private(self.journal_path) end
    return
  end
  if self.journal then self.journal:close() end
  self.journal = open_private(self.journal_path)
  self.records, self.journal_bytes, self.unsynced = lines, self.journal:size(), false
end

-- Applies one journal record to the state (during replay).
local function optional(value, kind)
  return value == nil or (kind == "integer" and math.type(value) == "integer") or type(value) == kind
end

-- A FIFO message's sequence number as the store writes it (%020d of the queue's counter): a
-- string of digits whose value is an integer, or nil. Anything else would turn the queue's
-- counter into a float that the compacted journal could not hold.
local function sequence_value(text)
  if type(text) ~= "string" or not text:match("^%d+$") then return nil end
  return math.tointeger(tonumber(text))
end

local function check_sequence(record)
  if record.seq ~= nil and not sequence_value(record.seq) then
    error("a sequence number (seq) must be a string of digits", 0)
  end
end

-- A queue record damaged into another valid JSON line must not make a queue whose times or
-- attributes break the requests that read them later.
local function check_queue_record(record)
  if type(record.name) ~= "string" or type(record.attrs) ~= "table" or
      math.type(record.created) ~= "integer" or not optional(record.modified, "integer") or
      not optional(record.purged, "integer") or not optional(record.seqno, "integer") or
      not optional(record.tags, "table") then
    error("a queue record needs a string name, an attrs table and integer times", 0)
  end
  for key, value in pairs(record.attrs) do
    if type(key) ~= "string" or type(value) ~= "string" then error("a queue attribute that is not a string", 0) end
  end
  for key, value in pairs(record.tags or {}) do
    if type(key) ~= "string" or type(value) ~= "string" then error("a queue tag that is not a string", 0) end
  end
end

function Store:apply(record, now)
  local op = record.op
  if op == "queue" then
    check_queue_record(record)
    local q = self.queues[record.name]
    if q and (record.attrs.FifoQueue == "true") ~= q.fifo then
      error("a queue record cannot make a standard queue FIFO or a FIFO queue standard", 0)
    end
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
      -- a record damaged into another valid JSON line must not put a message without a
      -- time or a body into the queue (the heaps order by time)
      if type(record.id) ~= "string" or type(record.body) ~= "string" or
          math.type(record.sent) ~= "integer" or math.type(record.vis) ~= "integer" or
          not optional(record.n, "integer") or not optional(record.first, "integer") or
          not optional(record.rat, "integer") then
        error("a message record needs a string id and body, and integer sent and vis times", 0)
      end
      if q.fifo and type(record.g) ~= "string" then error("a message of a FIFO queue needs a string group", 0) end
      check_sequence(record)
      if q.messages[record.id] then return end
      self.order = self.order + 1
      local msg = new_message(record.id, record.body, record.sent, record.vis, record.n or 0, self.order,
        record.sender)
      msg.attributes, msg.system, msg.group, msg.dedup = record.ma, record.sa, record.g, record.d
      msg.sequence, msg.first_receive, msg.handle = record.seq, record.first, record.h
      msg.received_at, msg.source_arn = record.rat, record.src
      if msg.sequence then q.sequence = math.max(q.sequence, sequence_value(msg.sequence)) end
      q:insert(msg, now)
      if record.d and record.dk then q:remember_dedup(record.dk, record.sent, record.id, record.seq) end
    elseif (op == "recv" or op == "vis") and
        (math.type(record.at) ~= "integer" or math.type(record.vis) ~= "integer") then
      error("a " .. op .. " record needs integer at and vis times", 0)
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
    elseif (op == "purge" or op == "dedup") and math.type(record.at) ~= "integer" then
      error("a " .. op .. " record needs an integer at time", 0)
    elseif op == "purge" then
      for _, msg in pairs(q.messages) do q:remove(msg) end
      q.purged_ms = record.at
    elseif op == "dedup" then
      check_sequence(record)
      q:remember_dedup(record.key, record.at, record.id, record.seq)
    end
  end
end

-- Replays the journal; returns whether it should be rewritten before use: a damaged line was
-- skipped, it does not end on a whole line, or it holds far more records than the live state.
-- The lines are read and decoded by json.open_lines, in place in a buffer it keeps (a string
-- per line, as io.lines makes, was most of a restart's time).
function Store:replay()
  local lines, why, errno = json.open_lines(self.journal_path)
  if not lines and errno == ENOENT then return true end -- a new state folder
  if not lines then error("sqs: cannot read the journal " .. tostring(why), 0) end
  local now = self.now_ms()
  local records, skipped = 0, 0
  self.replaying = true
  local read, failure = pcall(function()
    for number, decoded, record in lines.next, lines do
      records = records + 1
      if decoded and type(record) == "table" and type(record.op) == "string" then
        local applied, err = pcall(self.apply, self, record, now)
        if not applied then
          skipped = skipped + 1
          self.warn(string.format("sqs: %s line %d: record skipped: %s", self.journal_path, number,
            tostring(err)))
        end
      else
        skipped = skipped + 1
        self.warn(string.format("sqs: %s line %d is not a whole record (a write cut short?): " ..
          "skipped", self.journal_path, number))
      end
    end
  end)
  local ends_whole = lines:ends_whole()
  lines:close()
  self.replaying = false
  if not read then error(string.format("sqs: cannot replay the journal %s: %s", self.journal_path, tostring(failure)), 0) end
  for _, q in pairs(self.queues) do q:settle(now) end
  self.records = records
  return skipped > 0 or not ends_whole or records > 2 * (self:live_records() + 64)
end

M.methods, M.message_record, M.queue_record = Store, message_record, queue_record

return M
