// `gom run` in a data-parallel job (mpirun -np N gom run EXP.lua): rank 0 opens the database,
// starts or resumes the run as a single process does and sends the other ranks what they must
// agree on (RunPlan), so they need no database; they run the same script without a recorder.
// At the end the ranks agree on the outcome: a rank that failed ends the job with its error,
// which rank 0 records.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "gom/kernel.h"
#include "gom_lua/runtime.h"

namespace gom::cli {

/// @brief What every rank of a job runs: rank 0's decisions about the run.
struct RunPlan {
  /// @brief Non-zero: rank 0 refused the run (it printed why); the other ranks exit with this
  /// code and say nothing.
  int refused = 0;
  int64_t run_id = 0;
  std::string run_dir;  ///< gom.run.dir on every rank (only rank 0 writes there)
  std::string script_path, source;
  std::string backend;
  uint64_t seed = 0;
  int threads = 0;  ///< 0: each rank its default (its cores shared among the machine's ranks)
  std::map<std::string, std::string> overrides;
  std::string resume_checkpoint;  ///< rank 0's path; gom.fit sends the file to the others
  std::string db_uid, script_sha256;
};

/// @brief Sends rank 0's plan to every rank (every rank calls it; a no-op in a world of one).
void share_plan(RunPlan& plan);

/// @brief Rank 0 of a job, at the script's end: unless the script failed here, waits until every
/// rank has finished its script; a rank's failure (reported then, or in a collective during the
/// script) becomes the result: failed, with "rank R of the job failed: ERROR".
void agree_on_outcome(lua::ScriptResult& result);

/// @brief The device a rank computes on with `backend`: the CPU, or with a GPU backend the
/// machine's GPU number local_rank % count, so the ranks of one machine spread over its GPUs
/// (one process: device 0).
Device rank_device(const BackendInfo& backend);

/// @brief The default compute threads of a rank: default_num_threads() divided among the ranks
/// on this machine (at least 1).
int rank_default_threads();

}  // namespace gom::cli
