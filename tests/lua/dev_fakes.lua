-- Fakes of what moonrun dev's functions reach on the machine (httpd, process, files, peer, as
-- moonrun.dev.functions takes them in options.system), and a runner for dev's scheduler, for
-- the specs of functions and front. A fake child is a task of the loop that plays the moonrun
-- runtime: it asks the instance's Runtime API for events (GET /next) and answers as the spec's
-- behaviour says (a result, an error, an exit, a hang, a stream). Real time: keep waits short.
local loop = require "moonrun.dev.loop"
local time = require "moonrun.time"

local M = {}

M.NEXT = "/2018-06-01/runtime/invocation/next"

-- Runs body as a task of the loop until it returns; returns its results, or raises its error
-- (a failed assertion fails the spec). A spec that never ends fails after max_s seconds.
function M.run(body, max_s)
  local results
  loop.spawn(function()
    loop.sleep(0)
    results = table.pack(pcall(body))
    loop.stop()
  end)
  local started = time.monotonic()
  local ended = loop.run(function(timeout)
    if time.monotonic() - started > (max_s or 20) then error("the spec ran too long: a task never ended", 0) end
    time.sleep(math.min(timeout, 0.002))
    return true
  end)
  assert(ended == "stopped", ended)
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

-- Runs each function as a task and waits for all of them; returns their first results, in order.
function M.together(...)
  local bodies, results, left = {...}, {}, select("#", ...)
  local done = {}
  for i, body in ipairs(bodies) do
    loop.spawn(function()
      local ok, value = pcall(body)
      results[i] = ok and value or {spec_error = value}
      left = left - 1
      loop.notify(done)
    end)
  end
  while left > 0 do loop.wait(done, 1) end
  for _, value in ipairs(results) do
    if type(value) == "table" and value.spec_error then error(value.spec_error, 0) end
  end
  return results
end

local System = {}
System.__index = System

