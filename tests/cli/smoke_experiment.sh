#!/usr/bin/env bash
# A smoke test of one experiment script (experiments/CMakeLists.txt makes one ctest test per
# experiments/*.lua):
#   smoke_experiment.sh GOM_BINARY EXPERIMENT.lua
# Runs `gom --db TMP run EXPERIMENT.lua ARGS...` into a new database, then checks
# with sqlite3 that the run is recorded as finished, with at least one metric row, and that each
# --set KEY=VALUE of ARGS became a recorded hyperparameter.
#
# ARGS come from the experiment's smoke line, a comment that makes it short, such as
#   -- smoke: --set fit.epochs=1 --set limit=2000
# (split on spaces; no quoting). Every experiment must have one: a new experiment without it
# fails here with this message rather than running at full length in CI.
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 GOM_BINARY EXPERIMENT.lua" >&2
  exit 2
fi
gom=$1 script=$2
name=$(basename "$script")
unset GOM_PLUGIN_PATH GOM_DB

fail() {
  echo "FAIL [$name]: $*" >&2
  exit 1
}
command -v sqlite3 >/dev/null 2>&1 ||
  fail "the sqlite3 command is not installed (scripts/setup installs it)"

smoke=$(grep -m 1 -E '^-- smoke:' "$script") ||
  fail "no smoke line: add a comment such as '-- smoke: --set fit.epochs=1 --set limit=1000'" \
    "with the arguments that make a short run of it"
read -ra args <<<"${smoke#-- smoke:}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/runs.db

echo "+ gom --db $db run $script ${args[*]}"
"$gom" --db "$db" run "$script" "${args[@]}"
rc=$?
[ "$rc" -eq 0 ] || fail "gom run exited with $rc"

sql() { sqlite3 -batch -noheader "$db" "$1"; }
expect() {
  local got
  got=$(sql "$2") || fail "sqlite3 failed on: $2"
  [ "$got" = "$1" ] || fail "$2: expected '$1', got '$got'"
}
# One run of the script; a league or sweep adds child runs (its trials), all ended well.
expect 1 "SELECT count(*) FROM runs WHERE parent_run_id IS NULL"
top="(SELECT id FROM runs WHERE parent_run_id IS NULL)"
expect "finished||$(sha256sum "$script" | cut -d' ' -f1)" \
  "SELECT status, error, script_sha256 FROM runs WHERE id = $top"
expect 0 "SELECT count(*) FROM runs WHERE parent_run_id IS NOT NULL
          AND status NOT IN ('finished', 'pruned')"
expect 1 "SELECT count(*) > 0 FROM metrics"
# Its files (every gom.fit keeps its last checkpoint) are in this database's folder, not the repo.
expect 0 "SELECT count(*) FROM artifacts WHERE substr(path, 1, length('$tmp/runs.db.artifacts/'))
          <> '$tmp/runs.db.artifacts/'"
if grep -q 'gom\.fit' "$script" && ! grep -q 'checkpoint = false' "$script"; then
  expect 1 "SELECT count(*) > 0 FROM artifacts WHERE path LIKE '%/last.safetensors'"
fi
for ((i = 0; i < ${#args[@]}; i++)); do
  if [ "${args[i]}" = --set ]; then
    key=${args[i + 1]%%=*}
    expect 1 "SELECT count(*) FROM params WHERE key = '$key' AND run_id = $top"
  fi
done
echo "ok [$name]: $(sql "SELECT count(*) FROM metrics") metric rows, keys: \
$(sql "SELECT group_concat(key, ' ') FROM (SELECT DISTINCT key FROM metrics ORDER BY key)")"
