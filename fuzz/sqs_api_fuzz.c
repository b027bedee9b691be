/* Fuzzes the request parsing of moonrun dev's embedded SQS endpoint (lua/moonrun/dev/sqs/api.lua,
 * through api:handle, the code every request to the endpoint runs). The input is split into a
 * request:
 *
 *   the first line   the X-Amz-Target header (AmazonSQS.SendMessage, ...)
 *   the rest         the body
 *
 * Each input meets a fresh store holding a standard queue, a FIFO queue and a dead-letter
 * queue, so operations reach past "the queue does not exist". handle must answer: a status,
 * a table of headers with the content type and a request id, and a body that is JSON; an
 * error answer must be AWS-shaped (__type, message, x-amzn-query-error). A raised Lua error, a
 * wrong answer or a crash is a bug. Lua's own lines feed libFuzzer's coverage through a line
 * hook, as in aws_answer_fuzz.c. */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_target.h"

static const char checker[] =
    "local json = require 'moonrun.json'\n"
    "local sqs_api = require 'moonrun.dev.sqs.api'\n"
    "local sqs_store = require 'moonrun.dev.sqs.store'\n"
    "local now = 1700000000000\n"
    "return function(target, body)\n"
    "  now = now + 1000\n"
    "  local store = sqs_store.new{now_ms = function() return now end, warn = function() end}\n"
    "  local dlq = store:ensure_queue('dlq', {})\n"
    "  store:ensure_queue('q', {RedrivePolicy = json.encode{deadLetterTargetArn = dlq.arn,\n"
    "    maxReceiveCount = 1}})\n"
    "  store:ensure_queue('f.fifo', {FifoQueue = 'true', ContentBasedDeduplication = 'true'})\n"
    "  store:send(store:queue('q'), {body = 'seed'})\n"
    "  local api = sqs_api.new{store = store, warn = function(m) error('internal: ' .. m) end}\n"
    "  local status, headers, text = api:handle{method = 'POST', path = '/', query = '',\n"
    "    headers = {['content-type'] = 'application/x-amz-json-1.0', ['x-amz-target'] = target,\n"
    "      host = '127.0.0.1:9324'}, body = body, remote = '127.0.0.1'}\n"
    "  assert(math.type(status) == 'integer', 'a status that is not an integer')\n"
    "  assert(type(headers) == 'table' and type(text) == 'string', 'no headers or no body')\n"
    "  assert(headers['content-type'] == 'application/x-amz-json-1.0', 'no content type')\n"
    "  assert(type(headers['x-amzn-requestid']) == 'string', 'no request id')\n"
    "  local answer = json.decode(text)\n"
    "  assert(type(answer) == 'table', 'a body that is not a JSON object')\n"
    "  if status ~= 200 then\n"
    "    assert(status >= 400 and status < 600, 'status ' .. status)\n"
    "    assert(type(answer.__type) == 'string' and answer.__type:find('#', 1, true), 'no "
    "__type')\n"
    "    assert(type(answer.message) == 'string', 'no message')\n"
    "    assert(type(headers['x-amzn-query-error']) == 'string', 'no x-amzn-query-error')\n"
    "    assert(status ~= 500, 'an internal failure: ' .. answer.message)\n"
    "  end\n"
    "end\n";

static lua_State *target_state;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    target_state = lua_target_open("sqs_api", checker, sizeof checker - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = target_state;
    const char *at = (const char *)data, *end = at + size;
    const char *eol = memchr(at, '\n', size);
    if (!eol) eol = end;
    lua_target_push_check(L);
    lua_pushlstring(L, at, (size_t)(eol - at));
    const char *body = eol < end ? eol + 1 : end;
    lua_pushlstring(L, body, (size_t)(end - body));
    lua_target_call_check(L, 2);
    /* each input leaves a whole store behind: collect it now and then, so the RSS limit
     * measures the code, not the garbage */
    static unsigned inputs;
    if (++inputs % 256 == 0) lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
