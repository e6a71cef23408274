#!/usr/bin/env bash
# `gom runs`, `gom show` and `gom compare` on a database made by make_runs (tests/cli/make_runs.cpp),
# one case per ctest test (tests/sdk/CMakeLists.txt):
#   runs_test.sh CASE GOM_BINARY MAKE_RUNS_BINARY
# The database holds: 1 mnist/baseline finished, 2 mnist/wide finished, 3 cifar/first failed
# ("CUDA out of memory"), 4 mnist/tiny finished without metrics, 5 ptb/lm finished (perplexity
# 7.51 then 5.10, epoch_seconds 12.5 then 9.75, samples_per_sec 800 then 1200, lr 0.1 then 0.01,
# error_budget 0.5 then 0.2 declared "maximize"). Params: 1 optimizer.lr 0.01, fit.batch_size 64,
# model mlp; 2 optimizer.lr 0.1, fit.batch_size 64, model mlp, width 512; 3 optimizer.lr 0.001,
# fit.batch_size 128.
set -uo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 CASE GOM_BINARY MAKE_RUNS_BINARY" >&2
  exit 2
fi
case_name=$1 gom=$2 make_runs=$3
unset GOM_PLUGIN_PATH GOM_DB

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/runs.db
"$make_runs" "$db" || { echo "FAIL [$case_name]: make_runs failed" >&2; exit 1; }

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# sql QUERY: the rows of a query on $db (the sqlite3 command).
sql() { sqlite3 -batch -noheader -cmd '.timeout 20000' "$db" "$1"; }
# The first column of the data rows (the run ids), space-separated.
ids() { tail -n +2 <<<"$out" | awk '{print $1}' | xargs; }

