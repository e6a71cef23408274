// gom_core/study_report.h — what `gom league show`, `gom sweep show`, gom.league and gom.sweep
// print and return: a league's table with its statistics (gom_core/stats.h) and a sweep's
// trials, as terminal text, JSON or CSV. Host-level API, not the SDK.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gom_core/stats.h"
#include "gom_core/study.h"

namespace gom {

struct LeagueReport {
  StudyRecord study;
  std::vector<TrialRecord> trials;
  stats::LeagueStats stats;  ///< over the finished trials, paired on seeds
};

/// @brief The league's statistics: seeded bootstrap (the same table every time), alpha for the
/// verdicts.
LeagueReport league_report(StudyStore& store, const StudyRecord& league, uint64_t seed = 0,
                           double alpha = 0.05);
std::string league_text(const LeagueReport& r);
nlohmann::json league_json(const LeagueReport& r);
/// @brief One row per contender, or (pairwise) one per pair.
std::string league_csv(const LeagueReport& r, bool pairwise);

struct SweepReport {
  StudyRecord study;
  std::vector<std::pair<TrialRecord, TrialCurve>> trials;  ///< by number
  std::optional<TrialRecord> best;                         ///< the best finished trial
};

SweepReport sweep_report(StudyStore& store, const StudyRecord& sweep);
std::string sweep_text(const SweepReport& r);
nlohmann::json sweep_json(const SweepReport& r);
std::string sweep_csv(const SweepReport& r);

/// @brief "12 finished, 3 pruned, 1 failed, 2 waiting" for the trials given (states with none
/// left out).
std::string trial_counts(const std::vector<TrialRecord>& trials);

}  // namespace gom
