// study_mpi_worker.cpp — a worker rank of `mpirun -np N gom sweep/league run`: runs the trials
// rank 0 hands it, one at a time, each as a `gom run` process recording into a database of its
// own under $TMPDIR (rank 0 alone opens the study's), and tells rank 0 what the run records as it
// goes: the run once it exists, its new metric rows every second, the trial's pruning questions
// (the trial waits on a socket for the answer), and at its end the whole run and its log.
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "gom/error.h"
#include "gom_core/distributed.h"
#include "gom_core/study_mpi.h"
#include "gom_core/threads.h"
#include "study_mpi_protocol.h"
#include "study_run_transfer.h"
#include "study_trial_process.h"

namespace gom {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace study_detail;

// The part of a trial's log sent to rank 0 (its end, where the errors are).
constexpr size_t kMaxLogBytes = 4u << 20;

std::string host_name() {
  char host[HOST_NAME_MAX + 1] = {};
  return gethostname(host, sizeof host - 1) == 0 ? host : "?";
}

std::string read_log(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  if (s.size() > kMaxLogBytes)
    s = "[... the log's first " + std::to_string(s.size() - kMaxLogBytes) + " bytes left out]\n" +
        s.substr(s.size() - kMaxLogBytes);
  return s;
}

// The trial being run.
struct Trial {
  int64_t assignment = 0;
  json spec;  // what rank 0 sent
  std::string folder, db, log;
  pid_t pid = 0;
  int channel = -1;     // the worker's end of the trial's pruning socket
  std::string pending;  // a question's bytes so far
  std::unique_ptr<LocalRunReader> reader;
  bool announced = false, sent_interrupt = false;
};

class WorkerRank {
 public:
  explicit WorkerRank(const StudyWorkerRankOptions& o) : o_(o) {
    const char* base = std::getenv("GOM_STUDY_WORKER_DIR");
    if (!base || !*base) base = std::getenv("TMPDIR");
    std::string pattern = fmt::format("{}/gom-study-rank{}-XXXXXX", base && *base ? base : "/tmp",
                                      dist::world().rank);
    if (!mkdtemp(pattern.data()))
      throw Error(fmt::format("a worker rank cannot make its folder {}", pattern));
    scratch_ = pattern;
  }

  int run() {
    int code = 0;
    if (!send(kTagHello, {{"host", host_name()}, {"pid", int64_t(getpid())}})) code = 1;
    heard_from_root_ = last_beat_ = Clock::now();
    while (code == 0 && !stop_) {
      if (trial_)
        service_trial(std::chrono::milliseconds(20));
      else if (auto m = next_message(std::chrono::milliseconds(20)))
        handle(*m);
      while (!stop_)
        if (auto m = dist::try_receive())
          handle(*m);
        else
          break;
      if (trial_ && interrupted()) interrupt_trial();
      if (Clock::now() - last_beat_ >= kWorkerHeartbeat) {
        if (!beat()) code = 1;
      }
      if (Clock::now() - heard_from_root_ > kSchedulerSilence) {
        say(fmt::format("rank 0 has been silent for {} s; giving up", kSchedulerSilence.count()));
        dist::mark_rank_lost();
        code = 1;
      }
    }
    if (trial_) {  // told to stop (or giving up) mid-trial: the trial is rank 0's to run again
      kill(trial_->pid, SIGKILL);
      waitpid(trial_->pid, nullptr, 0);
      cleanup(*trial_);
      trial_.reset();
    }
    std::error_code ec;
    fs::remove(scratch_, ec);  // when empty: what trials kept (artifacts) stays
    return code;
  }

 private:
  bool interrupted() const { return o_.interrupt && o_.interrupt->load(); }
  void say(const std::string& s) const {
    if (o_.say) o_.say(fmt::format("rank {}: {}", dist::world().rank, s));
  }

  // false when rank 0 does not take it (gone): the worker ends.
  bool send(int tag, const json& body) {
    try {
      if (dist::send_within(0, tag, message_text(body), kSendTimeout)) return true;
      say("rank 0 takes no messages; giving up");
    } catch (const std::exception& e) {
      say(fmt::format("cannot reach rank 0 ({}); giving up", e.what()));
    }
    dist::mark_rank_lost();
    stop_ = true;
    return false;
  }

  bool beat() {
    last_beat_ = Clock::now();
    if (!send(kTagHeartbeat, {{"assignment", trial_ ? trial_->assignment : 0}})) return false;
    if (trial_) progress();
    return true;
  }

