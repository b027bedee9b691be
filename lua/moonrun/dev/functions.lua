-- The functions of `moonrun dev`: each instance is a child process, the real moonrun runtime
-- loop, against a Lambda Runtime API that this module serves for it. A function runs as many
-- instances as its waiting events need, up to its concurrency limit, as Lambda scales it: each
-- instance takes one event at a time and stays warm for the next; beyond the limit a
-- synchronous invocation is throttled (429) and the others wait. An edited handler folder
-- replaces an instance before its next event (hot reload).
local files = require "moonrun.files"
local httpd = require "moonrun.httpd"
local json = require "moonrun.json"
local loop = require "moonrun.dev.loop"
local peer = require "moonrun.peer"
local process = require "moonrun.process"
local uuid = require "moonrun.uuid"

local M = {}

local RUNTIME = "/2018-06-01/runtime"
local EXTENSION = "/2020-01-01/extension"
local STOP_GRACE_S = 2  -- SIGTERM, then this long for the shutdown function, then SIGKILL
local TIMEOUT_GRACE_S = 1 -- the runtime stops an overrunning handler itself; this is the backstop
M.DEFAULT_MAX_CONCURRENCY = 10

-- What reaches the machine: the Runtime API servers, the child processes, the code folder's
-- stamp and the owners of sockets. A spec passes fakes (options.system), so that scaling,
-- timeouts and failures run without sockets or processes (tests/lua/functions_spec.lua).
local SYSTEM = {httpd = httpd, process = process, files = files, peer = peer}

local Function = {}
Function.__index = Function

-- The error Lambda gives when it ends an invocation itself.
local function lambda_error(error_type, message)
  return json.encode{errorType = error_type, errorMessage = message}
end

local function arn(fn)
  return string.format("arn:aws:lambda:%s:%s:function:%s", fn.region, fn.account, fn.name)
end

-- The environment Lambda gives a function, under the template's variables and dev's own.
local function child_environment(fn, api_address)
  local env = {}
  for k, v in pairs(fn.base_env) do env[k] = v end
  for k, v in pairs(fn.spec.environment or {}) do env[k] = v end
  env.AWS_LAMBDA_RUNTIME_API = api_address
  env._HANDLER = fn.spec.handler
  env.LAMBDA_TASK_ROOT = fn.spec.code_dir
  env.AWS_LAMBDA_FUNCTION_NAME = fn.name
  env.AWS_LAMBDA_FUNCTION_VERSION = "$LATEST"
  env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE = tostring(fn.spec.memory or 128)
  env.AWS_LAMBDA_LOG_GROUP_NAME = "/aws/lambda/" .. fn.name
  env.AWS_LAMBDA_LOG_STREAM_NAME = "moonrun-dev"
  env.AWS_REGION = env.AWS_REGION or fn.region
  env.AWS_DEFAULT_REGION = env.AWS_DEFAULT_REGION or fn.region
  env.MOONRUN_MEMORY_LIMIT_MB = env.MOONRUN_MEMORY_LIMIT_MB or tostring(fn.spec.memory or 128)
  env.MOONRUN_DEV_INSTANCE = "1" -- its background processes end with it (runtime_loop.c)
  -- the template's layer folders, which the runtime searches as it would /opt (lua_paths.c)
  env.MOONRUN_LAYER_DIRS = fn.spec.layer_dirs and table.concat(fn.spec.layer_dirs, ":") or nil
  return env
end

-- ---- the Runtime API, one server per child ----

local function reply(fn, req, status, body, headers)
  headers = headers or {}
  headers["content-type"] = headers["content-type"] or "application/json"
  fn.system.httpd.respond(req.id, status, headers, body or "")
end

local function finish(fn, inv, outcome)
  if inv.outcome then return end
  inv.outcome = outcome
  local instance = inv.instance
  if instance and instance.current == inv then instance.current = nil end
  loop.notify(inv)
  fn:changed()
end

