# tests/cli/lib.sh — sourced by the CLI test scripts. They set case_name and gom first.
# run ARGS...: runs gom, setting out, err and rc; fail MSG: prints them and exits 1;
# expect_*: the assertions.
out= err= rc=
run() {
  local ef
  ef=$(mktemp)
  out=$("$gom" "$@" 2>"$ef")
  rc=$?
  err=$(<"$ef")
  rm -f "$ef"
}
fail() {
  echo "FAIL [$case_name]: $*" >&2
  echo "--- exit code: $rc" >&2
  echo "--- stdout:" >&2
  echo "$out" >&2
  echo "--- stderr:" >&2
  echo "$err" >&2
  exit 1
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "expected exit code $1"; }
expect_failure() { [ "$rc" -ne 0 ] || fail "expected a non-zero exit code"; }
expect_out() { grep -Eq -- "$1" <<<"$out" || fail "stdout has no line matching /$1/"; }
expect_no_out() { ! grep -Eq -- "$1" <<<"$out" || fail "stdout has a line matching /$1/"; }
expect_err() { grep -Eq -- "$1" <<<"$err" || fail "stderr has no line matching /$1/"; }
