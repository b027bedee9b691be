-- luacheck's settings for moonrun's own Lua (tests/lint.sh runs luacheck from here on the
-- folders of include_files). The scaffold of `moonrun init` has its own .luacheckrc, for users'
-- projects; this one is the repository's.
std = "lua54"

-- What is checked: moonrun's library, the example handlers, the benchmarks' scripts and the busted
-- specs. The other Lua under tests/ is fixtures that are wrong on purpose (syntax errors, handlers
-- defined as globals, busted specs that fail) or take arguments only to show a handler's shape;
-- types/ is LuaLS definitions, functions whose bodies are empty on purpose.
include_files = {"lua/**/*.lua", "handlers/**/*.lua", "bench/**/*.lua", "tests/lua/**/*.lua"}
exclude_files = {"build*/**", "bench/build/**", "**/.moonrun/**"}

-- Comments wrap at 100 columns, some at 110; code lines run longer to keep a message that a user
-- meets whole on one line, where grep finds it.
max_comment_line_length = 110
max_line_length = 160

-- A method keeps the colon form (callers write obj:method()) when it has no use for self.
self = false

-- The busted specs: busted's functions. Their lines hold whole templates and the exact messages
-- expected of them, so a failing assertion is found by searching for its text: no length limit.
files["tests/lua/"] = {std = "+busted", max_line_length = false}
files["lua/moonrun/scaffold/spec/"] = {std = "+busted"}
