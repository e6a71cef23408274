#!/usr/bin/env bash
# `gom run` end to end: a Lua script is run and what it did is checked row by row in the run
# database with the sqlite3 command. One case per ctest test (tests/sdk/CMakeLists.txt):
#   run_test.sh CASE GOM_BINARY
# The scripts are in tests/cli/scripts. Runs use gom's default threads (the free cores), except
# where two runs are compared bit for bit: those fix one thread count (kill_resume).
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 CASE GOM_BINARY" >&2
  exit 2
fi
case_name=$1 gom=$2
unset GOM_PLUGIN_PATH GOM_DB

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$here/scripts
repo=$(cd "$here/../.." && pwd)

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$here/lib.sh"

if ! command -v sqlite3 >/dev/null 2>&1; then
  echo "FAIL [$case_name]: the sqlite3 command is not installed (scripts/setup installs it)" >&2
  exit 1
fi

use_temp_db
# gom_run ARGS...: `gom --db $db run ARGS...` (sets out, err, rc).
gom_run() { run --db "$db" run "$@"; }
# line_of FILE MARKER: the line number of the line of FILE that contains MARKER.
line_of() { grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1; }
# epochs RUN KEY: the epochs of a metric of a run, in order, comma-separated.
epochs() {
  sql "SELECT group_concat(epoch) FROM (SELECT epoch FROM metrics WHERE run_id = $1 AND key = '$2'
       ORDER BY epoch)"
}
# param RUN KEY: a recorded hyperparameter.
param() { sql "SELECT value FROM params WHERE run_id = $1 AND key = '$2'"; }
# expect_params RUN KEY=VALUE...: each of them is recorded exactly so.
expect_params() {
  local run_id=$1 kv got
  shift
  for kv in "$@"; do
    got=$(param "$run_id" "${kv%%=*}")
    [ "$got" = "${kv#*=}" ] || fail "run $run_id: param ${kv%%=*} is '$got', expected '${kv#*=}'"
  done
}
# expect_fit_metrics RUN EPOCHS: the metrics of a fit with validation and accuracy, one row per
# epoch 1..EPOCHS and key, nothing else.
fit_keys="accuracy epoch_seconds lr samples_per_sec train_loss valid_loss"
expect_fit_metrics() {
  local run_id=$1 n=$2 want key
  want=$(seq -s, 1 "$n")
  expect_sql "$(tr ' ' '\n' <<<"$fit_keys")" \
    "SELECT DISTINCT key FROM metrics WHERE run_id = $run_id ORDER BY key"
  for key in $fit_keys; do
    [ "$(epochs "$run_id" "$key")" = "$want" ] ||
      fail "run $run_id: $key has epochs '$(epochs "$run_id" "$key")', expected '$want'"
  done
}
# expect_train_metrics RUN EPOCHS: the metrics of a fit without validation, EPOCHS as "1,2".
expect_train_metrics() {
  local key
  expect_sql "epoch_seconds lr samples_per_sec train_loss" \
    "SELECT group_concat(key, ' ') FROM (SELECT DISTINCT key FROM metrics WHERE run_id = $1
     ORDER BY key)"
  for key in epoch_seconds lr samples_per_sec train_loss; do
    [ "$(epochs "$1" "$key")" = "$2" ] || fail "run $1: $key has epochs '$(epochs "$1" "$key")'"
  done
}
# wait_for_row PID QUERY: polls until QUERY gives a number >= 1 (or PID ends; 60 s at most).
wait_for_row() {
  local pid=$1 query=$2 i n
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if grep -q "recording into" "$tmp/err" 2>/dev/null; then
      n=$(sql "$query" 2>/dev/null)
      [ "${n:-0}" -ge 1 ] 2>/dev/null && return 0
    fi
    sleep 0.1
  done
  return 1
}
# wait_for_out PID TEXT: polls until the background gom's stdout has TEXT (or PID ends; 60 s).
wait_for_out() {
  local i
  for ((i = 0; i < 600; i++)); do
    kill -0 "$1" 2>/dev/null || return 1
    grep -qF -- "$2" "$tmp/out" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# start_bg ARGS...: `gom --db $db run ARGS...` in the background; sets pid.
start_bg() {
  # Emptied here, not only by the child's redirection: wait_for_out could otherwise find the
  # previous run's output before the child truncates the file, and signal a gom that has not
  # installed its handler yet (a background job ignores SIGINT until then).
  : >"$tmp/out"
  : >"$tmp/err"
  "$gom" --db "$db" run "$@" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  pids+=("$pid")
}
# finish_bg: waits for the background gom; sets rc, out, err.
finish_bg() {
  wait "$pid"
  rc=$?
  out=$(<"$tmp/out") err=$(<"$tmp/err")
}

case $case_name in
  recorded)  # one finished run with its provenance, every hyperparameter, 3 epochs of metrics
    gom_run "$scripts/fit.lua"
    expect_rc 0
    expect_out "^fit\.lua: 3 epochs, accuracy [0-9.]+$"
    expect_err "^gom: run 1 \(fit\) recording into $db$"
    expect_err "^gom: run 1 finished in [0-9.]+ s: .*train_loss="
    expect_sql 1 "SELECT count(*) FROM runs"
    expect_sql "1|fit|finished|0|onednn|1|1|$scripts/fit.lua" \
      "SELECT r.id, e.name, r.status, r.seed, r.backend, length(r.device) > 0,
              r.threads BETWEEN 1 AND $(nproc), r.script_path
       FROM runs r JOIN experiments e ON e.id = r.experiment_id"
    expect_sql "$(sha256sum "$scripts/fit.lua" | cut -d' ' -f1)" "SELECT script_sha256 FROM runs"
    [ "$(sql "SELECT script_text FROM runs")" = "$(<"$scripts/fit.lua")" ] ||
      fail "runs.script_text is not the script"
    # ended_at after started_at, no error, no name, the version, the command line
    expect_sql "1|1|1|$("$gom" --version | cut -d' ' -f2)" \
      "SELECT ended_at >= started_at, error IS NULL, name IS NULL, gom_version FROM runs"
    expect_sql 1 "SELECT command_line LIKE '% run $scripts/fit.lua' FROM runs"
    # The one tag: the epoch whose weights the model ends with (the last: nothing put back).
    expect_sql "weights_epoch|3" "SELECT key, value FROM tags"
    # What each metric means, as the trainer and the accuracy metric declared it.
    expect_sql "accuracy|maximize|valid
