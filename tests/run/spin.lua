-- Loops until interrupted; says when it has started so the test knows when to send SIGINT.
io.write("spinning\n")
io.stdout:flush()
while true do end
