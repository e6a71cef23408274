// study_mpi_scheduler.cpp — rank 0 of `mpirun -np N gom sweep/league run`: claims the study's
// trials in its database (as any worker does, so non-MPI workers may join the same study), hands
// each to an idle worker rank, writes what the workers send into the trials' runs, answers their
// pruning questions from the database, and records each trial's outcome as run_worker does. It
// never waits on one worker: every message is taken as it comes, and a worker silent for
// worker_timeout is lost (its partial run deleted, its trial run again by another).
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "gom/error.h"
#include "gom_core/distributed.h"
#include "gom_core/recorder.h"
#include "gom_core/study_mpi.h"
#include "study_mpi_protocol.h"
#include "study_run_transfer.h"
#include "study_trial_process.h"

namespace gom {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace study_detail;

struct WorkerRank {
  enum class State { kStarting, kIdle, kBusy, kUnusable, kLost };
  State state = State::kStarting;
  std::string host = "?";
  Clock::time_point last_heard;
  // Its trial, while kBusy.
  int64_t assignment = 0;
  TrialRecord trial;
  std::optional<int64_t> run_id;  // the trial's run in the study's database, once it started
  TrialCurve curve;               // the study's metric by epoch, as the trial asked
  Clock::time_point started;
  bool interrupted = false;
};

class Scheduler {
 public:
  Scheduler(StudyStore& store, RunRecorder& db, int64_t study_id, const StudySchedulerOptions& o)
      : store_(store), db_(db), study_(store.get(study_id)), o_(o), runs_(db.path()) {
    place_ = {study_.run_id, study_kind_name(study_.def.kind), study_.def.name};
    std::error_code ec;
    std::filesystem::create_directories(o_.log_dir, ec);
    if (ec)
      throw Error(
          fmt::format("cannot create the trial log folder {}: {}", o_.log_dir, ec.message()));
    for (int r = 1; r < dist::world().size; ++r) workers_[r].last_heard = Clock::now();
  }

  WorkerReport run() {
    try {
      return schedule();
    } catch (...) {
      stop_study_worker_ranks();  // none waits for a scheduler that is gone
      throw;
    }
  }

 private:
  using State = WorkerRank::State;

  WorkerReport schedule() {
    auto last_recover = Clock::time_point{}, last_beat = Clock::now(), last_ping = last_beat;
    for (;;) {
      // Every message that has come, before anyone is judged by silence.
      while (auto m = dist::try_receive()) handle(*m);
      if (!draining_ && (interrupted() || failures_.reached(o_.max_failures_in_a_row))) drain();
      for (auto& [rank, w] : workers_)
        if (live(w) && Clock::now() - w.last_heard > o_.worker_timeout)
          lose(rank, fmt::format("silent for {} s", o_.worker_timeout.count() / 1000));
      if (Clock::now() - last_recover > std::chrono::seconds(1)) {
        recover_others();
        last_recover = Clock::now();
      }
      if (!draining_) assign();
      if (Clock::now() - last_beat > std::chrono::seconds(kHeartbeatIntervalS)) {
        beat();
        last_beat = Clock::now();
      }
      if (Clock::now() - last_ping > kSchedulerPing) {
        for (auto& [rank, w] : workers_)
          if (live(w)) send(rank, kTagPing, json::object());
        last_ping = Clock::now();
      }
      if (busy() == 0) {
        if (draining_ || (claimed_all_ && !trials_left())) break;
        if (!std::any_of(workers_.begin(), workers_.end(), [](const auto& rw) {
              return rw.second.state == WorkerRank::State::kIdle ||
                     rw.second.state == WorkerRank::State::kStarting;
            })) {
          throw Error(fmt::format("{} '{}': no worker rank is left to run its trials{}",
                                  study_kind_name(study_.def.kind), study_.def.name,
                                  refusals_.empty() ? "" : ": " + refusals_));
        }
      }
      if (auto m = next_message(std::chrono::milliseconds(20))) handle(*m);
    }
    stop_study_worker_ranks();
    if (failures_.reached(o_.max_failures_in_a_row)) throw Error(failures_.why_stopped(study_));
    report_.interrupted = interrupted();
    return report_;
  }

  bool interrupted() const { return o_.interrupt && o_.interrupt->load(); }
  void say(const std::string& s) const {
    if (o_.say) o_.say(s);
  }
  static bool live(const WorkerRank& w) {
    return w.state != State::kLost && w.state != State::kUnusable;
  }
  int busy() const {
    return int(std::count_if(workers_.begin(), workers_.end(),
                             [](const auto& rw) { return rw.second.state == State::kBusy; }));
  }
  std::string where(int rank) const {
    return fmt::format("rank {} ({})", rank, workers_.at(rank).host);
  }

