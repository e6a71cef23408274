#!/usr/bin/env bash
# Leagues and sweeps over MPI end to end: `mpirun -np 4 gom sweep run ...` (rank 0 schedules and
# alone writes the database, ranks 1-3 run the trials of tests/cli/scripts/trial_curve.lua and
# fit.lua), checked row by row with sqlite3. One case per ctest test (CMakeLists.txt here):
#   mpi_study_test.sh CASE GOM_BINARY [MPIEXEC]
set -uo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 CASE GOM_BINARY [MPIEXEC]" >&2
  exit 2
fi
case_name=$1 gom=$2 mpiexec=${3:-mpiexec}
unset GOM_PLUGIN_PATH GOM_DB

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$here/../cli/scripts
trial=$scripts/trial_curve.lua

# shellcheck source=../cli/lib.sh
source "$here/../cli/lib.sh"

use_temp_db
# The worker ranks' own databases go under $TMPDIR: here, to see what they leave.
export TMPDIR=$tmp/scratch
mkdir -p "$TMPDIR"

# mpi ARGS...: gom over 4 ranks (rank 0 schedules, 3 run trials), setting out, err and rc.
# --oversubscribe: more ranks than cores; --allow-run-as-root: CI runs as root. (Only the case
# that kills a rank adds --enable-recovery: with it mpiexec exits 0 whatever the ranks' status.)
mpi() {
  local ef
  ef=$(mktemp)
  out=$("$mpiexec" --oversubscribe --allow-run-as-root -np 4 "$gom" --db "$db" "$@" 2>"$ef")
  rc=$?
  err=$(<"$ef")
  rm -f "$ef"
}
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; ++i)); do
    [ "$(sql "$1" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  fail "waited $3 s for [$1] to be $2 (it is $(sql "$1"))"
}
# expect_recorded_once STUDY N [LEFT]: every trial recorded once: one run per trial, a child of
# the study's run, no other child runs, no metric row twice, the study's tag; the worker
# databases are gone (but LEFT, of killed workers).
expect_recorded_once() {
  local study=$1 n=$2
  expect_sql "$n|$n|$n" "SELECT COUNT(*), COUNT(DISTINCT t.run_id), COUNT(DISTINCT t.number)
                         FROM trials t JOIN studies s ON s.id = t.study_id WHERE s.name = '$study'"
  expect_sql "$n|$n|$n" "SELECT COUNT(*), SUM(r.parent_run_id = s.run_id),
                         SUM(r.id IN (SELECT run_id FROM trials WHERE study_id = s.id))
                         FROM runs r JOIN tags g ON g.run_id = r.id, studies s
                         WHERE s.name = '$study' AND g.value = '$study' AND r.id != s.run_id
                           AND g.key IN ('league', 'sweep')"
  expect_sql "$n" "SELECT COUNT(*) FROM runs r, studies s
                   WHERE s.name = '$study' AND r.parent_run_id = s.run_id"
  expect_sql "0" "SELECT COUNT(*) FROM (SELECT 1 FROM metrics GROUP BY run_id, key, step, epoch
                                       HAVING COUNT(*) > 1)"
  [ "$(find "$TMPDIR" -name 'runs.db' | wc -l)" = "${3:-0}" ] ||
    fail "not ${3:-0} worker databases left behind: $(find "$TMPDIR" -name 'runs.db*')"
}

