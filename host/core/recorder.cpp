// recorder.cpp — the run recorder: opening the database, recording runs and reading them back.
// Schema and migrations are in recorder_schema.cpp, SHA-256 in recorder_sha256.cpp.
#include "gom_core/recorder.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include "gom/error.h"

namespace gom {

namespace recorder_detail {
// recorder_schema.cpp
void migrate(SQLite::Database& db, const std::string& path);
int schema_version(SQLite::Database& db, const std::string& path);
}  // namespace recorder_detail

namespace {

namespace fs = std::filesystem;

// All timestamps are written by SQLite itself so they share one format (see recorder.h).
constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
// Long enough for a queue of writers committing epochs; a writer never holds the lock for long.
constexpr int kBusyTimeoutMs = 30000;

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Runs a SQLite call and turns its exception into a gom::Error that names the database.
template <class F>
auto guarded(const std::string& path, const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    throw Error("run database " + path + ": " + what + ": " + e.what());
  }
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// stdout of a shell command, or nullopt when it exits non-zero.
std::optional<std::string> run_capture(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) return std::nullopt;
  return out;
}

struct GitState {
  std::optional<std::string> commit;
  std::optional<bool> dirty;
};

GitState git_state(const std::string& script_path) {
  GitState g;
  std::error_code ec;
  fs::path dir = fs::absolute(fs::path(script_path), ec).parent_path();
  if (ec || !fs::is_directory(dir, ec)) return g;
  const std::string git = "git -C " + shell_quote(dir.string());
  auto head = run_capture(git + " rev-parse HEAD 2>/dev/null");
  if (!head) return g;  // not a work tree, no commit yet, or no git
  while (!head->empty() && std::isspace(static_cast<unsigned char>(head->back()))) head->pop_back();
  if (head->empty()) return g;
  g.commit = *head;
  // Untracked files do not count: the run database itself is often untracked in the work tree.
  auto status = run_capture(git + " status --porcelain --untracked-files=no 2>/dev/null");
  if (status) g.dirty = !status->empty();
  return g;
}

void bind_text_or_null(SQLite::Statement& st, int i, const std::string& s) {
  if (s.empty())
    st.bind(i);
  else
    st.bind(i, s);
}

template <class T>
void bind_opt(SQLite::Statement& st, int i, const std::optional<T>& v) {
  if (v) {
    const auto value = static_cast<int64_t>(v.value());  // a local: GCC's maybe-uninitialized
    st.bind(i, value);
  } else {
    st.bind(i);
  }
}

std::string text(const SQLite::Column& c) {
  return c.isNull() ? std::string() : c.getString();
}
std::optional<std::string> opt_text(const SQLite::Column& c) {
  return c.isNull() ? std::nullopt : std::optional<std::string>(c.getString());
}
std::optional<int64_t> opt_int(const SQLite::Column& c) {
  return c.isNull() ? std::nullopt : std::optional<int64_t>(c.getInt64());
}

constexpr const char* kRunColumns =
    "SELECT r.id, e.name, r.name, r.status, r.started_at, r.ended_at, r.error, "
    "(julianday(COALESCE(r.ended_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - "
    "julianday(r.started_at)) * 86400.0, "
    "r.script_path, r.script_sha256, r.seed, r.backend, r.device, r.threads, r.gom_version, "
    "r.git_commit, r.git_dirty, r.command_line, r.parent_run_id "
    "FROM runs r JOIN experiments e ON e.id = r.experiment_id ";

RunRecord read_run(SQLite::Statement& q) {
  RunRecord r;
  r.id = q.getColumn(0).getInt64();
  r.experiment = text(q.getColumn(1));
  r.name = text(q.getColumn(2));
  r.status = text(q.getColumn(3));
  r.started_at = text(q.getColumn(4));
  r.ended_at = opt_text(q.getColumn(5));
  r.error = opt_text(q.getColumn(6));
  if (!q.getColumn(7).isNull()) r.duration_s = q.getColumn(7).getDouble();
  r.script_path = text(q.getColumn(8));
  r.script_sha256 = text(q.getColumn(9));
  r.seed = opt_int(q.getColumn(10));
  r.backend = text(q.getColumn(11));
  r.device = text(q.getColumn(12));
  r.threads = opt_int(q.getColumn(13));
  r.gom_version = text(q.getColumn(14));
  r.git_commit = opt_text(q.getColumn(15));
  if (auto d = opt_int(q.getColumn(16))) r.git_dirty = *d != 0;
  r.command_line = text(q.getColumn(17));
  r.parent_run_id = opt_int(q.getColumn(18));
  return r;
}

}  // namespace

const char* run_status_name(RunStatus s) {
  switch (s) {
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kFinished:
      return "finished";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kInterrupted:
      return "interrupted";
    case RunStatus::kDiverged:
      return "diverged";
  }
  return "?";
}

