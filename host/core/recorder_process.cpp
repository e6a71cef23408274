// recorder_process.cpp — which process records a run, whether it is still alive, and the
// heartbeat thread that says so to readers on other hosts. A run's row holds its host, pid and
// the process's start time (so a pid reused by another process is not taken for the run's).
#include <SQLiteCpp/SQLiteCpp.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "gom_core/recorder.h"
#include "recorder_internal.h"

namespace gom::recorder_detail {
namespace {

// Field 22 of /proc/PID/stat (clock ticks after boot) and the state (field 3); 0 and '?' when it
// cannot be read. The command name (field 2) may hold spaces and ')', so fields are counted
// from the last ')'.
struct ProcStat {
  int64_t started = 0;
  char state = '?';
};

ProcStat read_proc_stat(int64_t pid) {
  ProcStat st;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return st;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return st;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 3) st.state = field.empty() ? '?' : field[0];
    if (i == 22) st.started = std::stoll(field);
  }
  return st;
}

}  // namespace

ProcessInfo this_process() {
  // Cached, but made afresh in a forked child: its pid and start time are its own.
  static std::mutex mu;
  static ProcessInfo cached;
  std::lock_guard<std::mutex> lock(mu);
  if (cached.pid != getpid()) {
    ProcessInfo p;
    char host[HOST_NAME_MAX + 1] = {};
    if (gethostname(host, sizeof host - 1) == 0) p.host = host;
    p.pid = getpid();
    p.started = read_proc_stat(p.pid).started;
    cached = p;
  }
  return cached;
}

bool process_alive(int64_t pid, int64_t started) {
  if (pid <= 0 || pid > INT_MAX) return false;
  const ProcStat st = read_proc_stat(pid);
  if (st.state != '?') {
    // A zombie (Z) or dead (X) process has ended; one started at another time is another process.
    if (st.state == 'Z' || st.state == 'X') return false;
    return started == 0 || st.started == started;
  }
  // No /proc entry: gone, unless /proc cannot be read at all; then ask the kernel.
  if (this_process().started != 0) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool process_gone(const std::optional<std::string>& host, std::optional<int64_t> pid,
                  std::optional<int64_t> started, bool heartbeat_stale) {
  if (!host || !pid) return false;  // recorded before schema v2: nothing to tell by
  if (*host == this_process().host) return !process_alive(*pid, started.value_or(0));
  return heartbeat_stale;
}

std::string crashed_error(const std::string& host, int64_t pid,
                          const std::optional<std::string>& heartbeat_at) {
  return "the process (pid " + std::to_string(pid) + " on " + host +
         ") ended without recording the end of the run (killed, crashed, or out of disk); its "
         "last heartbeat was at " +
         heartbeat_at.value_or("?");
}

struct Heartbeat::State {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
};

Heartbeat::Heartbeat(const std::string& path, std::chrono::milliseconds interval)
    : state_(std::make_shared<State>()) {
  thread_ = std::thread([path, interval, state = state_] {
    // Its own connection: a beat waiting for a busy database does not hold the recorder's mutex.
    std::unique_ptr<SQLite::Database> db;
    const ProcessInfo me = this_process();
    std::unique_lock<std::mutex> lock(state->mu);
    while (!state->cv.wait_for(lock, interval, [&] { return state->stop; })) {
      lock.unlock();
      try {
        if (!db) db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE, 2000);
        SQLite::Statement up(*db,
                             "UPDATE runs SET heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', "
                             "'now') WHERE status = 'running' AND host = ? AND pid = ? AND "
                             "process_started = ?");
        up.bind(1, me.host);
        up.bind(2, me.pid);
        up.bind(3, me.started);
        up.exec();
      } catch (const std::exception&) {
        // Best effort: a missed beat only matters after kHeartbeatTimeoutS of them.
      }
      lock.lock();
    }
  });
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gom::recorder_detail
