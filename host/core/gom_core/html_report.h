// gom_core/html_report.h — what `gom report` writes: one self-contained HTML file (it opens
// offline) holding every number of the report as one JSON document, Chart.js and our own script
// inlined. This header assembles the JSON (runs, a league, a sweep) and the page around it; the
// drawing is host/cli/report/report.js. Host-level API, not the SDK.
//
// The JSON document ("gom-data"), by kind:
// - every kind: {"kind", "title", "gom_version", "runs": [run...], "params_differ": [key...],
//   "metrics": [metric...], "confusion": [matrix...]}
//   run: provenance (id, experiment, name, status, times, seed, backend, device, threads,
//   gom_version, git_commit, git_dirty, command_line, script_path, script_sha256, host, error)
//   and "params" {key: value}. metric: {"key", "direction" (maximize/minimize/null), "phase",
//   "x" ("epoch", or "step" where a run logged it more than once in an epoch), "series":
//   [{"label", "run_id", "band": false, "points": [[x, value or null (NaN)]...], "xs": {"step",
//   "epoch", "time" (seconds since the run's first metric row): [one per point]}}]}.
//   confusion: a confusion_matrix record ({"epoch", "phase", "classes", "matrix"}) with its
//   run_id and key.
// - league: "league" = league_json, and its metrics' series are per contender: the mean over
//   the seeds per epoch (band: true, points [[epoch, mean, low, high]...]).
// - sweep: "sweep" = sweep_json plus "importance" and "parallel" (below).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "gom_core/recorder.h"
#include "gom_core/study.h"
#include "gom_core/study_report.h"

namespace gom::report {

/// @brief The report of some runs: their provenance, params (and which differ), metric curves
/// and confusion matrices. gom::Error for an id with no run.
nlohmann::json runs_data(RunRecorder& db, const std::vector<int64_t>& run_ids);
/// @brief A league's report: league_json, the contenders' curves of every metric their trials
/// logged, and the trial runs' provenance and params.
nlohmann::json league_data(RunRecorder& db, StudyStore& store, const StudyRecord& league);
/// @brief A sweep's report: sweep_json, importance, parallel coordinates, the trials' curves.
nlohmann::json sweep_data(RunRecorder& db, StudyStore& store, const StudyRecord& sweep);

/// @brief How much of the objective's variance a parameter accounts for, alone: η² (the
/// correlation ratio), the between-groups sum of squares over the total, over the finished
/// trials with a finite value. Groups: a choice's values; a number's values when it has at
/// most kImportanceBins distinct ones, else kImportanceBins bins by rank (trial i of n, sorted
/// by the value, in bin floor(i * bins / n); equal values all in the bin of the first). Not
/// fANOVA: one parameter at a time, no interactions, and biased upwards with few trials a group.
inline constexpr int kImportanceBins = 4;
struct ParamImportance {
  std::string param;
  double eta2 = 0;  ///< in [0, 1]; 0 when the objective does not vary
  int groups = 0;   ///< groups with at least one trial
  int trials = 0;   ///< finished trials with a finite value that have the param
};
/// @brief Every param of the sweep's space, by η² descending (ties by name).
std::vector<ParamImportance> param_importance(const SweepReport& r);

/// @brief Parallel coordinates: {"axes": [{"name", "kind" (number, log, choice), "min", "max",
/// "choices"}...] (the space's params, then the objective), "rows": [{"number", "state",
/// "values": [raw...], "y": [position in [0, 1] on each axis...]}]} for the finished and pruned
/// trials (a pruned trial's objective is its last intermediate value). Numbers are placed
/// between the axis's min and max (of the log on a log axis), choices evenly by their index.
nlohmann::json parallel_coordinates(const SweepReport& r);

/// @brief The JSON as text that is safe inside <script>: "</" written "<\/" (still the same
/// JSON), and U+2028/U+2029 escaped.
std::string script_json(const nlohmann::json& data);
/// @brief The whole page: data as <script type="application/json" id="gom-data">, then
/// chart_js, css and script inlined. The page's title is data["title"] (HTML-escaped).
std::string html_page(const nlohmann::json& data, std::string_view chart_js,
                      std::string_view script, std::string_view css);
/// @brief Writes text to path atomically (a temporary file beside it, then rename); gom::Error
/// naming the path otherwise.
void write_text_atomic(const std::string& path, std::string_view text);

}  // namespace gom::report