-- GET /next waits for an invocation. It belongs to one child: if that child has gone when an
-- invocation arrives, the invocation stays queued for another. A child whose code folder
-- changed since it started gets none: it is replaced first (hot reload), and its successor
-- (or another instance) takes the event. The invocation's deadline is set here, when an
-- instance takes it: the time it waited for one is not counted, as on Lambda.
local function next_invocation(fn, instance, req)
  while true do
    if not instance.alive or instance.stopping then return end
    if fn.queue[1] then
      local stamp = fn.system.files.stamp(fn.spec.code_dir)
      if stamp ~= instance.stamp or fn:deps_generation() ~= instance.deps_generation then
        fn.view.note(fn.name .. (instance.deps_generation ~= fn:deps_generation() and
          ": dependencies changed, reloading" or ": code changed, reloading"))
        loop.spawn(fn.stop_instance, fn, instance)
        return
      end
      local inv = table.remove(fn.queue, 1)
      instance.current, instance.handed, inv.instance = inv, inv, instance
      inv.started = loop.monotonic()
      inv.deadline_ms = loop.now_ms() + math.floor((fn.spec.timeout or 3) * 1000)
      inv.cold = instance.invocations == 0 and not instance.prewarmed
      local headers = {
        ["content-type"] = "application/json",
        ["lambda-runtime-aws-request-id"] = inv.id,
        ["lambda-runtime-deadline-ms"] = tostring(inv.deadline_ms),
        ["lambda-runtime-invoked-function-arn"] = arn(fn),
        ["lambda-runtime-trace-id"] = inv.trace_id,
      }
      if not fn.system.httpd.respond(req.id, 200, headers, inv.event) then
        instance.current, inv.instance, inv.started, inv.cold = nil, nil, nil, nil
        table.insert(fn.queue, 1, inv)
        return
      end
      instance.invocations = instance.invocations + 1
      loop.notify(inv) -- its waiter now counts the timeout from here
      fn:changed()
      return
    end
    loop.wait(fn)
  end
end

local function posted_invocation(instance, id)
  local inv = instance.current
  if inv and inv.id == id then return inv end
end

-- A streamed response arrives whole here (chunked; its body taken by stream_sink as it came,
-- unless a relay passed it on); an error in it comes in its trailers.
local function response_outcome(req, inv)
  local error_type = req.trailers["lambda-runtime-function-error-type"]
  if error_type then
    local body = req.trailers["lambda-runtime-function-error-body"]
    local ok, decoded = pcall(require("moonrun.base64").decode, body or "")
    return {ok = false, payload = ok and decoded or lambda_error(error_type, "streamed response failed")}
  end
  local body = inv.streamed_parts and table.concat(inv.streamed_parts) or req.body
  return {ok = true, payload = body, content_type = req.headers["content-type"],
          streamed = req.headers["lambda-runtime-function-response-mode"] == "streaming"}
end

-- Whether req comes from the instance's own process group: any process of the machine can
-- connect to a loopback port, and the Runtime API hands out events and takes answers. A socket
-- once found to be the instance's is remembered (its inode), so each later request costs one
-- read of /proc/net/tcp.
local function from_instance(fn, instance, req)
  local sockets = fn.system.peer
  local inode = req.remote_port and sockets.socket_inode(req.remote_port, instance.port)
  if not inode then return false end
  if instance.sockets[inode] then return true end
  local child = instance.child
  if child and sockets.group_holds(child:pid(), inode) then
    instance.sockets[inode] = true
    return true
  end
  return false
end

-- httpd's body_sink for an instance's Runtime API: a streamed response to an invocation that
-- relays it (a RESPONSE_STREAM function URL) goes to its relay piece by piece as it arrives,
-- instead of being read whole. Anything else is read whole, as before.
local function stream_sink(fn, instance, req)
  if req.method ~= "POST" or req.headers["lambda-runtime-function-response-mode"] ~= "streaming" then return end
  local id = req.path:match("^/2018%-06%-01/runtime/invocation/([^/]+)/response$")
  local inv = id and posted_invocation(instance, id)
  if not (inv and from_instance(fn, instance, req)) then return end
  local relay = inv.relay
  if not relay then -- read whole, but as it comes: a stream may outlast the request timeout
    local parts = {}
    inv.streamed_parts = parts
    return function(bytes) parts[#parts + 1] = bytes end
  end
  relay:open(req.headers["content-type"])
  return function(bytes) relay:push(bytes) end
end

local function runtime_api(fn, instance, req)
  local path, method = req.path, req.method
  if not from_instance(fn, instance, req) then
    if not instance.intruder_reported then
      instance.intruder_reported = true
      fn.view.warn(string.format("a connection to %s's Runtime API from another process than the " ..
        "function's own was refused", fn.name))
    end
    return reply(fn, req, 403, json.encode{errorType = "AccessDenied", errorMessage = "moonrun dev " ..
      "serves this Runtime API to the function's own process only"})
  end
  if method == "GET" and path == RUNTIME .. "/invocation/next" then
    return next_invocation(fn, instance, req)
  end
  local id, verb = path:match("^/2018%-06%-01/runtime/invocation/([^/]+)/(%a+)$")
  if method == "POST" and id and (verb == "response" or verb == "error") then
    local inv = posted_invocation(instance, id)
    if not inv then
      return reply(fn, req, 400, json.encode{errorType = "InvalidRequestID",
                                         errorMessage = "no invocation " .. id .. " is running"})
    end
    if verb == "response" then
      finish(fn, inv, response_outcome(req, inv))
    else
      finish(fn, inv, {ok = false, payload = req.body,
                       error_type = req.headers["lambda-runtime-function-error-type"]})
    end
    return reply(fn, req, 202, '{"status":"OK"}')
  end
  if method == "POST" and path == RUNTIME .. "/init/error" then
    instance.init_error = req.body
    return reply(fn, req, 202, '{"status":"OK"}')
  end
  if method == "POST" and path == EXTENSION .. "/register" then
    local headers = {["lambda-extension-identifier"] = uuid.v4()}
    return reply(fn, req, 200, json.encode{functionName = fn.name, functionVersion = "$LATEST",
                                       handler = fn.spec.handler}, headers)
  end
  if method == "GET" and path == EXTENSION .. "/event/next" then
    return -- answered by the child's exit: moonrun's shutdown extension waits for no event
  end
  return reply(fn, req, 404, json.encode{errorType = "NotFound", errorMessage = method .. " " .. path})
end

-- ---- instances ----

-- Counts for the view and for the limit: instances (alive and not being stopped), running
-- (with an invocation), waiting (queued invocations).
function Function:counts()
  local instances, running = 0, 0
  for instance in pairs(self.instances) do
    if not instance.stopping then
      instances = instances + 1
      if instance.current then running = running + 1 end
    end
  end
  return {instances = instances, running = running, warm = instances - running, waiting = #self.queue,
          cold_starts = self.cold_starts, throttled = self.throttled}
end

-- Which install of the project's dependencies is current (options.deps_generation checks the
-- rockspec and installs when it changed): an instance started before the last one reloads.
function Function:deps_generation()
  return self.deps_check and self.deps_check() or 0
