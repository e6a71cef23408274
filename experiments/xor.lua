-- Minsky and Papert's XOR: no single linear layer separates it; one hidden layer does.
--   gom run experiments/xor.lua [--set hidden=8] [--set fit.epochs=50]
-- smoke: --set fit.epochs=2 --set n=128
local P = gom.params{
  hidden = 8,     -- units of the hidden layer
  lr = 0.1,       -- SGD learning rate
  momentum = 0.9,
  n = 512,        -- noisy points around the four corners
}

local data = gom.dataset("synthetic", {task = "xor", n = P.n, noise = 0.1, seed = 1})
local valid = gom.dataset("synthetic", {task = "xor", n = 256, noise = 0.1, seed = 2})

local model = gom.sequential{
  gom.layer("linear", {["in"] = 2, out = P.hidden}),
  gom.layer("tanh"),
  gom.layer("linear", {["in"] = P.hidden, out = 2}),
}

local result = gom.fit{
  model = model,
  train = data,
  valid = valid,
  loss = gom.layer("cross_entropy"),
  optimizer = gom.optimizer("sgd", {lr = P.lr, momentum = P.momentum}),
  epochs = 30,
  batch_size = 32,
  metrics = {"accuracy"},
  callbacks = {gom.callback("progress", {mode = "lines"})},
}

print(string.format("XOR: accuracy %.3f after %d epochs", result.metrics.accuracy, result.epochs))
