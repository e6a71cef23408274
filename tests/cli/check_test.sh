#!/usr/bin/env bash
# `gom check` end to end: check files (written here) run tests/cli/scripts/trial_curve.lua, whose
# final score is x + (1 + z) seed / 100 and loss (x - 2)^2 + (y - 1)^2 + seed / 1000, over seeds,
# and the verdicts, the exit status, the JUnit XML (read with python3's xml.etree) and the runs
# left in the database are checked. One case per ctest test (tests/sdk/CMakeLists.txt):
#   check_test.sh CASE GOM_BINARY
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 CASE GOM_BINARY" >&2
  exit 2
fi
case_name=$1 gom=$2
unset GOM_PLUGIN_PATH GOM_DB

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
trial=$here/scripts/trial_curve.lua

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$here/lib.sh"

use_temp_db
g() { run --db "$db" "$@"; }
# check_file NAME LINE...: writes $tmp/NAME.lua running trial_curve.lua with those lines.
check_file() {
  local name=$1
  shift
  mkdir -p "$(dirname "$tmp/$name")"
  { echo "-- check-script: $trial"; printf '%s\n' "$@"; } >"$tmp/$name.lua"
}
# junit QUERY: python3 evaluates QUERY with `root`, the parsed JUnit file $tmp/j.xml.
junit() {
  /usr/bin/python3 -c "import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
print($1)" "$tmp/j.xml" || fail "python3 could not read the JUnit file"
}
expect_junit() {
  local got
  got=$(junit "$2")
  [ "$got" = "$1" ] || fail "JUnit: $2"$'\n'"--- expected: $1"$'\n'"--- got: $got"
}

