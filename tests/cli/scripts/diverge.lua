-- A regression that diverges in its second epoch, for tests/cli/run_test.sh: after epoch 1 a
-- callback sets the learning rate to 1e10, and the mse loss of the linear model blows up.
local train = gom.dataset("synthetic", {task = "quadratic", n = 64, a = 1, b = 2, c = 3, seed = 1})

gom.fit{
  model = gom.sequential{gom.layer("linear", {["in"] = 1, out = 1})},
  train = train,
  loss = "mse",
  optimizer = gom.optimizer("sgd", {lr = 0.01}),
  epochs = 5,
  batch_size = 8,
  shuffle = false,
  callbacks = {{after_epoch = function(state) state.lr = 1e10 end}},
}
