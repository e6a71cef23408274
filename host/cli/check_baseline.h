// check_baseline.h — the baseline of `gom check`'s "not worse than baseline" claims, from
// --baseline: a run (its value, or a study parent run's trials), a league's contender, or a
// JSON file of values.
#pragma once

#include <string>

#include "gom_core/check.h"

namespace gom {
class RunRecorder;
}

namespace gom::cli {

/// @brief A metric's values in the baseline `spec`, and where they came from (`label`, as the
/// report shows it):
///   RUN (a run id): the run's RunRecorder::result_value on its seed, or, for a run with child
///     runs (a league's or sweep's parent, an earlier `gom check` of one script), the value of
///     each finished child on its seed;
///   league:NAME or NAME, league:NAME/CONTENDER: the finished trials of a league's contender
///     (the contender may be left out when the league has one), by seed;
///   FILE.json (an existing file): {"METRIC": [values...]} (no seeds: compared unpaired) or
///     {"METRIC": {"SEED": value, ...}}.
/// UsageError when the spec names nothing, or has no value of the metric.
check::Values baseline_values(RunRecorder& db, const std::string& spec, const std::string& metric,
                              std::string& label);

}  // namespace gom::cli
