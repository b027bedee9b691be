/* Fuzzes the replay of moonrun dev's SQS journal (lua/moonrun/dev/sqs/journal.lua): the input is
 * the whole sqs.journal file a store starts from. Whatever the bytes (a crash cut a line, a disk
 * damaged one, someone edited the file), the store must start, and:
 *
 *   - no whole record is lost: every line that is a queue record (op "queue", a string name)
 *     gives that queue, unless a later record deletes it, or a warning names its line;
 *   - what replay rebuilt survives compaction: a second store started from the compacted file
 *     holds the same queues with the same messages.
 *
 * A raised Lua error, a broken property or a crash is a bug. The journal lives in a folder of
 * its own under /dev/shm (or /tmp), rewritten for each input. */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <string.h>

#include "lua_target.h"

static const char checker[] =
    "local json = require 'moonrun.json'\n"
    "local sqs_store = require 'moonrun.dev.sqs.store'\n"
    "local base = io.open('/dev/shm', 'r') and '/dev/shm' or '/tmp'\n"
    "local dir = base .. '/moonrun-journal-fuzz-' .. tostring(os.time()) .. '-' .. "
    "tostring(math.random(1e9))\n"
    "local path = dir .. '/' .. sqs_store.JOURNAL_NAME\n"
    "local now = 1700000000000\n"
    "local function state(store)\n"
    "  local shape = {}\n"
    "  for name, q in pairs(store.queues) do\n"
    "    local ids = {}\n"
    "    for id in pairs(q.messages) do ids[#ids + 1] = id end\n"
    "    table.sort(ids)\n"
    "    shape[#shape + 1] = name .. ':' .. table.concat(ids, ',')\n"
    "  end\n"
    "  table.sort(shape)\n"
    "  return table.concat(shape, '\\n')\n"
    "end\n"
    "return function(bytes)\n"
    "  assert(require('moonrun.append_file').private_dir(dir))\n"
    "  local f = assert(io.open(path, 'wb'))\n"
    "  f:write(bytes)\n"
    "  f:close()\n"
    "  local warnings = {}\n"
    "  local store = sqs_store.new{state_dir = dir, now_ms = function() return now end,\n"
    "    warn = function(m) warnings[#warnings + 1] = m end}\n"
    "  local expected, number = {}, 0\n"
    "  for line in (bytes .. '\\n'):gmatch('([^\\n]*)\\n') do\n"
    "    number = number + 1\n"
    "    local ok, record = pcall(json.decode, line)\n"
    "    if ok and type(record) == 'table' and type(record.name) == 'string' then\n"
    "      if record.op == 'queue' then expected[record.name] = number\n"
    "      elseif record.op == 'dq' then expected[record.name] = nil end\n"
    "    end\n"
    "  end\n"
    "  for name, line in pairs(expected) do\n"
    "    if not store.queues[name] then\n"
    "      local warned = false\n"
    "      for _, m in ipairs(warnings) do warned = warned or m:find(' line ' .. line .. '[: ]') "
    "~= nil end\n"
    "      assert(warned, 'the queue record of line ' .. line .. ' was lost without a warning')\n"
    "    end\n"
    "  end\n"
    "  local first = state(store)\n"
    "  store:close()\n"
    "  local again = sqs_store.new{state_dir = dir, now_ms = function() return now end,\n"
    "    warn = function(m) error('a compacted journal gave a warning: ' .. m) end}\n"
    "  assert(state(again) == first, 'compaction changed the state')\n"
    "  again:close()\n"
    "end\n";

static lua_State *target_state;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    target_state = lua_target_open("journal", checker, sizeof checker - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_target_check_input(target_state, data, size, 64);
    return 0;
}
