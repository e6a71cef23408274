// study_worker.cpp — the worker loop: claim trials, run each as a `gom run` child process,
// read its run's outcome, and hand back or mark what dies. Children get their own process group
// (a terminal's Ctrl-C reaches the worker only, which passes one SIGINT on to each child) and
// die with the worker (PR_SET_PDEATHSIG), so a killed worker leaves no trial running unseen.
#include "gom_core/study_worker.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "gom_core/search.h"

namespace gom {
namespace {

using Clock = std::chrono::steady_clock;

struct Child {
  TrialRecord trial;
  pid_t pid = 0;
  std::string log;
  Clock::time_point started;
  bool sent_interrupt = false;
};

std::string trial_label(const StudyRecord& s, const TrialRecord& t) {
  const int64_t total = s.def.kind == StudyKind::kLeague
                            ? int64_t(s.def.contenders.size() * s.def.seeds.size())
                            : s.def.trials;
  const std::string of = total > 0 ? fmt::format("/{}", total) : "";
  if (s.def.kind == StudyKind::kLeague)
    return fmt::format("trial {}{} {} seed {}", t.number + 1, of, t.contender, t.seed);
  std::string params;  // 4 digits of a double: a label to read (the params table has them all)
  for (const auto& [k, v] : t.params.items())
    params += fmt::format(" {}={}", k,
                          v.is_string()         ? v.get<std::string>()
                          : v.is_number_float() ? fmt::format("{:.4g}", v.get<double>())
                                                : v.dump());
  return fmt::format("trial {}{}{}", t.number + 1, of, params);
}

// The --set arguments of a trial: the study's common ones, then the trial's own.
std::vector<std::string> trial_sets(const StudyRecord& s, const TrialRecord& t) {
  std::vector<std::string> sets;
  for (const auto& [k, v] : s.def.common) sets.push_back(k + "=" + v);
  for (const auto& [k, v] : t.params.items()) sets.push_back(k + "=" + search::override_text(v));
  return sets;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) throw Error(fmt::format("cannot write the trial log {}", log));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    ::close(out);
    throw Error("cannot start a trial process (fork failed)");
  }
  if (pid == 0) {  // only async-signal-safe calls from here to exec
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the worker died before prctl
    setpgid(0, 0);
    const int in = ::open("/dev/null", O_RDONLY);
    if (in >= 0) dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  ::close(out);
  return pid;
}

// The last lines of a trial's log that say why it failed.
std::string log_tail(const std::string& path, size_t lines = 6) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += "    " + all[i] + "\n";
  return out;
}

class Worker {
 public:
  Worker(StudyStore& store, RunRecorder& db, int64_t study_id, const WorkerOptions& o)
      : store_(store), db_(db), study_(store.get(study_id)), o_(o) {
    if (o_.jobs < 1) throw Error("a study worker runs at least one trial at a time (jobs >= 1)");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(study_.def.script, ec))
      throw Error(fmt::format("{} '{}': its script {} is gone", study_kind_name(study_.def.kind),
                              study_.def.name, study_.def.script));
    const std::string sha = sha256_file_hex(study_.def.script);
    if (!study_.def.script_sha256.empty() && sha != study_.def.script_sha256)
      throw Error(fmt::format(
          "{} '{}': its script {} changed since the study was made (sha256 {} then, {} now); "
          "trials of one study must run the same script: restore it, or start a study of "
          "another name",
          study_kind_name(study_.def.kind), study_.def.name, study_.def.script,
          study_.def.script_sha256.substr(0, 12), sha.substr(0, 12)));
    std::filesystem::create_directories(o_.log_dir, ec);
    if (ec)
      throw Error(
          fmt::format("cannot create the trial log folder {}: {}", o_.log_dir, ec.message()));
  }

  WorkerReport run() {
    auto last_beat = Clock::now(), last_recover = Clock::time_point{};
    for (;;) {
      reap();
      if (failures_in_a_row_ >= o_.max_failures_in_a_row) {
        stop();
        throw Error(fmt::format("{} trials of {} '{}' failed in a row; stopping. The first: {}",
                                failures_in_a_row_, study_kind_name(study_.def.kind),
                                study_.def.name, first_failure_));
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
             failures_in_a_row_ < o_.max_failures_in_a_row) {
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
      c.pid = spawn(argv, c.log);
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
    if (run_status == "finished") {
      const auto v = trial_result(db_, *t.run_id, study_.def.metric);
      if (!v) {
        store_.finish(t.id, TrialState::kFailed, std::nullopt);
        fail(label, fmt::format("run {} finished without logging the metric '{}' the {} ranks "
                                "by (it logged: see gom show {})",
                                *t.run_id, study_.def.metric, study_kind_name(study_.def.kind),
                                *t.run_id));
        return;
      }
      store_.finish(t.id, TrialState::kFinished, v);
      failures_in_a_row_ = 0;
      say(fmt::format("{}: finished {}={:.6g} in {:.1f} s (run {})", label, study_.def.metric, *v,
                      secs, *t.run_id));
    } else if (run_status == "pruned") {
      store_.finish(t.id, TrialState::kPruned, std::nullopt);
      failures_in_a_row_ = 0;
      say(fmt::format("{}: pruned in {:.1f} s (run {})", label, secs, *t.run_id));
    } else if (run_status == "interrupted") {
      store_.release(t.id);
      say(fmt::format("{}: interrupted; handed back, to be run again", label));
    } else if (run_status == "failed" || run_status == "diverged") {
      store_.finish(t.id, TrialState::kFailed, std::nullopt);
      fail(label, fmt::format("run {} {}:\n{}", *t.run_id, run_status, log_tail(c.log)));
    } else if (signalled || run_status == "crashed") {
      const TrialState next = store_.retry_or_crash(t.id);
      say(fmt::format("{}: its process died ({}); {}", label,
                      signalled ? fmt::format("signal {}", WTERMSIG(wait_status)) : "no record",
                      next == TrialState::kWaiting ? "to be run again" : "crashed"));
    } else {  // it never started its run: bad arguments, an unreadable script
      store_.finish(t.id, TrialState::kFailed, std::nullopt);
      fail(label,
           fmt::format("gom run exited with status {} before recording a run:\n{}",
                       WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1, log_tail(c.log)));
    }
  }

  void fail(const std::string& label, const std::string& why) {
    say(fmt::format("{}: FAILED: {}", label, why));
    if (failures_in_a_row_++ == 0) first_failure_ = label + ": " + why;
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
  int failures_in_a_row_ = 0;
  std::string first_failure_;
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
