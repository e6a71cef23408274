-- Tabular data, fastai's chapter 9 way: a CSV table preprocessed as fastai's TabularPandas does
-- (the csv dataset: categorical columns -> indices, 0 for missing or unseen; continuous columns
-- filled with the median and standardised; statistics from the training rows only), then
-- fastai's TabularModel: an embedding per categorical column (tabular_embedding, widths by
-- fastai's emb_sz_rule) concatenated with the continuous columns, blocks of
-- linear -> relu -> batchnorm1d (fastai's LinBnDrop, lin_first) of 200 and 100 units, and a
-- linear output. AdamW with the 1cycle schedule, as fit_one_cycle.
--
-- Default: scikit-learn's breast-cancer table (Debian's python3-sklearn; 569 tumours, 30
-- continuous measurements, malignant 0 / benign 1 in column "30"): it has no categorical
-- column, so every input is continuous. Expect valid accuracy >= 0.95 (114 held-out rows).
--   gom run experiments/tabular.lua
-- The categorical path, on scikit-learn's Boston house prices (regression of MEDV; CHAS, the
-- river flag, and RAD, the highway-access index, as categorical columns):
--   gom run experiments/tabular.lua --set path=/usr/lib/python3/dist-packages/sklearn/datasets/data/boston_house_prices.csv
--     --set header=true --set target=MEDV --set task=regression --set categorical=CHAS,RAD
--     --set y_range=[0,55]
-- smoke: --set epochs=1
local P = gom.params{
  path = "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv",
  header = false,   -- whether the row after skip_rows names the columns (else: 0, 1, ...)
  skip_rows = 1,    -- scikit-learn's CSVs start with a line of counts ("569,30,malignant,benign")
  target = "30",
  task = "classification",  -- or regression
  categorical = "",  -- comma-separated categorical columns ("": those that are not numbers)
  hidden = {200, 100},
  dropout = 0,        -- after each hidden block
  embed_dropout = 0,  -- on the embeddings
  y_range = {},       -- regression: [low, high] through sigmoid_range ({}: a plain linear output)
  epochs = 10,
  batch_size = 64,
  lr = 1e-2,
  wd = 0.01,
}

local function table_split(split)
  local args = {path = P.path, target = P.target, task = P.task, header = P.header,
                skip_rows = P.skip_rows, split = split}
  if P.categorical ~= "" then args.categorical = P.categorical end
  return gom.dataset("csv", args)
end
local train, valid = table_split("train"), table_split("valid")
local info = train:info()
local classify = P.task == "classification"
local n_cat, n_cont = #info.categorical, #info.continuous
print(string.format("%d rows to train on, %d to validate; %d categorical columns %s, %d continuous",
                    #train, #valid, n_cat, table.concat(info.categorical, ","), n_cont))

local embed = gom.layer("tabular_embedding", {cardinalities = info.cardinalities, n_cont = n_cont,
                                              embed_dropout = P.embed_dropout})
local width = embed(gom.zeros({1, n_cat + n_cont})):size(1)  -- sum of the embedding widths + n_cont
local layers = {embed}
for _, h in ipairs(P.hidden) do
  layers[#layers + 1] = gom.layer("linear", {["in"] = width, out = h, bias = false})
  layers[#layers + 1] = gom.layer("relu")
  layers[#layers + 1] = gom.layer("batchnorm1d", {num_features = h})
  if P.dropout > 0 then layers[#layers + 1] = gom.layer("dropout", {p = P.dropout}) end
  width = h
end
layers[#layers + 1] = gom.layer("linear", {["in"] = width, out = classify and train:num_classes() or 1})
if not classify and #P.y_range == 2 then
  layers[#layers + 1] = gom.layer("sigmoid_range", {low = P.y_range[1], high = P.y_range[2]})
end
local model = gom.sequential(layers)
print(model)

local result = gom.fit{
  model = model, train = train, valid = valid,
  loss = classify and "cross_entropy" or "mse",
  optimizer = gom.optimizer("adamw", {lr = P.lr, weight_decay = P.wd}),
  epochs = P.epochs, batch_size = P.batch_size,
  drop_last = true,  -- no lone last row for batchnorm
  metrics = {classify and "accuracy" or "rmse"},
  callbacks = {"progress", gom.callback("one_cycle", {max_lr = P.lr})},
}
local key = classify and "accuracy" or "rmse"
print(string.format("valid %s %.4f after %d epochs", key, result.metrics[key], result.epochs))
