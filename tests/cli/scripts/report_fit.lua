-- A small fit on synthetic XOR for tests/cli/report_test.sh: 3 epochs with validation (32
-- samples), accuracy and a confusion matrix (a run record), and an lr to tell two runs apart.
local P = gom.params{lr = 0.1, hidden = 4}

local train = gom.dataset("synthetic", {task = "xor", n = 64, seed = 1})
local valid = gom.dataset("synthetic", {task = "xor", n = 32, seed = 2})

gom.fit{
  model = gom.sequential{
    gom.layer("linear", {["in"] = 2, out = P.hidden}),
    gom.layer("tanh"),
    gom.layer("linear", {["in"] = P.hidden, out = 2}),
  },
  train = train,
  valid = valid,
  loss = "cross_entropy",
  optimizer = gom.optimizer("sgd", {lr = P.lr}),
  epochs = 3,
  batch_size = 16,
  metrics = {"accuracy", "confusion_matrix"},
}
