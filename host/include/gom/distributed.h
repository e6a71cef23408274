// gom/distributed.h — the data-parallel job a process belongs to, for plugins: a metric or a
// callback that sums over a phase sums over every rank's share of the data with all_reduce_sum.
// Outside a job (no mpirun, or a build without MPI) the job is this one process and the calls
// cost nothing.
#pragma once

#include <span>

namespace gom {

/// @brief This process's rank in its data-parallel job (0 outside one).
int world_rank();
/// @brief How many processes share the work (1 outside a job).
int world_size();
/// @brief Sums `values` element by element over the ranks, in place: every rank gets the same
/// sums. Every rank must call it, in the same order, with the same count.
void all_reduce_sum(std::span<double> values);

}  // namespace gom
