-- CloudWatch metrics as Embedded Metric Format (EMF) records on stdout: CloudWatch Logs turns
-- them into metrics, so a function is monitored without any API call. Values are kept until the
-- end of the invocation and written then, one record for all of them.
--
--   local metrics = require "moonrun.metrics"
--   metrics.set_namespace("Shop")
--   metrics.set_dimensions{Service = "orders"}
--   function M.handler(event)
--     metrics.put("OrdersPlaced", #event.orders, "Count")
--     metrics.set_property("CustomerId", event.customer)
--   end
local json = require "moonrun.json"
local log = require "moonrun.log"
local invocation = require "moonrun.invocation"
local time = require "moonrun.time"

local M = {}

-- EMF's limits: beyond them CloudWatch drops the record or the metric.
local MAX_METRICS, MAX_VALUES, MAX_DIMENSIONS = 100, 100, 30

local UNITS = {}
for unit in ([[Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes
  Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second
  Megabytes/Second Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second
  Megabits/Second Gigabits/Second Terabits/Second Count/Second None]]):gmatch("%S+") do
  UNITS[unit] = true
end
local UNIT_LIST = "Seconds, Microseconds, Milliseconds, Bytes, Kilobytes, Megabytes, Gigabytes, "
  .. "Terabytes, Bits, Kilobits, Megabits, Gigabits, Terabits, Percent, Count, Bytes/Second, "
  .. "Kilobytes/Second, Megabytes/Second, Gigabytes/Second, Terabytes/Second, Bits/Second, "
  .. "Kilobits/Second, Megabits/Second, Gigabits/Second, Terabits/Second, Count/Second, None"

local namespace = "moonrun"
local dimensions, dimension_names = {}, {} -- kept across invocations
local names, definitions, values = {}, {}, {} -- until the next flush
local properties = {}

local function fail(message, ...)
  error("metrics: " .. string.format(message, ...), 3)
end

local function check_name(kind, name)
  if type(name) ~= "string" or #name == 0 or #name > 255 then
    fail("a %s name must be a string of 1 to 255 characters, got %s", kind,
      type(name) == "string" and string.format("%q", name) or type(name))
  end
  if name == "_aws" then fail("'_aws' is EMF's own member and cannot be a %s name", kind) end
end

-- Metrics, dimensions and properties are all members of the record, so they share one set of
-- names: a clash would write one value over another.
local function check_free(kind, name)
  if kind ~= "metric" and definitions[name] then fail("'%s' is already a metric", name) end
  if kind ~= "dimension" and dimensions[name] ~= nil then fail("'%s' is already a dimension", name) end
  if kind ~= "property" and properties[name] ~= nil then fail("'%s' is already a property", name) end
end

--- The namespace the metrics go to (default "moonrun"): CloudWatch's rules (1 to 255 of
--- letters, digits and . - _ / # : space, not beginning with AWS/).
function M.set_namespace(name)
  if type(name) ~= "string" or #name == 0 or #name > 255 or not name:match("^[%w%.%-_/#: ]+$")
    or name:sub(1, 4) == "AWS/" then
    fail("the namespace must be 1 to 255 letters, digits or . - _ / # : and spaces, not beginning "
      .. "with AWS/, got %s", type(name) == "string" and string.format("%q", name) or type(name))
  end
  namespace = name
end

--- The dimensions every record carries, {Name = "value", ...} (at most 30), replacing those set
--- before; nil or {} for none. They stay until changed.
function M.set_dimensions(set)
  if set == nil then set = {} end
  if type(set) ~= "table" then fail("set_dimensions wants a table of name = value, got %s", type(set)) end
  local new_names = {}
  for name, value in pairs(set) do
    check_name("dimension", name)
    if type(value) ~= "string" then
      fail("dimension '%s' must have a string value, got %s", name, type(value))
    end
    if definitions[name] then fail("'%s' is already a metric", name) end
    if properties[name] ~= nil then fail("'%s' is already a property", name) end
    new_names[#new_names + 1] = name
  end
  if #new_names > MAX_DIMENSIONS then
    fail("%d dimensions given; EMF allows at most %d", #new_names, MAX_DIMENSIONS)
  end
  table.sort(new_names)
  dimensions, dimension_names = {}, new_names
  for name, value in pairs(set) do dimensions[name] = value end
end

--- Adds a value to a metric: put("Latency", 12.5, "Milliseconds"). unit defaults to "None";
--- resolution is 60 (standard, the default) or 1 (high resolution). A metric put again in the
--- same invocation gets several values.
function M.put(name, value, unit, resolution)
  check_name("metric", name)
  check_free("metric", name)
  if math.type(value) == nil or value ~= value or value == math.huge or value == -math.huge then
    fail("the value of '%s' must be a finite number, got %s", name, tostring(value))
  end
  unit = unit or "None"
  if not UNITS[unit] then
    fail("unknown unit '%s' for '%s' (EMF's units: %s)", tostring(unit), name, UNIT_LIST)
  end
  if resolution ~= nil and resolution ~= 1 and resolution ~= 60 then
    fail("the resolution of '%s' must be 1 or 60 (seconds), got %s", name, tostring(resolution))
  end
  resolution = resolution or 60
  local definition = definitions[name]
  if not definition then
    definitions[name] = {unit = unit, resolution = resolution}
    names[#names + 1], values[name] = name, {}
  elseif definition.unit ~= unit or definition.resolution ~= resolution then
    fail("'%s' was put with unit %s and resolution %d, now %s and %d", name, definition.unit,
      definition.resolution, unit, resolution)
  end
  local list = values[name]
  list[#list + 1] = value
end

--- A member of the record that is not a metric (a request id, an order id): any value JSON can
--- hold; nil removes it. Properties go with the next record and are then forgotten.
function M.set_property(name, value)
  check_name("property", name)
  check_free("property", name)
  if value ~= nil then
    local ok, err = pcall(json.encode, value)
    if not ok then fail("property '%s': %s", name, tostring(err):gsub(" at value", " at " .. name, 1)) end
  end
  properties[name] = value
end

local function record(chunk, first_value)
  local directive = {Namespace = namespace, Dimensions = json.array{json.array{table.unpack(dimension_names)}},
    Metrics = json.array{}}
  local out = {_aws = {CloudWatchMetrics = json.array{directive}}}
  for _, name in ipairs(dimension_names) do out[name] = dimensions[name] end
  for name, value in pairs(properties) do out[name] = value end
  for _, name in ipairs(chunk) do
    local list, definition = values[name], definitions[name]
    local last = math.min(#list, first_value + MAX_VALUES - 1)
    if first_value <= last then
      local metric = {Name = name, Unit = definition.unit}
      if definition.resolution == 1 then metric.StorageResolution = 1 end
      directive.Metrics[#directive.Metrics + 1] = metric
      if first_value == last then
        out[name] = list[first_value]
      else
        out[name] = json.array{table.unpack(list, first_value, last)}
      end
    end
  end
  return out
end

--- Writes what was put since the last flush (nothing if no metric was put) and forgets it.
--- Runs by itself at the end of every invocation. More than 100 metrics, or more than 100 values
--- of one metric, are split over several records (EMF's limits). Returns the records written.
function M.flush()
  local count = 0
  if #names > 0 then
    local timestamp = time.now_ms()
    for start = 1, #names, MAX_METRICS do
      local chunk = {table.unpack(names, start, math.min(#names, start + MAX_METRICS - 1))}
      local most = 0
      for _, name in ipairs(chunk) do most = math.max(most, #values[name]) end
      for first_value = 1, most, MAX_VALUES do
        local out = record(chunk, first_value)
        out._aws.Timestamp = timestamp
        log.raw(json.encode(out))
        count = count + 1
      end
    end
  end
  names, definitions, values, properties = {}, {}, {}, {}
  return count
end

invocation.on_finish(M.flush)

return M
