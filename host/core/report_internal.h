// report_internal.h — what the parts of gom_core/html_report.h share: a run's provenance as
// JSON, the params that differ across runs, and numbers that JSON can hold.
#pragma once

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gom_core/recorder.h"

namespace gom::report::detail {

/// @brief v, or null where it is NaN or infinite (JSON has neither).
inline nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

/// @brief A run's provenance and params ({"params": {key: value}}).
nlohmann::json run_json(const RunDetails& d);
/// @brief The param keys whose value is not the same in every run (a missing key differs).
std::vector<std::string> params_differ(
    const std::vector<std::map<std::string, std::string>>& params);
/// @brief The confusion_matrix records among a run's tags (per-epoch copies left out).
nlohmann::json confusion_json(const RunDetails& d);

}  // namespace gom::report::detail
