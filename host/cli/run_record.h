// What `gom run` keeps in the run database about how to run a run again, and the checks before
// `--resume` runs a recorded script; reading the script and its --set arguments; plus the range
// checks of the CLI's integer options.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gom_core/recorder.h"

namespace gom::cli {

/// @brief Records the --set arguments (KEY=VALUE each) as rows of the overrides table, in order,
/// and as the "overrides" tag (space-joined, for reading at a glance).
void record_overrides(RunRecorder& db, int64_t run_id, const std::vector<std::string>& sets);

/// @brief The --set arguments a run was started with: its overrides rows, else (a run recorded
/// before schema v2) its "overrides" tag split where a space is followed by KEY=.
std::vector<std::string> recorded_overrides(RunRecorder& db, const RunDetails& d);

/// @brief UsageError unless `--resume` may run d: its process is not alive, and its stored
/// script text has the stored script_sha256.
void check_resumable(const RunDetails& d);

/// @brief The text of the script at `path`: a regular file of at most 16 MiB (UsageError
/// otherwise: /dev/zero or a FIFO would be read forever, and the whole text is recorded).
std::string read_file(const std::string& path);

/// @brief The --set arguments as key -> value text; UsageError for one without KEY= or a key
/// given twice.
std::map<std::string, std::string> parse_sets(const std::vector<std::string>& sets);

/// @brief A CLI11 check that the option is a whole number from lo to hi (no silent clamping).
CLI::Validator integer_range(int64_t lo, int64_t hi);

}  // namespace gom::cli