  // Whether any trial is waiting, or running in this job or in another worker process.
  bool trials_left() {
    for (const TrialRecord& t : store_.trials(study_.id))
      if (t.state == TrialState::kRunning || t.state == TrialState::kWaiting) return true;
    return false;
  }

  // Empty when the message went, else why it did not.
  static std::string try_send(int rank, int tag, const json& body) {
    try {
      if (dist::send_within(rank, tag, message_text(body), kSendTimeout)) return "";
      return "it takes no messages";
    } catch (const std::exception& e) {
      return e.what();
    }
  }

  // false when the worker cannot be reached: it is lost.
  bool send(int rank, int tag, const json& body) {
    const std::string why = try_send(rank, tag, body);
    if (!why.empty()) lose(rank, why);
    return why.empty();
  }

  void assign() {
    for (auto& [rank, w] : workers_) {
      if (w.state != State::kIdle) continue;
      auto t = store_.claim(study_.id);
      claimed_all_ = !t;
      if (!t) return;
      w.state = State::kBusy;
      w.assignment = ++assignments_;
      w.trial = *t;
      w.run_id.reset();
      w.curve.clear();
      w.started = Clock::now();
      w.interrupted = false;
      const json trial{{"trial_id", t->id},
                       {"number", t->number},
                       {"seed", t->seed},
                       {"label", trial_label(study_, *t)},
                       {"kind", study_kind_name(study_.def.kind)},
                       {"study", study_.def.name},
                       {"script", study_.def.script},
                       {"script_sha256", study_.def.script_sha256},
                       {"sets", trial_sets(study_, *t)},
                       {"metric", study_.def.metric},
                       {"ask_pruner", study_.def.pruner != "none"}};
      if (const std::string why =
              try_send(rank, kTagTrial, {{"assignment", w.assignment}, {"trial", trial}});
          !why.empty()) {
        store_.release(t->id);  // it never started: the attempt does not count
        w.state = State::kIdle;
        lose(rank, why);
        continue;
      }
      say(fmt::format("{}: started on {}", trial_label(study_, *t), where(rank)));
      ++report_.started;
    }
  }

  void handle(const dist::Message& m) {
    const auto it = workers_.find(m.source);
    if (it == workers_.end() || it->second.state == State::kLost) return;
    WorkerRank& w = it->second;
    w.last_heard = Clock::now();
    json body;
    try {
      body = json::parse(m.text);
    } catch (const std::exception& e) {
      say(fmt::format("{} sent a message that is not JSON (tag {}): {}", where(m.source), m.tag,
                      e.what()));
      return;
    }
    if (m.tag == kTagHello) {
      w.host = body.value("host", "?");
      if (w.state == State::kStarting) w.state = State::kIdle;
      return;
    }
    if (m.tag == kTagHeartbeat) return;
    // The rest is about a trial: only the one it runs now counts.
    if (w.state != State::kBusy || body.value("assignment", int64_t(0)) != w.assignment) return;
    switch (m.tag) {
      case kTagRunStarted:
        w.run_id = runs_.write(body.at("snapshot"), w.run_id, place_);
        store_.attach_run(w.trial.id, *w.run_id);
        break;
      case kTagMetrics:
        if (w.run_id) runs_.append_metrics(*w.run_id, body.at("metrics"));
        break;
      case kTagPruneQuestion: {
        w.curve[body.at("epoch").get<int64_t>()] = value_from_json(body.at("value"));
        const bool prune = store_.should_prune(w.trial.id, w.curve);
        send(m.source, kTagPruneAnswer, {{"assignment", w.assignment}, {"prune", prune}});
        break;
      }
      case kTagTrialEnded:
        ended(m.source, w, body);
        w.state = State::kIdle;
        break;
      case kTagRefused: {
        store_.release(w.trial.id);
        const std::string reason = body.value("reason", "?");
        say(fmt::format("{} cannot run trials: {}; {} handed back", where(m.source), reason,
                        trial_label(study_, w.trial)));
        refusals_ += (refusals_.empty() ? "" : "; ") + where(m.source) + ": " + reason;
        w.state = State::kUnusable;
        break;
      }
      default:
        say(fmt::format("{} sent a message of unknown tag {}", where(m.source), m.tag));
    }
  }