epoch_seconds|minimize|
lr||
samples_per_sec|maximize|
train_loss|minimize|train
valid_loss|minimize|valid" "SELECT key, direction, phase FROM metric_info ORDER BY key"
    # The script's own params, and the defaults gom.fit resolved, each with its value.
    expect_params 1 lr=0.1 hidden=4 n=64 \
      fit.epochs=3 fit.batch_size=16 fit.valid_batch_size=16 fit.shuffle=true \
      fit.drop_last=false fit.prefetch=2 fit.seed=0 fit.backend=onednn fit.sync_every=50 \
      optimizer.type=sgd optimizer.lr=0.1 optimizer.momentum=0 optimizer.dampening=0 \
      optimizer.weight_decay=0 \
      model.type=sequential model.0.type=linear model.0.in=2 model.0.out=4 model.0.bias=true \
      model.1.type=tanh model.2.type=linear model.2.in=4 model.2.out=2 \
      loss.type=cross_entropy \
      data.train.type=synthetic data.train.task=xor data.train.n=64 data.train.seed=1 \
      data.valid.type=synthetic data.valid.task=xor data.valid.n=32 data.valid.seed=2 \
      callbacks.accuracy.name=accuracy loss.reduction=mean
    # 3 epochs of every key; 4 batches of 16 per epoch, so the steps are 4, 8, 12.
    expect_fit_metrics 1 3
    expect_sql 18 "SELECT count(*) FROM metrics"
    expect_sql "4,8,12" \
      "SELECT group_concat(step) FROM (SELECT step FROM metrics WHERE key = 'train_loss'
       ORDER BY epoch)"
    expect_sql "0.1|0.1|0.1" "SELECT group_concat(value, '|') FROM metrics WHERE key = 'lr'"
    expect_sql 3 "SELECT count(*) FROM metrics WHERE key = 'accuracy' AND value BETWEEN 0 AND 1"
    expect_sql 0 "SELECT count(*) FROM metrics WHERE value IS NULL OR wall_time <= 0
                  OR (key <> 'accuracy' AND key <> 'lr' AND value <= 0)"
    # The summary view sees the same run.
    expect_sql "1|finished|3|0.1|16" \
      "SELECT id, status, epochs, lr, batch_size FROM run_summary"
    # And gom show reads it back.
    run --db "$db" show 1
    expect_rc 0
    expect_out "^  status +finished$"
    expect_out "^  optimizer\.momentum += +0$"
    ;;
  set_overrides)  # --set reaches gom.params, fit.* and optimizer.*; bad ones fail the run
    gom_run "$scripts/fit.lua" --set fit.epochs=2 --set lr=0.05 --set optimizer.momentum=0.5 \
      --set fit.shuffle=off --set n=32
    expect_rc 0
    expect_out "^fit\.lua: 2 epochs"
    expect_sql "1|finished" "SELECT id, status FROM runs"
    expect_params 1 fit.epochs=2 lr=0.05 optimizer.lr=0.05 optimizer.momentum=0.5 \
      fit.shuffle=false n=32 data.train.n=32 fit.batch_size=16
    expect_sql "overrides|fit.epochs=2 lr=0.05 optimizer.momentum=0.5 fit.shuffle=off n=32" \
      "SELECT key, value FROM tags WHERE run_id = 1 AND key = 'overrides'"
    expect_fit_metrics 1 2
    # 32 examples in batches of 16: 2 steps per epoch.
    expect_sql "2,4" "SELECT group_concat(step) FROM (SELECT step FROM metrics
                      WHERE run_id = 1 AND key = 'train_loss' ORDER BY epoch)"
    expect_sql "0.05,0.05" "SELECT group_concat(value) FROM metrics WHERE key = 'lr'"

    fit_line=$(line_of "$scripts/fit.lua" "local result = gom.fit{")
    params_line=$(line_of "$scripts/fit.lua" "local P = gom.params{")
    # Each bad override: exit 1, the message on stderr, the run recorded as failed with the
    # message at the line of the call that took it (gom.params or gom.fit), no metrics.
    id=1
    while IFS='|' read -r set line message; do
      id=$((id + 1))
      gom_run "$scripts/fit.lua" --set "$set"
      expect_rc 1
      grep -qF -- "fit.lua:$line: $message" <<<"$err" ||
        fail "stderr lacks 'fit.lua:$line: $message'"
      expect_err "^gom: run $id failed in "
      expect_sql "failed|1|1|0|overrides|$set" \
        "SELECT status, ended_at IS NOT NULL,
                instr(error, 'fit.lua:$line: ' || '${message//\'/\'\'}') > 0,
                (SELECT count(*) FROM metrics WHERE run_id = $id), t.key, t.value
         FROM runs JOIN tags t ON t.run_id = runs.id WHERE id = $id"
    done <<EOF