RunStatus parse_run_status(std::string_view s) {
  for (RunStatus v : {RunStatus::kRunning, RunStatus::kFinished, RunStatus::kFailed,
                      RunStatus::kInterrupted, RunStatus::kDiverged})
    if (s == run_status_name(v)) return v;
  throw Error("unknown run status '" + std::string(s) +
              "' (accepted: running, finished, failed, interrupted, diverged)");
}

struct RunRecorder::Impl {
  explicit Impl(const std::string& path)
      : db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, kBusyTimeoutMs) {}
  SQLite::Database db;
  std::set<int64_t> known_runs;  // ids checked to exist, so log_metric fails early on a bad id
};

RunRecorder::RunRecorder(const std::string& path) : path_(path) {
  try {
    impl_ = std::make_unique<Impl>(path);
  } catch (const SQLite::Exception& e) {
    throw Error("cannot open run database " + path + ": " + e.what());
  }
  SQLite::Database& db = impl_->db;
  try {
    // Switching to WAL needs an exclusive lock; on a brand-new file raced by several processes it
    // can report busy at once, so retry for as long as the busy timeout would have waited.
    for (int attempt = 0;; ++attempt) {
      try {
        db.execAndGet("PRAGMA journal_mode = WAL");
        break;
      } catch (const SQLite::Exception& e) {
        int code = e.getErrorCode();
        if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) || attempt >= kBusyTimeoutMs / 10) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    // NORMAL is durable across crashes of the process in WAL mode (not across power loss).
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    recorder_detail::migrate(db, path);
  } catch (const SQLite::Exception& e) {
    if (e.getErrorCode() == SQLITE_NOTADB)
      throw Error(path + " is not a gom run database: " + e.what());
    throw Error("cannot open run database " + path + ": " + e.what());
  }
}

RunRecorder::~RunRecorder() {
  try {
    std::lock_guard<std::mutex> lock(mu_);
    flush_locked();
  } catch (...) {
    // A destructor cannot report; callers who care call flush() or finish_run() first.
  }
}

int RunRecorder::schema_version() {
  std::lock_guard<std::mutex> lock(mu_);
  return guarded(path_, "reading the schema version",
                 [&] { return recorder_detail::schema_version(impl_->db, path_); });
}

std::optional<int64_t> RunRecorder::current_run() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_run_;
}

int64_t RunRecorder::start_run(const RunInfo& info) {
  // File reads, hashing and git run outside the lock and outside any transaction.
  std::string script = info.script_text;
  if (script.empty() && !info.script_path.empty()) {
    std::ifstream in(info.script_path, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      script = ss.str();
    }
  }
  const bool has_script = !script.empty() || !info.script_path.empty();
  GitState git;
  if (info.detect_git && !info.script_path.empty()) git = git_state(info.script_path);
  const std::string experiment = info.experiment.empty() ? "default" : info.experiment;

  std::lock_guard<std::mutex> lock(mu_);
  SQLite::Database& db = impl_->db;
  int64_t id = guarded(path_, "starting a run", [&] {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement ins_exp(
        db, std::string("INSERT OR IGNORE INTO experiments(name, created_at) VALUES (?, ") + kNow +
                ")");
    ins_exp.bind(1, experiment);
    ins_exp.exec();
    SQLite::Statement get_exp(db, "SELECT id FROM experiments WHERE name = ?");
    get_exp.bind(1, experiment);
    get_exp.executeStep();
    const int64_t exp_id = get_exp.getColumn(0).getInt64();

    SQLite::Statement ins(
        db, std::string("INSERT INTO runs(experiment_id, name, status, started_at, script_path, "
                        "script_text, script_sha256, seed, backend, device, threads, gom_version, "
                        "git_commit, git_dirty, command_line, parent_run_id) VALUES "
                        "(?, ?, 'running', ") +
                kNow + ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, exp_id);
    bind_text_or_null(ins, 2, info.name);
    bind_text_or_null(ins, 3, info.script_path);
    if (has_script) {
      ins.bind(4, script);
      ins.bind(5, sha256_hex(script));
    } else {
      ins.bind(4);
      ins.bind(5);
    }
    bind_opt(ins, 6, info.seed);
    bind_text_or_null(ins, 7, info.backend);
    bind_text_or_null(ins, 8, info.device);
    bind_opt(ins, 9, info.threads);
    bind_text_or_null(ins, 10, info.gom_version);
    if (git.commit)
      ins.bind(11, *git.commit);
    else
      ins.bind(11);
    bind_opt(ins, 12, git.dirty);
    bind_text_or_null(ins, 13, info.command_line);
    bind_opt(ins, 14, info.parent_run_id);
    ins.exec();
    const int64_t run_id = db.getLastInsertRowid();
    tx.commit();
    return run_id;
  });
  impl_->known_runs.insert(id);
  current_run_ = id;
  return id;
}

