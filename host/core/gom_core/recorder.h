// gom_core/recorder.h — the run recorder: every run, its parameters, metrics, tags and artifacts
// in one SQLite file that several processes may write at once. Host-level API, not the SDK.
//
// Conventions of the schema (v6; see recorder_schema.cpp for the DDL and the views):
// - Timestamps (experiments.created_at, runs.started_at/ended_at, artifacts.created_at) are
//   ISO-8601 UTC text with milliseconds, "2024-05-01T12:34:56.789Z": readable in `sqlite3` and
//   understood by SQLite's date functions (julianday, strftime).
// - metrics.wall_time is unix seconds (REAL), cheap to subtract for rates and plots.
// - metrics.value is NULL where the value was NaN (SQLite stores NaN as NULL); ±inf are kept.
// - Empty strings and absent optionals in RunInfo are stored as NULL.
// - git_commit/git_dirty are NULL when the script is not in a git work tree; git_dirty ignores
//   untracked files (the run database itself often lives, untracked, in the work tree).
// - A run records its process (host, pid, process_started) and a heartbeat_at that a thread of
//   the recorder renews every kHeartbeatIntervalS while runs of the process are running. A
//   running run whose process is gone is read back as "crashed": at once on this host (its pid
//   is gone or belongs to a process started at another time), after kHeartbeatTimeoutS without a
//   heartbeat from another host. A reader that can write records that status.
// - Every metric key logged for a run has a row in metric_info (v4): its direction ('minimize',
//   'maximize' or NULL) and phase ('train', 'valid', 'test' or NULL), as whoever reported it
//   declared (describe_metric), else as metric_info_by_name (gom/metric.h) says. The views
//   metric_summary (final and best of every metric of a run, best by that direction) and
//   run_summary read it; keys of runs recorded before v4 got the name rule's rows when the file
//   was migrated.
// - runs.status is one of running, finished, failed, interrupted, diverged, crashed (v2) and
//   pruned (v4: a trial a sweep stopped early).
// - params.value is text as the run recorded it; the view param_values (v6) types it: number
//   (integers, reals, booleans as 1/0) and text (strings without their quotes) for SQL.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gom/metric.h"
#include "gom_core/trainer.h"

