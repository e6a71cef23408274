-- Fails on rank 1 only: after the fit (rank 0 then waits at the script's end), or inside it (a
-- callback at the 3rd training batch: rank 0 waits in the gradients' all-reduce).
local P = gom.params{where = "after_fit"}
local model = gom.sequential{gom.layer("linear", {["in"] = 2, out = 8}), gom.layer("relu"),
                             gom.layer("linear", {["in"] = 8, out = 2})}
gom.fit{
  model = model, loss = "cross_entropy", optimizer = gom.optimizer("sgd", {lr = 0.1}),
  train = gom.dataset("synthetic", {task = "xor", n = 256, seed = 1}),
  epochs = 2, batch_size = 32,
  callbacks = {{after_batch = function(s)
    if P.where == "in_fit" and gom.rank() == 1 and s.epoch == 2 and s.batch == 3 then
      error("boom in the fit on rank " .. gom.rank())
    end
  end}},
}
if P.where == "after_fit" and gom.rank() == 1 then error("boom after the fit on rank 1") end
print("rank " .. gom.rank() .. " done")
