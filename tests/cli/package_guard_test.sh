#!/usr/bin/env bash
# The package guard (scripts/lib/package_guard.sh), one case per ctest test (tests/CMakeLists.txt):
#   package_guard_test.sh CASE BUILD_DIR
# build / bench: the scripts' own lists cover every file the build and the benchmarks use.
# catches_*: a list with one package taken out fails, naming the file, the package and the fix.
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 CASE BUILD_DIR" >&2
  exit 2
fi
case_name=$1 build_dir=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
guard="$root/scripts/lib/package_guard.sh"

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# lib.sh's run() calls $gom: the guard is the program under test here.
gom=$guard

# without PKG SCRIPT: SCRIPT's own list less PKG, in a file; its path in $list.
without() {
  list=$(mktemp)
  trap 'rm -f "$list"' EXIT
  "$root/scripts/$2" --list-packages | grep -vx "$1" >"$list"
  grep -qx "$1" < <("$root/scripts/$2" --list-packages) || fail "$1 is not in scripts/$2's list"
}

case $case_name in
  build)
    run build "$build_dir"
    expect_rc 0
    expect_out 'package guard \(build\): all [0-9]+ files come from packages scripts/setup installs'
    ;;
  bench)  # 77 (skipped) where PyTorch is not installed: scripts/bench installs it
    run bench
    [ "$rc" -eq 77 ] && { echo "$err"; exit 77; }
    expect_rc 0
    expect_out 'package guard \(bench\): all [0-9]+ files come from packages scripts/bench installs'
    ;;
  catches_opencl)  # the missing step of issue 11: libdnnl-dev's CMake config needs OpenCL
    without ocl-icd-opencl-dev setup
    run build "$build_dir" --list "$list"
    expect_rc 1
    expect_err 'libOpenCL\.so \(OpenCL_LIBRARY in .*CMakeCache\.txt\) comes from ocl-icd-opencl-dev'
    expect_err 'Fix: add ocl-icd-opencl-dev to PACKAGES in scripts/setup'
    ;;
  catches_config_dir)  # a package found only through its CMake config folder (*_DIR)
    without libsqlitecpp-dev setup
    run build "$build_dir" --list "$list"
    expect_rc 1
    expect_err 'cmake/SQLiteCpp/.*\(SQLiteCpp_DIR in .*\) comes from libsqlitecpp-dev'
    ;;
  catches_blas)  # torch runs on the reference BLAS unless libopenblas0-openmp is listed
    run bench
    [ "$rc" -eq 77 ] && { echo "$err"; exit 77; }
    without libopenblas0-openmp bench
    run bench --list "$list"
    expect_rc 1
    expect_err 'openblas-openmp/libopenblas.*comes from libopenblas0-openmp'
    expect_err 'Fix: add libopenblas0-openmp to BENCH_PACKAGES in scripts/bench'
    ;;
  *)
    echo "unknown case: $case_name" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
