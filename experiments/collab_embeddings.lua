-- What a collaborative-filtering model learns, fastai's chapter 8 ("Interpreting Embeddings and
-- Biases"): fastai's DotProductBias written as a Lua module (gom.module), trained with gom.fit as
-- experiments/collab.lua trains the built-in one (AdamW, 1cycle, MSE, sigmoid_range), then read:
--   1. the item biases: the lowest and highest, and how they follow each item's mean rating
--      (logged as bias_mean_corr: the Pearson correlation over items with 5+ training ratings);
--   2. a PCA of the item factors (gom.pca_lowrank): the share of variance of each component and
--      the items at both ends of the first;
--   3. the items most similar to one item by the cosine of their factors.
-- The model's weights carry the built-in dot_product_bias's names (u_weight.weight, ...), so
-- either loads the other's state_dict. By default the ratings are synthetic, MovieLens 100k's
-- shape (see experiments/collab.lua) from a rank-4 generator: expect (5 epochs, about 10 s on
-- one core) a valid RMSE of 0.27, as the built-in reaches; the item biases following the items'
-- mean ratings (bias_mean_corr 0.96); variance shares of the principal components about 0.21,
-- 0.21, 0.20, 0.19, 0.13 and then 0.004 (pca_top4_share 0.80): the factors live in a space of
-- the generator's rank plus one, the rest is weight-decayed noise. With MovieLens:
--   gom run experiments/collab_embeddings.lua --set path=/path/to/ml-100k/u.data
-- smoke: --set epochs=1 --set count=3000 --set users=100 --set items=100
local P = gom.params{
  path = "",         -- a ratings file (MovieLens u.data, or a csv: user,item,rating); "": synthetic
  users = 943,
  items = 1682,
  count = 100000,
  rank = 4,
  noise = 0.1,
  valid_fraction = 0.2,
  epochs = 5,
  batch_size = 64,
  n_factors = 50,
  lr = 5e-3,
  wd = 0.1,
  y_range = {0, 5.5},
  item = 0,          -- the item whose most similar items are listed
}

local function ratings(split)
  local args = {split = split, valid_fraction = P.valid_fraction}
  if P.path ~= "" then
    args.path = P.path
  else
    args.users, args.items, args.count = P.users, P.items, P.count
    args.rank, args.noise = P.rank, P.noise
  end
  return gom.dataset("ratings", args)
end
local train, valid = ratings("train"), ratings("valid")
local info = train:info()

-- fastai's DotProductBias: user . item + user bias + item bias, squashed into y_range.
local DotProductBias = gom.module{
  name = "dot_product_bias",
  init = function(self, o)
    local function embedding(n, dim)  -- fastai's init: N(0, 0.01) (it truncates at 2 std)
      local e = gom.layer("embedding", {num_embeddings = n, embedding_dim = dim})
      e.weight:normal_(0, 0.01)
      return e
    end
    self.u_weight = embedding(o.n_users, o.n_factors)
    self.i_weight = embedding(o.n_items, o.n_factors)
    self.u_bias = embedding(o.n_users, 1)
    self.i_bias = embedding(o.n_items, 1)
    self.low, self.high = o.y_range[1], o.y_range[2]
  end,
  forward = function(self, x)  -- x: [B, 2] (user index, item index)
    local users, items = x:select(1, 0), x:select(1, 1)
    local dot = (self.u_weight(users) * self.i_weight(items)):sum(1, true)
    local res = dot + self.u_bias(users) + self.i_bias(items)
    return res:sigmoid() * (self.high - self.low) + self.low
  end,
}

local model = DotProductBias{n_users = info.n_users, n_items = info.n_items,
                             n_factors = P.n_factors, y_range = P.y_range}
print(model)
local result = gom.fit{
  model = model, train = train, valid = valid, loss = "mse",
  optimizer = gom.optimizer("adamw", {lr = P.lr, weight_decay = P.wd}),
  epochs = P.epochs, batch_size = P.batch_size, valid_batch_size = 4096,
  metrics = {"rmse"},
  callbacks = {"progress", gom.callback("one_cycle", {max_lr = P.lr})},
}
print(string.format("valid RMSE %.4f", result.metrics.rmse))

-- 1. Item biases, against each item's mean training rating.
local bias = model.i_bias.weight:detach():reshape({info.n_items})
local all = {}
for i = 0, #train - 1 do all[#all + 1] = i end
local x, y = train:get(all)
local onehot = gom.one_hot(x:select(1, 1), info.n_items):float()  -- [N, items]
local counts = onehot:sum(0)
local sums = onehot:t():matmul(y):reshape({info.n_items})
local b, s, c = bias:totable(), sums:totable(), counts:totable()
local bx, my = {}, {}
for i = 1, info.n_items do
  if c[i] >= 5 then bx[#bx + 1], my[#my + 1] = b[i], s[i] / c[i] end
end
local function pearson(a, bb)
  local n, ma, mb = #a, 0, 0
  for i = 1, n do ma, mb = ma + a[i] / n, mb + bb[i] / n end
  local sab, saa, sbb = 0, 0, 0
  for i = 1, n do
    sab = sab + (a[i] - ma) * (bb[i] - mb)
    saa, sbb = saa + (a[i] - ma) ^ 2, sbb + (bb[i] - mb) ^ 2
  end
  return sab / math.sqrt(saa * sbb)
end
local corr = pearson(bx, my)
local function mean_of(i) return c[i + 1] > 0 and s[i + 1] / c[i + 1] or 0 end
local function listing(idx)
  local parts = {}
  for _, i in ipairs(idx:totable()) do
    parts[#parts + 1] = string.format("%d (bias %.2f, mean %.2f, %d ratings)", i, b[i + 1],
                                      mean_of(i), math.floor(c[i + 1]))
  end
  return table.concat(parts, "; ")
end
local k = math.min(5, info.n_items)
local _, low = bias:neg():topk(k)
local _, high = bias:topk(k)
print("lowest item biases:  " .. listing(low))
print("highest item biases: " .. listing(high))
print(string.format("item bias vs mean rating (items with 5+ ratings, %d): correlation %.3f",
                    #bx, corr))

-- 2. PCA of the item factors.
local factors = model.i_weight.weight:detach()
local q = math.min(P.n_factors, info.n_items, 6)
local U, S = gom.pca_lowrank(factors, q)
local var = (S * S):totable()
local total = (factors - factors:mean(0, true)):pow(2):sum():item()
local shares = {}
for i = 1, q do shares[i] = string.format("%.3f", var[i] / total) end
print("share of the item factors' variance by principal component: " .. table.concat(shares, " "))
local pc1 = U:select(1, 0)
local _, top = pc1:topk(k)
local _, bottom = pc1:neg():topk(k)
print("first component, one end:   " .. listing(top))
print("first component, other end: " .. listing(bottom))

-- 3. The items most similar to P.item: the cosine of their factors.
local norms = factors:pow(2):sum(1, true):sqrt()
local unit = factors / norms
local cos = unit:matmul(unit:select(0, P.item):reshape({P.n_factors, 1})):reshape({info.n_items})
local sims, nearest = cos:topk(k + 1)
local near, sv = {}, sims:totable()
for j, i in ipairs(nearest:totable()) do
  if i ~= P.item then near[#near + 1] = string.format("%d (%.3f)", i, sv[j]) end
end
print(string.format("items most similar to item %d: %s", P.item, table.concat(near, ", ")))

local share4 = 0
for i = 1, math.min(4, q) do share4 = share4 + var[i] / total end
gom.log{valid_rmse = result.metrics.rmse, bias_mean_corr = corr, pca_top4_share = share4}
