#!/usr/bin/env bash
# bench/mpi_dp.sh — what data-parallel training costs on this machine. Trains the flagship MLP
# (experiments/fashion_mlp.lua: 784-256-256-10, Adam, batch 128) for a few epochs as one process
# and under `mpirun -np N`, and prints per optimizer step the training time and the part of it
# the gradients' all-reduce took (the run records dist.allreduce_*: MPI time, the wait for the
# slower rank included, and the copies into and out of the buckets); then the all-reduce alone
# (bench/allreduce_bench.cpp) for the MLP, the CNN and the char-LSTM.
#   bench/mpi_dp.sh [--build DIR] [--np N] [--epochs N] [--threads N]
# --threads: compute threads of each rank (default 1: N ranks on N cores); one process is also
# timed with N x that many.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build np=2 epochs=3 threads=1
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2 ;;
    --np) np=$2 ;;
    --epochs) epochs=$2 ;;
    --threads) threads=$2 ;;
    *) echo "usage: $0 [--build DIR] [--np N] [--epochs N] [--threads N]" >&2; exit 2 ;;
  esac
  shift 2
done
gom=$build/gom
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/runs.db
sql() { sqlite3 -batch -noheader "$db" "$1"; }

train() {  # train NP [THREADS]: one run of the flagship, its per-step figures
  local n=$1 threads=${2:-$threads} id
  if [ "$n" -eq 1 ]; then
    "$gom" --db "$db" run --threads "$threads" "$root/experiments/fashion_mlp.lua" \
      --set fit.epochs="$epochs" >/dev/null 2>&1
  else
    "${mpirun[@]}" -np "$n" "$gom" --db "$db" run --threads "$threads" \
      "$root/experiments/fashion_mlp.lua" --set fit.epochs="$epochs" >/dev/null 2>&1
  fi
  id=$(sql "SELECT max(id) FROM runs")
  # The training phase's time per step: the global batch over samples/s, the best epoch after
  # the first (which warms the caches up).
  sql "SELECT printf('%d rank(s) x %d thread(s): %.3f ms per step (%.0f samples/s)',
         $n, $threads, 1000.0 * 128 / max(value), max(value))
       FROM metrics WHERE run_id = $id AND key = 'samples_per_sec' AND epoch > 1"
  if [ "$n" -gt 1 ]; then
    sql "SELECT printf('  all-reduce per step: %.3f ms in MPI (waits included), %.3f ms copying; %s bytes sent per rank',
           1000.0 * m.value / c.value, 1000.0 * k.value / c.value, b.value)
         FROM tags m, tags k, tags c, params b
         WHERE m.run_id = $id AND m.key = 'dist.allreduce_mpi_seconds'
           AND k.run_id = $id AND k.key = 'dist.allreduce_copy_seconds'
           AND c.run_id = $id AND c.key = 'dist.allreduce_calls'
           AND b.run_id = $id AND b.key = 'dist.grad_bytes_per_step'"
  fi
}

echo "flagship MLP, $epochs epochs, $(nproc) cores"
train 1
train 1 $((np * threads))  # one process on the cores the ranks use
train "$np"
for model in mlp cnn lstm; do
  "${mpirun[@]}" -np "$np" "$build/bench/gom_allreduce_bench" --model "$model"
done
