-- Prints the arg table, from its lowest index up, then the values received as `...`.
local lowest = 0
while arg[lowest - 1] ~= nil do lowest = lowest - 1 end
for i = lowest, #arg do print(string.format("arg[%d]=%s", i, arg[i])) end
local n = select("#", ...)
print("n=" .. n)
for i = 1, n do print(string.format("...[%d]=%s", i, (select(i, ...)))) end
