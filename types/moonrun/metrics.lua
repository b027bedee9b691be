---@meta moonrun.metrics
-- CloudWatch metrics as Embedded Metric Format records, written at the end of each invocation.
local metrics = {}

---@param name string
---@param value number
---@param unit? string one of EMF's units (Count, Milliseconds, ...); default None
---@param resolution? 1|60
function metrics.put(name, value, unit, resolution) end

---@param dimensions table<string, string>|nil
function metrics.set_dimensions(dimensions) end

---@param namespace string
function metrics.set_namespace(namespace) end

---A member of the next record that is not a metric (nil removes it).
---@param name string
---@param value any
function metrics.set_property(name, value) end

---Writes what was put since the last flush; returns the number of records written.
---@return integer
function metrics.flush() end

return metrics
