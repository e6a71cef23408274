// study_define.h — the options of `gom league run` / `gom sweep run` and the study definition
// they make (the --contender, --param, --set and option forms, checked before anything runs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gom_core/study.h"

namespace gom::cli {

/// @brief What the league and sweep subcommands take (run and show).
struct StudyOptions {
  std::string name, script, metric, direction, sampler = "tpe", pruner = "none";
  std::vector<std::string> contenders, params, sets, sampler_options, pruner_options;
  int64_t seeds = 10, trials = 0, seed = 0;
  int jobs = 1, threads = 0;
  bool json_out = false, csv_out = false, pairwise = false;
};

/// @brief The definition the options give (the script's sha256 read now); UsageError naming the
/// option and the accepted forms otherwise.
StudyDefinition define_study(const StudyOptions& o, StudyKind kind);

}  // namespace gom::cli
