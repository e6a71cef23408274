// threads.cpp — the default compute thread count: the usable cores less those other processes
// keep busy (gom_core/threads.h says why).
#include "gom_core/threads.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace gom {
namespace {

// procs_running of /proc/stat: the runnable threads of the whole machine; -1 when unreadable.
int procs_running() {
  std::ifstream f("/proc/stat");
  std::string key;
  long long value = 0;
  while (f >> key) {
    if (key == "procs_running" && f >> value) return int(value);
    f.ignore(1 << 20, '\n');
  }
  return -1;
}

// This process's threads in state R (running or runnable), the caller included.
int own_running_threads() {
  int n = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream f(task.path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    // "pid (comm) S ...": the state follows the last ')' (comm may hold spaces and parens).
    const auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'R') ++n;
  }
  return std::max(n, 1);
}

}  // namespace

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(CPU_COUNT(&set), 1);
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

int max_num_threads() {
  return std::min(kMaxThreads, kThreadsPerCore * usable_cores());
}

int busy_cores_elsewhere() {
  constexpr int kSamples = 8;
  constexpr auto kGap = std::chrono::milliseconds(2);
  int least = -1;
  for (int i = 0; i < kSamples; ++i) {
    if (i) std::this_thread::sleep_for(kGap);
    const int all = procs_running();
    if (all < 0) return 0;
    const int others = std::max(all - own_running_threads(), 0);
    least = least < 0 ? others : std::min(least, others);
    if (least == 0) break;  // an idle sample: nothing keeps a core busy
  }
  return std::max(least, 0);
}

int default_num_threads() {
  const int cores = usable_cores();
  return std::clamp(cores - busy_cores_elsewhere(), 1, cores);
}

}  // namespace gom
