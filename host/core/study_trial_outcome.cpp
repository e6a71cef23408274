// The verdict on a trial whose process has ended, shared by the local workers (study_worker.cpp)
// and rank 0 of an MPI study (study_mpi_scheduler.cpp): the run's status decides.
#include <fmt/format.h>

#include "gom_core/study_worker.h"
#include "study_trial_process.h"

namespace gom::study_detail {

TrialVerdict settle_trial(StudyStore& store, RunRecorder& db, const StudyRecord& study,
                          const TrialRecord& t, const TrialEnd& end) {
  using Kind = TrialVerdict::Kind;
  const std::string& status = end.run_status;
  if (status == "finished") {
    const auto v = trial_result(db, *end.run_id, study.def.metric);
    if (!v) {
      store.finish(t.id, TrialState::kFailed, std::nullopt);
      return {
          Kind::kFailed,
          fmt::format("run {} finished without logging the metric '{}' the {} ranks by (it "
                      "logged: see gom show {})",
                      *end.run_id, study.def.metric, study_kind_name(study.def.kind), *end.run_id)};
    }
    store.finish(t.id, TrialState::kFinished, v);
    return {Kind::kSucceeded,
            fmt::format("finished {}={:.6g} in {:.1f} s (run {}{}{})", study.def.metric, *v,
                        end.seconds, *end.run_id, end.where.empty() ? "" : ", ", end.where)};
  }
  if (status == "pruned") {
    store.finish(t.id, TrialState::kPruned, std::nullopt);
    return {Kind::kSucceeded, fmt::format("pruned in {:.1f} s (run {})", end.seconds, *end.run_id)};
  }
  if (status == "interrupted") {
    store.release(t.id);
    return {Kind::kOther, "interrupted; handed back, to be run again"};
  }
  if (status == "failed" || status == "diverged") {
    store.finish(t.id, TrialState::kFailed, std::nullopt);
    return {Kind::kFailed, fmt::format("run {} {}:\n{}", *end.run_id, status, log_tail(end.log))};
  }
  if (end.signal > 0 || status == "crashed") {
    const TrialState next = store.retry_or_crash(t.id);
    return {Kind::kOther,
            fmt::format("its process died ({}); {}",
                        end.signal > 0 ? fmt::format("signal {}", end.signal) : "no record",
                        next == TrialState::kWaiting ? "to be run again" : "crashed")};
  }
  // It never started its run: bad arguments, an unreadable script.
  store.finish(t.id, TrialState::kFailed, std::nullopt);
  return {Kind::kFailed, fmt::format("gom run exited with status {} before recording a run:\n{}",
                                     end.exit_code, log_tail(end.log))};
}

std::string FailureStreak::count(const std::string& label, const TrialVerdict& v) {
  switch (v.kind) {
    case TrialVerdict::Kind::kFailed:
      if (in_a_row++ == 0) first = label + ": " + v.line;
      return fmt::format("{}: FAILED: {}", label, v.line);
    case TrialVerdict::Kind::kSucceeded:
      in_a_row = 0;
      break;
    case TrialVerdict::Kind::kOther:
      break;
  }
  return label + ": " + v.line;
}

std::string FailureStreak::why_stopped(const StudyRecord& study) const {
  return fmt::format("{} trials of {} '{}' failed in a row; stopping. The first: {}", in_a_row,
                     study_kind_name(study.def.kind), study.def.name, first);
}

}  // namespace gom::study_detail
