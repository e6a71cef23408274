// recorder_internal.h — what the recorder's sources share (not installed): the connection, error
// wrapping, the retry on a busy database and column helpers. Opening and writing are in
// recorder.cpp, reading in recorder_query.cpp, the schema in recorder_schema.cpp.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "gom/error.h"
#include "gom_core/recorder.h"

namespace gom {

namespace recorder_detail {

// Long enough for a queue of writers committing epochs; a writer never holds the lock for long.
inline constexpr int kBusyTimeoutMs = 30000;
// kBusyTimeoutMs, or GOM_DB_BUSY_TIMEOUT_MS (milliseconds, > 0) where set: tests hold a lock
// past a short timeout, and a user may rather fail fast than wait.
int busy_timeout_ms();

// recorder_schema.cpp
void migrate(SQLite::Database& db, const std::string& path);
/// The SELECT of the metric_summary view (schema v4), over the tables metrics and metric_info:
/// the reader runs it with metric_info given by a WITH clause on a file it cannot migrate.
extern const char* const kMetricSummarySelect;
int schema_version(SQLite::Database& db, const std::string& path);
/// gom::Error naming path if version is newer than kRunSchemaVersion.
void check_not_newer(int version, const std::string& path);

// recorder_schema_studies.cpp
/// v5: the tables studies and trials, the views trial_summary and league_table.
extern const char* const kSchemaV5Studies;

// recorder_schema_params.cpp
/// The SELECT of the param_values view (schema v6), over the table params.
extern const char* const kParamValuesSelect;
/// v6: the view param_values.
extern const std::string kSchemaV6Params;

// recorder_metric_info.cpp
/// Writes a metric_info row: replacing the one there (`replace`), or only where there is none.
void write_metric_info(SQLite::Database& db, int64_t run_id, const std::string& key,
                       const MetricInfo& info, bool replace);

// recorder_process.cpp
struct ProcessInfo {
  std::string host;
  int64_t pid = 0;
  int64_t started = 0;  // clock ticks after boot (/proc/PID/stat); 0 where unknown
};
ProcessInfo this_process();
/// Whether the process pid on this host is alive and is the one that started at `started`.
bool process_alive(int64_t pid, int64_t started);
/// Whether a running run's process is gone: at once on this host, by its heartbeat elsewhere.
bool process_gone(const std::optional<std::string>& host, std::optional<int64_t> pid,
                  std::optional<int64_t> started, bool heartbeat_stale);
/// The error text of a crashed run.
std::string crashed_error(const std::string& host, int64_t pid,
                          const std::optional<std::string>& heartbeat_at);

/// Updates runs.heartbeat_at of this process's running runs every `interval` from a thread of
/// its own (and connection), until destroyed.
class Heartbeat {
 public:
  Heartbeat(const std::string& path, std::chrono::milliseconds interval);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::thread thread_;
};

inline bool is_busy(const SQLite::Exception& e) {
  const int code = e.getErrorCode() & 0xff;  // the primary code of an extended one
  return code == SQLITE_BUSY || code == SQLITE_LOCKED;
}

// The busy timeout makes SQLite wait for a lock, but in some cases SQLite reports SQLITE_BUSY at
// once instead, where waiting could deadlock: PRAGMA journal_mode = WAL upgrading its read lock
// to switch a fresh file, a read transaction upgrading to a write one (SQLITE_BUSY_SNAPSHOT in
// WAL). So a step that failed busy is run again, with a randomised backoff, until the busy
// timeout has passed. f must be safe to run again: one transaction (rolled back when it threw),
// or reads whose results it builds afresh.
template <class F>
auto retry_busy(F&& f) -> decltype(f()) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(busy_timeout_ms());
  std::optional<std::minstd_rand> rng;  // seeded on the first retry: forked children differ
  for (int cap_us = 1000;; cap_us = std::min(cap_us * 2, 100000)) {
    try {
      return f();
    } catch (const SQLite::Exception& e) {
      if (!is_busy(e) || Clock::now() >= deadline) throw;
    }
    if (!rng) rng.emplace(std::random_device{}());
    std::uniform_int_distribution<int> wait_us(cap_us / 2, cap_us);
    std::this_thread::sleep_for(std::chrono::microseconds(wait_us(*rng)));
  }
}

// Runs a SQLite step (retried while busy) and turns its exception into a gom::Error that names
// the database.
template <class F>
auto guarded(const std::string& path, const char* what, F&& f) -> decltype(f()) {
  try {
    return retry_busy(f);
  } catch (const SQLite::Exception& e) {
    throw Error("run database " + path + ": " + what + ": " + e.what());
  }
}

inline std::string text(const SQLite::Column& c) {
  return c.isNull() ? std::string() : c.getString();
}
inline std::optional<std::string> opt_text(const SQLite::Column& c) {
  return c.isNull() ? std::nullopt : std::optional<std::string>(c.getString());
}
inline std::optional<int64_t> opt_int(const SQLite::Column& c) {
  return c.isNull() ? std::nullopt : std::optional<int64_t>(c.getInt64());
}

}  // namespace recorder_detail

struct RunRecorder::Impl {
  Impl(const std::string& name, int flags)
      : db(name, flags, recorder_detail::busy_timeout_ms()) {}
  SQLite::Database db;
  std::set<int64_t> known_runs;  // ids checked to exist, so log_metric fails early on a bad id
  // (run, key) pairs whose metric_info row is written or buffered: the name rule's row is
  // buffered once per key, with the key's first metric row.
  std::set<std::pair<int64_t, std::string>> described;
  int version = kRunSchemaVersion;  // older only where a read-only file could not be migrated
  bool read_only = false;
  std::chrono::milliseconds heartbeat_interval{kHeartbeatIntervalS * 1000};
  std::unique_ptr<recorder_detail::Heartbeat> heartbeat;  // from the first start/resume_run
};

}  // namespace gom
