---@meta moonrun.invocation
local invocation = {}

---The context of the invocation being served, or nil between invocations.
---@return LambdaContext|nil
function invocation.current() end

---fn() runs at the end of every invocation, before the result is posted.
---@param fn fun()
function invocation.on_finish(fn) end

return invocation