  // The trial's run as its worker sent it, and the trial's outcome (as run_worker's `ended`).
  void ended(int rank, WorkerRank& w, const json& body) {
    const TrialRecord& t = w.trial;
    const std::string label = trial_label(study_, t);
    const double secs = std::chrono::duration<double>(Clock::now() - w.started).count();
    const std::string log = fmt::format("{}/trial-{}.log", o_.log_dir, t.number + 1);
    std::ofstream(log, std::ios::binary) << body.value("log", "");
    std::string run_status;
    if (const json& snap = body.at("snapshot"); !snap.is_null()) {
      w.run_id = runs_.write(snap, w.run_id, place_);
      store_.attach_run(t.id, *w.run_id);
      run_status = snap.at("run").value("status", "");
    }
    study_detail::TrialEnd end{w.run_id, run_status, body.value("signal", 0),
                               body.value("exit_code", -1), secs, log, where(rank)};
    say(failures_.count(label, study_detail::settle_trial(store_, db_, study_, t, end)));
  }

  // A worker that died (or cannot be reached): its trial's partial run is deleted, so the trial
  // is recorded once, by the attempt that completes it; the trial is run again (or crashed).
  void lose(int rank, const std::string& why) {
    WorkerRank& w = workers_.at(rank);
    if (w.state == State::kLost) return;
    const bool was_busy = w.state == State::kBusy;
    w.state = State::kLost;
    dist::mark_rank_lost();
    if (!was_busy) {
      say(fmt::format("{}: lost ({})", where(rank), why));
      return;
    }
    if (w.run_id) runs_.erase(*w.run_id);
    const TrialState next = store_.retry_or_crash(w.trial.id);
    ++report_.recovered;
    say(fmt::format("{}: its worker {} is lost ({}); {}", trial_label(study_, w.trial), where(rank),
                    why, next == TrialState::kWaiting ? "to be run again" : "crashed"));
  }

  // Trials of other worker processes (joined without MPI) that died, as run_worker does.
  void recover_others() {
    for (const TrialRecord& t : store_.recover(study_.id)) {
      ++report_.recovered;
      if (t.run_id) db_.get_run(*t.run_id);  // records its run crashed: its process is gone
      say(fmt::format("{}: its worker died (pid {} on {}); {}", trial_label(study_, t),
                      t.worker_pid.value_or(0), t.worker_host.value_or("?"),
                      t.state == TrialState::kWaiting ? "to be run again" : "crashed"));
    }
  }

  // The trials' heartbeats (rank 0 claimed them) and their runs' (their processes are on the
  // workers' hosts), while their workers are heard from.
  void beat() {
    std::vector<int64_t> ids;
    for (auto& [rank, w] : workers_)
      if (w.state == State::kBusy) {
        ids.push_back(w.trial.id);
        if (w.run_id) runs_.beat(*w.run_id);
      }
    store_.heartbeat(ids);
  }

  // Interrupted, or too many failures: one SIGINT to every running trial, no new ones; the
  // loop ends when they have all reported.
  void drain() {
    draining_ = true;
    for (auto& [rank, w] : workers_)
      if (w.state == State::kBusy && !w.interrupted) {
        w.interrupted = true;
        send(rank, kTagInterrupt, json::object());
      }
  }

  StudyStore& store_;
  RunRecorder& db_;
  StudyRecord study_;
  const StudySchedulerOptions& o_;
  TrialRunWriter runs_;
  TrialRunPlace place_;
  std::map<int, WorkerRank> workers_;
  int64_t assignments_ = 0;
  WorkerReport report_;
  bool draining_ = false;
  bool claimed_all_ = false;  // an idle worker found no trial to claim (a sweep's: its budget)
  study_detail::FailureStreak failures_;
  std::string refusals_;
};

}  // namespace

void stop_study_worker_ranks() {
  static bool stopped = false;
  if (stopped) return;
  stopped = true;
  for (int rank = 1; rank < dist::world().size; ++rank) {
    try {
      // A worker that knows a rank died does not finalize MPI either (distributed.h).
      dist::send_within(rank, kTagStop, json{{"rank_lost", dist::rank_lost()}}.dump(),
                        std::chrono::seconds(1));
    } catch (const std::exception&) {
      // It is gone: nothing to stop.
    }
  }
}

WorkerReport run_study_scheduler(StudyStore& store, RunRecorder& db, int64_t study_id,
                                 const StudySchedulerOptions& options) {
  return Scheduler(store, db, study_id, options).run();
}

}  // namespace gom
