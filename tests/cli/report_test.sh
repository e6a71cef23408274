#!/usr/bin/env bash
# `gom report` end to end: reports of runs, a league and a sweep are opened in headless Chromium,
# and what the page says it drew (the status element report.js writes: charts, points per chart,
# confusion matrix sums, script errors) is checked against the database with sqlite3. A
# screenshot of each is kept in ARTIFACT_DIR. One case per ctest test (tests/sdk/CMakeLists.txt):
#   report_test.sh CASE GOM_BINARY CHROMIUM ARTIFACT_DIR
# The browser cases skip (77) where CHROMIUM is empty or not found (Debian's package chromium).
set -uo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 CASE GOM_BINARY CHROMIUM ARTIFACT_DIR" >&2
  exit 2
fi
case_name=$1 gom=$2 chromium=$3 artifacts=$4
unset GOM_PLUGIN_PATH GOM_DB GOM_CHARTJS

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
trial=$here/scripts/trial_curve.lua
fit=$here/scripts/report_fit.lua

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$here/lib.sh"

use_temp_db
g() { run --db "$db" "$@"; }

need_chromium() {
  if [ -z "$chromium" ] || [ ! -x "$chromium" ]; then
    echo "SKIP [$case_name]: Chromium not found ('$chromium'): install the Debian package chromium"
    exit 77
  fi
}
# report ARGS...: writes $tmp/report.html, which must be self-contained (no src= or href= that
# reaches out: it opens offline).
report() {
  g report "$@" -o "$tmp/report.html"
  expect_rc 0
  expect_out "^wrote $tmp/report.html$"
  ! grep -Eqi '<(script|link|img)[^>]* (src|href)=' "$tmp/report.html" ||
    fail "the report loads something from outside"
}
# render NAME: opens the report in headless Chromium; the status JSON goes to $tmp/status.json,
# the screenshot to $artifacts/report_NAME.png.
render() {
  local flags=(--headless=new --no-sandbox --disable-gpu --hide-scrollbars
               --user-data-dir="$tmp/chromium" --virtual-time-budget=5000)
  timeout 120 "$chromium" "${flags[@]}" --dump-dom "file://$tmp/report.html" \
    >"$tmp/dom.html" 2>"$tmp/chromium.log" || fail "chromium --dump-dom: $(tail -5 "$tmp/chromium.log")"
  sed -n 's|.*<pre id="gom-status">\(.*\)</pre>.*|\1|p' "$tmp/dom.html" >"$tmp/status.json"
  [ -s "$tmp/status.json" ] || fail "the page wrote no status (report.js did not finish)"
  mkdir -p "$artifacts"
  local shot=$artifacts/report_$1.png
  rm -f "$shot"
  timeout 120 "$chromium" "${flags[@]}" --screenshot="$shot" --window-size=1280,2000 \
    "file://$tmp/report.html" >/dev/null 2>>"$tmp/chromium.log" || fail "chromium --screenshot failed"
  [ -s "$shot" ] || fail "no screenshot at $shot"
  echo "screenshot: $shot"
}
# selftest: opens the report with #gom-selftest (report.js then works each log-axis box and
# the first legend entry of each curve chart); its status goes to $tmp/status.json.
selftest() {
  timeout 120 "$chromium" --headless=new --no-sandbox --disable-gpu --user-data-dir="$tmp/chromium" \
    --virtual-time-budget=5000 --dump-dom "file://$tmp/report.html#gom-selftest" \
    >"$tmp/dom.html" 2>"$tmp/chromium.log" || fail "chromium --dump-dom: $(tail -5 "$tmp/chromium.log")"
  sed -n 's|.*<pre id="gom-status">\(.*\)</pre>.*|\1|p' "$tmp/dom.html" >"$tmp/status.json"
  expect_no_errors
}
# status EXPR: EXPR of the status JSON, as s (SQLite's JSON functions), with the run database.
status() { sql "SELECT $1 FROM (SELECT CAST(readfile('$tmp/status.json') AS TEXT) AS s)"; }
# expect_points QUERY: the chart → points map must equal QUERY's rows (chart id, points), as
# "id=n id=n ..." in id order.
expect_points() {
  local got want
  got=$(status "(SELECT group_concat(key || '=' || value, ' ') FROM (SELECT key, value
                 FROM json_each(json_extract(s, '\$.points')) ORDER BY key))")
  want=$(sql "SELECT group_concat(k || '=' || n, ' ') FROM ($1 ORDER BY 1)")
  [ "$got" = "$want" ] || fail "points by chart: expected [$want], got [$got]"
}
expect_no_errors() {
  [ "$(status "json_extract(s, '\$.errors')")" = "[]" ] ||
    fail "script errors: $(status "json_extract(s, '\$.errors')")"
}