fit.epochs=abc|$fit_line|--set fit.epochs=abc: 'fit.epochs' takes an integer (such as 3)
fit.epochs=2.5|$fit_line|--set fit.epochs=2.5: 'fit.epochs' takes an integer (such as 3)
fit.epoch=2|$fit_line|--set fit.epoch=2: gom.fit has no parameter 'epoch' (did you mean 'fit.epochs'?)
optimizer.lr=fast|$fit_line|--set optimizer.lr=fast: 'optimizer.lr' takes a number
optimizer.momentun=0.5|$fit_line|--set optimizer.momentun=0.5: optimizer 'sgd' has no parameter 'momentun' (did you mean 'optimizer.momentum'?)
lr=abc|$params_line|--set lr=abc: 'lr' takes a number
hiden=8|$fit_line|--set hiden=8: the script declares no such hyperparameter before gom.fit; did you mean 'hidden'?
EOF
    # Not KEY=VALUE: a usage error (exit 2) before any run is recorded.
    gom_run "$scripts/fit.lua" --set epochs
    expect_rc 2
    expect_err "--set epochs: expected KEY=VALUE"
    expect_sql $id "SELECT count(*) FROM runs"
    ;;
  failing_script)  # errors carry file:line and a traceback; what was logged before stays
    fail_lua=$scripts/fail.lua
    # error() after a 2-epoch fit
    gom_run "$fail_lua"
    expect_rc 1
    line=$(line_of "$fail_lua" "marker:boom")
    expect_err "^gom: .*fail\.lua:$line: boom$"
    expect_err "^gom: run 1 failed in "
    expect_sql "failed|1" "SELECT status, ended_at IS NOT NULL FROM runs WHERE id = 1"
    expect_sql 1 "SELECT instr(error, 'fail.lua:$line: boom') = 1 + length('$fail_lua')
                         - length('fail.lua') FROM runs WHERE id = 1"
    expect_sql 1 "SELECT error LIKE '%'||char(10)||'stack traceback:'||char(10)||'%' FROM runs
                  WHERE id = 1"
    expect_sql 1 "SELECT instr(error, 'fail.lua:$line: in main chunk') > 0 FROM runs WHERE id = 1"
    expect_train_metrics 1 "1,2"

    # An error of the C++ library called from Lua: at the line of the call.
    gom_run "$fail_lua" -- matmul
    expect_rc 1
    line=$(line_of "$fail_lua" "marker:matmul")
    expect_err "^gom: .*fail\.lua:$line: matmul: shapes \[2, 3\] and \[2, 3\] do not multiply"
    expect_err "in function 'gom\.matmul'"
    expect_sql "failed|1|1|0" \
      "SELECT status, instr(error, 'fail.lua:$line: ') > 0,
              error LIKE '%stack traceback:%', (SELECT count(*) FROM metrics WHERE run_id = 2)
       FROM runs WHERE id = 2"
    expect_sql 0 "SELECT count(*) FROM params WHERE run_id = 2"

    # An error inside a Lua callback (after_epoch of epoch 2): the callback's line and the
    # gom.fit call's; epoch 1 was recorded, epoch 2 (whose after_epoch failed) was not.
    gom_run "$fail_lua" -- callback
    expect_rc 1
    line=$(line_of "$fail_lua" "marker:cb_error")
    fit_line=$(line_of "$fail_lua" "marker:callback_fit")
    expect_err "^gom: .*fail\.lua:$fit_line: callback 'lua:failing' failed in after_epoch: .*fail\.lua:$line: cb$"
    expect_err "fail\.lua:$line: in function <.*fail\.lua:$((line - 1))>$"
    expect_sql "failed|1|1" \
      "SELECT status, instr(error, 'fail.lua:$line: cb') > 0, error LIKE '%stack traceback:%'
       FROM runs WHERE id = 3"
    expect_train_metrics 3 "1"

    # A syntax error: the file and line, nothing run.
    printf 'local x = 1\nlocal y = = 2\n' >"$tmp/syntax.lua"
    gom_run "$tmp/syntax.lua"
    expect_rc 1
    expect_err "syntax\.lua:2: unexpected symbol near '='"
    expect_sql "failed|1" "SELECT status, instr(error, 'syntax.lua:2:') > 0 FROM runs WHERE id = 4"
    ;;
  sigint)  # Ctrl-C mid-fit: the batch finishes, the epochs before are kept, exit 130
    # 4096 examples in batches of 16: 256 steps an epoch, 1000 epochs: about a minute, it never gets
    # to finish.
    start_bg "$scripts/fit.lua" --set n=4096 --set fit.epochs=1000
    wait_for_row "$pid" "SELECT count(*) FROM metrics WHERE key = 'train_loss'" ||
      { finish_bg; fail "no epoch was recorded"; }
    kill -INT "$pid"
    finish_bg
    expect_rc 130
    expect_err "^gom: interrupted; finishing the batch and recording the run"
    expect_err "^gom: run 1 interrupted in "
    k=$(sql "SELECT count(*) FROM metrics WHERE key = 'train_loss'")
    if [ "$k" -lt 1 ] || [ "$k" -ge 1000 ]; then fail "$k epochs recorded"; fi
    expect_err "interrupted \(Ctrl-C\) during epoch $((k + 1)); $k epoch\(s\) were recorded"
    expect_sql "interrupted|1|1" \
      "SELECT status, ended_at >= started_at,
              instr(error, 'during epoch $((k + 1)); $k epoch(s) were recorded') > 0
       FROM runs"
    expect_fit_metrics 1 "$k"
    expect_sql "interrupted|$k" "SELECT status, epochs FROM run_summary"

    # SIGTERM in a hand-written loop: the Lua hook stops it at once; every logged row is kept.
    start_bg "$repo/experiments/quadratic.lua" --set steps=100000000 --set n=16
    wait_for_row "$pid" "SELECT count(*) FROM metrics WHERE run_id = 2 AND key = 'loss'" ||
      { finish_bg; fail "no loss was recorded"; }
    kill -TERM "$pid"
    finish_bg
    expect_rc 130
    expect_err "^gom: run 2 interrupted in "
    expect_sql "interrupted|1|1" \
      "SELECT status, ended_at IS NOT NULL, instr(error, 'interrupted (Ctrl-C)') > 0
       FROM runs WHERE id = 2"
    # loss, a, b, c at steps 10, 20, ..., 10k: none missing
    expect_sql "a|b|c|loss" "SELECT group_concat(key, '|') FROM (SELECT DISTINCT key FROM metrics
                             WHERE run_id = 2 ORDER BY key)"
    expect_sql "10|1|1" \
      "SELECT min(epoch), max(epoch) = 10 * count(*), count(*) * 4 = (SELECT count(*) FROM metrics
       WHERE run_id = 2) FROM metrics WHERE run_id = 2 AND key = 'loss'"
    ;;
  sigint_loops)  # one Ctrl-C ends any Lua loop: in a fit's callback, behind pcall, in a coroutine
    id=0
    for where in callback pcall coroutine; do
      id=$((id + 1))
      start_bg "$scripts/loop.lua" -- "$where"
      wait_for_out "$pid" looping || { finish_bg; fail "$where: the script never got to its loop"; }
      kill -INT "$pid"
      for ((i = 0; i < 100; i++)); do  # 10 s at most
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        finish_bg
        fail "$where: gom still runs 10 s after one SIGINT"
      fi
      finish_bg
      expect_rc 130
      expect_err "^gom: run $id interrupted in "
      expect_err "loop\.lua:[0-9]+: interrupted \(Ctrl-C\)"
      expect_sql "interrupted|1|1" \
        "SELECT status, ended_at IS NOT NULL, instr(error, 'interrupted (Ctrl-C)') > 0
         FROM runs WHERE id = $id"
    done
    ;;
  concurrent)  # two gom run into one new database at once: no lost row, no "database is locked"
    for round in 1 2 3; do
      db=$tmp/concurrent$round.db
      # 30 epochs of 32 batches each: long enough (~0.3 s) for the two to overlap.
      "$gom" --db "$db" run "$scripts/fit.lua" --set fit.epochs=30 --set n=512 \
        >"$tmp/out1" 2>"$tmp/err1" &
      p1=$!
      "$gom" --db "$db" run "$scripts/fit.lua" --set fit.epochs=30 --set n=512 \
        >"$tmp/out2" 2>"$tmp/err2" &
      p2=$!
      pids+=("$p1" "$p2")
      wait "$p1"
      rc1=$?
      wait "$p2"
      rc2=$?
      for i in 1 2; do
        # shellcheck disable=SC2034  # rc, out and err are what lib.sh's expect_* read
        rc=$((i == 1 ? rc1 : rc2)) out=$(<"$tmp/out$i") err=$(<"$tmp/err$i")
        case_name="concurrent round $round process $i"
        expect_rc 0
        ! grep -Eiq "locked|busy" <<<"$err" || fail "stderr mentions a locked or busy database"
        expect_err "^gom: run [12] finished in "
      done
      case_name=concurrent
      expect_sql "1|finished
