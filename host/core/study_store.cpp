// study_store.cpp — the studies and trials tables: making or joining a study, claiming trials
// (one BEGIN IMMEDIATE transaction each, so no trial is claimed twice), ending them, and
// noticing trials whose worker died.
#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "gom_core/search.h"
#include "gom_core/study.h"
#include "recorder_internal.h"

namespace gom {

using recorder_detail::guarded;
using recorder_detail::opt_int;
using recorder_detail::opt_text;
using json = nlohmann::json;

namespace {

constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
constexpr const char* kTrialColumns =
    "id, study_id, number, contender, seed, params, state, run_id, value, attempts, worker_host, "
    "worker_pid, started_at, ended_at";

TrialRecord read_trial(SQLite::Statement& q) {
  TrialRecord t;
  t.id = q.getColumn(0).getInt64();
  t.study_id = q.getColumn(1).getInt64();
  t.number = q.getColumn(2).getInt64();
  t.contender = recorder_detail::text(q.getColumn(3));
  t.seed = q.getColumn(4).getInt64();
  t.params = json::parse(q.getColumn(5).getString());
  t.state = parse_trial_state(q.getColumn(6).getString());
  t.run_id = opt_int(q.getColumn(7));
  if (!q.getColumn(8).isNull()) t.value = q.getColumn(8).getDouble();
  t.attempts = q.getColumn(9).getInt();
  t.worker_host = opt_text(q.getColumn(10));
  t.worker_pid = opt_int(q.getColumn(11));
  t.started_at = opt_text(q.getColumn(12));
  t.ended_at = opt_text(q.getColumn(13));
  return t;
}

StudyRecord read_study(SQLite::Statement& q) {
  StudyRecord s;
  s.id = q.getColumn(0).getInt64();
  s.def = StudyDefinition::from_json(json::parse(q.getColumn(1).getString()));
  s.run_id = opt_int(q.getColumn(2));
  s.created_at = q.getColumn(3).getString();
  return s;
}

// The fields of two definitions that differ, for the message that refuses to join.
std::vector<std::string> differences(const json& a, const json& b) {
  std::vector<std::string> out;
  for (const auto& [k, v] : a.items())
    if (!b.contains(k) || b.at(k) != v)
      out.push_back(fmt::format("{} ({} here, {} recorded)", k, v.dump(),
                                b.contains(k) ? b.at(k).dump() : "none"));
  return out;
}

search::TrialState search_state(TrialState s) {
  switch (s) {
    case TrialState::kFinished:
      return search::TrialState::Finished;
    case TrialState::kPruned:
      return search::TrialState::Pruned;
    case TrialState::kFailed:
    case TrialState::kCrashed:
      return search::TrialState::Failed;
    default:
      return search::TrialState::Running;
  }
}

search::Trial search_trial(const TrialRecord& t, const TrialCurve& curve) {
  search::Trial s;
  s.number = t.number;
  s.state = search_state(t.state);
  for (const auto& [k, v] : t.params.items()) s.params[k] = v;
  s.value = t.value;
  s.intermediate = curve;
  return s;
}

search::SearchSpace space_of(const StudyDefinition& def) {
  return search::space_from_json(def.space);
}

}  // namespace

const char* study_kind_name(StudyKind k) {
  return k == StudyKind::kLeague ? "league" : "sweep";
}

const char* trial_state_name(TrialState s) {
  switch (s) {
    case TrialState::kWaiting:
      return "waiting";
    case TrialState::kRunning:
      return "running";
    case TrialState::kFinished:
      return "finished";
    case TrialState::kPruned:
      return "pruned";
    case TrialState::kFailed:
      return "failed";
    case TrialState::kCrashed:
      return "crashed";
  }
  return "?";
}

TrialState parse_trial_state(const std::string& s) {
  for (TrialState t : {TrialState::kWaiting, TrialState::kRunning, TrialState::kFinished,
                       TrialState::kPruned, TrialState::kFailed, TrialState::kCrashed})
    if (s == trial_state_name(t)) return t;
  throw Error(
      fmt::format("unknown trial state '{}' (accepted: waiting, running, finished, "
                  "pruned, failed, crashed)",
                  s));
}

struct StudyStore::Impl {
  explicit Impl(const std::string& path)
      : db(path, SQLite::OPEN_READWRITE, recorder_detail::busy_timeout_ms()) {
    db.exec("PRAGMA foreign_keys = ON");
  }
  SQLite::Database db;
};

StudyStore::StudyStore(const std::string& db_path) : path_(db_path) {
  try {
    impl_ = std::make_unique<Impl>(db_path);
  } catch (const SQLite::Exception& e) {
    throw Error(fmt::format("run database {}: cannot open it for studies: {}", db_path, e.what()));
  }
  const int version = guarded(path_, "reading the schema version",
                              [&] { return recorder_detail::schema_version(impl_->db, path_); });
  if (version < kRunSchemaVersion)
    throw Error(
        fmt::format("run database {} has schema version {}; open it with gom (which "
                    "migrates it) before using studies",
                    path_, version));
}

StudyStore::~StudyStore() = default;

StudyRecord StudyStore::create_or_join(const StudyDefinition& def, std::optional<int64_t> run_id) {
  if (def.name.empty()) throw Error("a study needs a name");
  const json wanted = def.to_json();
  return guarded(path_, "creating a study", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    if (auto existing = find(def.name)) {
      const json have = existing->def.to_json();
      if (have != wanted)
        throw Error(fmt::format(
            "a {} named '{}' exists in {} with another definition: {}. Join it with the same "
            "definition, or choose another name",
            study_kind_name(existing->def.kind), def.name, path_,
            fmt::join(differences(wanted, have), "; ")));
      tx.commit();
      return *existing;
    }
    SQLite::Statement ins(
        impl_->db, std::string("INSERT INTO studies(name, kind, run_id, script_path, metric, "
                               "direction, definition, created_at) VALUES "
                               "(?, ?, ?, ?, ?, ?, ?, ") +
                       kNow + ")");
    ins.bind(1, def.name);
    ins.bind(2, study_kind_name(def.kind));
    if (run_id) ins.bind(3, *run_id);
    ins.bind(4, def.script);
    ins.bind(5, def.metric);
    ins.bind(6, def.maximize ? "maximize" : "minimize");
    ins.bind(7, wanted.dump());
    ins.exec();
    const int64_t id = impl_->db.getLastInsertRowid();
    if (def.kind == StudyKind::kLeague) {
      // Seed-major numbering: claimed in order, every seed is finished for all contenders
      // before the next starts, so an interrupted league still has paired results.
      SQLite::Statement t(impl_->db,
                          "INSERT INTO trials(study_id, number, contender, seed, params, state) "
                          "VALUES (?, ?, ?, ?, ?, 'waiting')");
      int64_t number = 0;
      for (int64_t seed : def.seeds)
        for (const Contender& c : def.contenders) {
          json params = json::object();
          for (const auto& [k, v] : c.overrides) params[k] = v;
          t.bind(1, id);
          t.bind(2, number++);
          t.bind(3, c.name);
          t.bind(4, seed);
          t.bind(5, params.dump());
          t.exec();
          t.reset();
        }
    }
    tx.commit();
    return get(id);
  });
}

