# tests/cli/lib.sh — sourced by the CLI test scripts. They set case_name and gom first.
# run ARGS...: runs gom, setting out, err and rc; fail MSG: prints them and exits 1;
# expect_*: the assertions; use_temp_db, sql and expect_sql: a temporary run database.
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

# use_temp_db: a new folder $tmp holding the database $db, removed at exit with the background
# gom processes listed in pids (killed if the test ends early).
use_temp_db() {
  tmp=$(mktemp -d)
  db=$tmp/runs.db
  pids=()
  trap cleanup_temp_db EXIT
}
cleanup_temp_db() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
# sql QUERY: the rows of a query on $db, columns separated by '|', NULL as an empty string.
sql() { sqlite3 -batch -noheader -cmd '.timeout 20000' "$db" "$1"; }
# expect_sql EXPECTED QUERY: the query's whole output must be EXPECTED.
expect_sql() {
  local got
  got=$(sql "$2") || fail "sqlite3 failed on: $2"
  [ "$got" = "$1" ] || fail "$2"$'\n'"--- expected:"$'\n'"$1"$'\n'"--- got:"$'\n'"$got"
}