void RunRecorder::resume_run(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  guarded(path_, "resuming a run", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement up(impl_->db,
                         "UPDATE runs SET status = 'running', ended_at = NULL, error = NULL "
                         "WHERE id = ?");
    up.bind(1, run_id);
    if (up.exec() == 0) throw Error("run database " + path_ + ": no run " + std::to_string(run_id));
    tx.commit();
  });
  impl_->known_runs.insert(run_id);
  current_run_ = run_id;
}

void RunRecorder::log_params(int64_t run_id,
                             const std::vector<std::pair<std::string, std::string>>& kv) {
  std::lock_guard<std::mutex> lock(mu_);
  guarded(path_, "logging params", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement ins(impl_->db,
                          "INSERT OR REPLACE INTO params(run_id, key, value) VALUES (?, ?, ?)");
    for (const auto& [k, v] : kv) {
      ins.bind(1, run_id);
      ins.bind(2, k);
      ins.bind(3, v);
      ins.exec();
      ins.reset();
    }
    tx.commit();
  });
}

void RunRecorder::log_metric(int64_t run_id, const std::string& key, int64_t step, int64_t epoch,
                             double value) {
  const double now = unix_now();
  std::lock_guard<std::mutex> lock(mu_);
  if (!impl_->known_runs.count(run_id)) {
    // Check once per id, so a bad id fails here rather than poisoning a later flush.
    bool exists = guarded(path_, "logging a metric", [&] {
      SQLite::Statement q(impl_->db, "SELECT 1 FROM runs WHERE id = ?");
      q.bind(1, run_id);
      return q.executeStep();
    });
    if (!exists)
      throw Error("run database " + path_ + ": cannot log metric '" + key + "': no run " +
                  std::to_string(run_id));
    impl_->known_runs.insert(run_id);
  }
  buffer_.push_back({run_id, key, step, epoch, value, now});
  if (buffer_.size() >= kMaxBufferedRows) flush_locked();
}

void RunRecorder::log(const std::string& key, int64_t step, int64_t epoch, double value) {
  std::optional<int64_t> run = current_run();
  if (!run)
    throw Error("run recorder (" + path_ + "): metric '" + key + "' logged before start_run");
  log_metric(*run, key, step, epoch, value);
}

void RunRecorder::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  flush_locked();
}

void RunRecorder::flush_locked() {
  if (buffer_.empty()) return;
  guarded(path_, "writing metrics", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement ins(impl_->db,
                          "INSERT INTO metrics(run_id, key, step, epoch, value, wall_time) "
                          "VALUES (?, ?, ?, ?, ?, ?)");
    for (const PendingMetric& m : buffer_) {
      ins.bind(1, m.run_id);
      ins.bind(2, m.key);
      ins.bind(3, m.step);
      ins.bind(4, m.epoch);
      if (std::isnan(m.value))
        ins.bind(5);  // SQLite would store NaN as NULL anyway; say so explicitly
      else
        ins.bind(5, m.value);
      ins.bind(6, m.wall_time);
      ins.exec();
      ins.reset();
    }
    tx.commit();
  });
  buffer_.clear();
}

void RunRecorder::finish_run(int64_t run_id, RunStatus status, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  flush_locked();
  guarded(path_, "finishing a run", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement up(impl_->db, std::string("UPDATE runs SET status = ?, ended_at = ") + kNow +
                                        ", error = ? WHERE id = ?");
    up.bind(1, run_status_name(status));
    bind_text_or_null(up, 2, error);
    up.bind(3, run_id);
    if (up.exec() == 0) throw Error("run database " + path_ + ": no run " + std::to_string(run_id));
    tx.commit();
  });
  if (current_run_ == run_id) current_run_.reset();
}

void RunRecorder::add_tag(int64_t run_id, const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  guarded(path_, "adding a tag", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement ins(impl_->db,
                          "INSERT OR REPLACE INTO tags(run_id, key, value) VALUES (?, ?, ?)");
    ins.bind(1, run_id);
    ins.bind(2, key);
    ins.bind(3, value);
    ins.exec();
    tx.commit();
  });
}

void RunRecorder::add_artifact(int64_t run_id, const std::string& kind, const std::string& path,
                               const std::string& sha256) {
  std::string hash = sha256;
  int64_t bytes = -1;  // -1: unknown (stored as NULL)
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    const auto size = fs::file_size(path, ec);
    if (!ec) bytes = static_cast<int64_t>(size);
    if (hash.empty()) hash = sha256_file_hex(path);
  }
  std::lock_guard<std::mutex> lock(mu_);
  guarded(path_, "adding an artifact", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement ins(impl_->db,
                          std::string("INSERT INTO artifacts(run_id, kind, path, sha256, bytes, "
                                      "created_at) VALUES (?, ?, ?, ?, ?, ") +
                              kNow + ")");
    ins.bind(1, run_id);
    ins.bind(2, kind);
    ins.bind(3, path);
    bind_text_or_null(ins, 4, hash);
    if (bytes >= 0)
      ins.bind(5, bytes);
    else
      ins.bind(5);
    ins.exec();
    tx.commit();
  });
}