case $case_name in
  sweep)
    # 8 random trials over 3 worker ranks; the same sweep without MPI records the same rows.
    sweep=(--param x=uniform:0:4 --sampler random --trials 8 --metric loss --set epochs=2
           --set sleep=0.1 --threads 1)
    mpi sweep run S "$trial" "${sweep[@]}"
    expect_rc 0
    expect_recorded_once S 8
    expect_sql "8|8" "SELECT COUNT(*), SUM(state = 'finished' AND attempts = 1) FROM trials"
    expect_sql "8" "SELECT COUNT(*) FROM runs WHERE parent_run_id IS NOT NULL
                    AND status = 'finished' AND host IS NOT NULL AND pid IS NOT NULL"
    # loss = (x - 2)^2 + 1 (y = 0, seed 0), at the trial's own x.
    expect_sql "0" "SELECT COUNT(*) FROM trials
                    WHERE abs(value - ((json_extract(params, '\$.x') - 2) * (json_extract(params,
                              '\$.x') - 2) + 1)) > 1e-9"
    expect_sql "16|16" "SELECT SUM(key = 'loss'), SUM(key = 'score') FROM metrics"
    expect_out '^best: trial [0-9]+ \(run [0-9]+\): loss = '
    [ "$(grep -c ': started on rank [123] ' <<<"$err")" = 8 ] || fail "not 8 starts on ranks 1-3"
    [ "$(grep -o 'started on rank [123]' <<<"$err" | sort -u | wc -l)" -ge 2 ] ||
      fail "the trials ran on fewer than 2 worker ranks"
    # Without MPI: the same params, metric rows (but their times), metric_info, overrides and
    # tags, trial by trial, and the same columns of the run.
    mpi_db=$db
    db=$tmp/local.db
    run --db "$db" sweep run S "$trial" "${sweep[@]}"
    expect_rc 0
    rows() {
      sqlite3 -batch -noheader "$1" "
        SELECT 'run', t.number, r.name, r.status, e.name, r.seed, r.backend, r.device, r.threads,
               r.script_path, r.script_sha256, r.gom_version, r.git_commit, r.git_dirty,
               r.error, p.name, r.host IS NOT NULL
        FROM trials t JOIN runs r ON r.id = t.run_id JOIN experiments e ON e.id = r.experiment_id
        JOIN runs p ON p.id = r.parent_run_id
        UNION ALL SELECT 'param', t.number, x.key, x.value, '', '', '', '', '', '', '', '', '', '',
                         '', '', '' FROM trials t JOIN params x ON x.run_id = t.run_id
        UNION ALL SELECT 'metric', t.number, x.key, x.step, x.epoch, x.value, '', '', '', '', '',
                         '', '', '', '', '', '' FROM trials t JOIN metrics x ON x.run_id = t.run_id
        UNION ALL SELECT 'info', t.number, x.key, x.direction, x.phase, '', '', '', '', '', '', '',
                         '', '', '', '', '' FROM trials t JOIN metric_info x ON x.run_id = t.run_id
        UNION ALL SELECT 'override', t.number, x.position, x.key, x.value, '', '', '', '', '', '',
                         '', '', '', '', '', '' FROM trials t JOIN overrides x ON x.run_id = t.run_id
        UNION ALL SELECT 'tag', t.number, x.key, x.value, '', '', '', '', '', '', '', '', '', '',
                         '', '', '' FROM trials t JOIN tags x ON x.run_id = t.run_id
        ORDER BY 1, 2, 3, 4, 5" || echo "sqlite3 failed"
    }
    rows "$mpi_db" >"$tmp/mpi_rows"
    rows "$db" >"$tmp/local_rows"
    [ "$(grep -c '^' "$tmp/mpi_rows")" -gt 80 ] && ! grep -q 'sqlite3 failed' "$tmp/mpi_rows" ||
      fail "the rows to compare: $(<"$tmp/mpi_rows")"
    diff "$tmp/mpi_rows" "$tmp/local_rows" >"$tmp/diff" ||
      fail "the MPI sweep's rows differ from the local sweep's:"$'\n'"$(<"$tmp/diff")"
    ;;
  league)
    # 2 contenders x 2 seeds: every trial once, values x + (1 + z) seed / 100, and the table.
    mpi league run L "$trial" --contender a:x=1 --contender b:x=2,z=1 --seeds 2 --metric score \
      --direction maximize --set epochs=2 --threads 1
    expect_rc 0
    expect_recorded_once L 4
    expect_sql "4" "SELECT COUNT(*) FROM trials t JOIN runs r ON r.id = t.run_id
                    WHERE t.state = 'finished' AND r.status = 'finished' AND r.seed = t.seed
                      AND abs(t.value - (CASE t.contender WHEN 'a' THEN 1 + t.seed / 100.0
                                         ELSE 2 + 2 * t.seed / 100.0 END)) < 1e-9"
    expect_sql "a|2|1.005