std::optional<StudyRecord> StudyStore::find(const std::string& name) {
  return guarded(path_, "reading a study", [&]() -> std::optional<StudyRecord> {
    SQLite::Statement q(impl_->db,
                        "SELECT id, definition, run_id, created_at FROM studies WHERE name = ?");
    q.bind(1, name);
    if (!q.executeStep()) return std::nullopt;
    return read_study(q);
  });
}

StudyRecord StudyStore::get(int64_t study_id) {
  return guarded(path_, "reading a study", [&] {
    SQLite::Statement q(impl_->db,
                        "SELECT id, definition, run_id, created_at FROM studies WHERE id = ?");
    q.bind(1, study_id);
    if (!q.executeStep()) throw Error(fmt::format("no study {} in {}", study_id, path_));
    return read_study(q);
  });
}

std::vector<StudyRecord> StudyStore::list() {
  return guarded(path_, "listing studies", [&] {
    std::vector<StudyRecord> out;
    SQLite::Statement q(impl_->db,
                        "SELECT id, definition, run_id, created_at FROM studies ORDER BY id");
    while (q.executeStep()) out.push_back(read_study(q));
    return out;
  });
}

void StudyStore::set_run(int64_t study_id, int64_t run_id) {
  guarded(path_, "setting a study's run", [&] {
    SQLite::Statement q(impl_->db, "UPDATE studies SET run_id = ? WHERE id = ?");
    q.bind(1, run_id);
    q.bind(2, study_id);
    q.exec();
  });
}