end

-- Something the view counts changed: whoever watches (dev's status line) is told.
function Function:changed()
  if self.on_change then self.on_change(self) end
end

-- Starts one more instance: a cold start.
function Function:start_instance()
  local instance = {alive = true, invocations = 0, sockets = {}}
  local system = self.system
  instance.server = system.httpd.listen{host = "127.0.0.1", port = 0, max_body = 256 << 20,
    handler = function(req) loop.spawn(runtime_api, self, instance, req) end,
    body_sink = function(req) return stream_sink(self, instance, req) end}
  instance.stamp = system.files.stamp(self.spec.code_dir)
  instance.deps_generation = self:deps_generation()
  instance.port = instance.server:port()
  local address = "127.0.0.1:" .. instance.port
  self.instances[instance] = true
  self.cold_starts = self.cold_starts + 1
  instance.child = system.process.spawn{
    argv = {self.exe},
    env = child_environment(self, address),
    cwd = self.spec.code_dir,
    on_output = function(_, line)
      self.view.output(self.name, line)
      -- for the invoke API's X-Amz-Log-Type: Tail. The last invocation this instance was
      -- handed, not its current one: its answer may be read before the lines it wrote just
      -- before it.
      local inv = instance.handed
      if inv then inv.log[#inv.log + 1] = line end
    end,
    on_exit = function(code, signal) self:exited(instance, code, signal) end,
  }
  self:changed()
  return instance
end

-- As many instances as the queued events need, within the limit: an idle instance (warm, or
-- starting) takes a queued event before a new one is started.
function Function:scale()
  if self.stopping then return end
  local idle, count = 0, 0
  for instance in pairs(self.instances) do
    if not instance.stopping then
      count = count + 1
      if not instance.current then idle = idle + 1 end
    elseif instance.reloading then
      idle = idle + 1 -- its successor starts when it has gone (exited() scales again)
    end
  end
  for _ = 1, math.min(#self.queue - idle, self.limit - count) do self:start_instance() end
end

-- The first instance, started with dev so that a first request finds it warm.
function Function:start()
  if self.limit > 0 then self:start_instance().prewarmed = true end
end

function Function:exited(instance, code, signal)
  instance.alive = false
  instance.server:close()
  self.instances[instance] = nil
  loop.notify(instance)
  local inv = instance.current
  if inv and not inv.outcome then
    local status = code and ("exit status " .. code) or ("signal " .. tostring(signal))
    if instance.init_error then
      finish(self, inv, {ok = false, payload = instance.init_error})
    else
      finish(self, inv, {ok = false, payload = lambda_error("Runtime.ExitError",
        "RequestId: " .. inv.id .. " Error: Runtime exited with error: " .. status)})
    end
  elseif instance.init_error and not instance.stopping then
    -- init failed with nothing running: the queued events get that error, as Lambda gives it
    for _, queued in ipairs(self.queue) do finish(self, queued, {ok = false, payload = instance.init_error}) end
    self.queue = {}
  end
  self:changed()
  self:scale() -- events may be waiting for it
end

-- Stops one instance: SIGTERM (its shutdown function runs), then SIGKILL if it lingers. With
-- replace_at_once (a timed-out instance), a successor may start while it stops; otherwise (a
-- reload) only once it has gone, so that the old code's shutdown ends before the new code runs.
function Function:stop_instance(instance, replace_at_once)
  if not instance.alive then return end
  instance.stopping = true
  instance.reloading = not replace_at_once
  loop.notify(self) -- its GET /next, if waiting, gives up
  if replace_at_once then self:scale() end
  instance.child:kill("TERM")
  local deadline = loop.monotonic() + STOP_GRACE_S
  while instance.alive and loop.monotonic() < deadline do
    loop.wait(instance, deadline - loop.monotonic())
  end
  if instance.alive then instance.child:kill("KILL") end
  while instance.alive do loop.wait(instance, 1) end
end

-- Kills every instance at once (a second Ctrl-C).
function Function:kill_all()
  for instance in pairs(self.instances) do instance.child:kill("KILL") end
end

-- ---- invoking ----

function Function:arn()
  return arn(self)
end

local function throttled(fn)
  fn.throttled = fn.throttled + 1
  fn:changed()
  return {ok = false, throttled = true, reason = fn.limit_reason, duration_ms = 0}
end

-- Invokes the function with event (JSON text) and waits for the outcome:
-- {ok = true, payload = json_text} or {ok = false, payload = error_json}; with options.sync
-- (a synchronous invocation) and every instance the limit allows busy, {throttled = true,
-- reason = Lambda's throttle reason} at once, as Lambda answers 429. options.relay (a
-- stream_relay) takes a streamed response piece by piece as the function writes it.
function Function:invoke(event, trigger, options)
  options = options or {}
  if options.sync then
    local counts = self:counts()
    if counts.running + counts.waiting >= self.limit then return throttled(self) end
  end
  local inv = {
    id = options.request_id or uuid.v4(),
    event = event,
    trigger = trigger,
    trace_id = string.format("Root=1-%08x-%s;Parent=%s;Sampled=0", os.time(),
                             uuid.v4():gsub("-", ""):sub(1, 24), uuid.v4():gsub("-", ""):sub(1, 16)),
    queued = loop.monotonic(),
    log = {},
    relay = options.relay, -- takes a streamed response as it comes (see stream_sink)
  }
  self.queue[#self.queue + 1] = inv
  self:scale()
  loop.notify(self)
  self:changed()
  local limit = (self.spec.timeout or 3) + TIMEOUT_GRACE_S
  while not inv.outcome do
    -- the timeout counts from when an instance took the event, as on Lambda
    local waited = loop.wait(inv, inv.started and (inv.started + limit - loop.monotonic()) or 1)
    if not waited and inv.started and not inv.outcome and loop.monotonic() >= inv.started + limit then
      local instance = inv.instance
      finish(self, inv, {ok = false, payload = lambda_error("Sandbox.Timedout", string.format(
        "RequestId: %s Error: Task timed out after %.2f seconds", inv.id, self.spec.timeout or 3))})
      -- the runtime did not stop the handler: a fresh instance takes the next event
      if instance then loop.spawn(self.stop_instance, self, instance, true) end
    end
    if not inv.outcome and not inv.started then self:scale() end
  end
  local outcome = inv.outcome
  outcome.duration_ms = ((loop.monotonic() - (inv.started or inv.queued)) * 1000)
  outcome.request_id = inv.id
  outcome.log = inv.log
  outcome.cold = inv.cold
  return outcome
end

function Function:stop()
  self.stopping = true
  local pending = 0
  for instance in pairs(self.instances) do
    pending = pending + 1
    loop.spawn(function()
      self:stop_instance(instance)
      pending = pending - 1
      loop.notify(self.instances)
    end)
  end
  while pending > 0 do loop.wait(self.instances, 1) end
end

-- spec: one of the template model's functions. options: exe (moonrun), env (every child's base
-- environment), region, account, view, max_concurrency (the limit of a function without
-- ReservedConcurrentExecutions; default 10), on_change (called when its counts change), system
-- (for specs: fakes of httpd, process, files and peer).
function M.new(spec, options)
  local limit, reason = spec.reserved_concurrency, "ReservedFunctionConcurrentInvocationLimitExceeded"
  if limit == nil then
    limit, reason = options.max_concurrency or M.DEFAULT_MAX_CONCURRENCY, "ConcurrentInvocationLimitExceeded"
  end
  return setmetatable({
    spec = spec, name = spec.name, exe = options.exe, base_env = options.env or {},
    region = options.region, account = options.account, view = options.view,
    on_change = options.on_change, system = options.system or SYSTEM,
    limit = limit, limit_reason = reason, deps_check = options.deps_generation,
    queue = {}, instances = {}, cold_starts = 0, throttled = 0,
  }, Function)
end

return M
