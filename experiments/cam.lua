-- Class activation maps (CAM, Zhou et al. 2016) and Grad-CAM (Selvaraju et al. 2017) on
-- Fashion-MNIST, as fastai's book does in chapter 18 ("CNN Interpretation with CAM"), with module
-- hooks: a forward hook keeps the output A [C, 7, 7] of the last convolutional block, a full
-- backward hook the gradient of the predicted class's score w.r.t. it.
--   CAM      = sum_c W[k, c] A[c]                    (W: the linear head after global pooling)
--   Grad-CAM = relu(sum_c alpha_c A[c]), alpha_c = mean over the map of d score_k / d A[c]
-- The CNN: two stride-2 convolutions (28 -> 14 -> 7) and a stride-1 one that keeps the 7x7 map,
-- each with batch norm and ReLU, then global average pooling and a linear layer. With pooling
-- straight into the linear layer alpha_c = W[k, c] / 49, so Grad-CAM is relu(CAM) / 49: the run
-- checks this (gradcam_vs_cam, the largest difference relative to the map's largest value, is
-- about 1e-7), a test of the backward hook's gradient.
-- Where the heat lies: each map is scaled up to 28x28 (4x4 blocks), and heat_on_object is the
-- share of its (positive) heat on the garment's pixels (those above the background's value),
-- against object_area, the share of the image they cover (what a uniform map would give).
-- Expect (2 epochs, about 10 s on two cores: test accuracy about 0.87; 100 test images): the
-- garments cover about half of the image (object_area 0.49) and hold only a little more of the
-- heat (cam_heat_on_object 0.54, the same for Grad-CAM, relu(CAM) / 49 here; 0.54 against 0.51
-- with 4 epochs and 500 images): at 7x7 each cell covers 4x4 pixels, and the maps light up the
-- silhouette's telling parts with the background beside them (the gap between a trouser's
-- legs, the shaft of an ankle boot), not the garment's inside.
-- The first `show` images are printed as text maps (0-9) and, when the run has a folder (gom run
-- records into one) or out = DIR is set, written as PPM images: the picture, then Grad-CAM over it
-- in red (cam_<i>.ppm), each recorded as an artifact of the run (gom.artifact, kind "image").
--   gom run experiments/cam.lua
--   gom run experiments/cam.lua --set epochs=4 --set images=500 --set out=/tmp/cam
-- smoke: --set epochs=1 --set limit=1000 --set images=20
local P = gom.params{
  width = 16,    -- channels of the first convolution (then 2x, 4x)
  epochs = 2,
  max_lr = 0.01,
  limit = 0,     -- use only the first N images of each split (0: all)
  images = 100,  -- test images whose maps are measured
  show = 3,      -- of which the first N are printed and written
  out = "",      -- folder for the PPM images ("": the run's folder, if any)
  dir = "/usr/share/datasets/fashion-mnist",
}
local classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"}

local function fashion(split)
  return gom.dataset("idx", {dir = P.dir, split = split, valid_fraction = 1 / 12,
                             normalize = "standardize", limit = P.limit})
end

local function block(ni, nf, stride, ks)
  ks = ks or 3
  return gom.sequential{gom.layer("conv2d", {["in"] = ni, out = nf, kernel = ks,
                                             stride = stride, padding = ks // 2}),
                        gom.layer("batchnorm2d", {num_features = nf}), gom.layer("relu")}
end

local w = P.width
local last = block(2 * w, 4 * w, 1)  -- [4w, 7, 7]: the maps CAM explains
local fc = gom.layer("linear", {["in"] = 4 * w, out = 10})
local model = gom.sequential{
  gom.sequential{block(1, w, 2, 5), block(w, 2 * w, 2), last},
  gom.layer("adaptive_avgpool2d", {output_size = 1}),
  gom.layer("flatten"),
  fc,
}
print(model)

local test = fashion("test")
local result = gom.fit{
  model = model, train = fashion("train"), valid = fashion("valid"), test = test,
  loss = "cross_entropy", optimizer = gom.optimizer("adam", {lr = P.max_lr}),
  epochs = P.epochs, batch_size = 64, valid_batch_size = 1000, metrics = {"accuracy"},
  callbacks = {"progress", gom.callback("one_cycle", {max_lr = P.max_lr})},
}
print(string.format("test accuracy %.4f", result.metrics.test_accuracy))

-- The hooks: the block's output in the forward, the gradient w.r.t. it in the backward.
local acts, grads
local on_forward = last:register_forward_hook(function(m, inputs, out) acts = out:detach() end)
local on_backward = last:register_full_backward_hook(function(m, grad_input, grad_output)
  grads = grad_output[1]
end)
model:eval()

-- A [7, 7] map as 28x28 rows of numbers (nearest neighbour: 4x4 blocks).
local function upsample(map)
  local m, up = map:totable(), {}
  for r = 1, 28 do
    up[r] = {}
    for c = 1, 28 do up[r][c] = m[(r - 1) // 4 + 1][(c - 1) // 4 + 1] end
  end
  return up
end

-- The share of the positive heat that lies on the object's pixels.
local function on_object(heat, mask)
  local on, all = 0, 0
  for r = 1, 28 do
    for c = 1, 28 do
      local h = math.max(heat[r][c], 0)
      all = all + h
      if mask[r][c] then on = on + h end
    end
  end
  return all > 0 and on / all or 0
end

local function text_map(map)
  local m, hi = map:totable(), map:max():item()
  local lines = {}
  for r = 1, #m do
    local row = {}
    for c = 1, #m[r] do row[c] = tostring(math.floor(9 * math.max(m[r][c], 0) / hi + 0.5)) end
    lines[r] = "    " .. table.concat(row, " ")
  end
  return table.concat(lines, "\n")
end

local out_dir = P.out ~= "" and P.out or gom.run.dir
-- The picture (gray) and Grad-CAM over it (red), side by side, each pixel 4x4.
local function write_ppm(path, img, heat, hi)
  local f = io.open(path, "wb")
  if not f then return false end
  local lo, top = math.huge, -math.huge
  for r = 1, 28 do
    for c = 1, 28 do lo, top = math.min(lo, img[r][c]), math.max(top, img[r][c]) end
  end
  local s = 4
  f:write(string.format("P6\n%d %d\n255\n", 56 * s, 28 * s))
  for r = 1, 28 * s do
    local row = {}
    for c = 1, 56 * s do
      local rr, cc = (r - 1) // s + 1, ((c - 1) // s) % 28 + 1
      local g = (img[rr][cc] - lo) / (top - lo)
      if c <= 28 * s then
        row[#row + 1] = string.char(math.floor(255 * g), math.floor(255 * g), math.floor(255 * g))
      else
        local a = 0.7 * math.max(heat[rr][cc], 0) / hi
        local v = 255 * g * (1 - a)
        row[#row + 1] = string.char(math.floor(v + 255 * a), math.floor(v), math.floor(v))
      end
    end
    f:write(table.concat(row))
  end
  f:close()
  return true
end

local n = math.min(P.images, test:size())
local sums = {cam = 0, gradcam = 0, area = 0, correct = 0}
local worst = 0
local W = fc:parameters()[1]  -- [10, 4w]
local C = 4 * w
for i = 0, n - 1 do
  local x, y = test:get({i})
  x = x:to(gom.run.device)  -- where gom.fit put the model (--backend cuda: the GPU)
  local out = model(x)
  local k = out:argmax():item()
  out:backward(gom.one_hot(out:argmax():reshape{1}, 10):float())  -- d score_k
  local a = acts[0]  -- [C, 7, 7]
  local cam = (W[k]:reshape{C, 1, 1} * a):sum(0)
  local alpha = grads[0]:mean({1, 2})
  local gradcam = (alpha:reshape{-1, 1, 1} * a):sum(0):relu()
  local rcam = cam:relu()
  local hi = rcam:max():item()
  if hi > 0 then
    worst = math.max(worst, (gradcam * 49 - rcam):abs():max():item() / hi)
  end

  local img = x[0][0]:totable()
  local bg = x:min():item()
  local mask, area = {}, 0
  for r = 1, 28 do
    mask[r] = {}
    for c = 1, 28 do
      mask[r][c] = img[r][c] > bg + 1e-3
      if mask[r][c] then area = area + 1 end
    end
  end
  local up_cam, up_gc = upsample(cam), upsample(gradcam)
  sums.cam = sums.cam + on_object(up_cam, mask)
  sums.gradcam = sums.gradcam + on_object(up_gc, mask)
  sums.area = sums.area + area / 784
  if k == y[0]:item() then sums.correct = sums.correct + 1 end

  if i < P.show then
    print(string.format("test image %d: a %s, predicted %s; Grad-CAM (0-9):\n%s", i,
                        classes[y[0]:item() + 1], classes[k + 1], text_map(gradcam)))
    local gc_hi = gradcam:max():item()
    if out_dir ~= "" and gc_hi > 0 then
      local path = out_dir .. "/cam_" .. i .. ".ppm"
      if write_ppm(path, img, up_gc, gc_hi) then
        gom.artifact("image", path)  -- recorded with the run: gom show lists it
        print("  written to " .. path)
      end
    end
  end
end
on_forward:remove()
on_backward:remove()

local m = {cam_heat_on_object = sums.cam / n, gradcam_heat_on_object = sums.gradcam / n,
           object_area = sums.area / n, explained_accuracy = sums.correct / n,
           gradcam_vs_cam = worst}
gom.log(m)
print(string.format("%d test images: the object covers %.3f of the image and holds %.3f of the " ..
                    "CAM heat, %.3f of the Grad-CAM heat; Grad-CAM = relu(CAM)/49 within %.1e",
                    n, m.object_area, m.cam_heat_on_object, m.gradcam_heat_on_object, worst))
