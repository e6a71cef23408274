// The default thread count (gom_core/threads.h): a process that keeps a core busy is seen, and
// the default leaves its core alone.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "gom_core/threads.h"

namespace {

// A child process that spins until killed: another program keeping one core busy.
struct BusyChild {
  pid_t pid = fork();
  BusyChild() {
    if (pid == 0)
      for (;;) asm volatile("");  // an empty loop the compiler may not remove
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it reach its loop
  }
  ~BusyChild() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
};

}  // namespace

TEST_CASE("threads: usable cores and the default stay within the affinity mask", "[threads]") {
  const int cores = gom::usable_cores();
  REQUIRE(cores >= 1);
  REQUIRE(cores <= int(std::max(1u, std::thread::hardware_concurrency())));
  const int d = gom::default_num_threads();
  CHECK(d >= 1);
  CHECK(d <= cores);
}

TEST_CASE("threads: a process spinning on a core counts as busy and the default leaves it",
          "[threads]") {
  BusyChild busy;
  REQUIRE(busy.pid > 0);
  CHECK(gom::busy_cores_elsewhere() >= 1);
  const int cores = gom::usable_cores();
  if (cores >= 2) CHECK(gom::default_num_threads() <= cores - 1);
}
