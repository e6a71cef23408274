-- A hyperparameter sweep of the flagship MLP (experiments/fashion_mlp.lua with AdamW): TPE with
-- Optuna's defaults (10 random startup trials, 24 candidates) proposes the learning rate, the
-- hidden width, dropout and weight decay; the median pruner stops a trial whose validation
-- accuracy after an epoch is below the median of the finished trials' at that epoch. Every
-- trial is a child run of this one, ranked by validation accuracy (its test accuracy recorded
-- beside, never used to choose).
--   gom run experiments/sweep_mlp.lua                          (30 trials)
--   gom run experiments/sweep_mlp.lua --set sampler=random --set name=mlp-random
--   gom sweep show mlp
-- smoke: --set trials=3 --set epochs=1 --set limit=1000
local P = gom.params{
  trials = 30,        -- the budget
  epochs = 3,         -- of each trial
  limit = 0,          -- use only the first N images (0: all)
  sampler = "tpe",    -- tpe, random
  pruner = "median",  -- median, asha, none
  seed = 0,           -- the sampler's seed and every trial's
  jobs = 2,           -- trials at once
  name = "mlp",       -- the sweep's name in the database (run again to resume)
}

local sweep = gom.sweep{
  name = P.name,
  script = "fashion_mlp.lua",
  metric = "accuracy",
  sampler = P.sampler,
  pruner = P.pruner,
  trials = P.trials,
  seed = P.seed,
  jobs = P.jobs,
  set = {["fit.epochs"] = P.epochs, limit = P.limit, optimizer = "adamw"},
  space = {
    lr = gom.loguniform(1e-4, 1e-2),
    hidden = gom.choice{64, 128, 256, 512},
    dropout = gom.uniform(0, 0.5),
    weight_decay = gom.loguniform(1e-5, 1e-1),
  },
}

if sweep.best then
  print(string.format("best: trial %d, validation accuracy %.4f (run %d)", sweep.best.number,
                      sweep.best.value, sweep.best.run_id))
end
