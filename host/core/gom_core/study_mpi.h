// gom_core/study_mpi.h — leagues and sweeps over an MPI job (`mpirun -np N gom sweep run ...`).
// Rank 0 is the scheduler and the only process that opens the study's database (SQLite on a
// network filesystem is not safe to share): it claims trials and hands them, one at a time, to
// the worker ranks 1..N-1 on any hosts. A worker runs its trial as a `gom run` process recording
// into a database of the worker's own (under $TMPDIR), sends the run's rows to rank 0 as they
// come (rank 0 writes them into the trial's run, so the pruner sees every running trial's
// curve), relays the trial's pruning questions to rank 0 and the answers back, and at the end
// sends the whole run, which rank 0 records as the trial's child run. A worker silent for
// worker_timeout is lost: its partial run is deleted and its trial run again by another.
// Host-level API, not the SDK.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gom_core/study.h"
#include "gom_core/study_worker.h"

namespace gom {

class RunRecorder;

/// @brief How long rank 0 waits for a word from a worker rank running a trial (it sends one
/// every second) before it counts the worker as lost. GOM_STUDY_WORKER_TIMEOUT_S overrides it.
inline constexpr int kStudyWorkerTimeoutS = 10;

struct StudySchedulerOptions {
  /// @brief Set (by a SIGINT handler) to stop: each running trial is sent one SIGINT by its
  /// worker, records itself interrupted and is handed back (waiting).
  const std::atomic<bool>* interrupt = nullptr;
  std::string log_dir;  ///< each trial's log, sent by its worker at its end: log_dir/trial-N.log
  std::function<void(const std::string&)> say;  ///< progress lines, as run_worker's
  int max_failures_in_a_row = 3;                ///< as WorkerOptions'
  std::chrono::milliseconds worker_timeout{kStudyWorkerTimeoutS * 1000};
};

/// @brief Rank 0 of a job of several: schedules the study's trials on the worker ranks until no
/// trial is waiting or running (or it is interrupted), then tells every worker to stop. Throws
/// gom::Error when no worker is left to run the trials that remain.
WorkerReport run_study_scheduler(StudyStore& store, RunRecorder& db, int64_t study_id,
                                 const StudySchedulerOptions& options);

/// @brief Rank 0: tells every worker rank (lost ones too: one that was only slow then ends) that
/// the study is over for it. Once: later calls do nothing.
void stop_study_worker_ranks();

struct StudyWorkerRankOptions {
  std::string gom_executable;             ///< the gom program that runs each trial
  std::vector<std::string> plugin_files;  ///< passed on as --plugin FILE
  /// @brief Compute threads of each trial; 0: this host's free cores divided by the worker
  /// ranks on it (workers_on_host).
  int threads = 0;
  int workers_on_host = 1;
  /// @brief Set by a SIGINT/SIGTERM handler: the running trial is sent one SIGINT.
  const std::atomic<bool>* interrupt = nullptr;
  std::function<void(const std::string&)> say;
};

/// @brief A worker rank (1..N-1): runs the trials rank 0 hands it until told to stop. Returns
/// the process's exit code: 0, or 1 when rank 0 fell silent.
int run_study_worker_rank(const StudyWorkerRankOptions& options);

/// @brief The trial's side (gom run --prune-by-parent FD): asks the worker at the other end of
/// the socket FD whether to prune after `epoch` with these metrics; false when it cannot ask.
bool ask_parent_to_prune(int fd, int64_t epoch, const std::map<std::string, double>& metrics);

}  // namespace gom
