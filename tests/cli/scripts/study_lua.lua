-- gom.league and gom.sweep from a script (tests/cli/study_test.sh, case lua): each study runs
-- tests/cli/scripts/trial_curve.lua (found beside this script) and the tables they return are
-- checked here against values worked by hand; `case` picks a bad call for the error checks.
local P = gom.params{case = "ok"}

local function check(what, got, want)
  if got ~= want then
    error(string.format("%s: got %s, expected %s", what, tostring(got), tostring(want)), 2)
  end
end

if P.case == "unknown_argument" then
  gom.league{name = "E", script = "trial_curve.lua", metric = "score", seed = 3}
elseif P.case == "bad_option" then
  gom.uniform(0, 1, {step = 2})
elseif P.case == "no_budget" then
  gom.sweep{name = "E", script = "trial_curve.lua", metric = "loss", space = {x = gom.uniform(0, 1)}}
elseif P.case == "bad_pruner_option" then
  gom.sweep{name = "E", script = "trial_curve.lua", metric = "loss", trials = 2,
            space = {x = gom.uniform(0, 1)}, pruner = "median", pruner_options = {warmup = 1}}
end

-- b beats a on each of 6 seeds (final scores 1 + s/100 and 2 + 2s/100): the exact two-sided
-- p is 2/2^6, the only pair's Holm p the same.
local league = gom.league{
  name = "LL", script = "trial_curve.lua", metric = "score", direction = "max", seeds = 6,
  contenders = {a = {x = 1}, b = {x = 2, z = 1}}, jobs = 2, threads = 1,
}
check("first", league.contenders[1].contender, "b")
check("b's rank", league.contenders[1].rank, 1)
check("b's mean", string.format("%.4f", league.contenders[1].mean), "2.0500")
check("runs", league.contenders[2].runs, 6)
local pair = league.pairs[1]
check("pair", pair.a .. " " .. pair.b, "b a")
check("wins", pair.wins_a .. "-" .. pair.wins_b, "6-0")
check("p", pair.p_value, 2 / 64)
check("exact", pair.exact, true)
check("p (Holm)", pair.p_holm, 2 / 64)
check("verdict", pair.verdict, "better")

-- A 3 x 3 grid of loss = (x - 2)^2 + (y - 1)^2 (seed 0): the best is x = 2, y = 1, loss 0.
local sweep = gom.sweep{
  name = "SL", script = "trial_curve.lua", metric = "loss", sampler = "grid",
  space = {x = gom.choice{1, 2, 3}, y = gom.uniform(0, 2, {grid = 3})},
  set = {epochs = 2},
}
check("trials", #sweep.trials, 9)
check("budget", sweep.budget, 9)
check("best x", sweep.best.params.x, 2)
check("best y", sweep.best.params.y, 1.0)
check("best loss", sweep.best.value, 0.0)
check("first trial's curve at epoch 2", sweep.trials[1].intermediate[2], 2.0)  -- x 1, y 0
print("study_lua: ok")