b|2|2.01" "SELECT contender, runs, round(mean, 6) FROM league_table ORDER BY contender"
    expect_sql "finished|league L" "SELECT r.status, r.name FROM runs r JOIN studies s ON s.run_id = r.id"
    # The table once: rank 0 prints it; the worker ranks print nothing on stdout.
    [ "$(grep -c '^league L: score' <<<"$out")" = 1 ] || fail "the league's table not printed once"
    expect_out '^  1= +b +2 +2\.01 '
    ;;
  killed_worker)
    # A worker rank killed -9 mid-trial: its trial's process dies with it, rank 0 hears nothing
    # from it for 5 s, deletes its partial run and hands the trial to another worker; the sweep
    # completes with every trial recorded once. --enable-recovery (with gom's
    # MPI_ERRORS_RETURN) keeps the job alive when a rank dies.
    GOM_STUDY_WORKER_TIMEOUT_S=5 "$mpiexec" --oversubscribe --allow-run-as-root --enable-recovery \
      -np 4 "$gom" --db "$db" sweep run K "$trial" --param x=choice:1,2,3,4,5,6 --sampler grid \
      --metric loss --set epochs=4 --set sleep=0.5 --threads 1 >"$tmp/out" 2>"$tmp/err" &
    pids+=($!)
    wait_for "SELECT COUNT(*) >= 1 FROM trials t JOIN runs r ON r.id = t.run_id
              WHERE t.state = 'running' AND r.status = 'running'
                AND (SELECT COUNT(*) FROM metrics m WHERE m.run_id = r.id) >= 2" 1 90
    read -r number child < <(sql "SELECT t.number, r.pid FROM trials t JOIN runs r
                                  ON r.id = t.run_id WHERE t.state = 'running'
                                  AND r.status = 'running' LIMIT 1" | tr '|' ' ')
    worker=$(ps -o ppid= -p "$child" | tr -d ' ')
    [ -n "$worker" ] && [ "$worker" != "${pids[0]}" ] || fail "no worker rank found for $child"
    kill -KILL "$worker"
    for ((i = 0; i < 50; ++i)); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$child" 2>/dev/null && fail "the trial process $child outlived its worker rank"
    for ((i = 0; i < 1200; ++i)); do kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.1; done
    kill -0 "${pids[0]}" 2>/dev/null && fail "mpiexec still runs 120 s after a worker was killed"
    wait "${pids[0]}"
    pids=()
    out=$(<"$tmp/out") err=$(<"$tmp/err")
    expect_err "trial $((number + 1))/6 x=[0-9]+: its worker rank [123] \\(.*\\) is lost \\(silent for 5 s\\); to be run again"
    expect_recorded_once K 6 1  # the killed worker's
    expect_sql "6|6" "SELECT COUNT(*), SUM(state = 'finished') FROM trials"
    expect_sql "2" "SELECT attempts FROM trials WHERE number = $number"
    expect_sql "6" "SELECT COUNT(*) FROM runs WHERE parent_run_id IS NOT NULL AND status = 'finished'"
    expect_sql "finished" "SELECT r.status FROM runs r JOIN studies s ON s.run_id = r.id"
    expect_out '^sweep K: loss'
    ;;
  pruning)
    # Median pruning with 3 startup trials on a grid taken in order x = 8, 7, ..., 1 (score at
    # epoch e is x e / 4). x = 8, 7, 6 run first, side by side, so none of them can be pruned
    # (fewer than 3 other trials finished); x = 2 and x = 1 start only once all three have
    # finished, and score below their median at epoch 1: pruned there.
    mpi sweep run M "$trial" --param x=choice:8,7,6,5,4,3,2,1 --sampler grid --pruner median \
      --pruner-option n_startup_trials=3 --metric score --direction maximize --set epochs=4 \
      --set sleep=0.2 --threads 1
    expect_rc 0
    expect_recorded_once M 8
    expect_sql "8|finished|4
