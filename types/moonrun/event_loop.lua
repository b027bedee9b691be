---@meta moonrun.event_loop
-- The one wait of moonrun dev: its HTTP servers (moonrun.httpd), its child processes
-- (moonrun.process) and the signals SIGINT, SIGTERM and SIGCHLD.
local event_loop = {}

---Waits up to timeout_s for the servers and the children, then runs their callbacks for what
---is ready; false when SIGINT or SIGTERM arrived (once per signal).
---@param timeout_s number
---@return boolean
function event_loop.poll(timeout_s) end

return event_loop
