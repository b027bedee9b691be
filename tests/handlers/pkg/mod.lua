-- Loaded as _HANDLER=pkg.mod.handler; uses require for a sibling module.
local util = require("pkg.util")
local shared = require("lib.shared")

local M = {}

function M.handler(event, context)
  return {
    doubled = util.double(event.n),
    shared = shared.name,
    registered = package.loaded["pkg.mod"] == M,
  }
end

return M
