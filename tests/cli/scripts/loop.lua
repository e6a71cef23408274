-- Loops that only an interrupt ends, for the sigint_loops case of tests/cli/run_test.sh:
--   gom run loop.lua -- callback|pcall|coroutine
-- Each prints "looping" once it spins.
local where = arg[1]

local function spin()
  print("looping")
  io.stdout:flush()
  while true do end
end

if where == "callback" then  -- inside a Lua callback of gom.fit
  gom.fit{
    model = gom.layer("linear", {["in"] = 2, out = 2}),
    train = gom.dataset("synthetic", {task = "xor", n = 64}),
    loss = "cross_entropy",
    optimizer = "sgd",
    epochs = 3,
    batch_size = 8,
    callbacks = {{after_batch = function(s) if s.batch == 2 then spin() end end}},
  }
elseif where == "pcall" then  -- a caught error must not end the interrupt
  while true do pcall(spin) end
elseif where == "coroutine" then
  coroutine.resume(coroutine.create(spin))
else
  error("loop.lua: give callback, pcall or coroutine after --")
end
