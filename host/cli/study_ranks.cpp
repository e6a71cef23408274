// `gom league run` / `gom sweep run` under mpirun: the choice of a rank's part, and rank 0's
// scheduler fed with the options of the command.
#include "study_ranks.h"

#include <fmt/format.h>

#include <cstdlib>

#include "commands.h"
#include "gom_core/distributed.h"
#include "gom_core/study_mpi.h"

namespace gom::cli {

bool in_mpi_job() {
  return dist::world().size > 1;
}

std::optional<int> run_study_rank(int jobs, int threads, const std::atomic<bool>* interrupt) {
  // A rank that dies must not end the job: rank 0 reruns its trial (needs mpirun
  // --enable-recovery; without it mpirun ends the job, and running the command again resumes).
  dist::survive_lost_ranks();
  const dist::HostRanks host = dist::ranks_on_this_host();
  if (jobs != 1)
    throw UsageError(
        "--jobs: under mpirun each worker rank runs one trial at a time; start more ranks "
        "(mpirun -np N) instead");
  if (dist::world().rank == 0) return std::nullopt;
  StudyWorkerRankOptions o;
  o.gom_executable = gom_executable();
  o.plugin_files = plugin_files();
  o.threads = threads;
  o.workers_on_host = std::max(1, host.ranks - (host.with_rank0 ? 1 : 0));
  o.interrupt = interrupt;
  o.say = [](const std::string& s) { fmt::print(stderr, "gom: {}\n", s); };
  return run_study_worker_rank(o);
}

std::pair<StudyRecord, WorkerReport> run_study_on_ranks(StudyStore& store, RunRecorder& db,
                                                        const StudyRecord& study,
                                                        const WorkerOptions& w) {
  StudySchedulerOptions o;
  o.interrupt = w.interrupt;
  o.say = w.say;
  o.log_dir = w.log_dir.empty() ? study_folder(db.path(), study.id) : w.log_dir;
  o.max_failures_in_a_row = w.max_failures_in_a_row;
  if (const char* s = std::getenv("GOM_STUDY_WORKER_TIMEOUT_S"); s && std::atoi(s) > 0)
    o.worker_timeout = std::chrono::seconds(std::atoi(s));
  const WorkerReport report = run_study_scheduler(store, db, study.id, o);
  return {store.get(study.id), report};
}

void stop_worker_ranks() {
  if (in_mpi_job() && dist::world().rank == 0) stop_study_worker_ranks();
}

}  // namespace gom::cli
