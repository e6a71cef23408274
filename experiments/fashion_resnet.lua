-- A small ResNet (He et al. 2016) on Fashion-MNIST, built as fastai's book builds one in
-- chapter 14: a stem convolution, then residual blocks, each x + conv-bn-relu-conv-bn(x) followed
-- by ReLU, with a 1x1 convolution (and batch norm) on the shortcut where a block halves the
-- image or changes the channels; then global average pooling and a linear head.
-- What it shows: the `residual` container with and without a projection shortcut, adaptive
-- average pooling, and a deeper net training as easily as a shallow one (about 0.91-0.93 test
-- accuracy in 3 epochs).
--   gom run experiments/fashion_resnet.lua
--   gom run experiments/fashion_resnet.lua --set blocks=2 --set fit.epochs=5
-- smoke: --set fit.epochs=1 --set limit=500
local P = gom.params{
  width = 16,     -- channels of the stem (stages have 1x, 2x and 4x)
  blocks = 1,     -- residual blocks per stage
  max_lr = 0.01,  -- the peak lr of the 1cycle schedule
  limit = 0,      -- use only the first N training and test images (0: all)
  dir = "/usr/share/datasets/fashion-mnist",
}

local function fashion(split)
  return gom.dataset("idx", {dir = P.dir, split = split, valid_fraction = 0,
                             normalize = "standardize", limit = P.limit})
end

local function conv_bn(ni, nf, ks, stride)
  return {gom.layer("conv2d", {["in"] = ni, out = nf, kernel = ks, stride = stride,
                               padding = ks // 2, bias = false}),
          gom.layer("batchnorm2d", {num_features = nf})}
end

-- One residual block: relu(body(x) + shortcut(x)).
local function block(ni, nf, stride)
  local a, b = conv_bn(ni, nf, 3, stride), conv_bn(nf, nf, 3, 1)
  local body = gom.sequential{a[1], a[2], gom.layer("relu"), b[1], b[2]}
  local children = {body}
  if stride ~= 1 or ni ~= nf then children[2] = gom.sequential(conv_bn(ni, nf, 1, stride)) end
  return gom.layer("residual", {activation = "relu"}, children)
end

local w = P.width
local stem = conv_bn(1, w, 3, 1)
local layers = {stem[1], stem[2], gom.layer("relu")}
local ni = w
for stage, nf in ipairs({w, 2 * w, 4 * w}) do
  for i = 1, P.blocks do
    layers[#layers + 1] = block(ni, nf, (i == 1 and stage > 1) and 2 or 1)
    ni = nf
  end
end
layers[#layers + 1] = gom.layer("adaptive_avgpool2d", {output_size = 1})
layers[#layers + 1] = gom.layer("flatten")
layers[#layers + 1] = gom.layer("linear", {["in"] = ni, out = 10})
local model = gom.sequential(layers)
print(model)
print(string.format("%d parameters", model:num_parameters()))

local result = gom.fit{
  model = model,
  train = fashion("train"),
  valid = fashion("test"),
  loss = "cross_entropy",
  optimizer = gom.optimizer("adam", {lr = P.max_lr}),
  epochs = 3,
  batch_size = 128,
  valid_batch_size = 500,
  metrics = {"accuracy"},
  callbacks = {"progress", gom.callback("one_cycle", {max_lr = P.max_lr})},
}

print(string.format("test accuracy %.4f after %d epochs (%.0f training samples/s)",
                    result.metrics.accuracy, result.epochs, result.metrics.samples_per_sec))
