#!/usr/bin/env bash
# fuzz/build.sh — builds a parser's libFuzzer target with clang, whatever compiler the CMake
# build uses, and optionally runs it.
#
#   fuzz/build.sh [--run SECONDS] [--target NAME] [OUTPUT]
#     NAME: idx (default), csv, text, ratings or safetensors; OUTPUT: default build/fuzz/NAME_fuzz
#     --run SECONDS: then fuzz for SECONDS
#
# Needs clang++ and libFuzzer (Debian: clang and libclang-rt-NN-dev, e.g. clang-14 and
# libclang-rt-14-dev), zlib1g-dev and nlohmann-json3-dev. GOM_FUZZ_CXX picks the compiler. The
# run starts from the committed seeds (fuzz/corpus/NAME, read only) and keeps what it finds in
# build/fuzz/corpus-NAME; a crash leaves its input as build/fuzz/crash-* (reproduce: OUTPUT
# build/fuzz/crash-...).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_SECONDS=""
TARGET=idx
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --run) RUN_SECONDS="${2:?--run needs a number of seconds}"; shift 2 ;;
    --target) TARGET="${2:?--target needs a name}"; shift 2 ;;
    *) echo "fuzz/build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
D="$ROOT/plugins/datasets"
INCLUDES=(-I"$ROOT/plugins/datasets" -I"$ROOT/host/include")
case "$TARGET" in
  idx) SOURCES=("$D/idx_format.cpp"); LIBS=(-lz) ;;
  safetensors) SOURCES=("$ROOT/host/core/safetensors_format.cpp"); LIBS=()
               INCLUDES+=(-I"$ROOT/host/core") ;;
  csv) SOURCES=("$D/csv_format.cpp"); LIBS=() ;;
  text) SOURCES=("$D/text_format.cpp"); LIBS=() ;;
  ratings) SOURCES=("$D/ratings_format.cpp" "$D/csv_format.cpp"); LIBS=() ;;
  *) echo "fuzz/build.sh: unknown target $TARGET (idx, csv, text, ratings, safetensors)" >&2; exit 2 ;;
esac
OUT="${1:-$ROOT/build/fuzz/${TARGET}_fuzz}"

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
  "${INCLUDES[@]}" \
  "$ROOT/fuzz/${TARGET}_fuzz.cpp" "${SOURCES[@]}" "${LIBS[@]}" -o "$OUT"
echo "fuzz/build.sh: built $OUT"

if [[ -n "$RUN_SECONDS" ]]; then
  WORK="$(dirname "$OUT")/corpus-$TARGET"
  mkdir -p "$WORK"
  # New inputs go to the first folder; the committed seeds are only read.
  "$OUT" -max_total_time="$RUN_SECONDS" -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$(dirname "$OUT")/" "$WORK" "$ROOT/fuzz/corpus/$TARGET"
fi
