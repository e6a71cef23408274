// study_trial_process.h — what the study workers share (not installed): a trial's label and
// --set arguments, starting its `gom run` process, the tail of its log, and the verdict on its
// end. study_worker.cpp
// runs trials against the study's database; study_mpi_worker.cpp (a worker rank under mpirun)
// against a database of its own.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gom_core/study.h"

namespace gom {
class RunRecorder;
}

namespace gom::study_detail {

/// @brief "trial 3/25 adam seed 2", "trial 4/30 lr=0.001 hidden=128": progress lines, run names.
std::string trial_label(const StudyRecord& s, const TrialRecord& t);

/// @brief gom::Error unless the study's script is there with the text the study was made with.
void check_script(const StudyDefinition& def);

/// @brief The --set arguments of a trial: the study's common ones, then the trial's own.
std::vector<std::string> trial_sets(const StudyRecord& s, const TrialRecord& t);

/// @brief Starts argv[0] with argv, its output to `log`, stdin from /dev/null, in a process group
/// of its own, killed when this process dies (PR_SET_PDEATHSIG), with no descriptor of ours but
/// `channel_fd` (as descriptor 3, when >= 0) and without the MPI launcher's environment (a trial
/// is one process, not a rank of the job). Returns its pid; gom::Error when it cannot start.
pid_t spawn_trial(const std::vector<std::string>& argv, const std::string& log,
                  int channel_fd = -1);

/// @brief The last lines of a trial's log (indented), which say why it failed.
std::string log_tail(const std::string& path, size_t lines = 6);

/// @brief How a trial's process ended, as its worker saw it.
struct TrialEnd {
  std::optional<int64_t> run_id;  ///< the trial's run in `db`, when it recorded one
  std::string run_status;         ///< that run's status ("" without a run)
  int signal = 0;                 ///< the signal that ended the process (0: none)
  int exit_code = -1;             ///< its exit status (-1: not an exit)
  double seconds = 0;             ///< how long it ran
  std::string log;                ///< its log file
  std::string where;              ///< where it ran, for the progress line ("" on this machine)
};

/// @brief What a trial's end makes of it: a progress line, and whether it counts as a failure
/// (`line` is then the reason) or a success (finished or pruned, which ends a run of failures).
struct TrialVerdict {
  enum class Kind { kSucceeded, kFailed, kOther } kind;
  std::string line;
};

/// @brief Records the trial's outcome in `store` (finished with the study's metric read from
/// its run in `db`, pruned, handed back, to be rerun or crashed, failed) and says so. The one
/// place that decides, for local workers and MPI worker ranks alike.
TrialVerdict settle_trial(StudyStore& store, RunRecorder& db, const StudyRecord& study,
                          const TrialRecord& t, const TrialEnd& end);

/// @brief The trials that failed in a row, which stop a study at its limit.
struct FailureStreak {
  int in_a_row = 0;
  std::string first;  ///< "label: why" of the streak's first failure

  /// @brief Counts a trial's verdict (a success ends the streak); returns its progress line.
  std::string count(const std::string& label, const TrialVerdict& v);
  /// @brief Whether `limit` trials have failed in a row.
  bool reached(int limit) const { return in_a_row >= limit; }
  /// @brief The error that stops the study then.
  std::string why_stopped(const StudyRecord& study) const;
};

}  // namespace gom::study_detail
