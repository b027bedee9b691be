-- Small containers for moonrun dev's embedded SQS: a double-ended list and min-heaps, all with
-- lazy deletion (entries of messages gone are skipped when reached, and the container is
-- rebuilt when they dominate).
--
-- Its own module because they know nothing of queues or messages: sqs/queue.lua keeps its
-- visible messages, FIFO groups and timers in them, sqs/journal.lua counts their entries, and
-- sqs/store.lua pops timers; each is plain data, so the queue's hot paths index it directly.
local M = {}

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

-- The indexes of a heap's entries in the order they were pushed.
local function tie_order(h)
  local indexes = {}
  for i = 1, h.n do indexes[i] = i end
  table.sort(indexes, function(a, b) return h.tie[a] < h.tie[b] end)
  return indexes
end

-- A min-heap of items that carry their own keys: ordered by item[key], then item[tie] (both
-- integers, the tie unique). One array slot per entry instead of four: the queues keep every
-- message in one (by the time it was sent, for retention), so its size is per message.
local function new_keyed_heap(key, tie) return {n = 0, key = key, tie = tie} end

local function keyed_before(a, b, key, tie)
  local ka, kb = a[key], b[key]
  return ka < kb or (ka == kb and a[tie] < b[tie])
end

local function keyed_push(h, item)
  local key, tie = h.key, h.tie
  local n = h.n + 1
  h.n = n
  while n > 1 do
    local parent = n // 2
    local above = h[parent]
    if keyed_before(above, item, key, tie) then break end
    h[n] = above
    n = parent
  end
  h[n] = item
end

-- Moves item down from slot i of the first n slots of h to where the heap order holds.
local function keyed_sift_down(h, i, item, n)
  local key, tie = h.key, h.tie
  while true do
    local child = 2 * i
    if child > n then break end
    if child < n and keyed_before(h[child + 1], h[child], key, tie) then child = child + 1 end
    if not keyed_before(h[child], item, key, tie) then break end
    h[i] = h[child]
    i = child
  end
  h[i] = item
end

local function keyed_pop(h)
  local n = h.n
  if n == 0 then return nil end
  local top, last = h[1], h[n]
  h[n] = nil
  n = n - 1
  h.n = n
  if n > 0 then keyed_sift_down(h, 1, last, n) end
  return top
end

-- The heap of the items of h that keep(item) accepts: in place, O(n) (Floyd's heap building).
local function keyed_filter(h, keep)
  local n = 0
  for i = 1, h.n do
    local item = h[i]
    h[i] = nil
    if keep(item) then n = n + 1; h[n] = item end
  end
  h.n = n
  for start = n // 2, 1, -1 do keyed_sift_down(h, start, h[start], n) end
end

M.new_list, M.list_push, M.list_size = new_list, list_push, list_size
M.new_heap, M.heap_push, M.heap_pop, M.tie_order = new_heap, heap_push, heap_pop, tie_order
M.new_keyed_heap, M.keyed_push, M.keyed_pop, M.keyed_filter = new_keyed_heap, keyed_push, keyed_pop, keyed_filter

return M
