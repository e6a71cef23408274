#!/usr/bin/env bash
# Data-parallel `gom run` under mpirun, on one machine (--oversubscribe: more ranks than cores).
# One case per ctest test (tests/mpi/CMakeLists.txt, only with GOM_WITH_MPI):
#   mpi_test.sh CASE GOM_BINARY MPIEXEC
# Runs compared value for value use one compute thread per process (a reduction split over
# another number of threads may round differently).
set -uo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 CASE GOM_BINARY MPIEXEC" >&2
  exit 2
fi
case_name=$1 gom=$2 mpiexec=$3
unset GOM_PLUGIN_PATH GOM_DB

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$here/scripts

# shellcheck source=../cli/lib.sh source-path=SCRIPTDIR
source "$here/../cli/lib.sh"

use_temp_db
# mpirun's options: as root it needs consent; --oversubscribe lets 4 ranks share 2 cores, which
# binding each rank to a core would not.
mpirun_args=(--oversubscribe --allow-run-as-root --bind-to none)
# mpi NP ARGS...: `mpirun -np NP gom --db $db ARGS...` (sets out, err, rc).
mpi() {
  local np=$1 ef
  shift
  ef=$(mktemp)
  out=$("$mpiexec" "${mpirun_args[@]}" -np "$np" "$gom" --db "$db" "$@" 2>"$ef")
  rc=$?
  err=$(<"$ef")
  rm -f "$ef"
}
# last_run: the id of the newest run.
last_run() { sql "SELECT max(id) FROM runs"; }
# rows RUN KEYS: the metric rows of those keys (key|step|epoch|value), in order.
rows() {
  sql "SELECT key, step, epoch, value FROM metrics WHERE run_id = $1
       AND key IN ($2) ORDER BY key, epoch, step"
}
# expect_same_rows RUN_A RUN_B KEYS REL: the same rows (keys, steps, epochs), values within REL
# relative to the larger (exactly equal with REL 0).
expect_same_rows() {
  local a b
  a=$(rows "$1" "$3") b=$(rows "$2" "$3")
  [ -n "$a" ] || fail "run $1 has no rows of $3"
  if ! paste -d'|' <(echo "$a") <(echo "$b") | awk -F'|' -v rel="$4" '
      NF != 8 || $1 != $5 || $2 != $6 || $3 != $7 { bad = 1; next }
      { d = $4 - $8; if (d < 0) d = -d; m = ($4 < 0 ? -$4 : $4); if (($8 < 0 ? -$8 : $8) > m) m = ($8 < 0 ? -$8 : $8);
        if (d > rel * m) bad = 1 }
      END { exit bad }'; then
    fail "runs $1 and $2: the rows of $3 differ (beyond $4 relative)"$'\n'"$a"$'\n'"---"$'\n'"$b"
  fi
}
# expect_same_weights FILE_A FILE_B TOLERANCE: compare.lua's check, run by gom itself.
expect_same_weights() {
  local o r
  o=$("$gom" --db "$tmp/compare.db" run "$scripts/compare.lua" -- "$1" "$2" "$3" 2>&1)
  r=$?
  [ "$r" -eq 0 ] || fail "$1 and $2 differ: $o"
  echo "$(basename "$1") vs $(basename "$2"): ${o%%$'\n'*}" | grep tensors >&2 || true
}
weights() { echo "$tmp/runs.db.artifacts/run-$1/final-rank${2:-0}.safetensors"; }
compared="'train_loss', 'valid_loss', 'accuracy', 'f1_weighted'"

