-- One recurrent net on the adding problem (Hochreiter & Schmidhuber 1997), a task that needs a
-- long memory: each sequence is `length` steps of (a random value in [0, 1), a marker); two
-- steps, one in each half, are marked, and at the end the net must give the sum of their values.
-- Predicting the mean, 1.0, scores an MSE of 1/6 = 0.167 (an RMSE of 0.41); that is where a net
-- that remembers nothing stays. The net: a recurrent layer (`cell`: rnn, lstm or gru; 64 units)
-- -> its last step -> linear, trained with Adam and gradient clipping; the validation RMSE is
-- recorded as `rmse`. experiments/gru_vs_lstm.lua runs it as a league of the three cells.
--   gom run experiments/adding_problem.lua --set cell=gru --threads 1
-- smoke: --set epochs=1 --set n=512
local P = gom.params{
  cell = "lstm",  -- rnn, lstm or gru
  length = 50,    -- steps per sequence
  n = 8000,       -- training sequences (validation: n/4 more)
  hidden = 64,
  epochs = 10,
  lr = 3e-3,
}

local function task(n, seed)
  return gom.dataset("sequence_task", {task = "adding", n = n, length = P.length, seed = seed})
end

local model = gom.sequential{
  gom.layer(P.cell, {input_size = 2, hidden_size = P.hidden, batch_first = true}),
  gom.layer("select", {dim = 1, index = -1}),  -- the last step's output
  gom.layer("linear", {["in"] = P.hidden, out = 1}),
}
local result = gom.fit{
  model = model, train = task(P.n, 1), valid = task(P.n // 4, 2), loss = "mse",
  optimizer = gom.optimizer("adam", {lr = P.lr}),
  epochs = P.epochs, batch_size = 64,
  metrics = {"rmse"},
  callbacks = {"progress", gom.callback("gradient_clipping", {max_norm = 1.0})},
}
print(string.format("%s on the adding problem over %d steps: validation MSE %.4f (baseline 0.167)",
                    P.cell, P.length, result.metrics.rmse ^ 2))
