---@meta moonrun.peer
local peer = {}

---The inode of the client's end of an established loopback connection, or nil.
---@param client_port integer
---@param server_port integer
---@return integer|nil
function peer.socket_inode(client_port, server_port) end

---Whether a process of the process group pgid has the socket inode open.
---@param pgid integer
---@param inode integer
---@return boolean
function peer.group_holds(pgid, inode) end

return peer
