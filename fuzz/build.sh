#!/usr/bin/env bash
# fuzz/build.sh — builds the IDX parser's libFuzzer target with clang, whatever compiler the
# CMake build uses, and optionally runs it.
#
#   fuzz/build.sh [OUTPUT]                  build OUTPUT (default: build/fuzz/idx_fuzz)
#   fuzz/build.sh --run SECONDS [OUTPUT]    build, then fuzz for SECONDS
#
# Needs clang++ and libFuzzer (Debian: clang and libclang-rt-NN-dev, e.g. clang-14 and
# libclang-rt-14-dev) and zlib1g-dev. GOM_FUZZ_CXX picks the compiler. The run starts from the
# committed seeds (fuzz/corpus/idx, read only) and keeps what it finds in build/fuzz/corpus-idx;
# a crash leaves its input as build/fuzz/crash-* (reproduce: OUTPUT build/fuzz/crash-...).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_SECONDS=""
if [[ "${1:-}" == --run ]]; then
  RUN_SECONDS="${2:?--run needs a number of seconds}"
  shift 2
fi
OUT="${1:-$ROOT/build/fuzz/idx_fuzz}"

CXX="${GOM_FUZZ_CXX:-}"
if [[ -z "$CXX" ]]; then
  for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then CXX="$c"; break; fi
  done
fi
[[ -n "$CXX" ]] || { echo "fuzz/build.sh: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

mkdir -p "$(dirname "$OUT")"
"$CXX" -std=c++20 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Wall -Wextra -Wpedantic \
  -I"$ROOT/plugins/datasets" -I"$ROOT/host/include" \
  "$ROOT/fuzz/idx_fuzz.cpp" "$ROOT/plugins/datasets/idx_format.cpp" -lz -o "$OUT"
echo "fuzz/build.sh: built $OUT"

if [[ -n "$RUN_SECONDS" ]]; then
  WORK="$(dirname "$OUT")/corpus-idx"
  mkdir -p "$WORK"
  # New inputs go to the first folder; the committed seeds are only read.
  "$OUT" -max_total_time="$RUN_SECONDS" -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$(dirname "$OUT")/" "$WORK" "$ROOT/fuzz/corpus/idx"
fi