std::vector<TrialRecord> StudyStore::trials(int64_t study_id) {
  return guarded(path_, "reading trials", [&] {
    std::vector<TrialRecord> out;
    SQLite::Statement q(impl_->db, fmt::format("SELECT {} FROM trials WHERE study_id = ? "
                                               "ORDER BY number",
                                               kTrialColumns));
    q.bind(1, study_id);
    while (q.executeStep()) out.push_back(read_trial(q));
    return out;
  });
}

TrialRecord StudyStore::trial(int64_t trial_id) {
  return guarded(path_, "reading a trial", [&] {
    SQLite::Statement q(impl_->db,
                        fmt::format("SELECT {} FROM trials WHERE id = ?", kTrialColumns));
    q.bind(1, trial_id);
    if (!q.executeStep()) throw Error(fmt::format("no trial {} in {}", trial_id, path_));
    return read_trial(q);
  });
}

std::optional<TrialRecord> StudyStore::claim(int64_t study_id) {
  const auto me = recorder_detail::this_process();
  return guarded(path_, "claiming a trial", [&]() -> std::optional<TrialRecord> {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    std::optional<int64_t> id;
    {
      SQLite::Statement q(impl_->db,
                          "SELECT id FROM trials WHERE study_id = ? AND state = 'waiting' "
                          "ORDER BY number LIMIT 1");
      q.bind(1, study_id);
      if (q.executeStep()) id = q.getColumn(0).getInt64();
    }
    const StudyRecord study = get(study_id);
    if (!id && study.def.kind == StudyKind::kSweep) {
      const search::SearchSpace space = space_of(study.def);
      auto sampler = search::make_sampler(study.def.sampler, study.def.sampler_options,
                                          uint64_t(study.def.seed), study.def.maximize);
      int64_t budget = study.def.trials;
      if (budget <= 0) {
        const auto size = sampler->size(space);
        if (!size) throw Error(fmt::format("sweep '{}' has no trial budget", study.def.name));
        budget = *size;
      }
      const auto all = curves(study_id);
      if (int64_t(all.size()) < budget) {
        std::vector<search::Trial> history;
        for (const auto& [t, c] : all) history.push_back(search_trial(t, c));
        const int64_t number = int64_t(all.size());
        const search::Params p = sampler->sample(space, history, number);
        json params = json::object();
        for (const auto& [k, v] : p) params[k] = v;
        SQLite::Statement ins(impl_->db,
                              "INSERT INTO trials(study_id, number, seed, params, state) VALUES "
                              "(?, ?, ?, ?, 'waiting')");
        ins.bind(1, study_id);
        ins.bind(2, number);
        ins.bind(3, study.def.seed);
        ins.bind(4, params.dump());
        ins.exec();
        id = impl_->db.getLastInsertRowid();
      }
    }
    if (!id) return std::nullopt;
    SQLite::Statement up(impl_->db,
                         fmt::format("UPDATE trials SET state = 'running', attempts = attempts + "
                                     "1, worker_host = ?, worker_pid = ?, worker_started = ?, "
                                     "heartbeat_at = {0}, started_at = {0}, ended_at = NULL, "
                                     "run_id = NULL WHERE id = ?",
                                     kNow));
    up.bind(1, me.host);
    up.bind(2, me.pid);
    up.bind(3, me.started);
    up.bind(4, *id);
    up.exec();
    tx.commit();
    return trial(*id);
  });
}

void StudyStore::attach_run(int64_t trial_id, int64_t run_id) {
  guarded(path_, "attaching a run to its trial", [&] {
    SQLite::Statement q(impl_->db, "UPDATE trials SET run_id = ? WHERE id = ?");
    q.bind(1, run_id);
    q.bind(2, trial_id);
    q.exec();
  });
}

void StudyStore::finish(int64_t trial_id, TrialState state, std::optional<double> value) {
  guarded(path_, "ending a trial", [&] {
    SQLite::Statement q(impl_->db, fmt::format("UPDATE trials SET state = ?, value = ?, "
                                               "ended_at = {} WHERE id = ?",
                                               kNow));
    q.bind(1, trial_state_name(state));
    if (value && std::isfinite(*value))
      q.bind(2, *value);
    else
      q.bind(2);  // NULL: SQLite cannot hold NaN
    q.bind(3, trial_id);
    q.exec();
  });
}

void StudyStore::release(int64_t trial_id) {
  guarded(path_, "handing a trial back", [&] {
    SQLite::Statement q(impl_->db,
                        "UPDATE trials SET state = 'waiting', attempts = MAX(0, attempts - 1), "
                        "worker_host = NULL, worker_pid = NULL, worker_started = NULL "
                        "WHERE id = ? AND state = 'running'");
    q.bind(1, trial_id);
    q.exec();
  });
}

