#!/usr/bin/env bash
# An experiment at full length does what its header promises, checked in the run database:
#   experiment_check.sh GOM_BINARY EXPERIMENT.lua 'SQL returning 1 when it holds' WHAT
# The run is `gom --db TMP run --seed 0 EXPERIMENT.lua`, recorded as run 1; the SQL
# may read tables runs, params, metrics and the view run_summary. WHAT describes the claim; the
# values of SHOW (a second SQL, optional, from $SHOW) are printed beside it.
set -uo pipefail
gom=$1 script=$2 claim=$3 what=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/runs.db
if ! "$gom" --db "$db" run "$script" --seed 0 >"$tmp/out" 2>&1; then
  cat "$tmp/out" >&2
  echo "FAIL: gom run $script exited non-zero" >&2
  exit 1
fi
sql() { sqlite3 -batch -noheader -separator ' ' "$db" "$1"; }
if [ -n "${SHOW:-}" ]; then echo "$(basename "$script"): $(sql "$SHOW")"; fi
[ "$(sql "$claim")" = 1 ] || { tail -5 "$tmp/out" >&2; echo "FAIL: $what" >&2; exit 1; }
echo "ok: $what"
