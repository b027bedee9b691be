-- The returned table lacks the function, so the global one is used.
function fallback(event, context)
  return "global fallback"
end

return { other = function() return "wrong" end }
