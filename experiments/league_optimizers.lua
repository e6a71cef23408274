-- The optimizer league: SGD, SGD with momentum, RMSProp, Adam and AdamW each train the flagship
-- MLP (experiments/fashion_mlp.lua) on Fashion-MNIST for a short budget, on the same seeds
-- (seed k gives every contender the same initial weights, data order and validation split), as
-- child runs of this one. They are ranked by validation accuracy: mean with a 95% bootstrap
-- interval, IQM, median; pairwise wins, P(better) and a Wilcoxon signed-rank test on the paired
-- seeds. Every trial also records its test accuracy beside it, never used to rank.
--   gom run experiments/league_optimizers.lua                 (50 trials, about a minute)
--   gom league show optimizers [--json | --csv]
-- Run it again after an interruption: the finished trials are kept, the rest run.
-- smoke: --set seeds=2 --set epochs=1 --set limit=2000
local P = gom.params{
  seeds = 10,           -- seeds 0..seeds-1, each run by every contender (6 at least for a
                        -- verdict: with 5 the exact test's p cannot go below 0.0625)
  epochs = 2,           -- the budget of each trial
  limit = 0,            -- use only the first N images (0: all)
  jobs = 2,             -- trials at once (the cores are shared among them)
  name = "optimizers",  -- the league's name in the database (run again to resume)
}

local league = gom.league{
  name = P.name,
  script = "fashion_mlp.lua",
  metric = "accuracy",  -- the validation split's; higher is better
  seeds = P.seeds,
  jobs = P.jobs,
  set = {["fit.epochs"] = P.epochs, limit = P.limit},
  contenders = {
    sgd = {optimizer = "sgd", lr = 0.05},
    momentum = {optimizer = "sgd", lr = 0.05, momentum = 0.9},
    rmsprop = {optimizer = "rmsprop", lr = 1e-3},
    adam = {optimizer = "adam", lr = 1e-3},
    adamw = {optimizer = "adamw", lr = 1e-3, weight_decay = 0.01},
  },
}

local best = league.contenders[1]
print(string.format("best: %s, validation accuracy %.4f [%.4f, %.4f] over %d seeds", best.contender,
                    best.mean, best.ci_low, best.ci_high, best.runs))
