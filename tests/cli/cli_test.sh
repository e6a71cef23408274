#!/usr/bin/env bash
# The `gom` command's output and exit codes, one case per ctest test (tests/sdk/CMakeLists.txt):
#   cli_test.sh CASE GOM_BINARY TEST_PLUGIN_DIR
# Assertions name only what is sure to exist (the oneDNN backend); other components are counted.
set -uo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 CASE GOM_BINARY TEST_PLUGIN_DIR" >&2
  exit 2
fi
case_name=$1 gom=$2 test_plugins=$3
unset GOM_PLUGIN_PATH

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case $case_name in
  plugins)  # every library, every kind's heading, the oneDNN backend with its device
    run plugins
    expect_rc 0
    expect_out "^plugin libraries \([1-9][0-9]*\):"
    expect_out "^ +gom_onednn +/.*/libgom_onednn\.so$"
    expect_out "^backends \([1-9][0-9]*\):"
    # Every kind has at least one built-in component (by count: names may still change).
    for kind in layers optimizers datasets callbacks; do
      expect_out "^$kind \([1-9][0-9]*\):"
    done
    expect_out "^ +onednn +cpu +available +gom_onednn +oneDNN"
    ;;
  cuda_backend_status)  # the CUDA plugin loads without a GPU, says so, and refuses to run
    run plugins
    expect_rc 0
    grep -Eq -- "^ +gom_cuda " <<<"$out" || { echo "SKIP: the CUDA backend is not built"; exit 77; }
    if grep -Eq -- "^ +cuda +cuda +available " <<<"$out"; then
      echo "SKIP: this machine has a CUDA device (tests/gpu covers it)"
      exit 77
    fi
    expect_out "^ +cuda +cuda +no CUDA device.* +gom_cuda +CUDA runtime"
    run describe backend cuda
    expect_rc 0
    expect_out "^  status   no CUDA device"
    expect_out "^kernels on cuda \([1-9][0-9]*\):"
    script=$(mktemp --suffix=.lua)
    echo 'gom.log("x", 1)' >"$script"
    run run "$script" --backend cuda --db "${script%.lua}.db"
    rm -f "$script" "${script%.lua}.db"*
    expect_rc 2
    expect_err "--backend cuda: backend 'cuda' cannot run here: no CUDA device"
    ;;
  describe_every_component)  # whatever `gom plugins` lists, `gom describe` can show
    run plugins
    expect_rc 0
    listing=$out
    n=0
    while read -r kind name; do
      run describe "$kind" "$name"
      expect_rc 0
      expect_out "^$kind '$name'$"
      expect_out "^  library  "
      [ "$kind" = backend ] ||
        expect_out "^(parameters: none|  parameter +type +default +accepted +doc)$"
      n=$((n + 1))
    done < <(awk '/^[a-z]+s \([0-9]+\):$/ { kind = substr($1, 1, length($1) - 1); next }
                  /^[a-z]/ { kind = "" }
                  kind != "" && /^  [^ ]/ { print kind, $1 }' \
                 <<<"$listing")
    out=$listing
    [ "$n" -ge 1 ] || fail "found no component to describe in the listing"
    echo "described $n components"
    ;;
  describe_backend)
    run describe backend onednn
    expect_rc 0
    expect_out "^backend 'onednn'$"
    expect_out "^  library  gom_onednn \(/.*libgom_onednn\.so\)$"
    expect_out "^  device   cpu$"
    expect_out "^kernels on cpu \([1-9][0-9]*\):"
    expect_out "matmul"
    ;;
  describe_unknown)  # the registry's message, with its suggestion, on stderr; exit 2
    run describe backend onednnn
    expect_rc 2
    expect_err "unknown backend 'onednnn' \(did you mean 'onednn'\?\); known backends: .*onednn"
    [ -z "$out" ] || fail "expected nothing on stdout"
    run describe layer no_such_layer_at_all
    expect_rc 2
    expect_err "unknown layer 'no_such_layer_at_all'"
    ;;
  unknown_kind)
    run describe widget linear
    expect_rc 2
    expect_err "unknown kind 'widget'; kinds: backend, layer, optimizer, dataset, callback"
    ;;
  bad_plugin)  # the loader's own message, naming the file; non-zero exit
    bad=$test_plugins/libgomtest_bad_abi.so
    [ -f "$bad" ] || { echo "FAIL: $bad is not built" >&2; exit 1; }
    run --plugin "$bad" plugins
    expect_failure
    expect_err "libgomtest_bad_abi\.so: incompatible ABI version \(plugin: 999, host: [0-9]+\)"
    ;;
  missing_plugin)
    run --plugin /nonexistent/libgom_nothing.so describe backend onednn
    expect_failure
    expect_err "plugin /nonexistent/libgom_nothing\.so: no such file"
    # A folder is not a plugin: say so, and what is expected instead.
    run --plugin "$test_plugins" describe backend onednn
    expect_failure
    expect_err "plugin $test_plugins: is a directory; a plugin is a shared library file \(libgom_NAME\.so\)"
    ;;
  plugin_after_subcommand)  # --plugin is global: it may follow the subcommand, and repeat
    good=$test_plugins/libgomtest_fused_square.so
    [ -f "$good" ] || { echo "FAIL: $good is not built" >&2; exit 1; }
    run describe backend onednn --plugin "$good" --plugin "$good"
    expect_rc 0
    expect_out "test_square \(from gomtest_fused_square\)"
    ;;
  usage)  # no subcommand, an unknown one, a missing argument: usage errors, exit 2
    run
    expect_rc 2
    expect_err "subcommand is required"
    run frobnicate
    expect_rc 2
    run describe layer
    expect_rc 2
    expect_err "NAME is required"
    run --help
    expect_rc 0
    expect_out "plugins"
    expect_out "describe"
    ;;
  version)
    run --version
    expect_rc 0
    expect_out "^gom [0-9]+\.[0-9]+\.[0-9]+$"
    ;;
  *)
    echo "unknown case '$case_name'" >&2
    exit 2
    ;;
esac
echo "PASS [$case_name]"
