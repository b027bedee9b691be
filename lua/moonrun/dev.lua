-- `moonrun dev [TEMPLATE] [OPTIONS]`: the service a SAM template deploys, run on this machine in
-- one process: an embedded SQS endpoint, the HTTP API's routes, the SQS triggers, schedules,
-- Lambda's invoke endpoint (asynchronous invocations too), and each function as real moonrun
-- runtimes, as many as its events need, reloaded when its code changes.
local functions = require "moonrun.dev.functions"
local httpd = require "moonrun.httpd"
local json = require "moonrun.json"
local local_guard = require "moonrun.dev.local_guard"
local loop = require "moonrun.dev.loop"
local triggers = require "moonrun.dev.triggers"
local view = require "moonrun.dev.view"

local M = {}

local USAGE = [[
usage: moonrun dev [TEMPLATE] [OPTIONS]
  Runs the service of a SAM template (default: template.yaml, template.yml or
  bootstrap/template.yaml) on this machine: its functions (as many instances as their events
  need), HTTP API routes, SQS queues and triggers, schedules and asynchronous invocations,
  with an embedded SQS endpoint, and reloads a function when its code changes.
  POST http://HOST:PORT/_moonrun/schedules/FUNCTION/EVENT fires a schedule now.

  --host ADDRESS          address the servers listen on (default 127.0.0.1)
  --port N                HTTP API routes and the invoke endpoint (default 3000; 0 = any free)
  --sqs-port N            the embedded SQS endpoint (default 9324; 0 = any free)
  --function-url-port N   the first function URL's port, the next function's N+1, ...
                          (default 3001; 0 = any free)
  --sqs-endpoint URL      use this SQS (moto, ElasticMQ, or AWS itself) instead of the embedded one
  --state DIR             where the embedded SQS keeps its messages (default .moonrun, beside
                          the template)
  --durability MODE       when an acknowledged change is safe: write (default: survives
                          moonrun dev being killed), sync (fdatasync before each answer:
                          survives an OS crash or power loss), interval[=MS] (fdatasync every
                          MS milliseconds, default 1000)
  --reset                 start afresh: delete what the state folder keeps (the embedded SQS's
                          queues and messages, pending asynchronous events), after asking on
                          a terminal
  --max-concurrency N     instances a function may run at once when the template gives it no
                          ReservedConcurrentExecutions (default 10)
  --parameter NAME=VALUE  a template parameter (repeatable)
  --env NAME=VALUE        an environment variable for every function (repeatable)
  --jwks [ISSUER=]FILE|URL  the key set (JWKS) a JWT authorizer checks tokens of ISSUER with
                          (read at start; without ISSUER=, for every issuer; repeatable)
  --region REGION         (default: AWS_REGION, AWS_DEFAULT_REGION, or us-east-1)
  --verify-signatures     the embedded SQS checks each request's SigV4 signature against the
                          credentials moonrun dev gives the functions
  --sqs-only              serve the embedded SQS endpoint alone, without a template
  --help
]]

local ACCOUNT = "000000000000"
local INVOKE_PATH = "/2015-03-31/functions/"
-- The credentials every function and trigger signs with when SQS is the embedded one; with
-- --verify-signatures, the only ones the endpoint accepts.
local DEV_CREDENTIALS = {access_key_id = "AKIAMOONRUNDEV000000", secret_access_key = "moonrun-dev-secret"}

local function usage_error(message)
  io.stderr:write("moonrun dev: ", message, "\n", "run 'moonrun dev --help' for the options\n")
  return nil, 2
end

local function parse_pair(text, what)
  local name, value = text:match("^([^=]+)=(.*)$")
  if not name then error(what .. " takes NAME=VALUE, not '" .. text .. "'", 0) end
  return name, value
end

local function parse_port(text, flag)
  local n = tonumber(text)
  if not n or n ~= math.floor(n) or n < 0 or n > 65535 then
    error(flag .. " takes a port number between 0 and 65535, not '" .. tostring(text) .. "'", 0)
  end
  return math.floor(n)
end

