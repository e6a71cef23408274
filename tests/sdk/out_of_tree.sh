#!/usr/bin/env bash
# The SDK as a plugin author uses it: installs this build into a temporary prefix, builds
# plugins/examples/swish against that install (find_package(gom) through CMAKE_PREFIX_PATH), then
# runs the installed `gom` on the plugin and checks its values and gradient with swish_check.
# Registered by tests/sdk/CMakeLists.txt; the work folder is kept when a step fails.
set -uo pipefail

if [ $# -ne 8 ]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR SWISH_CHECK CMAKE GENERATOR MAKE_PROGRAM CXX BUILD_TYPE" >&2
  exit 2
fi
build=$1 src=$2 swish_check=$3 cmake=$4 generator=$5 make_program=$6 cxx=$7 build_type=$8
unset GOM_PLUGIN_PATH  # only what this test names may be found

# gom prints real paths, so the work folder's is used throughout.
work=$(mktemp -d "${TMPDIR:-/tmp}/gom_sdk_test.XXXXXX") && work=$(cd "$work" && pwd -P)
[ -n "$work" ] || { echo "FAIL: cannot make a temporary folder" >&2; exit 1; }
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() {
  echo "FAIL: $*" >&2
  echo "(work folder kept: $work)" >&2
  trap - EXIT
  exit 1
}
step() { echo "== $*"; }
# Runs a command with its output in a log, shown only when it fails.
logged() {
  local log=$work/$1.log rc
  shift
  "$@" >"$log" 2>&1
  rc=$?
  [ "$rc" -eq 0 ] || { cat "$log" >&2; fail "'$*' exited with $rc"; }
}
# Runs a command; sets out to its stdout and stderr, and fails if it exits non-zero.
run() {
  local rc
  out=$("$@" 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] || { echo "$out" >&2; fail "'$*' exited with $rc"; }
}
expect_in() {  # expect_in TEXT PATTERN WHAT
  grep -Eq -- "$2" <<<"$1" || { echo "$1" >&2; fail "$3: no line matches /$2/"; }
}

step "install $build into $prefix"
logged install "$cmake" --install "$build" --prefix "$prefix"
[ -x "$prefix/bin/gom" ] || fail "the install has no bin/gom"
for f in include/gom/plugin.h include/gom/layer.h; do
  [ -f "$prefix/$f" ] || fail "the install has no $f"
done
config=$(find "$prefix" -name gomConfig.cmake | head -n1)
[ -n "$config" ] || fail "the install has no gomConfig.cmake"
cfgdir=$(dirname "$config")
for f in gomConfigVersion.cmake gomTargets.cmake GomPlugin.cmake; do
  [ -f "$cfgdir/$f" ] || fail "the install has no $f beside gomConfig.cmake"
done
libdir=$(dirname "$(dirname "$cfgdir")")  # <prefix>/<libdir>/cmake/gom
[ -e "$libdir/libgom.so" ] || fail "the install has no libgom.so in $libdir"
[ -f "$libdir/gom/plugins/libgom_onednn.so" ] ||
  fail "the install has no libgom_onednn.so in $libdir/gom/plugins"

step "configure plugins/examples/swish against the install"
logged configure "$cmake" -S "$src/plugins/examples/swish" -B "$work/swish" -G "$generator" \
  -DCMAKE_MAKE_PROGRAM="$make_program" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_PREFIX_PATH="$prefix"
found=$(sed -n 's/^gom_DIR:PATH=//p' "$work/swish/CMakeCache.txt")
[ "$found" = "$cfgdir" ] || fail "find_package(gom) found '$found', not the install's $cfgdir"

step "build it"
logged build "$cmake" --build "$work/swish"
so=$work/swish/plugins/libgom_swish.so
[ -f "$so" ] || fail "the build made no $so (gom_add_plugin's output folder)"

step "gom --plugin $so describe layer swish"
run "$prefix/bin/gom" --plugin "$so" describe layer swish
expect_in "$out" "^layer 'swish'" "describe's title"
expect_in "$out" "gom_swish" "describe's library"
expect_in "$out" "^ +beta +number +1 +a number" "the beta row (number, default 1)"

step "gom --plugin $so plugins"
run "$prefix/bin/gom" --plugin "$so" plugins
expect_in "$out" "^ +gom_swish +$so" "the library list"
expect_in "$out" "^ +swish +gom_swish +self-gated" "the layer list"

step "install the plugin into the same prefix; gom finds it through GOM_PLUGIN_PATH"
logged install_swish "$cmake" --install "$work/swish" --prefix "$prefix"
installed=$libdir/gom/plugins/libgom_swish.so
[ -f "$installed" ] || fail "the plugin's install put no $installed"
run env GOM_PLUGIN_PATH="$libdir/gom/plugins" "$prefix/bin/gom" describe layer swish
expect_in "$out" "^ +beta +number" "describe of the installed plugin"

# Once libgom looks for plugins beside itself (<libdir>/gom/plugins), the install needs no
# GOM_PLUGIN_PATH at all; until then an installed gom scans the folders configured at build time.
run "$prefix/bin/gom" plugins
if grep -Eq "^ +gom_onednn +$libdir/gom/plugins/" <<<"$out"; then
  step "the installed gom loads the plugins installed beside it, swish included"
  expect_in "$out" "^ +gom_swish +$installed" "the installed gom's default plugins"
else
  echo "NOTE: the installed gom does not load plugins from $libdir/gom/plugins by default"
fi

step "swish values and gradient ($swish_check)"
"$swish_check" "$so" || fail "swish_check found wrong values (above)"
echo "PASS: out-of-tree plugin built against the installed SDK, loaded and checked"
