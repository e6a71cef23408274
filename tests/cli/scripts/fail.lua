-- Scripts that fail in different places, for tests/cli/run_test.sh; the first script argument
-- says where (boom, matmul, callback). The test finds the expected line numbers by the markers.
local mode = arg[1] or "boom"

local function xor(n, seed)
  return gom.dataset("synthetic", {task = "xor", n = n, seed = seed})
end
local function model()
  return gom.sequential{
    gom.layer("linear", {["in"] = 2, out = 4}),
    gom.layer("tanh"),
    gom.layer("linear", {["in"] = 4, out = 2}),
  }
end

if mode == "boom" then
  gom.fit{model = model(), train = xor(64, 1), loss = "cross_entropy", optimizer = "sgd",
          epochs = 2, batch_size = 16}
  error("boom")  -- marker:boom
elseif mode == "matmul" then
  local a = gom.zeros({2, 3})
  local b = gom.zeros({2, 3})
  local c = gom.matmul(a, b)  -- marker:matmul
  print(c)
elseif mode == "callback" then
  gom.fit{  -- marker:callback_fit
    model = model(), train = xor(64, 1), loss = "cross_entropy", optimizer = "sgd",
    epochs = 3, batch_size = 16,
    callbacks = {{
      name = "failing",
      after_epoch = function(state)
        if state.epoch == 2 then error("cb") end  -- marker:cb_error
      end,
    }},
  }
else
  error("fail.lua: unknown mode " .. mode)
end
