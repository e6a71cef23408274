#!/usr/bin/env bash
# `gom plot` end to end: plots of runs, a league and a sweep are drawn by gnuplot, and the data
# blocks given to it (--data) are checked against the database with sqlite3; the SVGs must hold
# one point per value plotted (plus one a legend entry). A league's and a sweep's SVG are kept
# in ARTIFACT_DIR. One case per ctest test (tests/sdk/CMakeLists.txt):
#   plot_test.sh CASE GOM_BINARY ARTIFACT_DIR
# The cases skip (77) where gnuplot is not installed (Debian's package gnuplot-nox).
set -uo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 CASE GOM_BINARY ARTIFACT_DIR" >&2
  exit 2
fi
case_name=$1 gom=$2 artifacts=$3
unset GOM_PLUGIN_PATH GOM_DB GOM_GNUPLOT COLUMNS LINES

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
trial=$here/scripts/trial_curve.lua

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$here/lib.sh"

if ! command -v gnuplot >/dev/null; then
  echo "SKIP [$case_name]: gnuplot not found: install the Debian package gnuplot-nox"
  exit 77
fi

use_temp_db
g() { run --db "$db" "$@"; }

# got_sql COLUMNS: SQL that loads $tmp/data.txt (the --data file) into the temporary table got:
# a row per data row, with the block's number, its label's first word (after "# ") and third
# (a run's or trial's number), then the row's numbers.
got_sql() {
  echo "CREATE TEMP TABLE got(block, label, id, $1);"
  awk -v q="'" '/^\$d[0-9]+ << EOD$/ { b++; next }
       /^# / { label = $2; id = $3; sub(/[^0-9].*/, "", id); if (id == "") id = "NULL"; next }
       /^EOD$/ { next }
       { row = ""; for (i = 1; i <= NF; i++) row = row ", " ($i == "NaN" ? "NULL" : $i);
         print "INSERT INTO got VALUES(" b ", " q label q ", " id row ");" }' "$tmp/data.txt"
}
# points FILE SYMBOL: how many points of the symbol (gpPt6: pt 7, a circle; gpPt1: pt 2, a
# cross) the SVG draws.
points() { grep -o "xlink:href='#$2' transform" "$1" | wc -l; }
near() { echo "abs(($1) - ($2)) <= 1e-12 * max(1, abs($2))"; }

