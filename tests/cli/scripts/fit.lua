-- A small fit on synthetic XOR for tests/cli/run_test.sh: 3 epochs of 4 batches, with validation
-- and accuracy. Its knobs make it long (sigint) or short.
local P = gom.params{
  lr = 0.1,     -- SGD learning rate
  hidden = 4,   -- units of the hidden layer
  n = 64,       -- training examples
}

local train = gom.dataset("synthetic", {task = "xor", n = P.n, seed = 1})
local valid = gom.dataset("synthetic", {task = "xor", n = 32, seed = 2})

local model = gom.sequential{
  gom.layer("linear", {["in"] = 2, out = P.hidden}),
  gom.layer("tanh"),
  gom.layer("linear", {["in"] = P.hidden, out = 2}),
}

local result = gom.fit{
  model = model,
  train = train,
  valid = valid,
  loss = "cross_entropy",
  optimizer = gom.optimizer("sgd", {lr = P.lr}),
  epochs = 3,
  batch_size = 16,
  metrics = {"accuracy"},
}

print(string.format("fit.lua: %d epochs, accuracy %.3f", result.epochs, result.metrics.accuracy))
-- A failure after the fit (the run_test case resume_after_fit), chosen from outside the record.
if os.getenv("GOM_TEST_FAIL_AFTER_FIT") then error("failing after the fit, as asked") end