7|finished|4
6|finished|4
2|pruned|1
1|pruned|1" "SELECT json_extract(t.params, '\$.x'), t.state,
                    (SELECT COUNT(*) FROM metrics m WHERE m.run_id = t.run_id AND m.key = 'score')
             FROM trials t WHERE json_extract(t.params, '\$.x') IN (8, 7, 6, 2, 1)
             ORDER BY t.number"
    # A pruned trial's run is pruned, its curve cut where it was; a finished one has 4 epochs.
    expect_sql "0" "SELECT COUNT(*) FROM trials t JOIN runs r ON r.id = t.run_id
                    WHERE r.status != t.state OR (SELECT COUNT(*) FROM metrics m
                      WHERE m.run_id = r.id AND m.key = 'score') != CASE t.state
                      WHEN 'finished' THEN 4 ELSE (SELECT COUNT(*) FROM metrics m
                      WHERE m.run_id = r.id AND m.key = 'score') END"
    ;;
  pruning_fit)
    # gom.fit's pruning question through the worker rank (XOR, fit.lua, as study_test.sh's
    # pruning_fit, with 3 startup trials): the three tiny learning rates start after the first
    # three trials finished and are pruned after epoch 1. Each run's checkpoint stays on its worker's host, where its
    # artifact row says.
    mpi sweep run P "$scripts/fit.lua" --param lr=choice:0.5,0.4,0.3,0.2,0.1,1e-5,2e-5,3e-5 \
      --sampler grid --pruner median --pruner-option n_startup_trials=3 --metric valid_loss \
      --threads 1
    expect_rc 0
    expect_recorded_once P 8
    expect_sql "1.0e-05|pruned|1
2.0e-05|pruned|1
3.0e-05|pruned|1" "SELECT json_extract(t.params, '\$.lr'), t.state,
                        (SELECT MAX(epoch) FROM metrics m WHERE m.run_id = t.run_id)
                 FROM trials t WHERE json_extract(t.params, '\$.lr') < 1e-3 ORDER BY t.number"
    # The first three run side by side: none has 3 others finished to be compared with.
    expect_sql "finished|3|3" "SELECT t.state, (SELECT MAX(epoch) FROM metrics m
                               WHERE m.run_id = t.run_id), COUNT(*) FROM trials t
                               WHERE json_extract(t.params, '\$.lr') >= 0.3 GROUP BY 1, 2"
    # One row per epoch's checkpoint (the same file, rewritten), in order: the last is the file.
    expect_sql "8" "SELECT COUNT(DISTINCT run_id) FROM artifacts WHERE kind = 'checkpoint'"
    while IFS='|' read -r path sha; do
      [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sha" ] || fail "artifact $path: not as recorded"
    done < <(sql "SELECT path, sha256 FROM artifacts a
                  WHERE id = (SELECT MAX(id) FROM artifacts b WHERE b.run_id = a.run_id)")
    ;;
  errors)
    # --jobs has no meaning under mpirun: refused by every rank alike.
    mpi sweep run E "$trial" --param x=uniform:0:1 --trials 2 --metric loss --jobs 2
    expect_rc 2
    expect_err 'under mpirun each worker rank runs one trial at a time'
    # A bad definition on rank 0 alone: the worker ranks are told to stop, the job ends.
    mpi sweep run E "$trial" --param x=uniform:1:0 --trials 2 --metric loss
    expect_failure
    expect_err '--param x=uniform:1:0'
    # Trials that fail: three in a row stop the sweep with the first one's error (those running
    # by then are counted too).
    mpi sweep run F "$trial" --param x=uniform:0:1 --trials 6 --metric loss --set fail=true \
      --threads 1
    expect_failure
    expect_err "[3-6] trials of sweep 'F' failed in a row; stopping. The first: trial [0-9]/6"
    expect_err 'this trial fails on purpose'
    expect_sql "failed" "SELECT r.status FROM runs r JOIN studies s ON s.run_id = r.id"
    expect_sql "0" "SELECT COUNT(*) FROM trials WHERE state = 'running'"
    [ -s "$db.artifacts/study-1/trial-1.log" ] || fail "no log of trial 1 beside the database"
    # A run's text that is not UTF-8 (JSON's only text) arrives byte for byte.
    printf 'local P = gom.params{x = 0.0}\ngom.log({loss = P.x}, 1)\nerror("bytes \\255\\254")\n' \
      >"$tmp/bytes.lua"
    mpi sweep run U "$tmp/bytes.lua" --param x=uniform:0:1 --trials 1 --metric loss --threads 1
    expect_rc 0
    expect_sql "failed|1" "SELECT r.status, instr(hex(r.error), '627974657320FFFE') > 0 FROM runs r
                           JOIN trials t ON t.run_id = r.id JOIN studies s ON s.id = t.study_id
                           WHERE s.name = 'U'"
    ;;
  *)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "ok: $case_name"
