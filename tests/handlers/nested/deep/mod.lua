-- Loaded as _HANDLER=nested/deep/mod.run
return {
  run = function(event, context)
    return "nested:" .. tostring(event.x)
  end,
}
