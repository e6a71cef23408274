-- Data-parallel training against one process: spirals, an MLP, SGD (momentum) or Adam, a few
-- epochs. 330 training examples at batch 32 end in a batch of 10 (uneven shares over 4 ranks);
-- 98 validation examples at 32 end in a batch of 2 (ranks 2 and 3 get none of it). Every rank
-- saves its final weights beside the run's checkpoint: rank 0's must equal one process's, and
-- every rank's rank 0's. With dropout > 0 (the resume test) each rank draws its own masks.
local P = gom.params{optimizer = "sgd", lr = 0.05, batch = 32, epochs = 3, n = 330, hidden = 32,
                     dropout = 0.0}
local train = gom.dataset("synthetic", {task = "spirals", n = P.n, classes = 3, seed = 1})
local valid = gom.dataset("synthetic", {task = "spirals", n = 98, classes = 3, seed = 2})
local model = gom.sequential{gom.layer("linear", {["in"] = 2, out = P.hidden}), gom.layer("relu")}
if P.dropout > 0 then model:add(gom.layer("dropout", {p = P.dropout})) end
model:add(gom.layer("linear", {["in"] = P.hidden, out = P.hidden})):add(gom.layer("relu"))
model:add(gom.layer("linear", {["in"] = P.hidden, out = 3}))
local options = P.optimizer == "sgd" and {lr = P.lr, momentum = 0.9} or {lr = P.lr}
local result = gom.fit{
  model = model, train = train, valid = valid, loss = "cross_entropy",
  optimizer = gom.optimizer(P.optimizer, options),
  epochs = P.epochs, batch_size = P.batch,
  metrics = {"accuracy", gom.callback("f1", {average = "weighted"})},
}
gom.save(gom.run.dir .. "/final-rank" .. gom.rank() .. ".safetensors", model)
if gom.rank() == 0 then
  print(string.format("world %d: accuracy %.6f", gom.world_size(), result.metrics.accuracy))
end
