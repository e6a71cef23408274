#!/usr/bin/env bash
# safetensors files between gom and PyTorch, both ways: torch writes a file that gom reads and
# checks (safetensors_interop check), gom writes one that torch reads and checks
# (safetensors_torch.py check). Each checker is also shown a copy with one data byte changed and
# must refuse it, so that a checker that accepts anything cannot pass. Exits 77 (skipped) when
# the Python ($GOM_PYTHON, default /usr/bin/python3) cannot import torch.
# Registered by tests/sdk/CMakeLists.txt.
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 SAFETENSORS_INTEROP SAFETENSORS_TORCH_PY" >&2
  exit 2
fi
interop=$1 script=$2
python=${GOM_PYTHON:-/usr/bin/python3}

if ! "$python" -c "import torch" >/dev/null 2>&1; then
  echo "SKIP: $python cannot import torch"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gom_st_interop.XXXXXX") || { echo "FAIL: mktemp" >&2; exit 1; }
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
run() {  # run WHAT COMMAND...: the command must succeed
  local what=$1
  shift
  "$@" || fail "$what: '$*' exited with $?"
}
# A copy of $1 at $2 with its last byte (data of a non-empty tensor) changed.
corrupt() {
  cp "$1" "$2" || fail "cp $1"
  local size last
  size=$(stat -c %s "$2")
  last=$(od -An -tu1 -j $((size - 1)) -N1 "$2" | tr -d ' ')
  printf "\\$(printf %03o $(((last + 1) % 256)))" |
    dd of="$2" bs=1 seek=$((size - 1)) conv=notrunc status=none || fail "dd $2"
  cmp -s "$1" "$2" && fail "the corrupted copy of $1 is unchanged"
}

echo "== torch writes, gom reads"
run "torch write" "$python" "$script" write "$work/torch.safetensors"
run "gom check" "$interop" check "$work/torch.safetensors"
corrupt "$work/torch.safetensors" "$work/torch_bad.safetensors"
if "$interop" check "$work/torch_bad.safetensors" 2>/dev/null; then
  fail "gom accepted a torch file with a changed byte"
fi

echo "== gom writes, torch reads"
run "gom write" "$interop" write "$work/gom.safetensors"
run "torch check" "$python" "$script" check "$work/gom.safetensors"
corrupt "$work/gom.safetensors" "$work/gom_bad.safetensors"
if "$python" "$script" check "$work/gom_bad.safetensors" 2>/dev/null; then
  fail "torch accepted a gom file with a changed byte"
fi
echo "PASS: safetensors files round-trip between gom and PyTorch"