case $case_name in
  runs_list)  # every run, newest first, with final valid_loss / accuracy
    run --db "$db" runs
    expect_rc 0
    expect_out "^id +experiment +name +status +started +duration +valid_loss +accuracy$"
    [ "$(ids)" = "5 4 3 2 1" ] || fail "expected ids 5 4 3 2 1 (newest first), got '$(ids)'"
    expect_out "^1 +mnist +baseline +finished +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +[0-9.]+s +0\.35 +0\.9$"
    expect_out "^3 +cifar +first +failed .* 2\.1 +0\.2$"
    expect_out "^4 +mnist +tiny +finished .* - +-$"
    ;;
  runs_filters)  # --experiment, --status, --limit (the global --db may follow the subcommand)
    run runs --experiment mnist --db "$db"
    expect_rc 0
    [ "$(ids)" = "4 2 1" ] || fail "--experiment mnist: got '$(ids)'"
    run --db "$db" runs --status failed
    expect_rc 0
    [ "$(ids)" = "3" ] || fail "--status failed: got '$(ids)'"
    run --db "$db" runs --experiment mnist --limit 2
    expect_rc 0
    [ "$(ids)" = "4 2" ] || fail "--limit 2: got '$(ids)'"
    run --db "$db" runs --experiment nothing
    expect_rc 0
    expect_out "^no runs$"
    # pruned (schema v4): a sweep's trial stopped early
    sql "UPDATE runs SET status = 'pruned' WHERE id = 2"
    run --db "$db" runs --status pruned
    expect_rc 0
    [ "$(ids)" = "2" ] || fail "--status pruned: got '$(ids)'"
    ;;
  runs_bad_status)  # a typo lists the accepted statuses
    run --db "$db" runs --status done
    expect_rc 2
    expect_err "done"
    expect_err "running, finished, failed, interrupted, diverged, crashed, pruned"
    ;;
  runs_where)  # --where on metrics, best:, params (typed) and columns; the keys become columns
    run --db "$db" runs --where 'accuracy > 0.88'
    expect_rc 0
    [ "$(ids)" = "2 1" ] || fail "accuracy > 0.88: got '$(ids)'"  # final 0.95 and 0.9
    run --db "$db" runs --where 'best:accuracy>=0.91'
    expect_rc 0
    [ "$(ids)" = "2 1" ] || fail "best:accuracy >= 0.91: got '$(ids)'"
    expect_out "^id +experiment +name +status +started +duration +valid_loss +accuracy +best:accuracy$"
    expect_out "^1 +mnist +baseline +finished .* 0\.35 +0\.9 +0\.91$"
    run --db "$db" runs --where 'optimizer.lr < 1e-2' --where 'fit.batch_size = 128'
    expect_rc 0
    [ "$(ids)" = "3" ] || fail "lr < 1e-2 and batch 128: got '$(ids)'"
    expect_out "^3 +cifar .* 0\.001 +128$"
    run --db "$db" runs --where 'model = mlp' --where 'name ~ "b*"'
    expect_rc 0
    [ "$(ids)" = "1" ] || fail "model = mlp and name ~ b*: got '$(ids)'"
    run --db "$db" runs --where 'status != finished'
    expect_rc 0
    [ "$(ids)" = "3" ] || fail "status != finished: got '$(ids)'"
    run --db "$db" runs --where 'perplexity < 1'
    expect_rc 0
    expect_out "^no runs$"
    # The view the conditions read: params typed.
    expect_sql "1|0.01|real" "SELECT run_id, number, type FROM param_values WHERE key = 'optimizer.lr'
                AND number < 1e-1 AND number > 1e-3"
    expect_sql "1,2" "SELECT group_concat(run_id) FROM param_values WHERE key = 'model' AND text = 'mlp'"
    ;;
  runs_sort)  # --sort [-]KEY, runs without the key last; --limit counts what matches
    run --db "$db" runs --sort -accuracy
    expect_rc 0
    [ "$(ids)" = "2 1 3 5 4" ] || fail "--sort -accuracy: got '$(ids)'"
    run --db "$db" runs --sort accuracy --limit 2
    expect_rc 0
    [ "$(ids)" = "3 1" ] || fail "--sort accuracy --limit 2: got '$(ids)'"
    run --db "$db" runs --sort=-optimizer.lr
    expect_rc 0
    [ "$(ids)" = "2 1 3 5 4" ] || fail "--sort=-optimizer.lr: got '$(ids)'"
    expect_out "^id .* accuracy +optimizer\.lr$"
    expect_out "^4 +mnist +tiny .* - +- +-$"
    run --db "$db" runs --where 'optimizer.lr > 0' --sort optimizer.lr  # numbers, not text
    expect_rc 0
    [ "$(ids)" = "3 1 2" ] || fail "--sort optimizer.lr: got '$(ids)'"
    ;;
  runs_query_errors)  # a bad expression or an unknown key: exit 2 with what is accepted
    run --db "$db" runs --where 'accuracy 0.5'
    expect_rc 2
    expect_err "--where 'accuracy 0\.5': no operator; accepted: KEY OP VALUE"
    run --db "$db" runs --where 'acuracy > 0.5'
    expect_rc 2
    expect_err "no metric, param or run column 'acuracy' in any run \(did you mean 'accuracy'\?\)"
    run --db "$db" runs --sort -optimizer.l
    expect_rc 2
    expect_err "did you mean 'optimizer\.lr'"
    run --db "$db" runs --where 'accuracy > high'
    expect_rc 2
    expect_err "accuracy is a number"
    run --db "$db" runs --sort -
    expect_rc 2
    expect_err "--sort needs a key"
    ;;
  compare_diff)  # only what differs; the best run of each metric by its direction marked '*'
    run --db "$db" compare 1 2 --diff
    expect_rc 0
    expect_out "^params that differ \(2 of 4\):$"
    expect_out "^ +\* +optimizer\.lr +0\.01 +0\.1$"
    expect_out "^ +\* +width +- +512$"
    expect_no_out "fit\.batch_size"
    expect_no_out " model "
    expect_out "^final metrics that differ:$"
    expect_out "^  valid_loss +min +0\.3 \(epoch 3\) +0\.2 \(epoch 3\) \*$"
    expect_out "^  accuracy +max +0\.91 \(epoch 3\) +0\.95 \(epoch 3\) \*$"
    sql "UPDATE params SET value = '0.1' WHERE run_id = 1 AND key = 'optimizer.lr';
         INSERT INTO params VALUES (1, 'width', '512');
         UPDATE metrics SET value = 0.3 WHERE run_id = 2 AND key = 'valid_loss' AND epoch = 3;"
    run --db "$db" compare 1 2 --diff
    expect_rc 0
    expect_out "^params: all 4 equal$"
    expect_out "^  valid_loss +min +0\.3 \(epoch 3\) \* +0\.3 \(epoch 3\) \*$"  # a tie
    run --db "$db" compare 1 5 --diff  # a metric without a direction has no best
    expect_rc 0
    expect_out "^  lr +- +- +-$"
    ;;
  show)  # provenance, sorted params, final and best metrics with their epochs
    run --db "$db" show 1
    expect_rc 0
    expect_out "^run 1$"
    expect_out "^  status +finished$"
    expect_out "^  experiment +mnist$"
    expect_out "^  name +baseline$"
    expect_out "^  started +[0-9]{4}-"
    expect_out "^  script +experiments/baseline\.lua$"
    expect_out "^  sha256 +[0-9a-f]{64}$"
    expect_out "^  seed +1$"
    expect_out "^  backend +onednn$"
    expect_out "^  device +cpu$"
    expect_out "^  threads +4$"
    expect_out "^  gom +0\.1\.0$"
    expect_out "^  git +"
    expect_no_out "^error:"
    params=$(grep -E '^  [a-z_.]+ += ' <<<"$out" | awk '{print $1}' | xargs)
    [ "$params" = "fit.batch_size model optimizer.lr" ] || fail "params not sorted: '$params'"
    expect_out "^  optimizer\.lr += +0\.01$"
    # final = last epoch; best = by the metric's direction, with its epoch
    expect_out "^  valid_loss +0\.35 +4 +0\.3 +3 +min$"
    expect_out "^  accuracy +0\.9 +4 +0\.91 +3 +max$"
    ;;
  show_best)  # best follows each metric's direction, not "max unless it is a loss"
    run --db "$db" show 5
    expect_rc 0
    expect_out "^  perplexity +5\.1 +2 +5\.1 +2 +min$"
    expect_out "^  epoch_seconds +9\.75 +2 +9\.75 +2 +min$"  # the fastest epoch
    expect_out "^  samples_per_sec +1200 +2 +1200 +2 +max$"
    expect_out "^  lr +0\.01 +2 +- +- +-$"  # no direction: no best
    expect_out "^  error_budget +0\.2 +2 +0\.5 +1 +max$"  # declared: over what the name says
    # The view says the same, and run_summary's best_* follow it.
    [ "$(sql "SELECT group_concat(key || '=' || IFNULL(best_value, 'NULL'), ' ') FROM
               (SELECT * FROM metric_summary WHERE run_id = 5 ORDER BY key)")" = \
      "epoch_seconds=9.75 error_budget=0.5 lr=NULL perplexity=5.1 samples_per_sec=1200.0" ] ||
      fail "metric_summary: $(sql "SELECT * FROM metric_summary WHERE run_id = 5")"
    [ "$(sql "SELECT direction || ',' || IFNULL(phase, '') FROM metric_info
              WHERE run_id = 1 AND key = 'valid_loss'")" = "minimize,valid" ] ||
      fail "metric_info: valid_loss is not minimize,valid"
    ;;
  show_failed)  # the failed run's error text
    run --db "$db" show 3
    expect_rc 0
    expect_out "^  status +failed$"
    expect_out "^error:$"
    expect_out "CUDA out of memory"
    run --db "$db" show 4
    expect_rc 0
    expect_out "^metrics: none$"
    ;;
  show_unknown)  # an unknown or malformed run id is a bad request
    run --db "$db" show 99
    expect_rc 2
    expect_err "no run 99"
    run --db "$db" show abc
    expect_rc 2
    expect_err "not a run id"
    ;;
  compare)  # params side by side, '*' where they differ; final and best metrics
    run --db "$db" compare 1 2
    expect_rc 0
    expect_out "run 1 +run 2$"
    expect_out "^ +\* +optimizer\.lr +0\.01 +0\.1$"
    expect_out "^ +\* +width +- +512$"
    expect_out "^ +fit\.batch_size +64 +64$"  # equal: no '*'
    expect_out "^ +model +mlp +mlp$"
    expect_out "^final metrics:$"
    expect_out "^  valid_loss +0\.35 +0\.2$"
    expect_out "^best metrics"
    expect_out "^  valid_loss +min +0\.3 \(epoch 3\) +0\.2 \(epoch 3\)$"
    expect_out "^  accuracy +max +0\.91 \(epoch 3\) +0\.95 \(epoch 3\)$"
    run --db "$db" compare 1 5
    expect_rc 0
    expect_out "^  perplexity +min +- +5\.1 \(epoch 2\)$"
    expect_out "^  epoch_seconds +min +- +9\.75 \(epoch 2\)$"
    expect_out "^  lr +- +- +-$"
    run --db "$db" compare 1 2 3
    expect_rc 0
    expect_out "^ +\* +fit\.batch_size +64 +64 +128$"
    ;;
  compare_unknown)  # an unknown id, or a single id, is a bad request
    run --db "$db" compare 1 42
    expect_rc 2
    expect_err "no run 42"
    run --db "$db" compare 1
    expect_rc 2
    ;;
  missing_db)  # no database: a clear message, exit 1, and no file created
    for cmd in "runs" "show 1" "compare 1 2"; do
      # shellcheck disable=SC2086
      run --db "$tmp/none.db" $cmd
      expect_rc 1
      expect_err "no run database at $tmp/none\.db \(runs are recorded by gom run\)"
    done
    [ ! -e "$tmp/none.db" ] || fail "a missing database was created"
    ;;
  db_env)  # $GOM_DB, else ./runs.db; --db wins over $GOM_DB
    GOM_DB=$db run runs
    expect_rc 0
    [ "$(ids)" = "5 4 3 2 1" ] || fail "GOM_DB: got '$(ids)'"
    GOM_DB=$tmp/none.db run --db "$db" runs --limit 1
    expect_rc 0
    [ "$(ids)" = "5" ] || fail "--db over GOM_DB: got '$(ids)'"
    (cd "$tmp" && "$gom" runs --status failed) >"$tmp/out" 2>"$tmp/err"
    rc=$? out=$(<"$tmp/out") err=$(<"$tmp/err")
    expect_rc 0
    [ "$(ids)" = "3" ] || fail "./runs.db: got '$(ids)'"
    mkdir "$tmp/empty"
    (cd "$tmp/empty" && "$gom" runs) >"$tmp/out" 2>"$tmp/err"
    rc=$? out=$(<"$tmp/out") err=$(<"$tmp/err")
    expect_rc 1
    expect_err "no run database at runs\.db"
    ;;
  crashed)  # a running run whose process is gone: crashed in runs, show and run_summary
    # Run 4 "ran" here in a process that has ended; run 2 on another host, silent for 5 minutes.
    sleep 0 &
    dead=$!
    wait "$dead"
    sql "UPDATE runs SET status = 'running', ended_at = NULL, host = '$(hostname)', pid = $dead,
         process_started = 1, heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-3 seconds')
         WHERE id = 4;
         UPDATE runs SET status = 'running', ended_at = NULL, host = 'elsewhere', pid = 1,
         heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-300 seconds') WHERE id = 2;"
    # run_summary alone tells another host's silence (this host's dead pid needs gom to look).
    [ "$(sql "SELECT status FROM run_summary WHERE id = 2")" = crashed ] ||
      fail "run_summary: run 2 is not crashed"
    run --db "$db" runs
    expect_rc 0
    expect_out "^4 +mnist +tiny +crashed "
    expect_out "^2 +mnist +wide +crashed "
    run --db "$db" runs --status crashed
    expect_rc 0
    [ "$(ids)" = "4 2" ] || fail "--status crashed: got '$(ids)'"
    run --db "$db" runs --where 'status = crashed'  # run 2's row still says running
    expect_rc 0
    [ "$(ids)" = "4 2" ] || fail "--where 'status = crashed': got '$(ids)'"
    run --db "$db" runs --where 'status ~ "c*"'
    expect_rc 0
    [ "$(ids)" = "4 2" ] || fail "--where 'status ~ c*': got '$(ids)'"
    run --db "$db" show 4
    expect_rc 0
    expect_out "^  status +crashed$"
    expect_out "^  process +pid $dead on $(hostname)$"
    expect_out "^  heartbeat +[0-9]{4}-"
    expect_out "ended without recording the end of the run"
    # gom could write: it recorded run 4 (certain) as crashed, not run 2 (maybe just late).
    [ "$(sql "SELECT group_concat(status) FROM (SELECT status FROM runs WHERE id IN (2, 4)
               ORDER BY id)")" = "running,crashed" ] || fail "the recorded statuses are wrong"
    [ "$(sql "SELECT status FROM run_summary WHERE id = 4")" = crashed ] ||
      fail "run_summary: run 4 is not crashed"
    ;;
  read_only)  # a database that cannot be written is still read
    sleep 0 &
    dead=$!
    wait "$dead"
    sql "UPDATE runs SET status = 'running', ended_at = NULL, host = '$(hostname)', pid = $dead,
         process_started = 1, heartbeat_at = started_at WHERE id = 4"
    # Even as root: the -shm file of a WAL database cannot be made where it is a link into a
    # missing folder (SQLite fails as on a read-only filesystem).
    ln -s "$tmp/missing/shm" "$db-shm"
    for cmd in "runs" "show 4" "compare 1 2"; do
      # shellcheck disable=SC2086
      run --db "$db" $cmd
      expect_rc 0
      expect_err "cannot be written here: reading it read-only"
    done
    run --db "$db" runs
    expect_out "^4 +mnist +tiny +crashed "
    [ "$(ids)" = "5 4 3 2 1" ] || fail "read-only: got '$(ids)'"
    rm "$db-shm"
    [ "$(sql "SELECT status FROM runs WHERE id = 4")" = running ] || fail "a reader wrote"
    # A read-only mount, where one can be made (a private mount namespace).
    mkdir "$tmp/ro"
    cp "$db" "$tmp/ro/runs.db"
    if unshare -m true 2>/dev/null; then
      out=$(unshare -m bash -c 'mount --bind -o ro "$1" "$1" && "$2" --db "$1/runs.db" runs' _ \
        "$tmp/ro" "$gom" 2>"$tmp/err")
      rc=$? err=$(<"$tmp/err")
      expect_rc 0
      [ "$(ids)" = "5 4 3 2 1" ] || fail "read-only mount: got '$(ids)'"
    else
      echo "no mount namespace here: the read-only mount part is skipped"
    fi
    ;;
  escaped)  # stored text with control characters is shown escaped
    sql "UPDATE runs SET name = 'a' || char(10) || char(27) || '[31mred' WHERE id = 1;
         UPDATE runs SET error = 'line one' || char(10) || 'two' || char(27) || ']0;title' || char(7)
         WHERE id = 3;
         INSERT INTO params VALUES (2, 'note', 'x' || char(13) || 'y' || char(155) || 'z');"
    for cmd in "runs" "show 1" "show 3" "compare 1 2"; do
      # shellcheck disable=SC2086
      run --db "$db" $cmd
      expect_rc 0
      ! grep -q $'[\x1b\x07\r]' <<<"$out" || fail "$cmd: a control character reached stdout"
      ! grep -q $'\xc2\x9b' <<<"$out" || fail "$cmd: a C1 control reached stdout"
    done
    run --db "$db" runs
    expect_out '^1 +mnist +a\\n\\x1b\[31mred +finished '
    run --db "$db" show 3
    expect_out '^  line one$'
    expect_out '^  two\\x1b\]0;title\\x07$'
    run --db "$db" compare 1 2
    expect_out '^ +\* +note +- +x\\ry\\u009bz$'
    ;;
  damaged_version)  # schema_version says 0: a clear error, not "table already exists"
    sql "DELETE FROM schema_version; INSERT INTO schema_version(version) VALUES (0);"
    run --db "$db" runs
    expect_rc 1
    expect_err "is damaged: its schema_version table says version 0"
    ;;
  *)
    echo "unknown case: $case_name" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
