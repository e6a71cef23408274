// gom_core/study_worker.h — runs a study's trials as `gom run` processes, N at a time, until
// the study has none left to run. Any number of workers (on this machine or others sharing the
// database file) may work on one study at once. Host-level API, not the SDK.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gom_core/study.h"

namespace gom {

class RunRecorder;

struct WorkerOptions {
  std::string gom_executable;             ///< the gom program that runs each trial
  std::vector<std::string> plugin_files;  ///< passed on as --plugin FILE
  int jobs = 1;                           ///< trials at once
  int threads = 1;                        ///< compute threads of each trial
  /// @brief Set (by a SIGINT handler) to stop: each trial is sent one SIGINT, finishes its
  /// batch and records itself interrupted; its trial is handed back (waiting).
  const std::atomic<bool>* interrupt = nullptr;
  std::string log_dir;  ///< each trial's output goes to log_dir/trial-N.log
  /// @brief Progress lines ("trial 3/25 adam seed 2: finished accuracy=0.87 in 12.3 s").
  std::function<void(const std::string&)> say;
  std::chrono::milliseconds poll{100};  ///< how often children and the database are looked at
  /// @brief This many trials failing in a row, none finished, stops the worker with the first
  /// one's error (a typo in an override fails every trial alike).
  int max_failures_in_a_row = 3;
};

struct WorkerReport {
  int started = 0;    ///< trials this worker ran
  int recovered = 0;  ///< trials of dead workers it handed back or marked crashed
  bool interrupted = false;
};

/// @brief Works on the study until no trial is waiting or running (or it is interrupted). A
/// trial's result is RunRecorder::result_value of its run for the study's metric.
WorkerReport run_worker(StudyStore& store, RunRecorder& db, int64_t study_id,
                        const WorkerOptions& options);

/// @brief The folder of a study's files (trial logs): <db path>.artifacts/study-<id>, beside
/// its runs' folders.
std::string study_folder(const std::string& db_path, int64_t study_id);

/// @brief Makes the study (with `parent_run` as its run) or joins the one of its name, then
/// works on it (options.log_dir: its study_folder when empty).
std::pair<StudyRecord, WorkerReport> run_study(StudyStore& store, RunRecorder& db,
                                               const StudyDefinition& def,
                                               std::optional<int64_t> parent_run,
                                               WorkerOptions options);

/// @brief The study's metric value of a finished run (RunRecorder::result_value), nullopt when
/// the run never logged it.
std::optional<double> trial_result(RunRecorder& db, int64_t run_id, const std::string& metric);

}  // namespace gom
