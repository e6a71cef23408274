// How gom.fit continues a run (gom run --resume), on one process or on every rank of a
// data-parallel job: only rank 0 has the run's folder and database, so it hands the checkpoint and
// the recorded history to the others.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "gom/checkpoint.h"
#include "gom_core/trainer.h"
#include "gom_lua/runtime.h"

namespace gom::lua {

/// @brief Continues the fit from ctx.resume_checkpoint: weights, optimizer, callback states and
/// the random stream come back, the epochs it holds are skipped, and metric rows of later epochs
/// (an epoch cut short by the kill) are dropped, to be logged again. In a data-parallel job rank
/// 0 sends the file to the other ranks, which load the same state from a private copy.
CheckpointInfo resume_fit(RunContext& ctx, FitArgs& args, int fit_index);

/// @brief The metrics of the epochs a resumed fit skips, by epoch (1-based: entry e-1), from
/// the run's record (rank 0's, shared with the other ranks of a job), so that gom.fit returns the
/// whole fit's result (also when the checkpoint holds every epoch).
std::vector<std::map<std::string, double>> resumed_history(RunContext& ctx,
                                                           const CheckpointInfo& info);

}  // namespace gom::lua
