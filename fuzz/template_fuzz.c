/* Fuzzes the template model of moonrun dev (lua/moonrun/dev/template/): the input is a
 * template.yaml, read as `moonrun dev` reads it (YAML, parameters, conditions, intrinsic
 * functions, Globals, resources, events). It must give a model or an error that is a message
 * for the user: a string naming the problem, never an internal fault (a Lua runtime error,
 * which carries a file:line of moonrun's own source), nor a value of another type. A crash is a
 * bug too. The file lives under /dev/shm (or /tmp), rewritten for each input. */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <string.h>

#include "lua_target.h"

static const char checker[] =
    "local template = require 'moonrun.dev.template'\n"
    "local base = io.open('/dev/shm', 'r') and '/dev/shm' or '/tmp'\n"
    "local path = base .. '/moonrun-template-fuzz-' .. tostring(os.time()) .. '-' .. "
    "tostring(math.random(1e9)) .. '.yaml'\n"
    "return function(text)\n"
    "  local f = assert(io.open(path, 'wb'))\n"
    "  f:write(text)\n"
    "  f:close()\n"
    "  local ok, result = pcall(template.load, path, {parameters = {Stage = 'dev'}})\n"
    "  os.remove(path)\n"
    "  if ok then\n"
    "    assert(type(result) == 'table' and type(result.functions) == 'table' and\n"
    "      type(result.queues) == 'table', 'a model without functions or queues')\n"
    "  else\n"
    "    assert(type(result) == 'string', 'an error of type ' .. type(result))\n"
    "    assert(not result:find('%.lua:%d+:'), 'an internal error: ' .. result)\n"
    "  end\n"
    "end\n";

static lua_State *target_state;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    target_state = lua_target_open("template", checker, sizeof checker - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_target_check_input(target_state, data, size, 256);
    return 0;
}