case $case_name in
  runs)
    need_chromium
    g run "$fit"
    expect_rc 0
    g run "$fit" --set lr=0.5
    expect_rc 0
    report 1 2
    # The differing params, in the page's data as the report wrote it.
    grep -q '"params_differ":\["lr","optimizer.lr"\]' "$tmp/report.html" || fail "params_differ"
    render runs
    expect_no_errors
    # A chart per metric key, holding every value recorded (both runs).
    expect_points "SELECT 'metric-' || key AS k, COUNT(value) AS n FROM metrics GROUP BY key"
    expect_sql "$(sql "SELECT COUNT(DISTINCT key) FROM metrics")" \
      "SELECT json_extract(CAST(readfile('$tmp/status.json') AS TEXT), '\$.charts')"
    # Each run's confusion matrix is drawn, its counts summing to the 32 validation samples.
    [ "$(status "json_extract(s, '\$.cells')")" = '{"confusion-0":32,"confusion-1":32}' ] ||
      fail "confusion cells: $(status "json_extract(s, '\$.cells')")"
    grep -q '<tr class="differ"><td>lr</td><td>0.1</td><td>0.5</td></tr>' "$tmp/dom.html" ||
      fail "no row of lr marked as differing"
    # Every curve chart's y axis goes logarithmic; a legend click hides one run's series.
    selftest
    n=$(sql "SELECT COUNT(DISTINCT key) FROM metrics")
    [ "$(status "json_extract(s, '\$.selftest')")" = "{\"log\":$n,\"hidden\":$n}" ] ||
      fail "selftest: $(status "json_extract(s, '\$.selftest')") (expected $n charts)"
    ;;
  league)
    need_chromium
    g league run L "$trial" --contender a:x=1 --contender b:x=2,z=1 --contender c:x=3,z=3 \
      --metric score --direction maximize --seeds 7 --set epochs=3 --threads 1
    expect_rc 0
    report --league L
    render league
    expect_no_errors
    # A chart per key, one mean per contender and epoch (each with its band).
    expect_points "SELECT 'metric-' || m.key AS k, COUNT(DISTINCT t.contender || ':' || m.epoch) AS n
                   FROM trials t JOIN metrics m ON m.run_id = t.run_id
                   WHERE t.state = 'finished' GROUP BY m.key"
    # The table and the verdicts as the page shows them (as study_test.sh's league case: c's
    # mean 3 + 4 x 3/100 over seeds 0..6; with 7 seeds c beats a, p Holm 3 x 2/2^7).
    grep -q '<td>1</td><td>c</td><td>x=3 z=3</td><td>7</td><td>3.12</td>' "$tmp/dom.html" ||
      fail "no league row for c with its mean 3.12"
    grep -q '<tr class="verdict-better"><td>c</td><td>a</td>' "$tmp/dom.html" ||
      fail "no 'better' verdict of c over a"
    # A legend click hides a contender's mean with its band's two edges: 3 series a chart.
    selftest
    [ "$(status "json_extract(s, '\$.selftest')")" = '{"log":2,"hidden":6}' ] ||
      fail "selftest: $(status "json_extract(s, '\$.selftest')")"
    ;;
  sweep)
    need_chromium
    # As study_test.sh's pruning case: 5 trials finish (x = 8..4, 4 epochs), 3 are pruned after
    # epoch 1.
    g sweep run M "$trial" --param x=choice:8,7,6,5,4,3,2,1 --sampler grid --pruner median \
      --metric score --direction maximize --set epochs=4 --threads 1
    expect_rc 0
    report --sweep M
    render sweep
    expect_no_errors
    # history: the finished trials; intermediate: every score recorded (5 x 4 + 3 x 1);
    # parallel: the finished and pruned trials on 2 axes (x, score); importance: 1 param.
    expect_points "SELECT 'sweep-history' AS k, COUNT(*) AS n FROM trials WHERE state = 'finished'
                   UNION ALL SELECT 'sweep-intermediate', COUNT(m.value) FROM trials t
                     JOIN metrics m ON m.run_id = t.run_id AND m.key = 'score'
                   UNION ALL SELECT 'sweep-parallel', 2 * COUNT(*) FROM trials
                     WHERE state IN ('finished', 'pruned')
                   UNION ALL SELECT 'sweep-importance', 1"
    [ "$(status "json_extract(s, '\$.points.\"sweep-intermediate\"')")" = 23 ] ||
      fail "expected 23 intermediate values"
    ;;
  errors)  # no browser needed
    g run "$fit"
    g report 7 -o "$tmp/x.html"
    expect_rc 2
    expect_err "no run 7 in $db"
    g report --league nope -o "$tmp/x.html"
    expect_rc 2
    expect_err "no league named 'nope'"
    g report 1 --sweep S -o "$tmp/x.html"
    expect_rc 2
    expect_err 'one of them'
    g report 1
    expect_rc 2
    GOM_CHARTJS=$tmp/missing.js g report 1 -o "$tmp/x.html"
    expect_rc 1
    expect_err 'Chart.js.*install the Debian package libjs-chart.js'
    [ ! -e "$tmp/x.html" ] || fail "a failed report left a file"
    ;;
  *)
    echo "unknown case: $case_name" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
