-- A fit whose every source of randomness matters (shuffling, dropout, Adam's state, a schedule)
-- and that checkpoints each epoch: killed and resumed, it must end exactly as an uninterrupted
-- run. Writes its final weights to its run folder (final.safetensors).
local P = gom.params{epochs = 8, n = 2048}
local train = gom.dataset("synthetic", {task = "spirals", n = P.n, classes = 3, seed = 1})
local valid = gom.dataset("synthetic", {task = "spirals", n = 512, classes = 3, seed = 2})
local model = gom.sequential{
  gom.layer("linear", {["in"] = 2, out = 64}), gom.layer("relu"), gom.layer("dropout", {p = 0.2}),
  gom.layer("linear", {["in"] = 64, out = 64}), gom.layer("relu"), gom.layer("dropout", {p = 0.2}),
  gom.layer("linear", {["in"] = 64, out = 3}),
}
gom.fit{
  model = model, train = train, valid = valid, loss = "cross_entropy",
  optimizer = gom.optimizer("adam", {lr = 3e-3}),
  epochs = P.epochs, batch_size = 16,
  metrics = {"accuracy"},
  callbacks = {gom.callback("step", {step_size = 3, gamma = 0.5}), "checkpoint"},
}
gom.save(gom.run.dir .. "/final.safetensors", model)
