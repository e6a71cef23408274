// gom_core/check.h — regression checks (`gom check`): the claims a check file states in comment
// lines, the verdict on each claim from the candidate's values over seeds (and a baseline's),
// and the report as text and as JUnit XML. Host-level API, not the SDK.
//
// A check file is a Lua file whose comment lines say what to run and what must hold:
//   -- check: METRIC >= 0.885              (also <=, >, <: a threshold on the mean)
//   -- check: METRIC not worse than baseline by 0.01 [(maximize) | (minimize)]
//   -- check-seeds: N                      (seeds 0..N-1; default 1; --seeds overrides)
//   -- check-set: KEY=VALUE                (an override of every run, as gom run --set)
//   -- check-script: PATH                  (the script to run, relative to the check file's
//                                           folder; default: the check file itself)
// A comment may follow on the line (" -- why"). Every other comment is left alone; a line
// starting `-- check:` or `-- check-WORD:` that is none of these is an error naming the file,
// the line and the accepted forms.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gom_core/stats.h"
#include "gom_core/study.h"

namespace gom::check {

enum class Comparison { kAtLeast, kAtMost, kAbove, kBelow, kNotWorseThanBaseline };
/// @brief ">=", "<=", ">", "<", "not worse than baseline by".
const char* comparison_text(Comparison c);

struct Claim {
  std::string metric;
  Comparison comparison = Comparison::kAtLeast;
  double value = 0;  ///< the threshold, or the baseline claim's tolerance (>= 0)
  /// Higher is better: from the comparison for a threshold (>= and >), for a baseline claim from
  /// "(maximize)"/"(minimize)" or else the metric's name (metric_info_by_name).
  bool maximize = true;
  int line = 0;      ///< 1-based line of the check file
  std::string text;  ///< the claim as written after "check:", trimmed
};

struct CheckFile {
  std::string path;    ///< the check file as given
  std::string name;    ///< its file name without the extension: the report's script column
  std::string script;  ///< the script each seed runs (check-script resolved, else path)
  std::vector<Override> sets;
  std::optional<int64_t> seeds;
  std::vector<Claim> claims;
};

/// @brief The check lines of `text` (the file at `path`; relative check-script paths are
/// resolved against its folder). gom::Error "PATH:LINE: ..." for a malformed line (the message
/// lists the accepted forms), and for a file without a `-- check:` line.
CheckFile parse_check_text(const std::string& text, const std::string& path);
/// @brief parse_check_text of the file's contents; gom::Error when it cannot be read.
CheckFile parse_check_file(const std::string& path);
/// @brief The check files of a path: the file itself, or a folder's *.lua files (not its
/// subfolders), sorted by name. gom::Error when there is no such path or the folder has none.
std::vector<std::string> check_files(const std::string& path);

enum class Verdict { kPass, kFail, kInconclusive };
/// @brief "pass", "fail", "inconclusive".
const char* verdict_name(Verdict v);

/// @brief Values of a metric, one per seed; NaN where a seed has no value (its run failed).
/// `seeds` is as long as `values`, or empty for values without seeds (a baseline file's list).
struct Values {
  std::vector<double> values;
  std::vector<int64_t> seeds;
};

/// @brief What judge concludes, with the numbers the report shows.
struct Judgement {
  Verdict verdict = Verdict::kInconclusive;
  int n = 0;               ///< candidate values
  double mean = NAN;       ///< the candidate's mean
  stats::Interval ci;      ///< its 95% bootstrap interval
  double reference = NAN;  ///< the threshold, or the baseline's mean
  int baseline_n = 0;      ///< baseline values (baseline claims)
  stats::Interval baseline_ci;
  bool paired = false;    ///< compared seed by seed
  double change = NAN;    ///< mean - reference (as measured, not turned to the good side)
  double relative = NAN;  ///< change / |reference| (NaN when the reference is 0)
  /// Baseline claims: the interval of the difference in the good direction (candidate -
  /// baseline, negated when lower is better), which the verdict is read from.
  stats::Interval difference_ci;
  std::string note;  ///< why, where the numbers alone do not say (missing values)
};

/// @brief The verdict on one claim.
///
/// Threshold (>=, >, <=, <): the 95% percentile-bootstrap interval of the candidate's mean
/// (stats::bootstrap_mean_ci; one value: the value itself) entirely on the good side of the
/// threshold passes, entirely on the bad side fails, else inconclusive ("m >= t": low >= t
/// passes, high < t fails; "m > t": low > t passes, high <= t fails; likewise for <= and <).
///
/// Baseline (`baseline` must then be given): d = candidate - baseline, negated when lower is
/// better. When both have seeds and the same ones (after leaving out the baseline's NaNs), d is
/// paired by seed and its interval is the bootstrap interval of the mean of the paired
/// differences; otherwise the interval is stats::bootstrap_mean_difference_ci of the two means.
/// Lower end > -tolerance passes, upper end < -tolerance fails, else inconclusive.
///
/// A candidate value that is NaN (a seed whose run failed or logged no value) fails the claim,
/// and so does a candidate without values; a baseline without values is inconclusive.
Judgement judge(const Claim& claim, const Values& candidate, const Values* baseline = nullptr,
                uint64_t seed = 0, int resamples = 10000);

/// @brief One claim's result in a report.
struct ClaimResult {
  Claim claim;
  Judgement judgement;
  std::string baseline;  ///< where the baseline came from ("run 12"); empty for thresholds
};

/// @brief One check file's results.
struct FileResult {
  CheckFile file;
  std::optional<int64_t> run_id;  ///< the parent run of its seeds' runs
  int64_t seeds = 0;
  double seconds = 0;  ///< time to run its seeds
  std::vector<ClaimResult> claims;
};

/// @brief The report: one row per claim (script, metric, direction, claim, baseline, candidate
/// as mean ± half the interval's width (n), change absolute and relative, tolerance, verdict),
/// the notes, and a summary line "N claims: P passed (I inconclusive), F failed".
std::string report_text(const std::vector<FileResult>& files);

/// @brief JUnit XML as Jenkins reads it: testsuites / testsuite (one per check file, name = its
/// name, with properties script, seeds, run) / testcase (one per claim, name = the claim,
/// classname = "check." + the file's name, time = the file's time divided among its claims)
/// with properties (the report's numbers, verdict) and `<failure message="...">` for a fail;
/// an inconclusive claim passes and says so in `<system-out>`. Text is XML-escaped.
std::string junit_xml(const std::vector<FileResult>& files);

/// @brief s with &, <, >, " and ' escaped, and control characters other than tab and newline
/// (not allowed in XML 1.0) written as "\xNN".
std::string xml_escape(const std::string& s);

}  // namespace gom::check
