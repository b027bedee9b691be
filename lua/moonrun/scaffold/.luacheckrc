-- luacheck for the handlers (src/) and their busted specs (spec/): Lua 5.4, nothing global but
-- what Lua defines; specs also get busted's functions.
std = "lua54"
max_line_length = 120
exclude_files = {"lua_modules/", ".moonrun/", "dist/"}
files["spec/"] = {std = "+busted"}