2|finished" "SELECT id, status FROM runs ORDER BY id"
      expect_sql 360 "SELECT count(*) FROM metrics"
      expect_fit_metrics 1 30
      expect_fit_metrics 2 30
      # each migration applied once (one row per version), however the two raced; one uid
      expect_sql "1|1" "SELECT count(*) = max(version) AND max(version) >= 3,
                               (SELECT count(*) FROM database) FROM schema_version"
      expect_sql 1 "SELECT count(*) FROM experiments"
      echo "round $round: the runs $(sql "SELECT CASE WHEN max(started_at) < min(ended_at)
        THEN 'overlapped' ELSE 'did not overlap' END FROM runs")"
    done
    ;;
  diverged)  # a non-finite loss: status diverged, exit 1, the epoch named, epoch 1 kept
    gom_run "$scripts/diverge.lua"
    expect_rc 1
    expect_err "the loss is [-a-z]+ at epoch 2, training batch [0-9]+: training diverged"
    expect_err "^gom: run 1 diverged in "
    expect_sql "diverged|1|1" \
      "SELECT status, ended_at IS NOT NULL,
              instr(error, 'diverge.lua:$(line_of "$scripts/diverge.lua" "gom.fit{"): the loss is ') > 0
       FROM runs"
    expect_sql "1" "SELECT group_concat(epoch) FROM metrics WHERE key = 'train_loss'"
    expect_sql "1|1|1" \
      "SELECT count(*), min(value) > 0, max(value) < 1e6 FROM metrics WHERE key = 'train_loss'"
    expect_params 1 loss.type=mse optimizer.lr=0.01 fit.shuffle=false data.train.task=quadratic
    ;;
  custom_loop)  # a hand-written loop logs with gom.log: loss, a, b, c every 10 steps
    gom_run "$repo/experiments/quadratic.lua" --set steps=50
    expect_rc 0
    expect_out "^fitted y = "
    expect_err "^gom: run 1 \(quadratic\) recording into "
    expect_sql "1|quadratic|finished|1" \
      "SELECT r.id, e.name, r.status, r.error IS NULL FROM runs r JOIN experiments e
       ON e.id = r.experiment_id"
    for key in loss a b c; do
      expect_sql "10,20,30,40,50|10,20,30,40,50" \
        "SELECT group_concat(epoch), group_concat(step) FROM (SELECT epoch, step FROM metrics
         WHERE key = '$key' ORDER BY epoch)"
    done
    expect_sql 20 "SELECT count(*) FROM metrics"
    # The loss goes down from its first logged value.
    expect_sql 1 "SELECT (SELECT value FROM metrics WHERE key = 'loss' AND epoch = 50)
                         < (SELECT value FROM metrics WHERE key = 'loss' AND epoch = 10)"
    expect_params 1 steps=50 lr=0.05 log_every=10 n=256 a=3 b=-2 c=0.5
    expect_sql "overrides|steps=50" "SELECT key, value FROM tags"
    ;;
  options)  # --name, --experiment, --seed, script arguments
    gom_run "$scripts/fit.lua" --name first --experiment xor-tests --seed 7 --set fit.epochs=1
    expect_rc 0
    expect_sql "first|xor-tests|7|7" \
      "SELECT r.name, e.name, r.seed, (SELECT value FROM params WHERE run_id = r.id
       AND key = 'fit.seed') FROM runs r JOIN experiments e ON e.id = r.experiment_id"
    # The same seed gives the same losses; another seed other ones.
    gom_run "$scripts/fit.lua" --seed 7 --set fit.epochs=1
    expect_rc 0
    gom_run "$scripts/fit.lua" --seed 8 --set fit.epochs=1
    expect_rc 0
    expect_sql "1|0" \
      "SELECT (SELECT value FROM metrics WHERE run_id = 1 AND key = 'train_loss')
              = (SELECT value FROM metrics WHERE run_id = 2 AND key = 'train_loss'),
              (SELECT value FROM metrics WHERE run_id = 1 AND key = 'train_loss')
              = (SELECT value FROM metrics WHERE run_id = 3 AND key = 'train_loss')"
    run --db "$db" runs --experiment xor-tests
    expect_rc 0
    expect_out "^1 +xor-tests +first +finished "
    # `arg`: arg[0] is the script, then the arguments after --.
    printf 'print("args", #arg, arg[0], arg[1], arg[2])\n' >"$tmp/args.lua"
    gom_run "$tmp/args.lua" -- one "two words"
    expect_rc 0
    [ "$out" = "args"$'\t'"2"$'\t'"$tmp/args.lua"$'\t'"one"$'\t'"two words" ] ||
      fail "unexpected arg table"
    # A backend that is not loaded is a usage error, before any run.
    gom_run "$scripts/fit.lua" --backend nosuch
    expect_rc 2
    expect_err "--backend nosuch: no such backend \(loaded: .*onednn"
    expect_sql 4 "SELECT count(*) FROM runs"
    ;;
  script_files)  # what gom run refuses to read as a script: a device, a FIFO, over 16 MiB
    # Each one bounded (4 GiB of address space, 30 s): a gom that reads them would never stop.
    bounded() {
      out=$(ulimit -v 4194304; timeout 30 "$gom" --db "$db" run --threads 1 "$@" 2>"$tmp/err")
      rc=$?
      err=$(<"$tmp/err")
    }
    bounded /dev/zero
    expect_rc 2
    expect_err "^gom: the script /dev/zero is a character device; give a Lua script file$"
    mkfifo "$tmp/fifo.lua"
    bounded "$tmp/fifo.lua"
    expect_rc 2
    expect_err "the script .*fifo\.lua is a FIFO; give a Lua script file$"
    truncate -s 17M "$tmp/big.lua"
    bounded "$tmp/big.lua"
    expect_rc 2
    expect_err "the script .*big\.lua has 17825792 bytes; a script may have at most 16 MiB \(16777216 \
bytes\)$"
    expect_sql 0 "SELECT count(*) FROM runs"
    # 16 MiB exactly is still a script (a comment and padding).
    {
      echo 'print("sixteen")'                                  # 17 bytes
      head -c $((16 * 1024 * 1024 - 17 - 3)) /dev/zero | tr '\0' ' '
      echo '--'                                                # 3 bytes
    } >"$tmp/ok.lua"
    [ "$(stat -c %s "$tmp/ok.lua")" -eq $((16 * 1024 * 1024)) ] || fail "ok.lua is not 16 MiB"
    gom_run "$tmp/ok.lua"
    expect_rc 0
    expect_out "^sixteen$"
    ;;
  kill_resume)  # killed with SIGKILL at a random moment, resumed: the same weights and metrics
    # resume.lua: spirals, dropout, Adam, a step schedule and a checkpoint every epoch.
    # One thread for every run compared bit for bit: a reduction split over another number of
    # threads may round differently (a resumed run takes its recorded count).
    gom_run --threads 1 "$scripts/resume.lua" --set n=4096 --set epochs=24
    expect_rc 0
    rows() {
      sql "SELECT key, step, epoch, value FROM metrics WHERE run_id = $1
           AND key NOT IN ('epoch_seconds', 'samples_per_sec') ORDER BY key, epoch, step"
    }
    for run_id in 2 3 4; do
      # The kill lands in a random epoch (1-12), at a random point of it: at least 12 epochs
      # (about 0.4 s) before the end, more than the polling's delay on a loaded machine.
      target=$((RANDOM % 12 + 1))
      start_bg --threads 1 "$scripts/resume.lua" --set n=4096 --set epochs=24
      wait_for_row "$pid" "SELECT count(*) >= $target FROM metrics
                           WHERE run_id = $run_id AND key = 'train_loss'" ||
        fail "run $run_id recorded fewer than $target epochs before the kill"
      sleep "0.0$((RANDOM % 10))"
      kill -KILL "$pid"
      finish_bg
      [ "$(sql "SELECT status FROM runs WHERE id = $run_id")" = running ] ||
        fail "run $run_id finished before the kill (at epoch $target)"
      killed_at=$(sql "SELECT max(epoch) FROM metrics WHERE run_id = $run_id")
      run --db "$db" run --resume "$run_id"
      expect_rc 0
      expect_err "^gom: resuming from $tmp/runs\.db\.artifacts/run-$run_id/last\.safetensors after epoch [0-9]+ "
      expect_err "^gom: run $run_id finished in "
      cmp -s "$tmp/runs.db.artifacts/run-1/final.safetensors" \
        "$tmp/runs.db.artifacts/run-$run_id/final.safetensors" ||
        fail "run $run_id (killed after epoch $killed_at, resumed): its final weights differ"
      [ "$(rows 1)" = "$(rows "$run_id")" ] ||
        fail "run $run_id (killed after epoch $killed_at, resumed): its metric rows differ"
    done
    # A finished run has nothing to resume; a run without checkpoints cannot be resumed.
    run --db "$db" run --resume 1
    expect_rc 2
    expect_err "^gom: --resume 1: the run finished; there is nothing to resume$"
    start_bg "$scripts/fit.lua" --set fit.checkpoint=false
    wait_for_row "$pid" "SELECT count(*) FROM metrics WHERE run_id = 5" || true
    kill -KILL "$pid"
    finish_bg
    if [ "$(sql "SELECT status FROM runs WHERE id = 5")" = running ]; then
      run --db "$db" run --resume 5
      expect_rc 2
      expect_err "run 5 has no checkpoint to resume from"
    fi
    ;;
  kill_resume_lua_module)  # kill_resume with the model written as Lua modules (gom.module)
    # 30 epochs of 4096 samples (about 1 s); the kill in the first 12, well before the end.
    gom_run --threads 1 "$scripts/resume_lua_module.lua" --set n=4096 --set epochs=30
    expect_rc 0
    expect_params 1 model.type=spiral_net model.hidden=64 model.blocks.0.type=block \
      model.blocks.1.lin.out=64
    rows() {
      sql "SELECT key, step, epoch, value FROM metrics WHERE run_id = $1
           AND key NOT IN ('epoch_seconds', 'samples_per_sec') ORDER BY key, epoch, step"
    }
    target=$((RANDOM % 12 + 1))
    start_bg --threads 1 "$scripts/resume_lua_module.lua" --set n=4096 --set epochs=30
    wait_for_row "$pid" "SELECT count(*) >= $target FROM metrics
                         WHERE run_id = 2 AND key = 'train_loss'" ||
      fail "run 2 recorded fewer than $target epochs before the kill"
    sleep "0.0$((RANDOM % 10))"
    kill -KILL "$pid"
    finish_bg
    [ "$(sql "SELECT status FROM runs WHERE id = 2")" = running ] ||
      fail "run 2 finished before the kill (at epoch $target)"
    killed_at=$(sql "SELECT max(epoch) FROM metrics WHERE run_id = 2")
    run --db "$db" run --resume 2
    expect_rc 0
    expect_err "^gom: resuming from $tmp/runs\.db\.artifacts/run-2/last\.safetensors after epoch [0-9]+ "
    cmp -s "$tmp/runs.db.artifacts/run-1/final.safetensors" \
      "$tmp/runs.db.artifacts/run-2/final.safetensors" ||
      fail "run 2 (killed after epoch $killed_at, resumed): its final weights differ"
    [ "$(rows 1)" = "$(rows 2)" ] ||
      fail "run 2 (killed after epoch $killed_at, resumed): its metric rows differ"
    ;;
  two_databases)  # two databases in one folder: each run's files are its database's alone
    gom_run "$scripts/fit.lua"  # runs.db, run 1
    expect_rc 0
    other=$tmp/other.db
    run --db "$other" run --threads 1 "$scripts/fit.lua" --set lr=0.5  # other.db, run 1
    expect_rc 0
    a=$tmp/runs.db.artifacts/run-1/last.safetensors b=$tmp/other.db.artifacts/run-1/last.safetensors
    [ -f "$a" ] && [ -f "$b" ] || fail "expected $a and $b (every fit keeps its last checkpoint)"
    cmp -s "$a" "$b" && fail "the two databases' run 1 share a checkpoint"
    [ -e "$tmp/artifacts" ] && fail "a shared artifacts/ folder was made beside the databases"
    # Each database has its own uid; each checkpoint names its run, database and script.
    uid=$(sql "SELECT uid FROM database")
    [[ $uid =~ ^[0-9a-f]{32}$ ]] || fail "database uid '$uid' is not 32 hex digits"
    [ "$uid" != "$(sqlite3 "$other" "SELECT uid FROM database")" ] || fail "both uids are $uid"
    # A checkpoint that is not the run's own is refused, naming what differs: another database's
    # run 1 (the collision of the issue) ...
    sql "UPDATE runs SET status = 'failed'"
    cp "$b" "$a"
    run --db "$db" run --resume 1
    expect_rc 2
    expect_err "^gom: --resume 1: .*/runs\.db\.artifacts/run-1/last\.safetensors is not this run's checkpoint: database uid [0-9a-f]{32} \(this run's: $uid\)$"
    # ... and another run of the same database.
    gom_run "$scripts/fit.lua"  # run 2
    cp "$tmp/runs.db.artifacts/run-2/last.safetensors" "$a"
    run --db "$db" run --resume 1
    expect_rc 2
    expect_err "is not this run's checkpoint: run id 2 \(this run's: 1\)$"
    ;;
  resume_after_fit)  # every fit checkpoints by default; a run failing after it resumes to its end
    GOM_TEST_FAIL_AFTER_FIT=1 gom_run "$scripts/fit.lua"
    expect_rc 1
    expect_err "fit\.lua:[0-9]+: failing after the fit, as asked"
    first=$(grep -E '^fit\.lua: ' <<<"$out")
    [ "$first" != "" ] || fail "the first run printed no result"
    expect_params 1 fit.checkpoint=true
    run --db "$db" run --resume 1
    expect_rc 0
    expect_err "^gom: resuming from .*/runs\.db\.artifacts/run-1/last\.safetensors after epoch 3 \(step 12\)$"
    # gom.fit returned the completed fit's result: the same line as the first time.
    [ "$(grep -E '^fit\.lua: ' <<<"$out")" = "$first" ] ||
      fail "the resumed fit returned another result than the completed fit ('$first')"
    expect_err "^gom: run 1 finished in [0-9.]+ s: .*accuracy="
    expect_fit_metrics 1 3
    expect_sql finished "SELECT status FROM runs WHERE id = 1"
    # Opting out: no checkpoint, nothing to resume.
    GOM_TEST_FAIL_AFTER_FIT=1 gom_run "$scripts/fit.lua" --set fit.checkpoint=false
    expect_rc 1
    [ -e "$tmp/runs.db.artifacts/run-2" ] && fail "checkpoint = false wrote $tmp/runs.db.artifacts/run-2"
    run --db "$db" run --resume 2
    expect_rc 2
    expect_err "run 2 has no checkpoint to resume from"
    ;;
  db_locked_past_run)  # the database stays locked past the run's end: the script's own error
    # is printed, the run's end cannot be recorded, gom exits non-zero
    GOM_DB_BUSY_TIMEOUT_MS=300 gom_run "$scripts/locked.lua" -- "$db" 6 0.2
    expect_rc 1
    expect_err "^gom: warning: run database $db: writing metrics: database is locked; "
    expect_err "^gom: .*locked\.lua:$(line_of "$scripts/locked.lua" "own error"): the script's own error$"
    expect_err "^gom: the end of run 1 could not be recorded: it stays 'running' in $db$"
    for ((i = 0; i < 100; i++)); do [ -e "$db.locked" ] || break; sleep 0.1; done
    expect_sql running "SELECT status FROM runs WHERE id = 1"
    ;;
  db_locked_then_free)  # the lock ends before the run does: the kept rows are written at the end
    GOM_DB_BUSY_TIMEOUT_MS=300 gom_run "$scripts/locked.lua" -- "$db" 1 2
    expect_rc 1
    expect_err "^gom: warning: run database $db: writing metrics: database is locked; "
    expect_err "locked\.lua:$(line_of "$scripts/locked.lua" "own error"): the script's own error$"
    expect_sql "x|1|1|1.0
