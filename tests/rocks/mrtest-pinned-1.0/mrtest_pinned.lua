-- mrtest-pinned: needs mrtest-pure before 2.0, so a project also asking for 2.0 conflicts.
local pure = require "mrtest_pure"

return {pure_version = pure.version}
