-- The handler is a global function; the chunk returns nothing.
function handle(event, context)
  return { from = "global", got = event }
end