x|2|2|2.0" "SELECT key, step, epoch, value FROM metrics WHERE run_id = 1 ORDER BY epoch"
    expect_sql "failed|1" "SELECT status, error LIKE '%the script''s own error%' FROM runs"
    ;;
  filesize_limit)  # a file-size limit: an error naming it, the run failed, no temporary files
    (ulimit -f 300 && run --db "$db" run --threads 1 "$scripts/big.lua" &&
      printf '%s\n' "$rc" >"$tmp/rc" && printf '%s' "$err" >"$tmp/err")
    rc=$(<"$tmp/rc") err=$(<"$tmp/err")
    expect_rc 1
    expect_err "callback 'checkpoint' failed in .*last\.safetensors.*File too large"
    expect_sql "failed" "SELECT status FROM runs WHERE id = 1"
    leftovers=$(find "$tmp" -name '*.tmp.*')
    [ -z "$leftovers" ] || fail "temporary files left behind: $leftovers"
    ;;
  resume_record)  # --resume runs the recorded overrides, unaltered script, of a run not alive
    # tag.lua prints its params, fits with checkpoints, and fails after the fit while
    # GOM_TEST_FAIL is set: the run is failed with a checkpoint, so --resume finishes it.
    cat >"$tmp/tag.lua" <<'LUA'