namespace gom {

/// @brief The newest schema version this build knows (and creates).
inline constexpr int kRunSchemaVersion = 6;
/// @brief How often a recording process renews runs.heartbeat_at, and after how long without
/// a heartbeat a run of another host counts as crashed (run_summary uses the same 120 s).
inline constexpr int kHeartbeatIntervalS = 10;
inline constexpr int kHeartbeatTimeoutS = 120;

enum class RunStatus { kRunning, kFinished, kFailed, kInterrupted, kDiverged, kCrashed, kPruned };

/// @brief "running", "finished", "failed", "interrupted", "diverged", "crashed", "pruned" (the
/// values in runs.status).
const char* run_status_name(RunStatus s);
/// @brief The inverse of run_status_name; gom::Error naming the accepted values otherwise.
RunStatus parse_run_status(std::string_view s);

/// @brief The SHA-256 of data as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);
/// @brief The SHA-256 of a file's bytes (streamed); gom::Error if it cannot be read.
std::string sha256_file_hex(const std::string& path);

/// @brief What start_run records about a run.
struct RunInfo {
  std::string experiment;   ///< created if missing; empty means "default"
  std::string name;         ///< the run's name (not unique)
  std::string script_path;  ///< stored as given; its directory is where git is asked
  std::string script_text;  ///< if empty and script_path is a readable file, the file is read
  std::optional<int64_t> seed;
  std::string backend;  ///< "onednn", "cuda"
  std::string device;   ///< a device name ("cpu", "NVIDIA H200")
  std::optional<int64_t> threads;
  std::string gom_version;
  std::string command_line;
  std::optional<int64_t> parent_run_id;  ///< sweep member / league match → its parent run
  bool detect_git = true;                ///< run git in the script's directory
};

/// @brief One row of runs (joined with its experiment's name).
struct RunRecord {
  int64_t id = 0;
  std::string experiment;
  std::string name;
  std::string status;
  std::string started_at;
  std::optional<std::string> ended_at;
  std::optional<std::string> error;
  std::optional<double> duration_s;  ///< up to now while running
  std::string script_path;
  std::string script_sha256;
  std::optional<int64_t> seed;
  std::string backend;
  std::string device;
  std::optional<int64_t> threads;
  std::string gom_version;
  std::optional<std::string> git_commit;
  std::optional<bool> git_dirty;
  std::string command_line;
  std::optional<int64_t> parent_run_id;
  std::optional<std::string> host;  ///< of the process that records (recorded) it; schema v2
  std::optional<int64_t> pid;
  std::optional<int64_t> process_started;   ///< clock ticks after boot (/proc/PID/stat)
  std::optional<std::string> heartbeat_at;  ///< the process's last sign of life
};

struct MetricRecord {
  std::string key;
  int64_t step = 0;
  int64_t epoch = 0;
  double value = 0;  ///< NaN where the database holds NULL
  double wall_time = 0;
};

/// @brief One row of the metric_summary view: a metric of a run, its last value and its best.
struct MetricSummaryRow {
  std::string key;
  MetricInfo info;  ///< from metric_info
  int64_t n = 0;    ///< rows logged (NaN ones too)
  /// @brief The value at the highest step (then epoch, then the latest row); NaN where it is
  /// NaN (NULL), or where no row was logged (n = 0).
  double final_value = 0;
  int64_t final_epoch = 0;
  /// @brief The lowest value of a metric to minimize, the highest of one to maximize, NaN rows
  /// ignored, and the epoch it was first reached; nullopt for a metric without a direction or
  /// without a value.
  std::optional<double> best_value;
  int64_t best_epoch = 0;
};

struct ArtifactRecord {
  std::string kind;  ///< "checkpoint", "plot", ...
  std::string path;
  std::string sha256;
  int64_t bytes = 0;
  std::string created_at;
};

/// @brief A run with everything recorded about it.
struct RunDetails {
  RunRecord run;
  std::string script_text;
  std::vector<std::pair<std::string, std::string>> params;  ///< by key
  std::vector<MetricRecord> metrics;                        ///< by key, step, epoch
  std::vector<std::pair<std::string, std::string>> tags;    ///< by key
  std::vector<ArtifactRecord> artifacts;                    ///< in order of recording
};

/// @brief list_runs filter; empty/zero fields do not filter.
struct RunFilter {
  std::string experiment;
  std::string status;
  int64_t limit = 0;
  bool top_level = false;              ///< only runs without a parent (no league/sweep trials)
  std::optional<int64_t> parent;       ///< only the children of this run (a study's trials)
};

/// @brief How RunRecorder opens a file. kRead never creates one, and where the file cannot be
/// written (a read-only or full filesystem, a -shm file that cannot be made) it opens it
/// read-only, else immutable (what is committed to the main file; see read_only()).
enum class OpenMode { kWrite, kRead };

/// @brief Records runs into one SQLite file. Thread-safe (one mutex) within a process; several
/// processes may record into the same file at once (WAL, a busy timeout, and BEGIN IMMEDIATE
/// for every write so writers queue rather than fail; a step SQLite reports busy without waiting
/// is retried until the timeout). Every failure is a gom::Error naming the database path.
///
/// As a MetricSink it logs to the current run (the one start_run or resume_run made current):
/// rows are buffered and committed in one transaction by flush(), by finish_run, when the buffer
/// grows past kMaxBufferedRows, and (best effort) by the destructor.
class RunRecorder : public MetricSink {
 public:
  static constexpr size_t kMaxBufferedRows = 1000;

  /// @brief Opens or creates the database and migrates it to kRunSchemaVersion. Throws if the
  /// path cannot be opened, the file is not a SQLite database, or its schema is newer.
  explicit RunRecorder(const std::string& path, OpenMode mode = OpenMode::kWrite);
  ~RunRecorder() override;
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  const std::string& path() const { return path_; }
  /// @brief The schema version stored in the file (kRunSchemaVersion once opened).
  int schema_version();
  /// @brief The database's identity: a random id (32 hex digits) made once, in table `database`.
  /// A run's checkpoints carry it, so they are told apart from another database's.
  std::string uid();
  /// @brief Whether the file was opened read-only (OpenMode::kRead where it cannot be written).
  bool read_only() const;
  /// @brief The heartbeat interval of runs started or resumed from now on (tests shorten it).
  void set_heartbeat_interval(std::chrono::milliseconds interval);

