-- Collaborative filtering, fastai's chapter 8: predict the rating a user gives an item from
-- learnt user and item embeddings. Two models on the same ratings, each trained as the book
-- trains it (Adam with decoupled weight decay, the 1cycle schedule, MSE loss, predictions
-- squashed into y_range by sigmoid_range):
--   1. dot_product_bias: user . item + user bias + item bias (fit_one_cycle(5, 5e-3, wd=0.1))
--   2. collab_nn: the concatenated embeddings through a 100-unit ReLU layer (wd=0.01)
-- Their final validation RMSEs are logged as dot_valid_rmse and nn_valid_rmse and compared.
-- By default the ratings are synthetic, MovieLens 100k's shape (943 users, 1682 items, 100,000
-- ratings, 20% held out) from the ratings dataset's rank-4 generator with noise std 0.1. They
-- spread wider than 1 to 5 (std 1.25): 3.5% fall outside y_range, so no model with it gets below
-- a valid RMSE of about 0.18. Expect (5 epochs each, about 15 s on one core): the dot product
-- about 0.27, the neural net about 1.0 — an MLP on concatenated embeddings learns a dot product
-- poorly (Rendle et al. 2020, "Neural Collaborative Filtering vs. Matrix Factorization
-- Revisited"). With MovieLens itself (the book reaches a valid MSE of about 0.82, RMSE 0.9):
--   gom run experiments/collab.lua --set path=/path/to/ml-100k/u.data
--   gom run experiments/collab.lua --set epochs=10 --set dot.wd=0.01 --set nn.hidden=200
-- smoke: --set epochs=1 --set count=3000 --set users=100 --set items=100
local P = gom.params{
  path = "",         -- a ratings file (MovieLens u.data, or a csv: user,item,rating); "": synthetic
  users = 943,       -- synthetic: users, items, ratings, rank of the interaction, noise std
  items = 1682,
  count = 100000,
  rank = 4,
  noise = 0.1,
  valid_fraction = 0.2,
  epochs = 5,
  batch_size = 64,
  y_range = {0, 5.5},  -- sigmoid_range of the output (the book's, for ratings 1 to 5)
  dot = {n_factors = 50, lr = 5e-3, wd = 0.1},
  nn = {hidden = 100, lr = 5e-3, wd = 0.01},
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
local info = train:info()  -- the id maps cover the whole file: valid indices fit the same tables
print(string.format("%d ratings to train on, %d to validate; %d users x %d items, ratings %g to %g",
                    #train, #valid, info.n_users, info.n_items, info.rating_min, info.rating_max))

local function fit(model, opts)
  print(model)
  return gom.fit{
    model = model, train = train, valid = valid, loss = "mse",
    optimizer = gom.optimizer("adamw", {lr = opts.lr, weight_decay = opts.wd}),
    epochs = P.epochs, batch_size = P.batch_size, valid_batch_size = 4096,
    metrics = {"rmse"},
    callbacks = {"progress", gom.callback("one_cycle", {max_lr = opts.lr})},
  }
end

local function seconds(result)  -- training and validation time, summed over the epochs
  local s = 0
  for _, h in ipairs(result.history) do s = s + h.epoch_seconds end
  return s
end

local dot = fit(gom.layer("dot_product_bias", {n_users = info.n_users, n_items = info.n_items,
                                                n_factors = P.dot.n_factors, y_range = P.y_range}),
                P.dot)
local nn = fit(gom.layer("collab_nn", {n_users = info.n_users, n_items = info.n_items,
                                       hidden = {P.nn.hidden}, y_range = P.y_range}),
               P.nn)

gom.log{dot_valid_rmse = dot.metrics.rmse, nn_valid_rmse = nn.metrics.rmse}
print(string.format("valid RMSE: dot product with biases %.4f (%.1f s), neural net %.4f (%.1f s); "
                    .. "the %s is better", dot.metrics.rmse, seconds(dot), nn.metrics.rmse, seconds(nn),
                    dot.metrics.rmse <= nn.metrics.rmse and "dot product" or "neural net"))
