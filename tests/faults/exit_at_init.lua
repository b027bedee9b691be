-- Fixture for tests/test_faults.py: os.exit while the module loads.
os.exit(4)
return {handler = function() end}
