-- Transfer learning, end to end on Fashion-MNIST: pretrain an MLP on five classes (T-shirt,
-- trouser, pullover, dress, coat), save its body as safetensors, load it by parameter name into a
-- new model for the other five (sandal, shirt, sneaker, bag, ankle boot), train the new head with
-- the body frozen, then unfreeze and fine-tune with discriminative learning rates (a small one
-- for the body, a larger one for the head) — fastai's fine_tune.
--   gom run experiments/transfer.lua [--set body_lr=3e-5] [--set limit=5000]
-- smoke: --set pretrain_epochs=1 --set finetune_epochs=1 --set limit=1000
local P = gom.params{
  hidden = 256,
  pretrain_epochs = 3,  -- on classes 0-4
  head_epochs = 1,      -- on classes 5-9, body frozen
  finetune_epochs = 2,  -- on classes 5-9, everything trained
  lr = 1e-3,            -- Adam, and the head's lr when fine-tuning
  body_lr = 1e-4,       -- the body's lr when fine-tuning
  limit = 0,            -- only the first N images of each split (0: all)
}

local function fashion(split, classes)
  return gom.dataset("idx", {split = split, valid_fraction = 0, flatten = true,
                             normalize = "standardize", select = classes, limit = P.limit})
end
local function mlp_body()
  return gom.sequential{
    gom.layer("linear", {["in"] = 784, out = P.hidden}), gom.layer("relu"),
    gom.layer("linear", {["in"] = P.hidden, out = P.hidden}), gom.layer("relu"),
  }
end
local A, B = {0, 1, 2, 3, 4}, {5, 6, 7, 8, 9}
local common = {loss = "cross_entropy", batch_size = 128, valid_batch_size = 1000,
                metrics = {"accuracy"}, callbacks = {"progress"}}
local function fit(args)
  for k, v in pairs(common) do args[k] = args[k] or v end
  return gom.fit(args)
end

-- 1. Pretrain on task A and keep the body's weights.
local body_a = mlp_body()
local pre = fit{model = gom.sequential{body_a, gom.layer("linear", {["in"] = P.hidden, out = 5})},
                train = fashion("train", A), valid = fashion("test", A),
                optimizer = gom.optimizer("adam", {lr = P.lr}), epochs = P.pretrain_epochs}
local weights = gom.run.dir .. "/body_a.safetensors"
gom.save(weights, body_a, {task = "fashion classes 0-4"})

-- 2. A new model for task B: the body loaded by name from the file, a fresh head.
local body = mlp_body()
local report = body:load_state_dict(weights)
assert(#report.missing == 0 and #report.unexpected == 0 and #report.mismatched == 0)
local head = gom.layer("linear", {["in"] = P.hidden, out = 5})
local model = gom.sequential{body, head}
local train_b, test_b = fashion("train", B), fashion("test", B)

body:freeze()  -- 3. the head alone learns task B on the pretrained features
local frozen = fit{model = model, train = train_b, valid = test_b,
                   optimizer = gom.optimizer("adam", head, {lr = P.lr}), epochs = P.head_epochs}

body:unfreeze()  -- 4. everything, the body at a tenth of the head's lr
local tuned = fit{model = model, train = train_b, valid = test_b,
                  optimizer = gom.optimizer("adam", {{params = body, lr = P.body_lr}, {params = head}},
                                            {lr = P.lr}),
                  epochs = P.finetune_epochs}

print(string.format("task A accuracy %.4f; task B: head only %.4f, fine-tuned %.4f",
                    pre.metrics.accuracy, frozen.metrics.accuracy, tuned.metrics.accuracy))
