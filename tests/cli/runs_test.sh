#!/usr/bin/env bash
# `gom runs`, `gom show` and `gom compare` on a database made by make_runs (tests/cli/make_runs.cpp),
# one case per ctest test (tests/sdk/CMakeLists.txt):
#   runs_test.sh CASE GOM_BINARY MAKE_RUNS_BINARY
# The database holds: 1 mnist/baseline finished, 2 mnist/wide finished, 3 cifar/first failed
# ("CUDA out of memory"), 4 mnist/tiny finished without metrics.
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
# The first column of the data rows (the run ids), space-separated.
ids() { tail -n +2 <<<"$out" | awk '{print $1}' | xargs; }

case $case_name in
  runs_list)  # every run, newest first, with final valid_loss / accuracy
    run --db "$db" runs
    expect_rc 0
    expect_out "^id +experiment +name +status +started +duration +valid_loss +accuracy$"
    [ "$(ids)" = "4 3 2 1" ] || fail "expected ids 4 3 2 1 (newest first), got '$(ids)'"
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
    ;;
  runs_bad_status)  # a typo lists the accepted statuses
    run --db "$db" runs --status done
    expect_rc 2
    expect_err "done"
    expect_err "running, finished, failed, interrupted, diverged"
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
    # final = last epoch; best = min of a loss, max otherwise, with its epoch
    expect_out "^  valid_loss +0\.35 +4 +0\.3 +3$"
    expect_out "^  accuracy +0\.9 +4 +0\.91 +3$"
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
    expect_out "^  valid_loss +0\.3 \(epoch 3\) +0\.2 \(epoch 3\)$"
    expect_out "^  accuracy +0\.91 \(epoch 3\) +0\.95 \(epoch 3\)$"
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
    [ "$(ids)" = "4 3 2 1" ] || fail "GOM_DB: got '$(ids)'"
    GOM_DB=$tmp/none.db run --db "$db" runs --limit 1
    expect_rc 0
    [ "$(ids)" = "4" ] || fail "--db over GOM_DB: got '$(ids)'"
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
  *)
    echo "unknown case: $case_name" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
