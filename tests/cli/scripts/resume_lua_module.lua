-- resume.lua with the model written as Lua modules (gom.module): a Lua module holding built-in
-- children, dropout (randomness in its forward), a parameter of its own and a nested Lua module.
-- Killed and resumed, it must end exactly as an uninterrupted run (final.safetensors).
local P = gom.params{epochs = 8, n = 2048}
local train = gom.dataset("synthetic", {task = "spirals", n = P.n, classes = 3, seed = 1})
local valid = gom.dataset("synthetic", {task = "spirals", n = 512, classes = 3, seed = 2})
local Block = gom.module{
  name = "block",
  init = function(self, o)
    self.lin = gom.layer("linear", {["in"] = o.i, out = o.o})
    self.drop = gom.layer("dropout", {p = 0.2})
  end,
  forward = function(self, x) return self.drop(self.lin(x):relu()) end,
}
local Net = gom.module{
  name = "spiral_net",
  init = function(self, o)
    self.blocks = {Block{i = 2, o = o.hidden}, Block{i = o.hidden, o = o.hidden}}
    self.head = gom.layer("linear", {["in"] = o.hidden, out = 3})
    self:parameter("scale", gom.ones({1}))
  end,
  forward = function(self, x)
    for _, b in ipairs(self.blocks) do x = b(x) end
    return self.head(x) * self.scale
  end,
}
local model = Net{hidden = 64}
gom.fit{
  model = model, train = train, valid = valid, loss = "cross_entropy",
  optimizer = gom.optimizer("adam", {lr = 3e-3}),
  epochs = P.epochs, batch_size = 16,
  metrics = {"accuracy"},
  callbacks = {gom.callback("step", {step_size = 3, gamma = 0.5}), "checkpoint"},
}
gom.save(gom.run.dir .. "/final.safetensors", model)