--- A fake system. h.behaviour(event_text, headers, child) returns what the child does with an
--- event: {response = text} (the default echoes the event), {error = text, type = T},
--- {exit = code}, {hang = true}, {stream = text, content_type = ..., trailers = {...}}; with
--- print = {lines} written first and sleep = seconds before the answer. h.init(child), when
--- set, runs before the first GET /next: {error = text} posts an init error and exits 1.
--- h.ignore_term: children outlive SIGTERM. h.drop_responses: how many of the next answers
--- to a child find it gone (httpd.respond answers false).
function M.system()
  local h = setmetatable({servers = {}, children = {}, sockets = {}, stamps = {}, kills = {}, answers = {},
                          drop_responses = 0, next_port = 41000, next_pid = 500, next_id = 0}, System)
  h.behaviour = function(event) return {response = event} end
  local pending = {}
  h.pending = pending
  h.httpd = {
    listen = function(config)
      h.next_port = h.next_port + 1
      local port = h.next_port
      local server = {config = config, closed = false}
      h.servers[port] = server
      return {port = function() return port end, close = function() server.closed = true end}
    end,
    respond = function(id, status, headers, body)
      local req = pending[id]
      assert(req, "respond to a request that was never made: " .. tostring(id))
      assert(not req.answer, "a second answer to request " .. tostring(id))
      pending[id] = nil
      if h.drop_responses > 0 then
        h.drop_responses = h.drop_responses - 1
        req.dropped = true
        loop.notify(req)
        return false
      end
      req.answer = {status = status, headers = headers, body = body}
      h.answers[#h.answers + 1] = {path = req.path, status = status, body = body}
      loop.notify(req)
      return true
    end,
  }
  h.process = {
    spawn = function(config)
      h.next_pid = h.next_pid + 1
      local child = {pid = h.next_pid, argv = config.argv, env = config.env, cwd = config.cwd,
                     on_output = config.on_output, on_exit = config.on_exit, received = {},
                     port = tonumber(config.env.AWS_LAMBDA_RUNTIME_API:match(":(%d+)$"))}
      child.remote_port = 50000 + child.pid
      h.sockets[child.remote_port] = child
      h.children[#h.children + 1] = child
      loop.spawn(h.run_child, h, child)
      return {
        pid = function() return child.pid end,
        kill = function(_, signal)
          signal = signal or "TERM"
          h.kills[#h.kills + 1] = {pid = child.pid, signal = signal}
          if child.exited or (signal == "TERM" and h.ignore_term) then return end
          child.dead = true
          loop.spawn(function()
            loop.sleep(0) -- the exit arrives later, as SIGCHLD does
            h:exit(child, nil, signal)
          end)
        end,
      }
    end,
  }
  h.files = {stamp = function(dir) return h.stamps[dir] or "stamp-0" end}
  h.peer = {
    socket_inode = function(remote_port, port)
      local child = h.sockets[remote_port]
      if child and child.port == port then return "inode-" .. remote_port end
    end,
    group_holds = function(pid, inode)
      local child = h.sockets[tonumber(inode:match("^inode%-(%d+)$"))]
      return child ~= nil and child.pid == pid
    end,
  }
  return h
end

function System.exit(_, child, code, signal)
  if child.exited then return end
  child.dead, child.exited = true, true
  child.on_exit(code, signal)
end

--- A request from child (or from a stranger: {remote_port = ..., port = ...}) to its Runtime
--- API, as httpd hands it over: the body sink first (a POST's body goes to it in two pieces),
--- then the handler. Returns the answer {status, headers, body}, or nil when the server has
--- closed, the child died waiting, or the answer found the client gone.
function System:request(child, method, path, body, headers, trailers)
  local server = self.servers[child.port]
  if not server or server.closed then return nil end
  self.next_id = self.next_id + 1
  local req = {id = self.next_id, method = method, path = path, body = body or "", headers = headers or {},
               trailers = trailers or {}, remote_port = child.remote_port}
  self.pending[req.id] = req
  local sink = server.config.body_sink and server.config.body_sink(req)
  if sink then
    local half = #req.body // 2
    sink(req.body:sub(1, half))
    sink(req.body:sub(half + 1))
    req.body = ""
  end
  server.config.handler(req)
  while not req.answer and not req.dropped and not child.dead do loop.wait(req, 0.05) end
  return req.answer
end

local RUNTIME = "/2018-06-01/runtime"

-- The fake child: what moonrun's runtime loop does against the Runtime API.
function System.run_child(h, child)
  loop.sleep(0) -- a process connects after its spawn has returned
  local init = h.init and h.init(child)
  if init and init.error then
    h:request(child, "POST", RUNTIME .. "/init/error", init.error, {["lambda-runtime-function-error-type"] = "Init"})
    h:exit(child, 1)
    return
  end
  while not child.dead do
    local answer = h:request(child, "GET", M.NEXT)
    if answer and answer.status ~= 200 then
      child.refused = answer
      return
    end
    if answer then
      local id = answer.headers["lambda-runtime-aws-request-id"]
      child.received[#child.received + 1] = {event = answer.body, headers = answer.headers}
      local action = h.behaviour(answer.body, answer.headers, child) or {}
      for _, line in ipairs(action.print or {}) do child.on_output("stdout", line) end
      if action.sleep then loop.sleep(action.sleep) end
      if child.dead then return end
      local base = RUNTIME .. "/invocation/" .. id
      if action.exit then
        h:exit(child, action.exit)
        return
      elseif action.hang then
        while not child.dead do loop.wait(child, 0.05) end
        return
      elseif action.error then
        child.posted = h:request(child, "POST", base .. "/error", action.error,
                                 {["lambda-runtime-function-error-type"] = action.type})
      elseif action.stream then
        child.posted = h:request(child, "POST", base .. "/response", action.stream,
          {["lambda-runtime-function-response-mode"] = "streaming", ["content-type"] = action.content_type},
          action.trailers)
      else
        child.posted = h:request(child, "POST", base .. "/response", action.response)
      end
    end
  end
end

--- A view that records: notes, warnings, and each output line as {name, line}.
function M.view()
  local v = {notes = {}, warnings = {}, lines = {}, invocations = {}}
  v.note = function(text) v.notes[#v.notes + 1] = text end
  v.warn = function(text) v.warnings[#v.warnings + 1] = text end
  v.output = function(name, line) v.lines[#v.lines + 1] = {name, line} end
  v.invocation = function(entry) v.invocations[#v.invocations + 1] = entry end
  return v
end

return M