case $case_name in
  runs)
    g run "$trial" --set x=1 --set epochs=4 --seed 3
    expect_rc 0
    g run "$trial" --set x=2 --set epochs=4 --seed 5
    expect_rc 0
    g plot 1 2 --metric score -o "$tmp/p.svg" --data "$tmp/data.txt"
    expect_rc 0
    expect_out "^wrote $tmp/p.svg$"
    # Every recorded score, at its epoch, and nothing else.
    expect_sql "8|8" "$(got_sql 'x, v')
      SELECT (SELECT COUNT(*) FROM got), (SELECT COUNT(*) FROM got JOIN metrics m
        ON m.run_id = got.id AND m.key = 'score' AND m.epoch = got.x AND $(near got.v m.value))"
    [ "$(points "$tmp/p.svg" gpPt6)" = 10 ] || fail "expected 8 points + 2 legend entries"
    grep -q '<title>gnuplot_plot_2</title>' "$tmp/p.svg" || fail "no second line"
    # x = seconds since the run's first metric row.
    g plot 1 2 --metric loss --x time -o "$tmp/t.svg" --data "$tmp/data.txt"
    expect_rc 0
    expect_sql "8|8" "$(got_sql 'x, v')
      SELECT (SELECT COUNT(*) FROM got), (SELECT COUNT(*) FROM got JOIN metrics m
        ON m.run_id = got.id AND m.key = 'loss' AND $(near got.v m.value)
        AND $(near got.x "m.wall_time - (SELECT MIN(wall_time) FROM metrics WHERE run_id = m.run_id)")
        AND got.x >= 0)"
    grep -q '>time (s)<' "$tmp/t.svg" || fail "no x label 'time (s)'"
    ;;
  league)
    g league run L "$trial" --contender a:x=1 --contender b:x=2,z=1 --contender c:x=3,z=3 \
      --metric score --direction maximize --seeds 5 --set epochs=3 --threads 1
    expect_rc 0
    g plot --league L --metric score -o "$tmp/league.svg" --data "$tmp/data.txt"
    expect_rc 0
    # Per contender (a block each, labelled with its name) and epoch: the mean over its seeds,
    # inside its band.
    expect_sql "9|9|9" "$(got_sql 'x, mean, low, high')
      SELECT (SELECT COUNT(*) FROM got),
        (SELECT COUNT(*) FROM got JOIN (SELECT t.contender, m.epoch, AVG(m.value) AS mean
           FROM trials t JOIN metrics m ON m.run_id = t.run_id AND m.key = 'score'
           WHERE t.state = 'finished' GROUP BY t.contender, m.epoch) w
         ON w.contender = got.label AND w.epoch = got.x AND $(near got.mean w.mean)),
        (SELECT COUNT(*) FROM got WHERE low <= mean AND mean <= high AND low < high)"
    grep -c '^# [abc]$' "$tmp/data.txt" | grep -qx 3 || fail "expected blocks labelled a, b, c"
    [ "$(points "$tmp/league.svg" gpPt6)" = 12 ] || fail "expected 9 means + 3 legend entries"
    # 3 translucent bands, each a polygon through low and high at the 3 epochs.
    bands=$(grep -o "<polygon [^>]*fill-opacity = '0.200000' points = '[^']*'" "$tmp/league.svg" |
              sed "s/.*points = '//; s/'\$//" | awk '{ print NF }' | tr '\n' ' ')
    [ "$bands" = "6 6 6 " ] || fail "expected 3 bands of 6 corners, got [$bands]"
    mkdir -p "$artifacts"
    cp "$tmp/league.svg" "$artifacts/plot_league.svg"
    echo "plot: $artifacts/plot_league.svg"
    ;;
  sweep)
    # As study_test.sh's pruning case: 5 trials finish (x = 8..4, 4 epochs), 3 are pruned after
    # epoch 1.
    g sweep run M "$trial" --param x=choice:8,7,6,5,4,3,2,1 --sampler grid --pruner median \
      --metric score --direction maximize --set epochs=4 --threads 1
    expect_rc 0
    g plot --sweep M -o "$tmp/sweep.svg" --data "$tmp/data.txt"
    expect_rc 0
    # Blocks: 1 finished (number, value), 2 pruned (number, last value), 3 best so far.
    expect_sql "5|5|3|3|1" "$(got_sql 'x, v')
      SELECT (SELECT COUNT(*) FROM got JOIN trials t ON t.number + 1 = got.x
                WHERE got.block = 1 AND t.state = 'finished' AND $(near got.v t.value)),
             (SELECT COUNT(*) FROM trials WHERE state = 'finished'),
             (SELECT COUNT(*) FROM got JOIN trials t ON t.number + 1 = got.x
                WHERE got.block = 2 AND t.state = 'pruned' AND $(near got.v "(SELECT value FROM
                  metrics WHERE run_id = t.run_id AND key = 'score' ORDER BY epoch DESC LIMIT 1)")),
             (SELECT COUNT(*) FROM trials WHERE state = 'pruned'),
             (SELECT COUNT(*) FROM got b WHERE b.block = 3 AND $(near b.v "(SELECT MAX(v) FROM got f
                WHERE f.block = 1 AND f.x <= b.x)")) = (SELECT COUNT(*) FROM got WHERE block = 1)"
    [ "$(points "$tmp/sweep.svg" gpPt6)" = 6 ] || fail "expected 5 finished + 1 legend entry"
    [ "$(points "$tmp/sweep.svg" gpPt1)" = 4 ] || fail "expected 3 pruned + 1 legend entry"
    mkdir -p "$artifacts"
    cp "$tmp/sweep.svg" "$artifacts/plot_sweep.svg"
    echo "plot: $artifacts/plot_sweep.svg"
    # The trials' curves: every score recorded (5 x 4 + 3 x 1), pruned ones labelled so.
    g plot --sweep M --intermediate --log-y -o "$tmp/inter.png" --data "$tmp/data.txt"
    expect_rc 0
    [ "$(head -c 4 "$tmp/inter.png" | tail -c 3)" = PNG ] || fail "not a PNG"
    expect_sql "23|23|3" "$(got_sql 'x, v')
      SELECT (SELECT COUNT(*) FROM got JOIN trials t ON t.number + 1 = got.id
                JOIN metrics m ON m.run_id = t.run_id AND m.key = 'score' AND m.epoch = got.x
                  AND $(near got.v m.value)),
             (SELECT COUNT(*) FROM metrics WHERE key = 'score'),
             $(grep -c '^# trial [0-9]* (pruned)$' "$tmp/data.txt")"
    ;;
  terminal)
    g run "$trial" --set x=1 --set epochs=4
    COLUMNS=90 LINES=25 g plot 1 --metric loss
    expect_rc 0
    expect_out 'loss: run 1'
    expect_out 'loss \(lower is better\)'
    [ "$(wc -l <<<"$out")" -ge 24 ] || fail "expected a plot of 25 lines"
    [ "$(awk '{ if (length > n) n = length } END { print n }' <<<"$out")" -le 90 ] ||
      fail "wider than COLUMNS"
    ;;
  errors)
    g run "$trial" --set epochs=2
    g plot 1 --metric nope
    expect_rc 2
    expect_err "no metric 'nope' recorded \(metrics: loss, score\)"
    g plot 7 --metric loss
    expect_rc 2
    expect_err "no run 7 in $db"
    g plot --league nope --metric loss
    expect_rc 2
    expect_err "no league named 'nope'"
    g plot --sweep nope
    expect_rc 2
    expect_err "no sweep named 'nope'"
    g plot 1 --metric loss -o "$tmp/x.pdf"
    expect_rc 2
    expect_err 'FILE.svg or FILE.png'
    g plot 1 --metric loss --x wall
    expect_rc 2
    expect_err 'epoch, step or time'
    GOM_GNUPLOT=$tmp/missing g plot 1 --metric loss -o "$tmp/x.svg"
    expect_rc 1
    expect_err 'install the Debian package gnuplot-nox'
    [ ! -e "$tmp/x.svg" ] || fail "a failed plot left a file"
    ;;
  *)
    echo "unknown case: $case_name" >&2
    exit 2
    ;;
esac
echo "ok [$case_name]"
