local U = {}

function U.double(n)
  return n * 2
end

return U
