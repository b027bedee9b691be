local M = {}

error("module init exploded")

return M
