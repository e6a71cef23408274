// study_run_transfer.h — a trial's run moved between run databases as JSON (not installed).
// Under mpirun a worker rank's trial process records into a database of the worker's own;
// LocalRunReader reads that run and TrialRunWriter writes it, on rank 0, into the study's
// database, the one file that only rank 0 writes.
//
// A snapshot is {"experiment": NAME, "run": {COLUMN: CELL}, "tables": {TABLE: {"columns":
// [...], "rows": [[CELL...]]}}} with every column of the run's row (but id, experiment_id and
// parent_run_id) and the rows of each table that belongs to a run (params, metrics, tags,
// overrides, artifacts, metric_info) but their run_id (and an artifact's id). A CELL is a SQLite
// value kept with its type: null, an integer, a finite real, text; a non-finite real is
// {"real": "inf" | "-inf" | "nan"}, a blob {"blob": HEX}, text that is not UTF-8 (JSON's only
// text) {"text": HEX}. Columns are matched by name, so a column one side lacks is left out
// rather than an error.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace gom::study_detail {

/// @brief Reads the one run of a trial's own database (its worker's side).
class LocalRunReader {
 public:
  explicit LocalRunReader(std::string db_path);
  ~LocalRunReader();
  LocalRunReader(const LocalRunReader&) = delete;
  LocalRunReader& operator=(const LocalRunReader&) = delete;

  /// @brief The run once the trial's process has made it; nullopt before (no file yet, or its
  /// schema still being made).
  std::optional<int64_t> run();
  /// @brief The whole run, read in one transaction. A run still `running` whose process is gone
  /// is given as `crashed` (ended at its last heartbeat, with the recorder's error text), as any
  /// reader of the database would record it.
  nlohmann::json snapshot();
  /// @brief The metric rows recorded since the last snapshot() or new_metrics(), as a table
  /// {"columns", "rows"}; nullopt when there are none.
  std::optional<nlohmann::json> new_metrics();

 private:
  struct Impl;
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

/// @brief Where rank 0 records a trial's run: under the study's parent run, tagged KIND = NAME.
struct TrialRunPlace {
  std::optional<int64_t> parent_run;
  std::string tag_key;    ///< "league" or "sweep"
  std::string tag_value;  ///< the study's name
};

/// @brief Writes trials' runs into the study's database (rank 0's side), each write one
/// BEGIN IMMEDIATE transaction.
class TrialRunWriter {
 public:
  explicit TrialRunWriter(const std::string& db_path);
  ~TrialRunWriter();
  TrialRunWriter(const TrialRunWriter&) = delete;
  TrialRunWriter& operator=(const TrialRunWriter&) = delete;

  /// @brief Records a snapshot as a new run (no run_id), or in place of every row of run
  /// run_id, which keeps its id. Returns the run's id.
  int64_t write(const nlohmann::json& snapshot, std::optional<int64_t> run_id,
                const TrialRunPlace& place);
  /// @brief Adds metric rows (a table of new_metrics()) to a run.
  void append_metrics(int64_t run_id, const nlohmann::json& table);
  /// @brief Renews the run's heartbeat_at (its process is on a worker's host: readers elsewhere
  /// tell a crash by it).
  void beat(int64_t run_id);
  /// @brief Deletes a run and its rows (a lost worker's attempt; the trial is run again).
  void erase(int64_t run_id);

 private:
  struct Impl;
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gom::study_detail
