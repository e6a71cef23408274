#!/usr/bin/env bash
# Leagues and sweeps end to end: `gom league` / `gom sweep` run the trials of
# tests/cli/scripts/trial_curve.lua (a script that logs a curve known in advance) as child
# processes, and what they leave in the database is checked row by row with sqlite3. One case
# per ctest test (tests/sdk/CMakeLists.txt):
#   study_test.sh CASE GOM_BINARY
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 CASE GOM_BINARY" >&2
  exit 2
fi
case_name=$1 gom=$2
unset GOM_PLUGIN_PATH GOM_DB

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
trial=$here/scripts/trial_curve.lua

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$here/lib.sh"

use_temp_db
# wait_for QUERY EXPECTED SECONDS: polls until the query gives EXPECTED.
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; ++i)); do
    [ "$(sql "$1" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  fail "waited $3 s for [$1] to be $2 (it is $(sql "$1"))"
}
g() { run --db "$db" "$@"; }
# A league of three contenders whose final scores are 1 + s/100, 2 + 2s/100 and 3 + 4s/100 on
# seed s: every paired difference grows with the seed, so none are tied.
abc=(--contender a:x=1 --contender b:x=2,z=1 --contender c:x=3,z=3 --metric score
     --direction maximize)

case $case_name in
  league)
    # 3 contenders x 7 seeds: every paired difference has one sign, so with 7 seeds the exact
    # Wilcoxon p is 2/2^7 = 0.015625, Holm-adjusted over 3 equal p-values 3p = 0.046875 each:
    # all three are significant, and the ranks are 1, 2, 3.
    g league run L "$trial" "${abc[@]}" --seeds 7 --jobs 2 --threads 1
    expect_rc 0
    expect_sql "21|21" "SELECT COUNT(*), SUM(state = 'finished') FROM trials"
    # Every value is the contender's x plus seed/100, on the seed it ran with.
    expect_sql "0" "SELECT COUNT(*) FROM trials t JOIN runs r ON r.id = t.run_id
                    WHERE abs(t.value - (CASE t.contender WHEN 'a' THEN 1 + t.seed / 100.0
                                         WHEN 'b' THEN 2 + 2 * t.seed / 100.0
                                         ELSE 3 + 4 * t.seed / 100.0 END)) > 1e-9
                       OR r.seed != t.seed"
    # The children: one run per trial, each a child of the parent run, in experiment L.
    expect_sql "21|1" "SELECT COUNT(*), COUNT(DISTINCT parent_run_id) FROM runs r
                       JOIN experiments e ON e.id = r.experiment_id
                       WHERE e.name = 'L' AND parent_run_id IS NOT NULL AND status = 'finished'"
    expect_sql "finished|league L" "SELECT r.status, r.name FROM runs r JOIN studies s ON s.run_id = r.id"
    expect_sql "a|7|1.03|1.0|1.06
b|7|2.06|2.0|2.12
c|7|3.12|3.0|3.24" "SELECT contender, runs, round(mean, 6), min, max FROM league_table ORDER BY contender"
    run --db "$db" league show L
    expect_rc 0
    expect_out '^  1 +c +7 +3\.12 +\[3\.0[0-9]*, 3\.1[0-9]*\]'
    expect_out '^  2 +b +7 +2\.06 '
    expect_out '^  3 +a +7 +1\.03 '
    expect_out '^  c +a +7 +7-0 +1 +0\.015625 +0\.046875 +better'
    expect_out '^  b +a +7 +7-0 +1 +0\.015625 +0\.046875 +better'
    expect_no_out 'note: with'
    run --db "$db" league show L --csv
    expect_out '^1,false,c,7,3\.120*[0-9]*,'
    run --db "$db" league show L --csv --pairwise
    expect_out '^c,b,7,7,0,0,1,0,0\.015625,0\.046875,better$'
    run --db "$db" league show L --json
    expect_out '"verdict": "better"'
    run --db "$db" league show
    expect_out '^L +score +21 finished'
    # gom runs lists the league's run and counts its trials; --parent and --all list them.
    run --db "$db" runs
    expect_out '^1 +L +league L +finished'
    expect_out '^\(21 trial runs of leagues and sweeps not shown'
    [ "$(grep -c '^[0-9]' <<<"$out")" = 1 ] || fail "gom runs listed trials: $out"
    run --db "$db" runs --parent 1 --status finished
    [ "$(grep -c 'trial [0-9]*/21 [abc] seed [0-6]' <<<"$out")" = 21 ] || fail "--parent: $out"
    run --db "$db" runs --all --limit 5
    [ "$(grep -c '^[0-9]' <<<"$out")" = 5 ] || fail "--all --limit 5: $out"
    expect_no_out 'not shown'
    ;;
  league_few_seeds)
    # 3 seeds: the smallest possible p is 0.25, so no verdict, shared ranks and a note saying so.
    g league run F "$trial" "${abc[@]}" --seeds 3
    expect_rc 0
    expect_out '^  1= +c +3 '
    expect_out '^  1= +a +3 '
    expect_out 'no significant difference'
    expect_out 'note: with 3 paired seeds'
    ;;
  sweep_grid)
    g sweep run G "$trial" --param x=choice:1,2,3 --param y=int:0:1 --sampler grid \
      --metric loss --set epochs=1
    expect_rc 0
    # The grid's six points, each once; loss = (x-2)^2 + (y-1)^2, best at x=2, y=1.
    expect_sql "1|0|2.0