  void handle(const dist::Message& m) {
    if (m.source != 0) return;
    heard_from_root_ = Clock::now();
    json body;
    try {
      body = json::parse(m.text);
    } catch (const std::exception&) {
      return;
    }
    switch (m.tag) {
      case kTagTrial:
        if (trial_)
          say("rank 0 sent a trial while one runs; ignored");
        else
          start(body.at("assignment").get<int64_t>(), body.at("trial"));
        break;
      case kTagInterrupt:
        if (trial_) interrupt_trial();
        break;
      case kTagStop:
        if (body.value("rank_lost", false)) dist::mark_rank_lost();
        stop_ = true;
        break;
      case kTagPruneAnswer:
        if (trial_ && body.value("assignment", int64_t(0)) == trial_->assignment)
          answer_ = body.value("prune", false);
        break;
      default:  // kTagPing: rank 0 is alive
        break;
    }
  }

  int threads() const {
    if (o_.threads > 0) return o_.threads;
    return std::max(1, default_num_threads() / std::max(1, o_.workers_on_host));
  }

  void start(int64_t assignment, const json& spec) {
    StudyDefinition def;  // what check_script needs
    def.kind = spec.at("kind") == "league" ? StudyKind::kLeague : StudyKind::kSweep;
    def.name = spec.at("study").get<std::string>();
    def.script = spec.at("script").get<std::string>();
    def.script_sha256 = spec.at("script_sha256").get<std::string>();
    try {
      check_script(def);
    } catch (const std::exception& e) {
      send(kTagRefused, {{"assignment", assignment}, {"reason", e.what()}});
      return;
    }
    auto t = std::make_unique<Trial>();
    t->assignment = assignment;
    t->spec = spec;
    t->folder =
        fmt::format("{}/trial-{}-{}", scratch_, spec.at("number").get<int64_t>() + 1, assignment);
    t->db = t->folder + "/runs.db";
    t->log = t->folder + "/trial.log";
    std::error_code ec;
    fs::create_directories(t->folder, ec);
    std::vector<std::string> argv{o_.gom_executable};
    for (const std::string& p : o_.plugin_files) argv.insert(argv.end(), {"--plugin", p});
    argv.insert(argv.end(), {"--db", t->db, "run", def.script, "--seed",
                             std::to_string(spec.at("seed").get<int64_t>()), "--threads",
                             std::to_string(threads()), "--experiment", def.name, "--name",
                             spec.at("label").get<std::string>()});
    int child_end = -1;
    if (spec.value("ask_pruner", false)) {
      int fds[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        throw Error("a worker rank cannot make its trial's pruning socket");
      t->channel = fds[0];
      child_end = fds[1];
      argv.insert(argv.end(), {"--prune-by-parent", "3"});  // spawn_trial puts it at 3
    }
    for (const json& s : spec.at("sets")) argv.insert(argv.end(), {"--set", s.get<std::string>()});
    try {
      t->pid = spawn_trial(argv, t->log, child_end);
    } catch (const std::exception& e) {
      if (child_end >= 0) ::close(child_end);
      cleanup(*t);
      // As a trial whose process never recorded a run: rank 0 records it failed.
      send(kTagTrialEnded, {{"assignment", assignment},
                            {"snapshot", nullptr},
                            {"exit_code", -1},
                            {"signal", 0},
                            {"log", std::string(e.what()) + "\n"}});
      return;
    }
    if (child_end >= 0) ::close(child_end);
    t->reader = std::make_unique<LocalRunReader>(t->db);
    trial_ = std::move(t);
  }

  void interrupt_trial() {
    if (trial_->sent_interrupt) return;
    kill(trial_->pid, SIGINT);
    trial_->sent_interrupt = true;
  }

  // The run so far: the whole of it once it exists, then its new metric rows.
  void progress() {
    Trial& t = *trial_;
    try {
      if (!t.announced) {
        if (t.reader->run() && send(kTagRunStarted, {{"assignment", t.assignment},
                                                     {"snapshot", t.reader->snapshot()}}))
          t.announced = true;
      } else if (auto rows = t.reader->new_metrics()) {
        send(kTagMetrics, {{"assignment", t.assignment}, {"metrics", *rows}});
      }
    } catch (const std::exception& e) {
      say(fmt::format("reading the trial's run: {} (tried again in a second)", e.what()));
    }
  }

  // Waits up to `wait` for the trial's questions; answers them; sees whether it ended.
  void service_trial(std::chrono::milliseconds wait) {
    Trial& t = *trial_;
    if (t.channel >= 0) {
      pollfd p{t.channel, POLLIN, 0};
      if (::poll(&p, 1, int(wait.count())) > 0) {
        char buf[4096];
        const ssize_t n = ::recv(t.channel, buf, sizeof buf, 0);
        if (n <= 0) {
          ::close(t.channel);  // the trial closed it: it is ending
          t.channel = -1;
        } else {
          t.pending.append(buf, size_t(n));
          for (size_t nl; trial_ && (nl = t.pending.find('\n')) != std::string::npos;) {
            const std::string line = t.pending.substr(0, nl);
            t.pending.erase(0, nl + 1);
            reply(line);
          }
        }
      }
    } else {
      std::this_thread::sleep_for(wait);
    }
    if (!trial_) return;
    int status = 0;
    if (waitpid(t.pid, &status, WNOHANG) == t.pid) ended(status);
  }

  // A pruning question: rank 0 decides, from the study's database, once it has the rows so far.
  void reply(const std::string& line) {
    Trial& t = *trial_;
    bool prune = false;
    try {
      const json q = json::parse(line);
      const json& metrics = q.at("metrics");
      const std::string metric = t.spec.at("metric").get<std::string>();
      if (metrics.contains(metric)) {  // as a local trial: no value, no question
        progress();
        answer_.reset();
        if (send(kTagPruneQuestion, {{"assignment", t.assignment},
                                     {"epoch", q.at("epoch")},
                                     {"value", metrics.at(metric)}}))
          prune = await_answer();
      }
    } catch (const std::exception& e) {
      say(fmt::format("a pruning question it cannot read ({}): the trial goes on", e.what()));
    }
    if (!trial_ || t.channel < 0) return;
    const std::string a = prune ? "prune\n" : "continue\n";
    if (::send(t.channel, a.data(), a.size(), MSG_NOSIGNAL) < 0) {
      ::close(t.channel);
      t.channel = -1;
    }
  }

  // Rank 0's answer; meanwhile its other messages are taken and heartbeats go on.
  bool await_answer() {
    while (!answer_ && !stop_) {
      if (auto m = next_message(std::chrono::milliseconds(100))) handle(*m);
      if (Clock::now() - last_beat_ >= kWorkerHeartbeat) {
        last_beat_ = Clock::now();
        send(kTagHeartbeat, {{"assignment", trial_->assignment}});
      }
      if (Clock::now() - heard_from_root_ > kSchedulerSilence) stop_ = true;
    }
    return answer_.value_or(false);
  }

  void ended(int wait_status) {
    Trial& t = *trial_;
    if (t.channel >= 0) ::close(t.channel);
    t.channel = -1;
    json snapshot = nullptr;
    try {
      if (t.reader->run()) snapshot = t.reader->snapshot();
    } catch (const std::exception& e) {
      say(fmt::format("cannot read the trial's run: {}", e.what()));
    }
    send(kTagTrialEnded, {{"assignment", t.assignment},
                          {"snapshot", snapshot},
                          {"exit_code", WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1},
                          {"signal", WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0},
                          {"log", read_log(t.log)}});
    cleanup(t);
    trial_.reset();
  }

  // Rank 0 has the run: its database goes; files the run recorded (its artifacts, under
  // runs.db.artifacts/) stay where the artifact rows say they are.
  void cleanup(Trial& t) {
    t.reader.reset();
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(t.db + suffix, ec);
    fs::remove(t.log, ec);
    const fs::path artifacts = t.db + ".artifacts";
    bool kept = false;
    for (fs::recursive_directory_iterator it(artifacts, ec), end; !ec && it != end;
         it.increment(ec))
      kept = kept || it->is_regular_file(ec);
    if (!kept) fs::remove_all(t.folder, ec);
  }

  const StudyWorkerRankOptions& o_;
  std::string scratch_;
  std::unique_ptr<Trial> trial_;
  std::optional<bool> answer_;
  Clock::time_point heard_from_root_, last_beat_;
  bool stop_ = false;
};

}  // namespace

int run_study_worker_rank(const StudyWorkerRankOptions& options) {
  return WorkerRank(options).run();
}

}  // namespace gom