-- --durability: the store's mode and, for interval, the milliseconds between syncs.
local function parse_durability(text)
  if text == "write" or text == "sync" then return text end
  local ms = text:match("^interval=(%d+)$") or (text == "interval" and "1000")
  if ms and tonumber(ms) >= 1 and tonumber(ms) <= 3600000 then return "interval", tonumber(ms) end
  error("--durability takes write, sync, interval or interval=MS (1 to 3600000), not '" .. text .. "'", 0)
end

local function parse_args(args)
  local options = {host = "127.0.0.1", port = 3000, sqs_port = 9324, parameters = {}, env = {}, jwks = {}, url_port = 3001,
    durability = "write"}
  local i = 1
  local function value(flag)
    i = i + 1
    if args[i] == nil then error(flag .. " needs a value", 0) end
    return args[i]
  end
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then options.help = true
    elseif a == "--host" then options.host = value(a)
    elseif a == "--port" then options.port = parse_port(value(a), a)
    elseif a == "--sqs-port" then options.sqs_port = parse_port(value(a), a)
    elseif a == "--function-url-port" then options.url_port = parse_port(value(a), a)
    elseif a == "--sqs-endpoint" then options.sqs_endpoint = value(a):gsub("/+$", "")
    elseif a == "--state" then options.state = value(a)
    elseif a == "--durability" then options.durability, options.sync_interval_ms = parse_durability(value(a))
    elseif a == "--region" then options.region = value(a)
    elseif a == "--max-concurrency" then
      local text = value(a)
      local n = math.tointeger(tonumber(text))
      if not n or n < 1 or n > 1000 then
        error("--max-concurrency takes a whole number from 1 to 1000, not '" .. text .. "'", 0)
      end
      options.max_concurrency = n
    elseif a == "--parameter" then
      local k, v = parse_pair(value(a), a)
      options.parameters[k] = v
    elseif a == "--env" then
      local k, v = parse_pair(value(a), a)
      options.env[k] = v
    elseif a == "--jwks" then
      local text = value(a)
      local issuer, source = text:match("^(https?://[^=]+)=(.+)$")
      options.jwks[#options.jwks + 1] = {issuer = issuer, source = source or text}
    elseif a == "--verify-signatures" then options.verify = true
    elseif a == "--sqs-only" then options.sqs_only = true
    elseif a == "--reset" then options.reset = true
    elseif a:sub(1, 1) == "-" then error("unknown option " .. a, 0)
    elseif options.template then error("one template at a time (" .. options.template .. " and " .. a .. ")", 0)
    else options.template = a end
    i = i + 1
  end
  if options.sqs_endpoint and options.durability ~= "write" then
    error("--durability is the embedded SQS's; it does not go with --sqs-endpoint", 0)
  end
  if options.sqs_only and options.sqs_endpoint then error("--sqs-only serves the embedded SQS; it does not go with --sqs-endpoint", 0) end
  return options
end

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

local function find_template()
  for _, path in ipairs{"template.yaml", "template.yml", "bootstrap/template.yaml"} do
    if file_exists(path) then return path end
  end
  error("no template.yaml here (nor template.yml, bootstrap/template.yaml): name the SAM template, e.g. moonrun dev path/to/template.yaml", 0)
end

local function directory_of(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- httpd.listen, with what to do about a port in use.
local function listen(what, flag, settings)
  local ok, server = pcall(httpd.listen, settings)
  if ok then return server end
  local hint = ""
  if tostring(server):find("in use", 1, true) then
    hint = string.format(" (is another moonrun dev running? %s N picks another port, %s 0 any free one)", flag, flag)
  end
  error(string.format("%s: %s%s", what, tostring(server), hint), 0)
end

-- ---- the embedded SQS ----

local function serve_sqs(dev, options)
  local sqs_api = require "moonrun.dev.sqs.api"
  local sqs_store = require "moonrun.dev.sqs.store"
  dev.sqs_server = listen("the embedded SQS endpoint", "--sqs-port", {
    host = options.host, port = options.sqs_port, max_body = 4 << 20,
    handler = function(req)
      loop.spawn(function()
        local status, headers, body = local_guard.check(dev.sqs_guard, req, true)
        if not status then status, headers, body = dev.sqs_api:handle(req) end
        httpd.respond(req.id, status, headers, body)
        if dev.show_depths then dev.show_depths() end -- every change is shown, not a sample of them
      end)
    end})
  dev.sqs_guard = local_guard.new(options.host, dev.sqs_server:port())
  local host = options.host == "0.0.0.0" and "127.0.0.1" or options.host
  dev.sqs_url = string.format("http://%s:%d", host, dev.sqs_server:port())
  dev.store = sqs_store.new{state_dir = dev.state_dir, now_ms = loop.now_ms, base_url = dev.sqs_url,
                            account = ACCOUNT, region = dev.region, durability = options.durability,
                            spawn = loop.spawn, pause = function() loop.sleep(0) end}
  if options.sync_interval_ms then
    loop.spawn(function()
      while true do
        loop.sleep(options.sync_interval_ms / 1000)
        dev.store:sync()
      end
    end)
  end
  local credentials = options.verify and {access_key_id = DEV_CREDENTIALS.access_key_id,
    secret_access_key = DEV_CREDENTIALS.secret_access_key, region = dev.region} or nil
  dev.sqs_api = sqs_api.new{store = dev.store, sched = loop, credentials = credentials}
end

local function create_embedded_queues(dev, load)
  local model = load(ACCOUNT, {})
  for _, q in ipairs(require("moonrun.dev.template").in_creation_order(model.queues)) do dev.store:ensure_queue(q.name, q.attributes) end
  return model
end

-- Another SQS has its own account and URLs: the queues that redrive to no other are created
-- first, their answers give the account and URLs, and the template is read again with them, so
-- that a Ref, a GetAtt and a redrive policy's ARN are that SQS's own.
local function create_external_queues(dev, load)
  local client = require("moonrun.sqs").client{endpoint = dev.sqs_url, region = dev.region}
  local urls, account = {}, nil
  local function create(q)
    local ok, created = pcall(client.create_queue, client, {QueueName = q.name, Attributes = q.attributes})
    if not ok then
      error(string.format("cannot create queue %s at %s: %s", q.name, dev.sqs_url, tostring(created)), 0)
    end
    urls[q.name] = created.QueueUrl
    if not account then
      local got = client:get_queue_attributes{QueueUrl = created.QueueUrl, AttributeNames = {"QueueArn"}}
      account = tostring(got.Attributes.QueueArn or ""):match("^arn:[^:]+:sqs:[^:]*:([^:]+):")
    end
  end
  local model = load(ACCOUNT, urls)
  for _, q in ipairs(model.queues) do if not q.attributes.RedrivePolicy then create(q) end end
  dev.account = account or ACCOUNT
  model = load(dev.account, urls)
  for _, q in ipairs(model.queues) do if q.attributes.RedrivePolicy then create(q) end end
  return model
end

-- ---- children ----

local function base_environment(dev, options)
  local env = {}
  for _, name in ipairs{"PATH", "HOME", "LANG", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR",
                        "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "MOONRUN_DEADLINE_MARGIN_MS"} do
    env[name] = os.getenv(name)
  end
  if dev.store then -- the embedded SQS: dev's own credentials, never the user's
    env.AWS_ACCESS_KEY_ID = DEV_CREDENTIALS.access_key_id
    env.AWS_SECRET_ACCESS_KEY = DEV_CREDENTIALS.secret_access_key
  else
    -- every variable moonrun.aws's credential chain reads, so that the children resolve the
    -- same credentials as the shell would
    for _, name in ipairs{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                          "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE",
                          "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                          "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"} do
      env[name] = os.getenv(name)
    end
  end
  env.AWS_ENDPOINT_URL_SQS = dev.sqs_url
  env.AWS_REGION = dev.region
  env.AWS_DEFAULT_REGION = dev.region
  for k, v in pairs(options.env) do env[k] = v end
  return env
end

local function start_trigger(dev, fn, event)
  local config = {
    queue_url = event.queue_url, queue_arn = event.queue_arn, queue_name = event.queue_name,
    invoke_url = string.format("%s/2015-03-31/functions/%s/invocations", dev.front_url, fn.name),
    batch_size = event.batch_size, window_s = event.window_s,
    report_batch_item_failures = event.report_batch_item_failures,
    function_timeout_s = fn.spec.timeout, region = dev.region, filters = event.filters,
  }
  dev.poller_path = dev.poller_path or assert(package.searchpath("moonrun.dev.poller", package.path),
                                              "moonrun's Lua library has no moonrun/dev/poller.lua")
  local depth
  if dev.store then
    depth = function()
      for _, q in ipairs(dev.store:depths()) do
        if q.name == event.queue_name then return q end
      end
    end
  end
  return triggers.start{
    exe = dev.exe, poller_path = dev.poller_path, env = dev.env, view = view, fn = fn, event = event,
    config = config, depth = depth,
    busy = function() return dev.front:running(fn.name, "sqs " .. event.queue_name) end,
  }
end

-- ---- asynchronous invocations ----

-- Sends a message to a queue of the service for dev itself (a destination, a dead-letter
-- queue): in process to the embedded SQS; to another SQS with moonrun.sqs (a short blocking call).
local function queue_sender(dev, model)
  local urls = {}
  for _, q in ipairs(model.queues) do urls[q.name] = q.url end
  return function(name, body, attributes)
    if dev.sqs_api then
      local q = dev.store:queue(name)
      if not q then return nil, "the embedded SQS has no queue " .. name end
      return dev.sqs_api:call("SendMessage", {QueueUrl = q.url, MessageBody = body, MessageAttributes = attributes})
    end
    dev.sqs_client = dev.sqs_client or require("moonrun.sqs").client{endpoint = dev.sqs_url, region = dev.region}
    local url = urls[name] or (dev.sqs_url .. "/" .. dev.account .. "/" .. name)
    local ok, err = pcall(dev.sqs_client.send_message, dev.sqs_client,
                          {QueueUrl = url, MessageBody = body, MessageAttributes = attributes})
    if ok then return true end
    return nil, tostring(err)
  end
end

local function start_async(dev, model)
  local by_name = {}
  for _, fn in ipairs(dev.functions) do by_name[fn.name] = fn end
  for _, fn in ipairs(dev.functions) do
    local config = fn.spec.async or {}
    for _, target in ipairs{config.on_success or false, config.on_failure or false} do
      if target and target.type == "Lambda" and not by_name[target.function_name] then
        view.warn(string.format("%s: its destination %s is not a function of this template: nothing is sent there",
          fn.name, target.arn))
      end
    end
  end
  os.execute("mkdir -p '" .. dev.state_dir:gsub("'", "'\\''") .. "'")
  dev.async = require("moonrun.dev.async").new{
    functions = by_name, send_sqs = queue_sender(dev, model), view = view,
    log = function(fn, trigger, outcome) dev.front:log(fn, trigger, outcome) end,
    journal_path = dev.state_dir .. "/async.journal", on_change = function() loop.notify(dev.counts_changed) end,
  }
  dev.front.async = dev.async
  local schedules = require "moonrun.dev.schedules"
  dev.schedules = schedules.start{functions = dev.functions, async = dev.async, view = view, base_url = dev.front_url}
  dev.front.schedules = dev.schedules
  for _, s in ipairs(dev.schedules.list) do
    view.note(string.format("  schedule %-26s -> %s (%s; %s)", s.event.expression, s.fn.name,
      s.key, dev.schedules:describe_next(s)))
  end
  if dev.schedules.list[1] then
    view.note(string.format("  fire a schedule now: curl -X POST %s%s/%s  (GET %s lists them)", dev.front_url,
      schedules.PATH, dev.schedules.list[1].key, schedules.PATH))
  end
end

-- ---- the depth line ----

-- The depths are shown after every request to the embedded SQS (what changes them), and
-- sampled twice a second for what time changes (a delay or a visibility timeout running out).
local function watch_depths(dev)
  local last
  dev.show_depths = function()
    local depths = dev.store:depths()
    local text = json.encode(depths)
    if text ~= last then
      view.queues(depths)
      last = text
    end
  end
  loop.spawn(function()
    while not dev.stopping do
      dev.show_depths()
      loop.sleep(0.5)
    end
  end)
end

-- The functions' counts (instances running and warm, throttled, asynchronous events waiting),
-- shown when they change, at most every RATE_S so that a burst stays readable.
local COUNTS_RATE_S = 1
local function watch_counts(dev)
  if not dev.functions[1] then return end
  loop.spawn(function()
    local last
    while not dev.stopping do
      local counts = {}
      for _, fn in ipairs(dev.functions) do
        local c = fn:counts()
        counts[#counts + 1] = {name = fn.name, running = c.running, warm = c.warm, throttled = c.throttled,
                               async = dev.async and dev.async:depth(fn.name) or 0}
      end
      local text = view.functions_text(counts)
      if text ~= last then
        view.functions(counts)
        last = text
      end
      loop.wait(dev.counts_changed)
      loop.sleep(COUNTS_RATE_S)
    end
  end)
end

-- ---- the JWT authorizers' key sets ----

-- --jwks, read once at start (a URL with moonrun.http); a JWT authorizer whose issuer has no
-- key set is said at start, and its routes answer 401.
local function read_key_sets(options, model)
  local sets = require("moonrun.dev.authorizers").key_sets(options.jwks, function(url)
    local response, failure = require("moonrun.http").request{url = url, timeout = 10, connect_timeout = 5}
    if not response then return nil, failure.message end
    if response.status ~= 200 then return nil, string.format("%s answered %d", url, response.status) end
    return response.body
  end)
  local said = {}
  for _, api in pairs(model.apis or {}) do
    for name, a in pairs(api.authorizers) do
      if a.kind == "jwt" and not sets[a.issuer] and not sets["*"] and not said[a.issuer] then
        said[a.issuer] = true
        view.warn(string.format("%s: JWT authorizer %s: no key set for the issuer %s, so its routes answer 401: " ..
          "start moonrun dev with --jwks %s=FILE|URL", api.id, name, a.issuer, a.issuer))
      end
    end
  end
  return sets
end

-- ---- start and stop ----

-- The queues the embedded SQS keeps that the template does not declare (an earlier template's).
local function kept_queues(dev, model)
  local declared, kept = {}, {}
  for _, q in ipairs(model.queues) do declared[q.name] = true end
  for _, name in ipairs(dev.store:names()) do
    if not declared[name] then kept[#kept + 1] = name end
  end
  return kept
end

local function banner(dev, model)
  view.note(string.format("moonrun dev: %s", model.path))
  if dev.store then
    view.note(string.format("  sqs      %s  (embedded; messages kept in %s)", dev.sqs_url, dev.state_dir))
    local declared = {}
    for _, q in ipairs(model.queues) do declared[#declared + 1] = q.name end
    if #declared > 0 then view.note("  queues   " .. table.concat(declared, ", ") .. "  (the template's)") end
    local kept = kept_queues(dev, model)
    if #kept > 0 then
      view.note(string.format("  kept     %s  (not in this template: queues of an earlier one, kept in " ..
        "%s with their messages; moonrun dev --reset starts afresh)", table.concat(kept, ", "), dev.state_dir))
    end
  else
    view.note(string.format("  sqs      %s", dev.sqs_url))
  end
  view.note(string.format("  invoke   %s/2015-03-31/functions/{name}/invocations", dev.front_url))
  for _, fn in ipairs(dev.functions) do
    for _, e in ipairs(fn.spec.http_events or {}) do
      local route = e.path and (e.method:upper() .. " " .. e.path) or "$default"
      local guard = e.authorizer and string.format("  (authorizer %s, %s)", e.authorizer.name,
        e.authorizer.kind == "jwt" and "JWT" or "Lambda " .. e.authorizer.function_name) or ""
      view.note(string.format("  http     %-30s -> %s%s", dev.front_url .. " " .. route, fn.name, guard))
    end
    for _, url in ipairs(dev.urls) do
      if url.fn == fn then
        local how = url.config.auth_type == "AWS_IAM" and "AWS_IAM: refused, see the warning" or url.config.invoke_mode
        view.note(string.format("  url      %-30s -> %s (%s)", url.url, fn.name, how))
      end
    end
    for _, e in ipairs(fn.spec.sqs_events or {}) do
      view.note(string.format("  trigger  sqs %-26s -> %s (batch %d)", e.queue_name, fn.name, e.batch_size or 10))
    end
  end
  for _, w in ipairs(model.warnings or {}) do view.warn(w) end
  for _, url in ipairs(dev.urls) do
    if url.config.auth_type == "AWS_IAM" then
      view.warn(string.format("%s: its function URL has AuthType AWS_IAM, which moonrun dev does not check: " ..
        "every request to %s is refused (403); use AuthType NONE locally, or the invoke endpoint", url.fn.name, url.url))
    end
  end
end

local function shutdown(dev)
  dev.stopping = true
  view.note("stopping: the triggers, then the functions (each runs its shutdown function)")
  local pending = 0
  local function stop_all(list, stop)
    for _, item in ipairs(list) do
      pending = pending + 1
      loop.spawn(function() stop(item); pending = pending - 1; loop.notify(dev) end)
    end
    while pending > 0 do loop.wait(dev, 5) end
  end
  stop_all(dev.pollers, function(trigger) trigger:stop() end)
  if dev.schedules then dev.schedules:stop() end
  if dev.async then dev.async:stop() end
  stop_all(dev.functions, function(fn) fn:stop() end)
  if dev.front_server then dev.front_server:close() end
  for _, url in ipairs(dev.urls or {}) do url.server:close() end
  if dev.sqs_server then dev.sqs_server:close() end
  if dev.store then dev.store:close() end
  loop.stop()
end

local function run_until_stopped(dev)
  if loop.run() == "signal" then
    loop.spawn(shutdown, dev)
    if loop.run() == "signal" then -- a second Ctrl-C: no more waiting
      for _, fn in ipairs(dev.functions) do fn:kill_all() end
      for _, trigger in ipairs(dev.pollers) do trigger:kill_all() end
      if dev.store then dev.store:close() end
    end
  end
  view.close()
end

-- The files of the state folder that --reset deletes.
local STATE_FILES = {"sqs.journal", "sqs.journal.tmp", "async.journal"}

-- --reset: deletes the state files, after asking when someone can answer. Raises when the
-- answer is no (nothing is started then) or a file cannot be deleted.
local function reset_state(dir, host)
  local present = {}
  for _, name in ipairs(STATE_FILES) do
    local f = io.open(dir .. "/" .. name, "rb")
    if f then
      present[#present + 1] = string.format("%s (%d bytes)", name, f:seek("end"))
      f:close()
    end
  end
  if #present == 0 then return view.note("--reset: " .. dir .. " keeps nothing yet") end
  if host.interactive then
    io.stdout:write(string.format("moonrun dev --reset deletes %s in %s: every queue and message of " ..
      "the embedded SQS, and pending asynchronous events. Delete them? [y/N] ", table.concat(present, ", "), dir))
    io.stdout:flush()
    local answer = io.stdin:read("l")
    if not answer or not answer:lower():match("^%s*ye?s?%s*$") then error("--reset: nothing was deleted", 0) end
  end
  for _, name in ipairs(STATE_FILES) do
    local path = dir .. "/" .. name
    local ok, why, code = os.remove(path)
    if not ok and code ~= 2 then error("--reset: cannot delete " .. tostring(why), 0) end -- 2: ENOENT
  end
  view.note("--reset: deleted " .. table.concat(present, ", ") .. " in " .. dir)
end

-- The project's dependencies installed before anything starts (an error stops dev), then a
-- function that checks the rockspec again (a file read when nothing changed; an install, during
-- which dev waits, when it did) and returns a number that moves with each install, so instances
-- started before one reload. A failed install is said once per rockspec text, and the functions
-- keep the last installed tree.
local function dependencies_watch(start_dir)
  local deps = require "moonrun.deps"
  local say = function(line) view.note(line) end
  local ok, err = deps.ensure{start = start_dir, say = say}
  if not ok then error("the project's dependencies cannot be installed: " .. err.message, 0) end
  local generation, failed = 0, {}
  return function()
    local fine, what = deps.ensure{start = start_dir, say = say, failed = failed}
    if not fine and not what.repeated then
      view.warn("the project's dependencies cannot be installed: " .. what.message ..
        " (the functions keep the dependencies installed last)")
    elseif fine and what == "installed" then
      generation = generation + 1
    end
    return generation
  end
end

local function start(options, host)
  local dev = {exe = host.exe, functions = {}, pollers = {}, urls = {}, account = ACCOUNT, counts_changed = {}}
  dev.region = options.region or os.getenv("AWS_REGION") or os.getenv("AWS_DEFAULT_REGION") or "us-east-1"
  view.setup{tty = host.tty, color = host.tty and os.getenv("NO_COLOR") == nil}

  if options.sqs_only then
    dev.state_dir = options.state or ".moonrun"
    if options.reset then reset_state(dev.state_dir, host) end
    serve_sqs(dev, options)
    view.note(string.format("moonrun dev: SQS at %s (messages kept in %s)", dev.sqs_url, dev.state_dir))
    watch_depths(dev)
    run_until_stopped(dev)
    return 0
  end

  local template_path = options.template or find_template()
  -- the project's rocks first, when its rockspec changed: the functions start seeing them
  local deps_generation = dependencies_watch(directory_of(template_path))
  dev.state_dir = options.state or (directory_of(template_path) .. "/.moonrun")
  if options.reset then reset_state(dev.state_dir, host) end
  if options.sqs_endpoint then
    dev.sqs_url = options.sqs_endpoint
  else
    serve_sqs(dev, options)
  end
  local template = require "moonrun.dev.template"
  local function load(account, urls)
    return template.load(template_path, {
      parameters = options.parameters, region = dev.region, account = account,
      stack_name = "moonrun-dev",
      queue_url = function(name) return urls[name] or (dev.sqs_url .. "/" .. account .. "/" .. name) end,
    })
  end
  local model = (dev.store and create_embedded_queues or create_external_queues)(dev, load)

  dev.env = base_environment(dev, options)
  local names = {}
  for _, spec in ipairs(model.functions) do
    dev.functions[#dev.functions + 1] = functions.new(spec, {exe = dev.exe, env = dev.env,
      region = dev.region, account = dev.account, view = view, max_concurrency = options.max_concurrency,
      deps_generation = deps_generation,
      on_change = function() loop.notify(dev.counts_changed) end})
    names[#names + 1] = spec.name
  end
  view.setup{tty = host.tty, color = host.tty and os.getenv("NO_COLOR") == nil, names = names}

  dev.front = require("moonrun.dev.front").new{functions = dev.functions, view = view,
                                                  region = dev.region, account = dev.account,
                                                  apis = model.apis, key_sets = read_key_sets(options, model)}
  dev.front_server = listen("the HTTP front", "--port", {
    host = options.host, port = options.port, max_body = 10 << 20,
    body_limit = require("moonrun.dev.payload_limits").front,
    handler = function(req)
      loop.spawn(function()
        -- the invoke endpoint and dev's own (firing a schedule) are for tools, not web pages
        local for_tools = req.path:sub(1, #INVOKE_PATH) == INVOKE_PATH or req.path:sub(1, 10) == "/_moonrun/"
        local status, headers, body = local_guard.check(dev.front_guard, req, for_tools)
        if status then return httpd.respond(req.id, status, headers, body) end
        httpd.respond(req.id, dev.front:handle(req))
      end)
    end})
  dev.front_guard = local_guard.new(options.host, dev.front_server:port())
  dev.front_url = string.format("http://%s:%d", options.host == "0.0.0.0" and "127.0.0.1" or options.host,
                                dev.front_server:port())

  dev.urls = require("moonrun.dev.function_urls").start{functions = dev.functions, host = options.host,
    base_port = options.url_port, view = view, region = dev.region, account = dev.account, listen = listen,
    spawn = loop.spawn}

  banner(dev, model)
  for _, w in ipairs(dev.front.warnings) do view.warn(w) end
  for _, fn in ipairs(dev.functions) do fn:start() end -- warm, as a first request would find them
  start_async(dev, model)
  for _, fn in ipairs(dev.functions) do
    for _, event in ipairs(fn.spec.sqs_events or {}) do
      if event.enabled ~= false then dev.pollers[#dev.pollers + 1] = start_trigger(dev, fn, event) end
    end
  end
  if dev.store then watch_depths(dev) end
  watch_counts(dev)
  run_until_stopped(dev)
  return 0
end

function M.main(args, host)
  local ok, options = pcall(parse_args, args)
  if not ok then
    local _, status = usage_error(options)
    return status
  end
  if options.help then
    io.stdout:write(USAGE)
    return 0
  end
  local started, err = pcall(start, options, host)
  if not started then
    view.close()
    io.stderr:write("moonrun dev: ", tostring(err), "\n")
    return 1
  end
  return err
end

return M
