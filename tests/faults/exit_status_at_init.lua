-- Fixture for tests/test_faults.py and tests/test_concurrency.py: os.exit while the module
-- loads, with the status FAULT_EXIT_STATUS gives.
os.exit(math.tointeger(tonumber(os.getenv("FAULT_EXIT_STATUS"))))
return {handler = function() end}
