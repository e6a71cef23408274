// study_trial_process.h — what the study workers share (not installed): a trial's label and
// --set arguments, starting its `gom run` process, and the tail of its log. study_worker.cpp
// runs trials against the study's database; study_mpi_worker.cpp (a worker rank under mpirun)
// against a database of its own.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "gom_core/study.h"

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

}  // namespace gom::study_detail
