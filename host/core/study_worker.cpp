// study_worker.cpp — the worker loop: claim trials, run each as a `gom run` child process
// (study_trial_process.cpp), read its run's outcome, and hand back or mark what dies.
#include "gom_core/study_worker.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "study_trial_process.h"

namespace gom {
namespace {

using study_detail::log_tail;
using study_detail::trial_label;
using study_detail::trial_sets;
using Clock = std::chrono::steady_clock;

struct Child {
  TrialRecord trial;
  pid_t pid = 0;
  std::string log;
  Clock::time_point started;
  bool sent_interrupt = false;
};

class Worker {
 public:
  Worker(StudyStore& store, RunRecorder& db, int64_t study_id, const WorkerOptions& o)
      : store_(store), db_(db), study_(store.get(study_id)), o_(o) {
    if (o_.jobs < 1) throw Error("a study worker runs at least one trial at a time (jobs >= 1)");
    study_detail::check_script(study_.def);
    std::error_code ec;
    std::filesystem::create_directories(o_.log_dir, ec);
    if (ec)
      throw Error(
          fmt::format("cannot create the trial log folder {}: {}", o_.log_dir, ec.message()));
  }

  WorkerReport run() {
    auto last_beat = Clock::now(), last_recover = Clock::time_point{};
    for (;;) {
      reap();
      if (failures_.reached(o_.max_failures_in_a_row)) {
        stop();
        throw Error(failures_.why_stopped(study_));
      }
      if (interrupted()) return stop();
      if (Clock::now() - last_recover > std::chrono::seconds(1)) {
        for (const TrialRecord& t : store_.recover(study_.id)) {
          ++report_.recovered;
          if (t.run_id) db_.get_run(*t.run_id);  // records its run crashed: its process is gone
          say(fmt::format("{}: its worker died (pid {} on {}); {}", trial_label(study_, t),
                          t.worker_pid.value_or(0), t.worker_host.value_or("?"),
                          t.state == TrialState::kWaiting ? "to be run again" : "crashed"));
        }
        last_recover = Clock::now();
      }
      while (int(children_.size()) < o_.jobs && !interrupted() &&
             !failures_.reached(o_.max_failures_in_a_row)) {
        auto t = store_.claim(study_.id);
        if (!t) break;
        start(*t);
      }
      if (children_.empty() && !others_running()) break;
      if (Clock::now() - last_beat > std::chrono::seconds(kHeartbeatIntervalS)) {
        std::vector<int64_t> ids;
        for (const auto& [pid, c] : children_) ids.push_back(c.trial.id);
        store_.heartbeat(ids);
        last_beat = Clock::now();
      }
      std::this_thread::sleep_for(o_.poll);
    }
    return report_;
  }

 private:
  bool interrupted() const { return o_.interrupt && o_.interrupt->load(); }
  void say(const std::string& s) const {
    if (o_.say) o_.say(s);
  }

  bool others_running() {
    for (const TrialRecord& t : store_.trials(study_.id))
      if (t.state == TrialState::kRunning || t.state == TrialState::kWaiting) return true;
    return false;
  }

  void start(const TrialRecord& t) {
    std::vector<std::string> argv{o_.gom_executable};
    for (const std::string& p : o_.plugin_files) argv.insert(argv.end(), {"--plugin", p});
    argv.insert(argv.end(),
                {"--db", db_.path(), "run", study_.def.script, "--seed", std::to_string(t.seed),
                 "--threads", std::to_string(o_.threads), "--experiment", study_.def.name, "--name",
                 trial_label(study_, t), "--trial", std::to_string(t.id)});
    for (const std::string& s : trial_sets(study_, t)) argv.insert(argv.end(), {"--set", s});
    Child c{t, 0, fmt::format("{}/trial-{}.log", o_.log_dir, t.number + 1), Clock::now()};
    try {
      c.pid = study_detail::spawn_trial(argv, c.log);
    } catch (...) {
      store_.release(t.id);
      throw;
    }
    ++report_.started;
    say(fmt::format("{}: started (log {})", trial_label(study_, t), c.log));
    children_.emplace(c.pid, std::move(c));
  }

  // Collects the children that ended and records their trials.
  void reap() {
    for (auto it = children_.begin(); it != children_.end();) {
      int status = 0;
      const pid_t r = waitpid(it->first, &status, WNOHANG);
      if (r == 0) {
        ++it;
        continue;
      }
      ended(it->second, r == it->first ? status : -1);
      it = children_.erase(it);
    }
  }

  void ended(const Child& c, int wait_status) {
    const TrialRecord t = store_.trial(c.trial.id);
    const double secs = std::chrono::duration<double>(Clock::now() - c.started).count();
    const std::string label = trial_label(study_, t);
    std::string run_status;
    if (t.run_id) {
      const auto rows =
          db_.query("SELECT status, error FROM runs WHERE id = ?", {std::to_string(*t.run_id)});
      if (!rows.empty() && rows[0][0]) run_status = *rows[0][0];
      if (run_status == "running") {
        db_.get_run(*t.run_id);  // records it crashed: its process is gone
        run_status = "crashed";
      }
    }
    const bool signalled = wait_status != -1 && WIFSIGNALED(wait_status);
    const bool exited = wait_status != -1 && WIFEXITED(wait_status);
    study_detail::TrialEnd end{t.run_id,
                               run_status,
                               signalled ? WTERMSIG(wait_status) : 0,
                               exited ? WEXITSTATUS(wait_status) : -1,
                               secs,
                               c.log,
                               ""};
    say(failures_.count(label, study_detail::settle_trial(store_, db_, study_, t, end)));
  }

  // Interrupted (or giving up): one SIGINT to each child, then wait for them to record
  // themselves.
  WorkerReport stop() {
    for (auto& [pid, c] : children_)
      if (!c.sent_interrupt) {
        kill(pid, SIGINT);
        c.sent_interrupt = true;
      }
    for (auto& [pid, c] : children_) {
      int status = 0;
      waitpid(pid, &status, 0);
      ended(c, status);
    }
    children_.clear();
    report_.interrupted = interrupted();
    return report_;
  }

  StudyStore& store_;
  RunRecorder& db_;
  StudyRecord study_;
  const WorkerOptions& o_;
  std::map<pid_t, Child> children_;
  WorkerReport report_;
  study_detail::FailureStreak failures_;
};

}  // namespace

std::optional<double> trial_result(RunRecorder& db, int64_t run_id, const std::string& metric) {
  return db.result_value(run_id, metric);
}

WorkerReport run_worker(StudyStore& store, RunRecorder& db, int64_t study_id,
                        const WorkerOptions& options) {
  return Worker(store, db, study_id, options).run();
}

std::string study_folder(const std::string& db_path, int64_t study_id) {
  return fmt::format("{}.artifacts/study-{}", db_path, study_id);
}

std::pair<StudyRecord, WorkerReport> run_study(StudyStore& store, RunRecorder& db,
                                               const StudyDefinition& def,
                                               std::optional<int64_t> parent_run,
                                               WorkerOptions options) {
  StudyRecord study = store.create_or_join(def, parent_run);
  if (!study.run_id && parent_run) {
    store.set_run(study.id, *parent_run);
    study.run_id = parent_run;
  }
  if (options.log_dir.empty()) options.log_dir = study_folder(db.path(), study.id);
  const WorkerReport report = run_worker(store, db, study.id, options);
  return {store.get(study.id), report};
}

}  // namespace gom
