-- Compaction of the embedded SQS's journal while the service runs: the live state is written to
-- sqs.journal.tmp a slice at a time, between other requests, and the file is renamed over the
-- journal once whole, so a journal of 50,000 messages does not stop the event loop for a second.
--
-- What changes meanwhile is appended to both files, and the new file stays a correct history
-- because of two rules:
--   - the queues, the deletion marks and the deduplication ids are written at the start, at once
--     (they are few); the messages then follow, oldest first;
--   - a change to a message not written yet writes that message as it is then, in place of
--     the change's record; and a message sent to a FIFO queue first writes the messages of its
--     group not written yet (so the group's order survives a restart).
-- A message deleted before its turn is simply not written. A failure of either file abandons
-- the new one (the journal is whole without it) and the next flush that finds the journal too
-- long tries again.
--
-- Methods of sqs/store.lua's Store, like sqs/journal.lua's; it needs the store's spawn and
-- pause options (the loop's task functions). Without them, compaction is the synchronous one.
local append_file = require "moonrun.append_file"
local journal = require "moonrun.dev.sqs.journal"
local rules = require "moonrun.dev.sqs.rules"
local time = require "moonrun.time"

local message_record, queue_record = journal.message_record, journal.queue_record

local Store = {}

-- How long a slice of the compaction may run before the event loop takes its turn.
local SLICE_S = 0.004

-- Appends the lines staged in the new file; false (and the compaction abandoned) on failure.
local function write_pending(self, c)
  local staged = c.file:staged()
  if staged == 0 then return true end
  local ok, why = c.file:commit()
  c.lines = c.lines + staged
  if not ok then
    self:abandon_compaction("sqs: cannot compact the journal: " .. tostring(why))
    return false
  end
  return true
end

function Store:abandon_compaction(why)
  local c = self.compaction
  if not c then return end
  self.compaction = nil
  c.file:close()
  os.remove(c.path)
  if why then self.warn(why) end
end

-- Whether msg was there when the compaction began and has not been written yet: the slices
-- write in the order messages were sent, so those before c.next are written, and those
-- written early (before a change) are marked.
local function waiting(c, msg)
  return msg.order >= c.next and msg.order <= c.last and not c.written_early[msg]
end

local function write_message(c, q, msg)
  if not msg.gone and not q.deleted then c.file:stage(message_record(q, msg)) end
end

--- Store:write's copy of a record for the new file. A message still
-- waiting for its turn is written first, as it is now; since the store changes a message
-- before it writes the record of the change, that copy already holds the change, and the
-- record is not copied after it. (A deleted message is already out of its queue: its record
-- is copied, and the message is skipped at its turn.)
function Store:compaction_copy(record)
  local c = self.compaction
  local q = record.q and self.queues[record.q]
  if q and record.id then
    local msg = q.messages[record.id]
    if msg and waiting(c, msg) then
      c.written_early[msg] = true
      write_message(c, q, msg)
      return
    end
    local group = record.op == "msg" and record.g and q.groups[record.g]
    if group then
      for i = group.list.first, group.list.last do
        local older = group.list[i]
        if older and not older.gone and waiting(c, older) then
          c.written_early[older] = true
          write_message(c, q, older)
        end
      end
    end
  end
  c.file:stage(record)
end

--- After a flush: what the journal took goes to the new file too.
function Store:compaction_flush()
  write_pending(self, self.compaction)
end

-- Everything but the messages, written at once: queues, deletion marks, deduplication ids.
-- And the messages' places by the order they were sent (no sort: orders are integers).
local function begin(self, c, now)
  local names = {}
  for name in pairs(self.queues) do names[#names + 1] = name end
  table.sort(names)
  local put = function(record) c.file:stage(record) end
  c.message_at, c.queue_at, c.next, c.last = {}, {}, math.huge, 0
  for _, name in ipairs(names) do
    local q = self.queues[name]
    put(queue_record(q))
    local order = q.dedup_order
    for i = order.first, order.last do
      local entry = order[i]
      if q.dedup[entry.key] == entry then
        put({op = "dedup", q = name, key = entry.key, at = entry.at, id = entry.id, seq = entry.sequence})
      end
    end
    for _, msg in pairs(q.messages) do
      local o = msg.order
      c.message_at[o], c.queue_at[o] = msg, q
      if o < c.next then c.next = o end
      if o > c.last then c.last = o end
    end
  end
  for name, at in pairs(self.deleted) do
    if now - at < rules.RECREATE_COOLDOWN_MS then put({op = "gone", name = name, at = at}) end
  end
end

local function finish(self, c)
  if not write_pending(self, c) then return end
  if self.durability ~= "write" then
    local synced, why = c.file:sync()
    if not synced then return self:abandon_compaction("sqs: cannot compact the journal: " .. tostring(why)) end
  end
  local renamed, why = os.rename(c.path, self.journal_path)
  if not renamed then return self:abandon_compaction("sqs: cannot compact the journal: " .. tostring(why)) end
  self.compaction = nil
  self.journal:close()
  self.journal = c.file -- the same open file, now under the journal's name
  self.records, self.journal_bytes, self.unsynced = c.lines, c.file:size(), false
end

-- The task: the rest at once, then the messages in slices of SLICE_S between turns of the loop.
local function run(self, c)
  begin(self, c, self.now_ms())
  if not write_pending(self, c) then return end
  while c.next <= c.last do
    self.pause()
    if self.compaction ~= c then return end -- abandoned meanwhile (a failed write, a rebuild)
    local until_s = time.monotonic() + (self.slice_s or SLICE_S)
    repeat
      for o = c.next, math.min(c.next + 63, c.last) do
        local msg = c.message_at[o]
        if msg and not c.written_early[msg] then write_message(c, c.queue_at[o], msg) end
        c.message_at[o], c.queue_at[o] = nil, nil
      end
      c.next = c.next + 64
    until c.next > c.last or time.monotonic() >= until_s
    if not write_pending(self, c) then return end
  end
  finish(self, c)
end

--- Starts a compaction in its own task, unless one runs; the synchronous one without a loop.
function Store:compact_soon()
  if self.compaction then return end
  if not (self.spawn and self.pause) then return self:compact() end
  local path = self.journal_path .. ".tmp"
  os.remove(path)
  local file, why = append_file.open(path)
  if not file then return self.warn("sqs: cannot compact the journal: " .. tostring(why)) end
  local c = {file = file, path = path, lines = 0, written_early = setmetatable({}, {__mode = "k"})}
  self.compaction = c
  self.spawn(run, self, c)
end

return {methods = Store}
