// gom_core/threads.h — how many compute threads gom uses when nobody says. Host-level API (the
// gom command, benchmarks), not part of the SDK.
#pragma once

namespace gom {

/// @brief Cores this process may run on (its CPU affinity mask; at least 1).
int usable_cores();

/// @brief The most compute threads gom accepts: kThreadsPerCore per usable core, at most
/// kMaxThreads. Why: more OpenMP threads than cores only add waiting (5000 threads took 18 s
/// for a 0.0 s run), and thousands exhaust the process.
inline constexpr int kThreadsPerCore = 4, kMaxThreads = 1024;
int max_num_threads();

/// @brief Runnable threads of other processes right now: the least of a few samples of
/// /proc/stat's procs_running taken over about 15 ms, less this process's own running threads.
/// A process that keeps a core busy shows in every sample; a passing one does not. 0 when
/// /proc cannot be read.
int busy_cores_elsewhere();

/// @brief The default number of compute threads: usable_cores() less busy_cores_elsewhere(), at
/// least 1. Why: an OpenMP thread that shares its core with a busy process is descheduled for
/// whole time slices, and every parallel region then waits for it (measured on 2 cores with
/// one busy: 2 threads trained the CNN at 0.6x the speed of 1). Chosen once per run, so a
/// run's results (and its resume) do not depend on load changing midway.
int default_num_threads();

}  // namespace gom