1|1|1.0
2|0|1.0
2|1|0.0
3|0|2.0
3|1|1.0" "SELECT json_extract(params, '\$.x'), json_extract(params, '\$.y'), value FROM trials ORDER BY 1, 2"
    # In grid order (y fastest) x=2 y=1 is the 4th point: trial 4 in the output and the view.
    expect_out '^best: trial 4 \(run [0-9]+\): loss = 0; x=2 y=1'
    expect_sql "G|sweep|4|finished|loss|minimize|0.0|1" "SELECT study, kind, number, state, metric,
                direction, value, run_id = (SELECT run_id FROM trials WHERE number = 3)
                FROM trial_summary WHERE json_extract(params, '\$.x') = 2
                AND json_extract(params, '\$.y') = 1"
    run --db "$db" sweep show G --csv
    expect_out '^trial,state,loss,epochs,run_id,x,y$'
    expect_out '^4,finished,0,1,[0-9]+,2,1$'
    ;;
  parallel)
    # 4 workers join one sweep of 20 random trials: no trial lost, none run twice.
    for _ in 1 2 3 4; do
      "$gom" --db "$db" sweep run P "$trial" --param x=uniform:0:4 --sampler random \
        --trials 20 --metric loss --set sleep=0.2 --set epochs=2 --threads 1 \
        >>"$tmp/out" 2>>"$tmp/err" &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || { err=$(<"$tmp/err"); fail "a worker failed"; }; done
    pids=()
    expect_sql "20|20|20|20" "SELECT COUNT(*), SUM(state = 'finished'), COUNT(DISTINCT run_id),
                              COUNT(DISTINCT number) FROM trials"
    expect_sql "20" "SELECT COUNT(*) FROM runs WHERE parent_run_id IS NOT NULL"
    expect_sql "1" "SELECT COUNT(*) FROM runs WHERE parent_run_id IS NULL"
    # Each worker ran some of them (the logs say which), and 20 in all.
    [ "$(grep -c ': started' "$tmp/err")" = 20 ] || { err=$(<"$tmp/err"); fail "not 20 starts"; }
    ;;
  killed_worker)
    # A worker killed -9 mid-trial: its trial's process dies with it (PR_SET_PDEATHSIG), the next
    # worker notices, runs the trial again (attempt 2), and the league completes.
    "$gom" --db "$db" league run K "$trial" --contender a:x=1 --contender b:x=2 --seeds 1 \
      --metric score --direction maximize --set sleep=1 --threads 1 >"$tmp/out" 2>"$tmp/err" &
    pids+=($!)
    wait_for "SELECT COUNT(*) FROM trials WHERE state = 'running' AND run_id IS NOT NULL" 1 30
    child=$(sql "SELECT r.pid FROM trials t JOIN runs r ON r.id = t.run_id WHERE t.state = 'running'")
    kill -KILL "${pids[0]}"
    wait "${pids[0]}" 2>/dev/null
    pids=()
    for ((i = 0; i < 50; ++i)); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$child" 2>/dev/null && fail "the trial process $child outlived its worker"
    g league run K
    expect_rc 0
    expect_err 'its worker died'
    expect_sql "0|finished|2
1|finished|1" "SELECT number, state, attempts FROM trials ORDER BY number"
    expect_sql "crashed|1