  // ------------------------------------------------------------------------------ writing
  /// @brief Inserts a run with status "running" (with this process and a heartbeat) and makes it
  /// the current run.
  int64_t start_run(const RunInfo& info);
  /// @brief Sets a run back to running by this process (for --resume) and makes it current.
  /// gom::Error if the run is running in a process that is alive (on this host, or with a
  /// heartbeat younger than kHeartbeatTimeoutS on another).
  void resume_run(int64_t run_id);
  /// @brief Records a run's --set overrides (KEY, VALUE) in their order (table overrides).
  void log_overrides(int64_t run_id,
                     const std::vector<std::pair<std::string, std::string>>& overrides);
  /// @brief Inserts or replaces params (flat keys such as "optimizer.lr").
  void log_params(int64_t run_id, const std::vector<std::pair<std::string, std::string>>& kv);
  /// @brief Buffers one metric row for run_id (wall time taken now).
  void log_metric(int64_t run_id, const std::string& key, int64_t step, int64_t epoch,
                  double value);
  /// @brief MetricSink: log_metric for the current run; gom::Error if there is none.
  void log(const std::string& key, int64_t step, int64_t epoch, double value) override;
  /// @brief Records what a metric of a run means (its metric_info row, replacing the one there).
  /// Buffered, and committed with the metric rows. A key logged without a declaration gets
  /// metric_info_by_name's row (once per key: one that is already there stays).
  void describe_metric(int64_t run_id, const std::string& key, const MetricInfo& info);
  /// @brief MetricSink: describe_metric for the current run; gom::Error if there is none.
  void describe(const std::string& key, const MetricInfo& info) override;
  /// @brief Commits the buffered metric rows in one transaction. On failure they stay buffered
  /// (to be retried by the next flush) and it throws.
  void flush() override;
  /// @brief flush() that does not throw: false when the rows stay buffered, the reason then in
  /// last_write_error(). The fit's per-epoch commits use it, so a database that is locked or
  /// full for a while does not end the training; finish_run tries again.
  bool try_flush();
  /// @brief Why the last failed write failed ("writing metrics: database or disk is full").
  std::string last_write_error() const;
  /// @brief Metric rows logged but not yet committed.
  size_t buffered_rows() const;
  /// @brief MetricSink: add_tag / add_artifact for the current run.
  void record(const std::string& key, const std::string& value) override;
  void artifact(const std::string& kind, const std::string& path) override;
  /// @brief Flushes, then sets status, ended_at and the error text (empty → NULL), and returns
  /// the status it recorded. When buffered rows cannot be written, the status is still written:
  /// the run is recorded as failed, the reason (with how many rows were lost) appended to the
  /// error. Throws (gom::Error naming the database) only when the status cannot be written.
  RunStatus finish_run(int64_t run_id, RunStatus status, const std::string& error = "");
  /// @brief Drops a run's metric rows of epochs after `epoch` (buffered or committed): what a
  /// resumed run will log again from its checkpoint.
  void delete_metrics_after(int64_t run_id, int64_t epoch);
  /// @brief Sets a tag (a run has one value per tag key).
  void add_tag(int64_t run_id, const std::string& key, const std::string& value);
  /// @brief Records an artifact; sha256 and bytes are computed from the file when sha256 is empty
  /// and the file exists.
  void add_artifact(int64_t run_id, const std::string& kind, const std::string& path,
                    const std::string& sha256 = "");
  std::optional<int64_t> current_run() const;

  // ------------------------------------------------------------------------------ reading
  /// @brief Runs, newest first.
  std::vector<RunRecord> list_runs(const RunFilter& filter = {});
  /// @brief One run with params, metrics, tags and artifacts; gom::Error if there is no such run.
  RunDetails get_run(int64_t run_id);
  std::vector<std::pair<std::string, std::string>> run_params(int64_t run_id);
  std::vector<MetricRecord> run_metrics(int64_t run_id);
  /// @brief The overrides log_overrides recorded, in order; nullopt where none were (a run of
  /// schema v1 keeps them only in its "overrides" tag).
  std::optional<std::vector<std::pair<std::string, std::string>>> run_overrides(int64_t run_id);
  /// @brief The metric_summary view's rows of a run, by key. A file of an older schema that
  /// could not be migrated (read-only) is read with metric_info_by_name's rows for its keys.
  std::vector<MetricSummaryRow> metric_summary(int64_t run_id);
  /// @brief The run's result for a metric: its value at the epoch whose weights the model held
  /// at the end (the tag weights_epoch that gom.fit records, e.g. the best epoch early stopping
  /// put back) when the key has a row there, else its final value (as metric_summary's). NaN
  /// where that value is NaN; nullopt when the key has no row.
  std::optional<double> result_value(int64_t run_id, const std::string& key);
  /// @brief Runs one SQL statement (with ?-parameters bound as text) and returns its rows as text,
  /// NULL as nullopt: for ad-hoc queries of the views (the CLI, tests). Not in a transaction.
  std::vector<std::vector<std::optional<std::string>>> query(
      const std::string& sql, const std::vector<std::string>& args = {});

 private:
  struct Impl;
  struct PendingMetric {
    int64_t run_id;
    std::string key;
    int64_t step;
    int64_t epoch;
    double value;
    double wall_time;
  };
  struct PendingInfo {
    int64_t run_id;
    std::string key;
    MetricInfo info;
    bool declared;  // replaces the row there; else (the name rule's) only fills a missing one
  };
  void flush_locked();         // throws, keeping the rows; sets last_write_error_
  void write_buffer_locked();  // one transaction of every buffered row
  void write_info_locked();    // the buffered metric_info rows, inside that transaction
  void check_run_locked(int64_t run_id, const std::string& what);
  void open_read_only(const std::string& why);
  void start_heartbeat_locked();
  void record_crashed_locked(const std::vector<RunRecord>& runs);

  std::string path_;
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mu_;
  std::optional<int64_t> current_run_;
  std::vector<PendingMetric> buffer_;
  std::vector<PendingInfo> info_buffer_;
  std::string last_write_error_;
};

}  // namespace gom