case $case_name in
  sgd | adam)  # N ranks at global batch B reach one process's weights and metrics at batch B
    opt=$case_name lr=0.05
    [ "$opt" = adam ] && lr=0.01
    run --db "$db" run --threads 1 "$scripts/dp_mlp.lua" --set optimizer="$opt" --set lr="$lr"
    expect_rc 0
    single=$(last_run)
    for np in 2 4; do
      mpi "$np" run --threads 1 "$scripts/dp_mlp.lua" --set optimizer="$opt" --set lr="$lr"
      expect_rc 0
      expect_out "^world $np: accuracy "
      [ "$(grep -c "accuracy" <<<"$out")" -eq 1 ] || fail "more than one rank printed"
      [ "$(grep -c "^gom: run " <<<"$err")" -eq 2 ] || fail "gom's own lines from several ranks"
      run_id=$(last_run)
      expect_sql "finished|$np" "SELECT r.status, p.value FROM runs r JOIN params p
                                 ON p.run_id = r.id AND p.key = 'dist.world_size' WHERE r.id = $run_id"
      # The gradient buffer (every parameter as f32, a flag per parameter, the interrupt flag),
      # as a ring all-reduce sends it per rank.
      bytes=$(sql "SELECT value FROM params WHERE run_id = $run_id AND key = 'dist.grad_bytes_per_step'")
      floats=$((2 * 32 + 32 + 32 * 32 + 32 + 32 * 3 + 3 + 6 + 1))
      [ "$bytes" = $((2 * (np - 1) * floats * 4 / np)) ] || fail "dist.grad_bytes_per_step is '$bytes'"
      expect_sql "1" "SELECT count(*) FROM tags WHERE run_id = $run_id AND key = 'dist.allreduce_calls'
                      AND value = '33'"  # 11 steps an epoch, 3 epochs
      # On the CPU the sums go through MPI, and the record says why not on a device.
      expect_sql "mpi (the parameters are on the CPU)" \
        "SELECT value FROM tags WHERE run_id = $run_id AND key = 'dist.allreduce_path'"
      expect_same_weights "$(weights "$single")" "$(weights "$run_id")" 1e-5
      for ((r = 1; r < np; r++)); do  # every rank took the same steps
        expect_same_weights "$(weights "$run_id")" "$(weights "$run_id" $r)" 0
      done
      expect_same_rows "$single" "$run_id" "$compared" 1e-5
      # Only rank 0 recorded: one run, one row per metric and epoch.
      expect_sql "3" "SELECT count(*) FROM metrics WHERE run_id = $run_id AND key = 'train_loss'"
    done
    ;;
  failure_after_fit | failure_in_fit)  # a failing rank fails the job, recorded by rank 0
    where=${case_name#failure_}
    for np in 2 4; do
      start=$(date +%s)
      mpi "$np" run --threads 1 "$scripts/fail_rank1.lua" --set where="$where"
      expect_failure
      [ $(($(date +%s) - start)) -lt 9 ] || fail "rank 0 did not end the job at once"
      run_id=$(last_run)
      expect_err "^gom: rank 1 of the job failed: .*fail_rank1\.lua:[0-9]+: boom"
      expect_err "^gom: run $run_id failed in "
      expect_sql "failed|1|1" "SELECT status, error LIKE 'rank 1 of the job failed: %fail_rank1.lua:%: boom%',
                              instr(error, 'stack traceback') > 0 FROM runs WHERE id = $run_id"
      if [ "$where" = after_fit ]; then  # the fit's epochs were recorded before the failure
        expect_sql "2" "SELECT count(*) FROM metrics WHERE run_id = $run_id AND key = 'train_loss'"
      fi
    done
    # Rank 0 failing (every rank fails alike): recorded as one process records it.
    mpi 2 run "$scripts/fail_rank1.lua" --set where=nowhere --set epochs=1
    expect_failure
    expect_err "no such hyperparameter"
    expect_sql "failed" "SELECT status FROM runs WHERE id = $(last_run)"
    # Refused before the run starts: no run, every rank exits with 2, one message.
    mpi 2 run --resume 999
    expect_rc 2
    [ "$(grep -c "no run 999" <<<"$err")" -eq 1 ] || fail "expected one message"
    ;;
  resume)  # killed (rank 0's process) and resumed with -np 2: the uninterrupted run's result
    args=(--threads 1 "$scripts/dp_mlp.lua" --set optimizer=adam --set lr=0.01 --set n=4096
      --set batch=16 --set dropout=0.2 --set epochs=30)
    mpi 2 run "${args[@]}"
    expect_rc 0
    whole=$(last_run)
    target=$((RANDOM % 14 + 2))  # of 30 epochs of about 0.05 s
    ef=$(mktemp)
    "$mpiexec" "${mpirun_args[@]}" -np 2 "$gom" --db "$db" run "${args[@]}" >/dev/null 2>"$ef" &
    pids+=($!)
    run_id=$((whole + 1))
    for ((i = 0; i < 600; i++)); do
      n=$(sql "SELECT count(*) FROM metrics WHERE run_id = $run_id AND key = 'train_loss'" 2>/dev/null)
      [ "${n:-0}" -ge "$target" ] && break
      sleep 0.1
    done
    sleep "0.0$((RANDOM % 10))"
    kill -KILL "$(sql "SELECT pid FROM runs WHERE id = $run_id")"
    wait "${pids[-1]}"
    [ "$(sql "SELECT status FROM runs WHERE id = $run_id")" != finished ] ||
      fail "run $run_id finished before the kill (at epoch $target): $(<"$ef")"
    killed_at=$(sql "SELECT max(epoch) FROM metrics WHERE run_id = $run_id")
    mpi 2 run --resume "$run_id"
    expect_rc 0
    expect_err "^gom: resuming from .*/run-$run_id/last\.safetensors after epoch [0-9]+ "
    [ "$(grep -c "^gom: resuming" <<<"$err")" -eq 1 ] || fail "more than one rank said so"
    expect_err "^gom: run $run_id finished in "
    cmp -s "$(weights "$whole")" "$(weights "$run_id")" ||
      fail "run $run_id (killed after epoch $killed_at, resumed): its final weights differ"
    cmp -s "$(weights "$run_id")" "$(weights "$run_id" 1)" || fail "the ranks' weights differ"
    expect_same_rows "$whole" "$run_id" "$compared" 0
    ;;
  one_rank)  # mpirun -np 1: a world of one, as plain gom run
    run --db "$db" run --threads 1 "$scripts/dp_mlp.lua"
    expect_rc 0
    mpi 1 run --threads 1 "$scripts/dp_mlp.lua"
    expect_rc 0
    expect_out "^world 1: accuracy "
    expect_sql "0" "SELECT count(*) FROM params WHERE key LIKE 'dist.%'"
    expect_sql "$(sql "SELECT key, value FROM params WHERE run_id = 1")" \
      "SELECT key, value FROM params WHERE run_id = 2"
    cmp -s "$(weights 1)" "$(weights 2)" || fail "-np 1 trained other weights"
    expect_same_rows 1 2 "$compared" 0
    ;;
  *)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "PASS [$case_name]"