std::vector<RunRecord> RunRecorder::list_runs(const RunFilter& filter) {
  if (!filter.status.empty()) parse_run_status(filter.status);  // a typo is an error, not []
  std::lock_guard<std::mutex> lock(mu_);
  return guarded(path_, "listing runs", [&] {
    SQLite::Statement q(impl_->db, std::string(kRunColumns) +
                                       "WHERE (?1 = '' OR e.name = ?1) AND (?2 = '' OR "
                                       "r.status = ?2) ORDER BY r.id DESC LIMIT ?3");
    q.bind(1, filter.experiment);
    q.bind(2, filter.status);
    q.bind(3, filter.limit > 0 ? filter.limit : int64_t{-1});
    std::vector<RunRecord> out;
    while (q.executeStep()) out.push_back(read_run(q));
    return out;
  });
}

std::vector<std::pair<std::string, std::string>> RunRecorder::run_params(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return guarded(path_, "reading params", [&] {
    SQLite::Statement q(impl_->db, "SELECT key, value FROM params WHERE run_id = ? ORDER BY key");
    q.bind(1, run_id);
    std::vector<std::pair<std::string, std::string>> out;
    while (q.executeStep()) out.emplace_back(text(q.getColumn(0)), text(q.getColumn(1)));
    return out;
  });
}

std::vector<MetricRecord> RunRecorder::run_metrics(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return guarded(path_, "reading metrics", [&] {
    SQLite::Statement q(impl_->db,
                        "SELECT key, step, epoch, value, wall_time FROM metrics WHERE run_id = ? "
                        "ORDER BY key, step, epoch, rowid");
    q.bind(1, run_id);
    std::vector<MetricRecord> out;
    while (q.executeStep()) {
      MetricRecord m;
      m.key = text(q.getColumn(0));
      m.step = q.getColumn(1).getInt64();
      m.epoch = q.getColumn(2).getInt64();
      m.value = q.getColumn(3).isNull() ? std::numeric_limits<double>::quiet_NaN()
                                        : q.getColumn(3).getDouble();
      m.wall_time = q.getColumn(4).getDouble();
      out.push_back(std::move(m));
    }
    return out;
  });
}

std::vector<std::vector<std::optional<std::string>>> RunRecorder::query(
    const std::string& sql, const std::vector<std::string>& args) {
  std::lock_guard<std::mutex> lock(mu_);
  return guarded(path_, "query", [&] {
    SQLite::Statement q(impl_->db, sql);
    for (size_t i = 0; i < args.size(); ++i) q.bind(static_cast<int>(i + 1), args[i]);
    std::vector<std::vector<std::optional<std::string>>> rows;
    while (q.executeStep()) {
      std::vector<std::optional<std::string>>& row = rows.emplace_back();
      for (int c = 0; c < q.getColumnCount(); ++c) row.push_back(opt_text(q.getColumn(c)));
    }
    return rows;
  });
}

RunDetails RunRecorder::get_run(int64_t run_id) {
  RunDetails d;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool found = guarded(path_, "reading a run", [&] {
      SQLite::Statement q(impl_->db, std::string(kRunColumns) + "WHERE r.id = ?");
      q.bind(1, run_id);
      if (!q.executeStep()) return false;
      d.run = read_run(q);
      SQLite::Statement s(impl_->db, "SELECT script_text FROM runs WHERE id = ?");
      s.bind(1, run_id);
      if (s.executeStep()) d.script_text = text(s.getColumn(0));
      SQLite::Statement t(impl_->db, "SELECT key, value FROM tags WHERE run_id = ? ORDER BY key");
      t.bind(1, run_id);
      while (t.executeStep()) d.tags.emplace_back(text(t.getColumn(0)), text(t.getColumn(1)));
      SQLite::Statement a(impl_->db,
                          "SELECT kind, path, sha256, bytes, created_at FROM artifacts "
                          "WHERE run_id = ? ORDER BY id");
      a.bind(1, run_id);
      while (a.executeStep()) {
        d.artifacts.push_back({text(a.getColumn(0)), text(a.getColumn(1)), text(a.getColumn(2)),
                               opt_int(a.getColumn(3)).value_or(0), text(a.getColumn(4))});
      }
      return true;
    });
    if (!found) throw Error("run database " + path_ + ": no run " + std::to_string(run_id));
  }
  d.params = run_params(run_id);
  d.metrics = run_metrics(run_id);
  return d;
}

}  // namespace gom