finished|2" "SELECT status, COUNT(*) FROM runs WHERE parent_run_id IS NOT NULL GROUP BY status"
    ;;
  resume)
    # An interrupted league keeps its finished trials and runs only the rest when run again.
    "$gom" --db "$db" league run R "$trial" --contender a:x=1 --contender b:x=2 --seeds 3 \
      --metric score --direction maximize --set sleep=0.3 --set epochs=2 --threads 1 \
      >"$tmp/out" 2>"$tmp/err" &
    pids+=($!)
    wait_for "SELECT COUNT(*) >= 2 FROM trials WHERE state = 'finished'" 1 60
    kill -INT "${pids[0]}"
    wait "${pids[0]}"
    rc=$?
    pids=()
    [ "$rc" = 130 ] || { err=$(<"$tmp/err"); fail "the interrupted league exited $rc, not 130"; }
    expect_sql "0" "SELECT COUNT(*) FROM trials WHERE state = 'running'"
    expect_sql "interrupted" "SELECT r.status FROM runs r JOIN studies s ON s.run_id = r.id"
    numbers=$(sql "SELECT group_concat(number) FROM trials WHERE state = 'finished'")
    finished_runs() {
      sql "SELECT group_concat(number || ':' || run_id) FROM
           (SELECT number, run_id FROM trials WHERE number IN ($numbers) ORDER BY number)"
    }
    before=$(finished_runs)
    g league run R
    expect_rc 0
    expect_sql "6" "SELECT COUNT(*) FROM trials WHERE state = 'finished'"
    [ "$(finished_runs)" = "$before" ] || fail "finished trials were run again: $before, now $(finished_runs)"
    expect_sql "6" "SELECT COUNT(*) FROM runs WHERE parent_run_id IS NOT NULL AND status = 'finished'"
    expect_sql "finished" "SELECT r.status FROM runs r JOIN studies s ON s.run_id = r.id"
    ;;
  pruning)
    # Median pruning (5 startup trials) on a grid taken in order x = 8, 7, ..., 1; score at epoch
    # e is x e / 4. Trials 1-5 (x = 8..4) finish. Trial 6 (x = 3) scores 0.75 at epoch 1, below
    # the median of the finished trials there (2, 1.75, 1.5, 1.25, 1 → 1.5): pruned after epoch
    # 1, and so are x = 2 and x = 1.
    g sweep run M "$trial" --param x=choice:8,7,6,5,4,3,2,1 --sampler grid --pruner median \
      --metric score --direction maximize --set epochs=4
    expect_rc 0
    expect_sql "8|finished|4
7|finished|4
6|finished|4
5|finished|4
4|finished|4
3|pruned|1
2|pruned|1
1|pruned|1" "SELECT json_extract(t.params, '\$.x'), t.state,
                    (SELECT COUNT(*) FROM metrics m WHERE m.run_id = t.run_id AND m.key = 'score')
             FROM trials t ORDER BY t.number"
    expect_sql "pruned|3" "SELECT status, COUNT(*) FROM runs WHERE status = 'pruned'"
    expect_out '5 finished, 3 pruned'
    # n_warmup_steps 2 (Optuna's: no pruning at a step below 2; steps are epochs, from 1): at
    # epoch 2 x = 3's 1.5 is below the median of 4, 3.5, 3, 2.5 and 2 (3): the last three are
    # pruned after 2 epochs.
    g sweep run W "$trial" --param x=choice:8,7,6,5,4,3,2,1 --sampler grid --pruner median \
      --pruner-option n_warmup_steps=2 --metric score --direction maximize --set epochs=4
    expect_rc 0
    expect_sql "finished|4|5
pruned|2|3" "SELECT t.state, (SELECT COUNT(*) FROM metrics m WHERE m.run_id = t.run_id
                                    AND m.key = 'score'), COUNT(*)
             FROM trials t JOIN studies s ON s.id = t.study_id WHERE s.name = 'W' GROUP BY 1, 2"
    expect_sql '{"n_warmup_steps":2}' "SELECT json_extract(definition, '\$.pruner_options')
                                       FROM studies WHERE name = 'W'"
    ;;
  pruning_fit)
    # gom.fit asks the pruner after each epoch but the last. XOR (fit.lua) on a grid of learning
    # rates: the five large ones train (valid_loss falls in epoch 1); the three tiny ones stay at
    # the initial loss, above the median of the five at epoch 1, and are pruned there.
    lrs=choice:0.5,0.4,0.3,0.2,0.1,1e-5,2e-5,3e-5
    g sweep run P "$here/scripts/fit.lua" --param lr=$lrs --sampler grid --pruner median --metric valid_loss
    expect_rc 0
    expect_sql "finished|3|5
