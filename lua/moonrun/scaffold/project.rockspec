-- {{name}}'s dependencies: rocks listed here are what its handlers may require besides moonrun's
-- modules (installed into lua_modules/, packaged with the functions).
rockspec_format = "3.0"
package = "{{name}}"
version = "dev-1"
source = {url = "."}
description = {summary = "{{name}}: Lua handlers on AWS Lambda with moonrun"}
dependencies = {
  "lua >= 5.4",
}
build = {type = "none"}