TrialState StudyStore::retry_or_crash(int64_t trial_id) {
  return guarded(path_, "retrying a trial", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    const TrialRecord t = trial(trial_id);
    const TrialState next =
        t.attempts < kMaxTrialAttempts ? TrialState::kWaiting : TrialState::kCrashed;
    SQLite::Statement q(impl_->db,
                        fmt::format("UPDATE trials SET state = ?, worker_host = NULL, worker_pid = "
                                    "NULL, worker_started = NULL, ended_at = CASE WHEN ? THEN {} "
                                    "END WHERE id = ?",
                                    kNow));
    q.bind(1, trial_state_name(next));
    q.bind(2, next == TrialState::kCrashed);
    q.bind(3, trial_id);
    q.exec();
    tx.commit();
    return next;
  });
}

std::vector<TrialRecord> StudyStore::recover(int64_t study_id) {
  const auto me = recorder_detail::this_process();
  struct Claim {
    int64_t id;
    std::optional<std::string> host;
    std::optional<int64_t> pid, started;
    bool stale;
  };
  std::vector<Claim> running = guarded(path_, "reading running trials", [&] {
    std::vector<Claim> out;
    SQLite::Statement q(impl_->db,
                        fmt::format("SELECT id, worker_host, worker_pid, worker_started, "
                                    "heartbeat_at IS NULL OR julianday(heartbeat_at) < "
                                    "julianday('now', '-{} seconds') FROM trials "
                                    "WHERE study_id = ? AND state = 'running'",
                                    kHeartbeatTimeoutS));
    q.bind(1, study_id);
    while (q.executeStep())
      out.push_back({q.getColumn(0).getInt64(), opt_text(q.getColumn(1)), opt_int(q.getColumn(2)),
                     opt_int(q.getColumn(3)), q.getColumn(4).getInt() != 0});
    return out;
  });
  std::vector<TrialRecord> changed;
  for (const Claim& c : running) {
    if (c.host == me.host && c.pid == me.pid) continue;  // ours
    if (!recorder_detail::process_gone(c.host, c.pid, c.started, c.stale)) continue;
    retry_or_crash(c.id);
    changed.push_back(trial(c.id));
  }
  return changed;
}

void StudyStore::heartbeat(const std::vector<int64_t>& trial_ids) {
  if (trial_ids.empty()) return;
  guarded(path_, "renewing trial heartbeats", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement q(impl_->db,
                        fmt::format("UPDATE trials SET heartbeat_at = {} WHERE id = ?", kNow));
    for (int64_t id : trial_ids) {
      q.bind(1, id);
      q.exec();
      q.reset();
    }
    tx.commit();
  });
}

std::vector<std::pair<TrialRecord, TrialCurve>> StudyStore::curves(int64_t study_id) {
  const StudyRecord study = get(study_id);
  std::vector<std::pair<TrialRecord, TrialCurve>> out;
  for (TrialRecord& t : trials(study_id)) out.emplace_back(std::move(t), TrialCurve{});
  guarded(path_, "reading trial curves", [&] {
    SQLite::Statement q(impl_->db,
                        "SELECT t.number, m.epoch, m.value FROM trials t JOIN metrics m ON "
                        "m.run_id = t.run_id AND m.key = ? WHERE t.study_id = ? "
                        "ORDER BY t.number, m.step, m.epoch, m.rowid");
    q.bind(1, study.def.metric);
    q.bind(2, study_id);
    for (auto& [t, c] : out) c.clear();
    while (q.executeStep()) {
      const int64_t number = q.getColumn(0).getInt64();
      const double v = q.getColumn(2).isNull() ? std::numeric_limits<double>::quiet_NaN()
                                               : q.getColumn(2).getDouble();
      for (auto& [t, c] : out)
        if (t.number == number) c[q.getColumn(1).getInt64()] = v;
    }
  });
  return out;
}

bool StudyStore::should_prune(int64_t trial_id, const TrialCurve& own) {
  const TrialRecord me = trial(trial_id);
  const StudyRecord study = get(me.study_id);
  if (study.def.pruner == "none" || own.empty()) return false;
  auto pruner = search::make_pruner(study.def.pruner, study.def.pruner_options, study.def.maximize);
  std::vector<search::Trial> others;
  for (const auto& [t, c] : curves(me.study_id))
    if (t.id != trial_id) others.push_back(search_trial(t, c));
  return pruner->should_prune(search_trial(me, own), others);
}

}  // namespace gom