pruned|1|3" "SELECT t.state, (SELECT MAX(epoch) FROM metrics m WHERE m.run_id = t.run_id),
                    COUNT(*) FROM trials t GROUP BY 1, 2 ORDER BY 1"
    expect_sql "pruned|3" "SELECT status, COUNT(*) FROM runs WHERE status = 'pruned'"
    # With one epoch, that epoch is the last: no trial is pruned, all have their value.
    g sweep run P1 "$here/scripts/fit.lua" --param lr=$lrs --sampler grid --pruner median --metric valid_loss \
      --set fit.epochs=1
    expect_rc 0
    expect_sql "8|8" "SELECT COUNT(*), COUNT(value) FROM trials t JOIN studies s
                      ON s.id = t.study_id WHERE s.name = 'P1' AND t.state = 'finished'"
    ;;
  lua)
    # gom.league and gom.sweep in a script: it checks the tables they return itself.
    g run "$here/scripts/study_lua.lua"
    expect_rc 0
    expect_out '^study_lua: ok$'
    expect_sql "finished|2|21" "SELECT status, (SELECT COUNT(*) FROM studies),
                                (SELECT COUNT(*) FROM runs WHERE parent_run_id = 1)
                                FROM runs WHERE id = 1"
    expect_sql "LL|SL" "SELECT group_concat(value, '|') FROM (SELECT value FROM tags
                        WHERE run_id = 1 AND key IN ('league', 'sweep') ORDER BY value)"
    # A bad call fails the run at its line, saying what is accepted.
    g run "$here/scripts/study_lua.lua" --set case=unknown_argument
    expect_rc 1
    expect_err "study_lua.lua:13: gom.league: unknown argument 'seed' \\(did you mean 'seeds'\\?\\)"
    g run "$here/scripts/study_lua.lua" --set case=bad_option
    expect_rc 1
    expect_err "study_lua.lua:15: gom.uniform: .*step"
    g run "$here/scripts/study_lua.lua" --set case=no_budget
    expect_rc 1
    expect_err "study_lua.lua:17: gom.sweep: 'trials' \\(the budget\\) is required with sampler 'tpe'"
    g run "$here/scripts/study_lua.lua" --set case=bad_pruner_option
    expect_rc 1
    expect_err "study_lua.lua:19: .*unknown option 'warmup'"
    expect_sql "0" "SELECT COUNT(*) FROM studies WHERE name = 'E'"
    ;;
  errors)
    g league run E "$trial" --contender a:x=1 --metric score --direction maximize
    expect_rc 2
    expect_err 'at least two --contender'
    g league run E "$trial" --contender a:x=1 --contender b:x=2 --metric score
    expect_rc 2
    expect_err 'cannot tell from its name'
    g sweep run E "$trial" --param x=uniform:0:1 --sampler annealing --trials 2 --metric loss
    expect_rc 2
    expect_err 'annealing'
    g sweep run E "$trial" --param x=uniform:0:1 --trials 2 --metric loss --pruner median \
      --pruner-option warmup=2
    expect_rc 2
    expect_err "median pruner: unknown option 'warmup' \\(accepted: n_startup_trials, n_warmup_steps"
    g sweep run E "$trial" --param x=uniform:0:1 --trials 2 --metric loss --sampler-option n_ei_candidates=0
    expect_rc 2
    expect_err "'n_ei_candidates' must be an integer >= 1"
    g sweep run E "$trial" --param x=uniform:1:0 --trials 2 --metric loss
    expect_rc 2
    expect_err 'x=uniform:1:0'
    g league run Nope
    expect_rc 2
    expect_err "no league named 'Nope'"
    g league run D "$trial" --contender a:x=1 --contender b:x=2 --metric loss --seeds 1
    expect_rc 0
    g league run D "$trial" --contender a:x=1 --contender b:x=3 --metric loss --seeds 1
    expect_rc 1
    expect_err 'another definition: contenders'
    # A trial failing alike every time: the worker stops after 3 in a row, with the reason.
    g league run X "$trial" --contender a:fail=true --contender b:fail=true --seeds 3 \
      --metric loss
    expect_rc 1
    expect_err '3 trials of league .X. failed in a row'
    expect_err 'this trial fails on purpose'
    g league run U "$trial" --contender a:nosuch=1 --contender b:x=1 --seeds 1 --metric loss
    expect_err 'nosuch'
    ;;
  *)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "PASS [$case_name]"