case $case_name in
  pass)
    # Scores 1, 1.01, 1.02 on seeds 0..2: the mean's interval [1, 1.02] is above 0.9.
    check_file holds '-- check-set: x=1' '-- check-seeds: 3' '-- check: score >= 0.9'
    g check "$tmp/holds.lua" --junit "$tmp/j.xml" --jobs 2
    expect_rc 0
    expect_out '^  holds +score +>= 0\.9 +maximize +0\.9 +1\.01 ± 0\.01 \(n=3\) +\+0\.11 +\+12\.22% +- +pass$'
    expect_out '^1 claim: 1 pass, 0 inconclusive, 0 fail$'
    expect_junit "gom check 1 0" "root.tag == 'testsuites' and ' '.join([root.get('name'), root.get('tests'), root.get('failures')])"
    expect_junit "holds|score >= 0.9|check.holds|0" \
      "'|'.join([root[0].get('name'), root[0][1].get('name'), root[0][1].get('classname'), str(len(root.findall('.//failure')))])"
    expect_junit "pass 1.01 3" \
      "' '.join(p.get('value') for p in root[0][1][0] if p.get('name') in ('verdict', 'candidate_mean', 'candidate_n'))"
    # The runs stay in the database: a parent run and one child run per seed.
    expect_sql "check holds|finished|3|pass" \
      "SELECT r.name, r.status, (SELECT COUNT(*) FROM runs c WHERE c.parent_run_id = r.id AND c.status = 'finished'),
              (SELECT value FROM tags WHERE run_id = r.id AND key = 'check.verdict')
       FROM runs r WHERE r.parent_run_id IS NULL"
    expect_sql "0|1|2" "SELECT group_concat(seed, '|') FROM (SELECT seed FROM runs WHERE parent_run_id = 1 ORDER BY seed)"
    ;;
  fail)
    # A regression beyond the tolerance: the baseline scored 1.5 more on every seed.
    check_file worse '-- check-set: x=1' '-- check-seeds: 3' \
      '-- check: score not worse than baseline by 0.01 (maximize)' '-- check: score > 0'
    echo '{"score": {"0": 2.5, "1": 2.51, "2": 2.52}}' >"$tmp/base.json"
    g check "$tmp/worse.lua" --baseline "$tmp/base.json" --junit "$tmp/j.xml"
    expect_rc 1
    expect_out '^  worse +score +not worse than baseline +maximize +base\.json: 2\.51 ± 0\.01 \(n=3\) +1\.01 ± 0\.01 \(n=3\) +-1\.5 +-59\.76% +0\.01 +fail$'
    expect_out 'worse:4 score: difference in the good direction -1\.5 95% CI \[-1\.5, -1\.5\] \(paired by seed\), tolerance 0\.01'
    expect_out '^2 claims: 1 pass, 0 inconclusive, 1 fail$'
    expect_junit "1 1" "root.get('failures') + ' ' + str(len(root.findall('.//failure')))"
    expect_junit "score not worse than baseline by 0.01 (maximize)" "root.find('.//failure/..').get('name')"
    junit "root.find('.//failure').get('message')" | grep -q "worse.lua:4: fail: candidate 1.01" ||
      fail "the failure's message: $(junit "root.find('.//failure').get('message')")"
    expect_sql "fail" "SELECT value FROM tags WHERE run_id = 1 AND key = 'check.verdict'"
    ;;
  inconclusive)
    # Within noise: scores 1, 1.01, 1.02 against the unpaired list 1, 1.02, 1.04: the
    # difference of the means (-0.01) has an interval across -0.005; and a threshold at the
    # mean. Both are inconclusive, and the check passes.
    check_file noise '-- check-set: x=1' '-- check-seeds: 3' '-- check: score >= 1.01' \
      '-- check: score not worse than baseline by 0.005 (maximize)'
    echo '{"score": [1, 1.02, 1.04]}' >"$tmp/base.json"
    g check "$tmp/noise.lua" --baseline "$tmp/base.json" --junit "$tmp/j.xml"
    expect_rc 0
    expect_out '^  noise +score +>= 1\.01 .* inconclusive$'
    expect_out '^  noise +score +not worse than baseline .* 0\.005 +inconclusive$'
    expect_out 'noise:5 score: difference in the good direction -0\.01 95% CI \[-0\.0[0-9]+, \+0\.0[0-9]+\] \(unpaired\)'
    expect_out '^2 claims: 0 pass, 2 inconclusive, 0 fail$'
    expect_junit "0 0 inconclusive inconclusive" \
      "root.get('failures') + ' ' + str(len(root.findall('.//failure'))) + ' ' + ' '.join(p.get('value') for p in root.iter('property') if p.get('name') == 'verdict')"
    junit "root.find('.//system-out').text" | grep -q '^inconclusive: candidate 1.01' ||
      fail "no system-out saying inconclusive"
    ;;
  baseline_run)
    # A baseline run's children (an earlier check's seeds), paired by seed: x = 0.995 is 0.005
    # below on every seed, within 0.01; x = 0.95 is 0.05 below, beyond it.
    check_file base '-- check-set: x=1' '-- check-seeds: 2' '-- check: score > 0'
    g check "$tmp/base.lua"
    expect_rc 0
    check_file near '-- check-set: x=0.995' '-- check-seeds: 2' \
      '-- check: score not worse than baseline by 0.01 (maximize)'
    g check "$tmp/near.lua" --baseline 1
    expect_rc 0
    expect_out 'runs of 1: 1\.005 ± 0\.005 \(n=2\) .* pass$'
    expect_out 'paired by seed'
    check_file far '-- check-set: x=0.95' '-- check-seeds: 2' \
      '-- check: score not worse than baseline by 0.01 (maximize)'
    g check "$tmp/far.lua" --baseline 1
    expect_rc 1
    expect_out ' fail$'
    # One run: its value on its seed (0), paired with seed 0 of the candidate.
    g run "$trial" --set x=1 --seed 0
    expect_rc 0
    id=$(sql "SELECT MAX(id) FROM runs")
    check_file one '-- check-set: x=0.995' '-- check: score not worse than baseline by 0.01 (maximize)'
    g check "$tmp/one.lua" --baseline "$id"
    expect_rc 0
    expect_out "run $id: 1 ± 0 \(n=1\) +0\.995 ± 0 \(n=1\) +-0\.005 .* pass$"
    ;;
  baseline_league)
    # A league's contender by seed; lower is better for loss (y = 1 gives 0.25 less loss).
    g league run L "$trial" --contender a:x=1.5 --contender b:x=2 --metric score \
      --direction maximize --seeds 2
    expect_rc 0
    check_file cand '-- check-set: x=1.5' '-- check-set: y=1' '-- check-seeds: 2' \
      '-- check: loss not worse than baseline by 0'
    g check "$tmp/cand.lua" --baseline league:L/a
    expect_rc 0
    expect_out '^  cand +loss +not worse than baseline +minimize +league L/a: 1\.2505 ± 0\.0005 \(n=2\) +0\.2505 ± 0\.0005 \(n=2\) +-1 +-79\.97% +0 +pass$'
    g check "$tmp/cand.lua" --baseline L
    expect_rc 2
    expect_err '--baseline league:L: name one of its contenders: a, b'
    g check "$tmp/cand.lua" --baseline league:L/c
    expect_rc 2
    expect_err '--baseline league:L/c: no such contender \(it has a, b\)'
    # The check's own league (one contender) serves as a baseline by its name.
    g check "$tmp/cand.lua" --baseline "league:check cand run 6"
    expect_rc 0
    expect_out 'league check cand run 6: 0\.2505 ± 0\.0005 \(n=2\)'
    ;;
  folder)
    # A folder: its .lua files in name order, one JUnit testsuite each; a file whose script
    # fails fails its claims.
    mkdir -p "$tmp/reg"
    check_file reg/b_fails '-- check-set: fail=true' '-- check: score >= 0'
    check_file reg/a_holds '-- check-set: x=2' '-- check-set: y=1' '-- check: score >= 1.5' '-- check: loss < 0.5'
    echo 'not a check file' >"$tmp/reg/notes.txt"
    g check "$tmp/reg" --junit "$tmp/j.xml"
    expect_rc 1
    expect_out '^  a_holds +score .* pass$'
    expect_out '^  a_holds +loss .* pass$'
    expect_out '^  b_fails +score .* - \(n=0\) .* fail$'
    expect_out 'b_fails:3 score: no value: the runs failed or did not log the metric; seed 0 \(run [0-9]+\): .*this trial fails on purpose'
    expect_junit "a_holds b_fails 3 1" \
      "' '.join(s.get('name') for s in root) + ' ' + root.get('tests') + ' ' + root.get('failures')"
    ;;
  errors)
    check_file bad '-- check: score => 1'
    g check "$tmp/bad.lua"
    expect_rc 2
    expect_err "bad\.lua:2: 'score => 1' is not a claim; accepted: '-- check: METRIC >= NUMBER'"
    check_file needs '-- check: score not worse than baseline by 0 (maximize)'
    g check "$tmp/needs.lua"
    expect_rc 2
    expect_err "needs\.lua:2: 'score not worse than baseline by 0 \(maximize\)' needs --baseline"
    echo '-- check: score > 0' >"$tmp/self.lua"
    echo '-- check-script: missing.lua' >"$tmp/gone.lua"
    echo '-- check: score > 0' >>"$tmp/gone.lua"
    g check "$tmp/self.lua" "$tmp/gone.lua"
    expect_rc 2
    expect_err "gone\.lua: the script .*/missing\.lua does not exist"
    g check "$tmp/nowhere"
    expect_rc 2
    expect_err 'nowhere: no such check file or folder'
    check_file needs '-- check: score not worse than baseline by 0 (maximize)'
    g check "$tmp/needs.lua" --baseline 99
    expect_rc 2
    expect_err '--baseline 99: '
    echo '{"loss": [1]}' >"$tmp/b.json"
    g check "$tmp/needs.lua" --baseline "$tmp/b.json"
    expect_rc 2
    expect_err 'b\.json: no key "score"; expected \{"METRIC": \[values\.\.\.\]\}'
    # Nothing ran.
    expect_sql "0" "SELECT COUNT(*) FROM runs"
    ;;
  *)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "ok: $case_name"
