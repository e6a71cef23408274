-- The flagship: an MLP on Fashion-MNIST (Xiao et al. 2017), 784-256-256-10 with ReLU, Adam and
-- cross entropy. PyTorch reaches about 0.89 test accuracy with this model in 10 epochs.
-- Choose on validation, report test: the epochs are validated on 5,000 images held out of the
-- 60,000 training ones (a seeded split), and the 10,000 test images are evaluated once, after the
-- last epoch (gom.fit's test =), recorded as test_loss and test_accuracy.
--   gom run experiments/fashion_mlp.lua
--   gom run experiments/fashion_mlp.lua --set lr=3e-3 --set hidden=512 --set optimizer=adamw
--   gom run experiments/fashion_mlp.lua --set fit.epochs=1 --set limit=2000   (a smoke test)
-- smoke: --set fit.epochs=1 --set limit=2000
local P = gom.params{
  hidden = 256,  -- units of each hidden layer
  dropout = 0.0, -- dropout after each hidden layer (0: none)
  limit = 0,     -- use only the first N images of each split (0: all)
  valid_fraction = 1 / 12,  -- of the training file held out for validation (5,000 of 60,000)
  dir = "/usr/share/datasets/fashion-mnist",  -- the IDX files (Debian's dataset-fashion-mnist)
  normalize = "standardize",  -- pixels minus the training mean over the std (or unit: [0, 1])
  optimizer = "adam",   -- adam, adamw, sgd, rmsprop, adagrad (experiments/league_optimizers.lua)
  lr = 1e-3,
  momentum = 0.0,       -- sgd and rmsprop only
  weight_decay = -1.0,  -- -1: the optimizer's default (adamw 0.01, the others 0)
}

local options = {lr = P.lr}
if P.weight_decay >= 0 then options.weight_decay = P.weight_decay end
if P.momentum ~= 0 then
  if P.optimizer ~= "sgd" and P.optimizer ~= "rmsprop" then
    error(string.format("momentum = %g is for sgd and rmsprop, not %s", P.momentum, P.optimizer))
  end
  options.momentum = P.momentum
end

local function fashion(split)
  return gom.dataset("idx", {dir = P.dir, split = split, valid_fraction = P.valid_fraction,
                             flatten = true, normalize = P.normalize, limit = P.limit})
end

local layers = {}
local width = 784
for _ = 1, 2 do
  layers[#layers + 1] = gom.layer("linear", {["in"] = width, out = P.hidden})
  layers[#layers + 1] = gom.layer("relu")
  if P.dropout > 0 then layers[#layers + 1] = gom.layer("dropout", {p = P.dropout}) end
  width = P.hidden
end
layers[#layers + 1] = gom.layer("linear", {["in"] = width, out = 10})
local model = gom.sequential(layers)
print(model)

local result = gom.fit{
  model = model,
  train = fashion("train"),
  valid = fashion("valid"),
  test = fashion("test"),
  loss = "cross_entropy",
  optimizer = gom.optimizer(P.optimizer, options),
  epochs = 10,
  batch_size = 128,
  valid_batch_size = 1000,
  metrics = {"accuracy"},
  callbacks = {"progress"},
}

print(string.format("validation accuracy %.4f, test accuracy %.4f after %d epochs (%.0f " ..
                    "training samples/s)", result.metrics.accuracy, result.metrics.test_accuracy,
                    result.epochs, result.metrics.samples_per_sec))
