-- A model whose checkpoint (about 0.5 MB with Adam's state) outgrows a small file-size limit
-- (run_test case filesize_limit).
local model = gom.sequential{
  gom.layer("linear", {["in"] = 2, out = 8192}), gom.layer("tanh"),
  gom.layer("linear", {["in"] = 8192, out = 2}),
}
gom.fit{
  model = model, loss = "cross_entropy", optimizer = gom.optimizer("adam", {lr = 1e-3}),
  train = gom.dataset("synthetic", {task = "xor", n = 32, seed = 1}),
  epochs = 2, batch_size = 16,
}
