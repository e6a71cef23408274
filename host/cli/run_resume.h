// What `gom run` needs around a run's files and its end: the run's folder, the checkpoint that
// --resume continues from and the check that it is the run's own, and recording the run's end
// even when the database refuses some of it.
#pragma once

#include <cstdint>
#include <string>

#include "gom_core/recorder.h"

namespace gom::cli {

/// @brief The folder of a run's files: <db folder>/<db file name>.artifacts/run-<id>, so two
/// databases in one folder never share one (runs.db → runs.db.artifacts/run-1).
std::string run_folder(const std::string& db_path, int64_t run_id);

/// @brief The newest "last" checkpoint recorded for the run, else the one in its folder; a
/// UsageError when there is none.
std::string find_checkpoint(const RunDetails& d, const std::string& run_dir);

/// @brief Refuses (UsageError) a checkpoint that is not this run's: its metadata must name the
/// run id, the database's uid, the run's script sha256 and the script's first gom.fit. The
/// message names each field that differs.
void check_checkpoint_owner(const std::string& path, int64_t run_id, const std::string& db_uid,
                            const std::string& script_sha256);

/// @brief Records the run's end and returns the status recorded: `status`, or failed when rows
/// could not be written (the reason printed), or `status` unchanged when the database refused
/// even the status (then printed, and the caller must exit non-zero: `recorded` is false).
RunStatus record_run_end(RunRecorder& db, int64_t run_id, RunStatus status,
                         const std::string& error, bool& recorded);

}  // namespace gom::cli