local P = gom.params{tag = "x", n = 64}
print("tag=" .. P.tag .. "|n=" .. P.n)
local train = gom.dataset("synthetic", {task = "xor", n = P.n, seed = 1})
local model = gom.sequential{gom.layer("linear", {["in"] = 2, out = 2})}
gom.fit{model = model, train = train, loss = "cross_entropy", epochs = 1, batch_size = 16,
        optimizer = gom.optimizer("sgd", {lr = 0.1})}  -- gom.fit keeps the last checkpoint
if os.getenv("GOM_TEST_FAIL") then error("failing as asked") end
LUA
    GOM_TEST_FAIL=1 gom_run "$tmp/tag.lua" --set "tag=a n=32"
    expect_rc 1
    expect_out "^tag=a n=32\|n=64$"
    expect_sql "0|tag|a n=32" "SELECT position, key, value FROM overrides WHERE run_id = 1"
    run --db "$db" run --threads 1 --resume 1
    expect_rc 0
    expect_out "^tag=a n=32\|n=64$"
    expect_params 1 'tag="a n=32"' n=64

    # A run of schema v1 has its overrides only in the tag: they are split as well as they can.
    GOM_TEST_FAIL=1 gom_run "$tmp/tag.lua" --set n=32 --set tag=b
    expect_rc 1
    sql "DELETE FROM overrides WHERE run_id = 2"
    run --db "$db" run --threads 1 --resume 2
    expect_rc 0
    expect_out "^tag=b\|n=32$"

    # A script text changed in the database is not run.
    GOM_TEST_FAIL=1 gom_run "$tmp/tag.lua"
    expect_rc 1
    sql "UPDATE runs SET script_text = 'os.execute(\"touch $tmp/tampered\")' || script_text
         WHERE id = 3"
    run --db "$db" run --threads 1 --resume 3
    expect_rc 2
    expect_err "^gom: --resume 3: the stored script text does not match its script_sha256 \(recorded [0-9a-f]{64}, the text has [0-9a-f]{64}\)"
    [ ! -e "$tmp/tampered" ] || fail "the tampered script ran"
    expect_sql "failed" "SELECT status FROM runs WHERE id = 3"

    # A run whose process is alive is not resumed (two processes would write one record).
    start_bg "$scripts/fit.lua" --set n=4096 --set fit.epochs=1000 --set fit.checkpoint=false
    wait_for_row "$pid" "SELECT count(*) FROM metrics WHERE run_id = 4" ||
      { finish_bg; fail "run 4 recorded no epoch"; }
    run --db "$db" run --threads 1 --resume 4
    expect_rc 2
    expect_err "^gom: --resume 4: the run is still running \(pid $pid on $(hostname), last heartbeat [0-9]{4}-"
    run --db "$db" runs
    expect_out "^4 +fit +- +running "
    kill -KILL "$pid"
    finish_bg
    run --db "$db" runs
    expect_out "^4 +fit +- +crashed "
    run --db "$db" run --threads 1 --resume 4
    expect_rc 2
    expect_err "run 4 has no checkpoint to resume from"
    ;;
  option_ranges)  # numbers out of range are refused, naming the option and the range
    for args in "--resume 99999999999999999999" "--resume 0" "--seed 18446744073709551616" \
      "--seed -1" "--seed 9223372036854775808"; do
      # shellcheck disable=SC2086
      gom_run $args "$scripts/fit.lua"
      expect_rc 2
      opt=${args%% *}
      expect_err "^$opt: '${args#* }' is not an integer from [01] to 9223372036854775807"
    done
    run --db "$db" runs --limit 99999999999999999999
    expect_rc 2
    expect_err "^--limit: '99999999999999999999' is not an integer from 0 to 9223372036854775807"
    [ ! -e "$db" ] || expect_sql 0 "SELECT count(*) FROM runs"
    gom_run --seed 9223372036854775807 --set fit.epochs=1 "$scripts/fit.lua"
    expect_rc 0
    expect_sql 9223372036854775807 "SELECT seed FROM runs"
    ;;
  sizes)  # sizes too large end the run as failed with the shape named; --threads is bounded
    xor=$repo/experiments/xor.lua
    # 2^62 hidden units: [2^62, 2] weights overflow 64 bits (this used to segfault and leave the
    # run 'running'); 10^12: representable, but more memory than the machine has.
    id=0
    while IFS='|' read -r hidden message; do
      id=$((id + 1))
      gom_run "$xor" --set "hidden=$hidden"
      expect_rc 1
      grep -qF -- "$message" <<<"$err" || fail "stderr lacks '$message'"
      expect_err "^gom: run $id failed in "
      expect_sql "failed|1|1" \
        "SELECT status, ended_at IS NOT NULL, instr(error, '$message') > 0 FROM runs
         WHERE id = $id"
    done <<EOF
4611686018427387904|shape [4611686018427387904, 2] is too large: its number of elements overflows 64 bits
1000000000000|cannot allocate a tensor of shape [1000000000000, 2] (f32, 8000000000000 bytes): out of CPU memory
EOF
    # --threads: at most 4 per usable core and 1024 in all; a usage error before any run.
    max=$((4 * $(nproc)))
    [ "$max" -le 1024 ] || max=1024
    printf 'print("threads ok")\n' >"$tmp/ok.lua"
    run --db "$db" run --threads 100000 "$tmp/ok.lua"
    expect_rc 2
    expect_err "^gom: --threads 100000: at most $max \(4 per core this process may use, [0-9]+ cores, and never more than 1024\)$"
    run --db "$db" run --threads $((max + 1)) "$tmp/ok.lua"
    expect_rc 2
    expect_sql 2 "SELECT count(*) FROM runs"
    run --db "$db" run --threads "$max" "$tmp/ok.lua"
    expect_rc 0
    expect_out "^threads ok$"
    expect_sql "$max" "SELECT threads FROM runs WHERE id = 3"
    ;;
  *)
    echo "unknown case: $case_name" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
