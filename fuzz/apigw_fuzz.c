/* Fuzzes moonrun dev's HTTP front mapping (lua/moonrun/dev/apigw.lua): a request as the front
 * receives it becomes an API Gateway event, and a function's answer becomes the HTTP response.
 * The input is
 *
 *   the first line            METHOD PATH[?QUERY]
 *   then, until an empty line  header lines, NAME: VALUE
 *   then, until a line "--"    the request body
 *   the rest                   the function's answer (its JSON text, or anything)
 *
 * and meets a router with an HTTP API (payload 2.0 and 1.0) and a REST API, with path
 * parameters and greedy paths. Routing, the event (JSON text, whatever bytes the request holds) and
 * the response (an integer status, a table of string headers, a string body) must never raise. A
 * raised Lua error, a wrong shape or a crash is a bug. */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <string.h>

#include "lua_target.h"

static const char checker[] =
    "local apigw = require 'moonrun.dev.apigw'\n"
    "local json = require 'moonrun.json'\n"
    "local function http(name, method, path, version)\n"
    "  return {name = name, type = 'HttpApi', method = method, path = path, payload_version = "
    "version}\n"
    "end\n"
    "local router = apigw.router({\n"
    "  {logical_id = 'V2', name = 'V2', http_events = {http('a', 'GET', '/items/{id}', '2.0'),\n"
    "    http('b', 'ANY', '/files/{path+}', '2.0'), http('c', 'POST', '/send', '2.0')}},\n"
    "  {logical_id = 'V1', name = 'V1', http_events = {http('d', 'PUT', '/v1/{x}/{y}', '1.0')}},\n"
    "  {logical_id = 'Rest', name = 'Rest', http_events = {{name = 'e', type = 'Api', method = "
    "'ANY',\n"
    "    path = '/rest/{proxy+}'}}},\n"
    "}, {})\n"
    "local function check_response(status, headers, body)\n"
    "  assert(math.type(status) == 'integer' and status >= 100 and status <= 599, 'status ' .. "
    "tostring(status))\n"
    "  assert(type(headers) == 'table', 'headers')\n"
    "  for k, v in pairs(headers) do\n"
    "    assert(type(k) == 'string', 'a header name that is not a string')\n"
    "    assert(type(v) == 'string' or type(v) == 'table', 'a header value of type ' .. type(v))\n"
    "  end\n"
    "  assert(type(body) == 'string', 'a body of type ' .. type(body))\n"
    "end\n"
    "return function(input)\n"
    "  local head, rest = input:match('^([^\\n]*)\\n?(.*)$')\n"
    "  local method, target = head:match('^(%S*) ?(.*)$')\n"
    "  local path, query = target:match('^([^?]*)%?"
    "?(.*)$')\n"
    "  local headers, list = {host = '127.0.0.1:3000'}, {}\n"
    "  while true do\n"
    "    local line, after = rest:match('^([^\\n]*)\\n(.*)$')\n"
    "    if not line or line == '' then rest = after or rest break end\n"
    "    local name, value = line:match('^([^:]+):%s*(.*)$')\n"
    "    if name then\n"
    "      headers[name:lower()] = value\n"
    "      list[#list + 1] = {name, value}\n"
    "    end\n"
    "    rest = after\n"
    "  end\n"
    "  local body, answer = rest:match('^(.-)\\n%-%-\\n(.*)$')\n"
    "  body, answer = body or rest, answer or '{}'\n"
    "  local req = {id = 1, method = method, path = path, query = query, headers = headers,\n"
    "    header_list = list, trailers = {}, body = body, remote = '127.0.0.1', remote_port = "
    "40000}\n"
    "  local route, params = router:match(req.method, req.path)\n"
    "  if not route then return check_response(apigw.not_found(router)) end\n"
    "  local text = apigw.event_json(route, req, params, {now_ms = 1796162280123, request_id = "
    "'id'})\n"
    "  assert(type(json.decode(text)) == 'table', 'an event that is not a JSON object')\n"
    "  check_response(apigw.response(route, true, answer))\n"
    "  check_response(apigw.response(route, false, answer))\n"
    "end\n";

static lua_State *target_state;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    target_state = lua_target_open("apigw", checker, sizeof checker - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_target_check_input(target_state, data, size, 256);
    return 0;
}
