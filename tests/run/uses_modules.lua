-- Requires a module from LAMBDA_TASK_ROOT and moonrun's own C module.
local greeting = require "lib.greeting"
local json = require "moonrun.json"
print(greeting.hello("run"))
print(json.encode(json.decode('{"n":9007199254740993}')))
