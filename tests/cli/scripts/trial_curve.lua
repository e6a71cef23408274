-- A trial that trains nothing: it logs a curve known in advance, so that what a league or a
-- sweep makes of it can be checked exactly (tests/cli/study_test.sh).
--   score at epoch e = x * e / epochs + (1 + z) * seed / 100  (final: x + (1 + z) seed / 100)
--   loss at epoch e  = (x - 2)^2 + (y - 1)^2 + seed / 1000
-- `sleep` seconds (of processor time, busy: os.execute("sleep") would ignore SIGINT) per epoch
-- keep the trial running while the fault tests kill or interrupt it; fail = true makes it fail.
local P = gom.params{x = 0.0, y = 0.0, z = 0.0, epochs = 3, sleep = 0.0, fail = false}
if P.fail then error("this trial fails on purpose") end
local seed = gom.run.seed
for e = 1, P.epochs do
  local t0 = os.clock()
  while os.clock() - t0 < P.sleep do end
  gom.log({score = P.x * e / P.epochs + (1 + P.z) * seed / 100,
           loss = (P.x - 2) ^ 2 + (P.y - 1) ^ 2 + seed / 1000}, e)
end
