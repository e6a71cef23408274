#!/usr/bin/env bash
# The flagship at full length: experiments/fashion_mlp.lua (10 epochs on all of Fashion-MNIST)
# must reach at least 88.5% test accuracy at its last epoch, and record samples/s per epoch.
#   fashion_accuracy.sh GOM_BINARY EXPERIMENT
set -uo pipefail
gom=$1 script=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/runs.db
if ! "$gom" --db "$db" run "$script" --threads 1 --seed 0 >"$tmp/out" 2>&1; then
  cat "$tmp/out" >&2
  echo "FAIL: gom run $script exited non-zero" >&2
  exit 1
fi
sql() { sqlite3 -batch -noheader "$db" "$1"; }
acc=$(sql "SELECT final_accuracy FROM run_summary WHERE id = 1")
epochs=$(sql "SELECT COUNT(*) FROM metrics WHERE run_id = 1 AND key = 'samples_per_sec' AND value > 0")
echo "final test accuracy $acc after 10 epochs; samples/s recorded for $epochs epochs"
awk -v a="$acc" 'BEGIN { exit !(a >= 0.885) }' || { echo "FAIL: accuracy $acc < 0.885" >&2; exit 1; }
[ "$epochs" = 10 ] || { echo "FAIL: samples_per_sec recorded for $epochs epochs, not 10" >&2; exit 1; }
