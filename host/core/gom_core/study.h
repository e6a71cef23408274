// gom_core/study.h — leagues and sweeps ("studies") kept in the run database. A study has a
// parent run and trials; each trial runs the study's script as its own `gom run` process (its
// overrides, its seed), recorded as a child run, so a crash loses one trial, trials run side by
// side, and any number of worker processes may join one study through the database.
// Host-level API, not the SDK.
//
// Tables (schema v5; see recorder_schema.cpp): studies (one row a study: its definition as
// JSON), trials (one row a contender × seed or a sampled configuration: state, run, value,
// the worker that claimed it and its heartbeat).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gom {

enum class StudyKind { kLeague, kSweep };
/// @brief "league", "sweep".
const char* study_kind_name(StudyKind k);

/// @brief waiting: not claimed yet (or handed back); running: claimed by a worker; then one of
/// finished, pruned, failed (the script failed or diverged: not tried again), crashed (its
/// process died kMaxTrialAttempts times).
enum class TrialState { kWaiting, kRunning, kFinished, kPruned, kFailed, kCrashed };
const char* trial_state_name(TrialState s);
TrialState parse_trial_state(const std::string& s);

/// @brief A trial whose process dies (killed, out of memory) is run again up to this many times
/// in all; then it is crashed.
inline constexpr int kMaxTrialAttempts = 2;

/// @brief One override, KEY=VALUE as `gom run --set` takes it.
using Override = std::pair<std::string, std::string>;

struct Contender {
  std::string name;
  std::vector<Override> overrides;
};

/// @brief What a study is: what makes two invocations with one name the same study.
struct StudyDefinition {
  StudyKind kind = StudyKind::kLeague;
  std::string name;
  std::string script;         ///< absolute path of the trials' script
  std::string script_sha256;  ///< of its text when the study was made; trials check it
  std::string metric;         ///< the objective: a metric key the script logs
  bool maximize = true;
  std::vector<Override> common;  ///< --set for every trial (a short budget: fit.epochs=2)
  // league
  std::vector<Contender> contenders;
  std::vector<int64_t> seeds;  ///< seed k gives every contender the same data order and init
  // sweep
  nlohmann::json space = nlohmann::json::object();  ///< key → distribution (gom_core/search.h)
  std::string sampler = "tpe";                      ///< grid, random, tpe
  std::string pruner = "none";                      ///< none, median, asha
  nlohmann::json sampler_options = nlohmann::json::object();
  nlohmann::json pruner_options = nlohmann::json::object();
  int64_t trials = 0;  ///< the budget (a grid: its size when 0)
  int64_t seed = 0;    ///< the sampler's seed, and every trial's --seed

  nlohmann::json to_json() const;
  static StudyDefinition from_json(const nlohmann::json& j);
};

struct StudyRecord {
  int64_t id = 0;
  StudyDefinition def;
  std::optional<int64_t> run_id;  ///< the parent run
  std::string created_at;
};

struct TrialRecord {
  int64_t id = 0;
  int64_t study_id = 0;
  int64_t number = 0;     ///< 0-based within the study
  std::string contender;  ///< a league's; empty in a sweep
  int64_t seed = 0;
  nlohmann::json params = nlohmann::json::object();  ///< the trial's own overrides (JSON values)
  TrialState state = TrialState::kWaiting;
  std::optional<int64_t> run_id;
  std::optional<double> value;  ///< the metric's result (RunRecorder::result_value)
  int attempts = 0;
  std::optional<std::string> worker_host;
  std::optional<int64_t> worker_pid;
  std::optional<std::string> started_at, ended_at;
};

/// @brief One trial's intermediate values: epoch (1-based) → the study metric's value.
using TrialCurve = std::map<int64_t, double>;

/// @brief The studies and trials of one run database. It opens a connection of its own; the
/// file must exist and be migrated (a RunRecorder opened on it does that). Every write is one
/// BEGIN IMMEDIATE transaction, so workers in several processes never claim one trial twice.
class StudyStore {
 public:
  explicit StudyStore(const std::string& db_path);
  ~StudyStore();
  StudyStore(const StudyStore&) = delete;
  StudyStore& operator=(const StudyStore&) = delete;
  const std::string& path() const { return path_; }

  /// @brief Makes the study (a league with all its trials, waiting) with `run_id` as its parent,
  /// or, where one of that name exists, checks that `def` is the same study (gom::Error naming
  /// what differs otherwise) and returns it: the caller joins (or resumes) it.
  StudyRecord create_or_join(const StudyDefinition& def, std::optional<int64_t> run_id);
  std::optional<StudyRecord> find(const std::string& name);
  StudyRecord get(int64_t study_id);
  std::vector<StudyRecord> list();
  /// @brief Sets the parent run (a study made without one, or whose parent was deleted).
  void set_run(int64_t study_id, int64_t run_id);

  std::vector<TrialRecord> trials(int64_t study_id);
  TrialRecord trial(int64_t trial_id);

  /// @brief Claims the next trial for this process: the first waiting one (a league's in seed
  /// order, so partial results stay paired), else, in a sweep under its budget, a new one with
  /// parameters from the study's sampler. nullopt when there is none to claim now.
  std::optional<TrialRecord> claim(int64_t study_id);
  /// @brief The trial's child run (the trial's `gom run` calls it when it starts).
  void attach_run(int64_t trial_id, int64_t run_id);
  /// @brief Ends a trial: finished / pruned / failed / crashed, with the metric's result.
  void finish(int64_t trial_id, TrialState state, std::optional<double> value);
  /// @brief Hands a claimed trial back (its worker was interrupted): waiting, the attempt not
  /// counted.
  void release(int64_t trial_id);
  /// @brief A trial whose process died without a word: waiting again while it has attempts
  /// left, else crashed. Returns the state it was given.
  TrialState retry_or_crash(int64_t trial_id);
  /// @brief Trials claimed by workers that are gone (this host: the process is dead; another:
  /// no heartbeat for kHeartbeatTimeoutS) get retry_or_crash. Returns the trials it changed.
  std::vector<TrialRecord> recover(int64_t study_id);
  /// @brief Renews heartbeat_at of the trials this process has claimed.
  void heartbeat(const std::vector<int64_t>& trial_ids);

  /// @brief Every trial of the study with its intermediate values of the study's metric (from
  /// the metrics of its run), for samplers and pruners.
  std::vector<std::pair<TrialRecord, TrialCurve>> curves(int64_t study_id);
  /// @brief The pruner's verdict for a trial whose own curve is `own` so far (the others are
  /// read from the database as they are now).
  bool should_prune(int64_t trial_id, const TrialCurve& own);

 private:
  struct Impl;
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gom
