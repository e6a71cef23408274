// study_ranks.h — `gom league run` / `gom sweep run` under mpirun (a job of several ranks): rank
// 0 makes or joins the study as without MPI and schedules its trials on the other ranks, which
// only run them (gom_core/study_mpi.h).
#pragma once

#include <atomic>
#include <optional>
#include <utility>

#include "gom_core/study.h"
#include "gom_core/study_worker.h"

namespace gom::cli {

/// @brief Whether this process is one rank of a job of several.
bool in_mpi_job();

/// @brief Every rank calls it first (it holds a collective): checks that the options suit a job
/// (UsageError otherwise, on every rank alike), and on a worker rank runs the trials rank 0
/// hands it until told to stop, returning its exit code; nullopt on rank 0.
std::optional<int> run_study_rank(int jobs, int threads, const std::atomic<bool>* interrupt);

/// @brief Rank 0: runs the study's trials on the worker ranks (as run_study runs them here) with
/// the interrupt, progress lines and log folder of `w`.
std::pair<StudyRecord, WorkerReport> run_study_on_ranks(StudyStore& store, RunRecorder& db,
                                                        const StudyRecord& study,
                                                        const WorkerOptions& w);

/// @brief Rank 0, failing before or while it schedules: tells every worker rank to stop, so that
/// none waits for it.
void stop_worker_ranks();

}  // namespace gom::cli
