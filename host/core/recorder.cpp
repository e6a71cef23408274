// recorder.cpp — the run recorder: opening the database and recording runs. Reading them back is
// in recorder_query.cpp, schema and migrations in recorder_schema.cpp, SHA-256 in
// recorder_sha256.cpp.
#include "gom_core/recorder.h"

#include <algorithm>
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "gom/error.h"
#include "recorder_internal.h"

namespace gom {

using recorder_detail::guarded;

namespace {

namespace fs = std::filesystem;

// All timestamps are written by SQLite itself so they share one format (see recorder.h).
constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
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
  // The script's repository is not trusted: its config may name commands (core.fsmonitor, a
  // pager, hooks) that git status would run. They are switched off, as are the system config
  // and the environment's GIT_DIR-like variables; --no-optional-locks keeps the index unwritten.
  const std::string git =
      "env -u GIT_DIR -u GIT_WORK_TREE -u GIT_INDEX_FILE -u GIT_CONFIG -u GIT_CONFIG_PARAMETERS "
      "-u GIT_CONFIG_COUNT GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 GIT_OPTIONAL_LOCKS=0 "
      "GIT_PAGER=cat PAGER=cat git --no-pager --no-optional-locks -c core.fsmonitor=false "
      "-c core.hooksPath=/dev/null -c core.untrackedCache=false -c core.pager=cat -C " +
      shell_quote(dir.string());
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
    case RunStatus::kCrashed:
      return "crashed";
    case RunStatus::kPruned:
      return "pruned";
  }
  return "?";
}

RunStatus parse_run_status(std::string_view s) {
  for (RunStatus v : {RunStatus::kRunning, RunStatus::kFinished, RunStatus::kFailed,
                      RunStatus::kInterrupted, RunStatus::kDiverged, RunStatus::kCrashed,
                      RunStatus::kPruned})
    if (s == run_status_name(v)) return v;
  throw Error("unknown run status '" + std::string(s) +
              "' (accepted: running, finished, failed, interrupted, diverged, crashed, pruned)");
}

namespace {

// A SQLite URI for path with its query (mode=ro, immutable=1): %, ? and # are escaped.
std::string sqlite_uri(const std::string& path, const std::string& query) {
  std::error_code ec;
  std::string abs = fs::absolute(path, ec).lexically_normal().string();
  if (ec) abs = path;
  std::string out = "file:";
  for (char c : abs) {
    if (c == '%' || c == '?' || c == '#') {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
      out += hex;
    } else {
      out += c;
    }
  }
  return out + "?" + query;
}

}  // namespace

RunRecorder::RunRecorder(const std::string& path, OpenMode mode) : path_(path) {
  const int rw = mode == OpenMode::kWrite ? SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE
                                          : SQLite::OPEN_READWRITE;
  try {
    impl_ = std::make_unique<Impl>(path, rw);
    SQLite::Database& db = impl_->db;
    // Switching a new file to WAL upgrades a read lock to an exclusive one, which SQLite reports
    // busy at once, without the busy handler, when another process races it: retry_busy waits.
    recorder_detail::retry_busy([&] { db.execAndGet("PRAGMA journal_mode = WAL"); });
    // NORMAL is durable across crashes of the process in WAL mode (not across power loss).
    db.exec("PRAGMA synchronous = NORMAL");
    // Re-reads the version under BEGIN IMMEDIATE, so racing openers create the schema once.
    recorder_detail::retry_busy([&] { recorder_detail::migrate(db, path); });
    db.exec("PRAGMA foreign_keys = ON");  // after migrate, which turns them off
    // SQLite opens a file it may not write read-only without saying so.
    if (sqlite3_db_readonly(db.getHandle(), "main") == 1)
      throw SQLite::Exception("attempt to write a readonly database", SQLITE_READONLY);
  } catch (const SQLite::Exception& e) {
    if (e.getErrorCode() == SQLITE_NOTADB)
      throw Error(path + " is not a gom run database: " + e.what());
    if (mode == OpenMode::kWrite) throw Error("cannot open run database " + path + ": " + e.what());
    open_read_only(e.what());
  }
}

void RunRecorder::open_read_only(const std::string& why) {
  // Read-only needs the -shm file of a WAL database (or to make it); immutable needs nothing,
  // but reads only what is checkpointed into the main file.
  impl_.reset();
  for (const char* query : {"mode=ro", "immutable=1"}) {
    try {
      auto impl = std::make_unique<Impl>(sqlite_uri(path_, query),
                                         SQLite::OPEN_READONLY | SQLITE_OPEN_URI);
      impl->version = recorder_detail::schema_version(impl->db, path_);
      impl->read_only = true;
      impl_ = std::move(impl);
      break;
    } catch (const SQLite::Exception& e) {
      if (e.getErrorCode() == SQLITE_NOTADB)
        throw Error(path_ + " is not a gom run database: " + e.what());
    }
  }
  if (!impl_) throw Error("cannot open run database " + path_ + ": " + why);
  if (impl_->version > kRunSchemaVersion) recorder_detail::check_not_newer(impl_->version, path_);
  if (impl_->version == 0)
    throw Error("run database " + path_ + " is empty and cannot be written here (" + why + ")");
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

std::string RunRecorder::uid() {
  std::lock_guard<std::mutex> lock(mu_);
  return guarded(path_, "reading the database uid", [&] {
    return impl_->db.execAndGet("SELECT uid FROM database LIMIT 1").getString();
  });
}

std::string RunRecorder::last_write_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_write_error_;
}

size_t RunRecorder::buffered_rows() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffer_.size();
}

bool RunRecorder::try_flush() {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    flush_locked();
    return true;
  } catch (const std::exception&) {
    return false;  // the rows stay buffered; last_write_error_ says why
  }
}

bool RunRecorder::read_only() const {
  return impl_->read_only;
}

void RunRecorder::set_heartbeat_interval(std::chrono::milliseconds interval) {
  std::lock_guard<std::mutex> lock(mu_);
  impl_->heartbeat_interval = interval;
  impl_->heartbeat.reset();  // started again, at the new pace, by the next start/resume_run
}

void RunRecorder::start_heartbeat_locked() {
  if (!impl_->heartbeat)
    impl_->heartbeat =
        std::make_unique<recorder_detail::Heartbeat>(path_, impl_->heartbeat_interval);
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
  const recorder_detail::ProcessInfo me = recorder_detail::this_process();

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
                        "git_commit, git_dirty, command_line, parent_run_id, host, pid, "
                        "process_started, heartbeat_at) VALUES (?, ?, 'running', ") +
                kNow + ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, " + kNow + ")");
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
    ins.bind(15, me.host);
    ins.bind(16, me.pid);
    ins.bind(17, me.started);
    ins.exec();
    const int64_t run_id = db.getLastInsertRowid();
    tx.commit();
    return run_id;
  });
  impl_->known_runs.insert(id);
  current_run_ = id;
  start_heartbeat_locked();
  return id;
}

void RunRecorder::resume_run(int64_t run_id) {
  const recorder_detail::ProcessInfo me = recorder_detail::this_process();
  std::lock_guard<std::mutex> lock(mu_);
  guarded(path_, "resuming a run", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    // Checked and claimed in one transaction: of two processes resuming it, one gets the run.
    SQLite::Statement q(impl_->db, std::string("SELECT status, host, pid, process_started, "
                                               "heartbeat_at, julianday(heartbeat_at) < "
                                               "julianday('now', '-") +
                                       std::to_string(kHeartbeatTimeoutS) +
                                       " seconds') FROM runs WHERE id = ?");
    q.bind(1, run_id);
    if (!q.executeStep())
      throw Error("run database " + path_ + ": no run " + std::to_string(run_id));
    const auto host = recorder_detail::opt_text(q.getColumn(1));
    const auto pid = recorder_detail::opt_int(q.getColumn(2));
    if (q.getColumn(0).getString() == "running" && host && pid &&
        !recorder_detail::process_gone(host, pid, recorder_detail::opt_int(q.getColumn(3)),
                                       q.getColumn(5).getInt() == 1)) {
      const std::string heartbeat =
          *host == me.host ? std::string()
                           : " (its last heartbeat, at " + recorder_detail::text(q.getColumn(4)) +
                                 ", is less than " + std::to_string(kHeartbeatTimeoutS) +
                                 " s old)";
      throw Error("run " + std::to_string(run_id) + " is still running: its process (pid " +
                  std::to_string(*pid) + " on " + *host + ") is alive" + heartbeat +
                  "; stop it, or wait for it to end, before resuming it");
    }
    q.reset();
    SQLite::Statement up(impl_->db,
                         std::string("UPDATE runs SET status = 'running', ended_at = NULL, "
                                     "error = NULL, host = ?, pid = ?, process_started = ?, "
                                     "heartbeat_at = ") +
                             kNow + " WHERE id = ?");
    up.bind(1, me.host);
    up.bind(2, me.pid);
    up.bind(3, me.started);
    up.bind(4, run_id);
    up.exec();
    tx.commit();
  });
  impl_->known_runs.insert(run_id);
  current_run_ = run_id;
  start_heartbeat_locked();
}

void RunRecorder::log_overrides(int64_t run_id,
                                const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::lock_guard<std::mutex> lock(mu_);
  guarded(path_, "logging overrides", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement ins(impl_->db, "INSERT OR REPLACE INTO overrides(run_id, position, key, "
                                     "value) VALUES (?, ?, ?, ?)");
    int64_t position = 0;
    for (const auto& [k, v] : overrides) {
      ins.bind(1, run_id);
      ins.bind(2, position++);
      ins.bind(3, k);
      ins.bind(4, v);
      ins.exec();
      ins.reset();
    }
    tx.commit();
  });
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
  check_run_locked(run_id, "log metric '" + key + "'");
  buffer_.push_back({run_id, key, step, epoch, value, now});
  // Every logged key has a metric_info row: the name rule's where nobody declared one.
  if (impl_->described.insert({run_id, key}).second)
    info_buffer_.push_back({run_id, key, metric_info_by_name(key), false});
  // Not at every row past the limit while the database refuses them: they stay buffered.
  if (buffer_.size() >= kMaxBufferedRows && buffer_.size() % kMaxBufferedRows == 0) {
    try {
      flush_locked();
    } catch (const std::exception&) {
      // kept for the next flush (finish_run reports what could not be written)
    }
  }
}

void RunRecorder::check_run_locked(int64_t run_id, const std::string& what) {
  if (impl_->known_runs.count(run_id)) return;
  // Checked once per id, so a bad id fails here rather than poisoning a later flush.
  const bool exists = guarded(path_, "checking a run", [&] {
    SQLite::Statement q(impl_->db, "SELECT 1 FROM runs WHERE id = ?");
    q.bind(1, run_id);
    return q.executeStep();
  });
  if (!exists)
    throw Error("run database " + path_ + ": cannot " + what + ": no run " +
                std::to_string(run_id));
  impl_->known_runs.insert(run_id);
}

void RunRecorder::log(const std::string& key, int64_t step, int64_t epoch, double value) {
  std::optional<int64_t> run = current_run();
  if (!run)
    throw Error("run recorder (" + path_ + "): metric '" + key + "' logged before start_run");
  log_metric(*run, key, step, epoch, value);
}

void RunRecorder::record(const std::string& key, const std::string& value) {
  std::optional<int64_t> run = current_run();
  if (!run) throw Error("run recorder (" + path_ + "): record '" + key + "' before start_run");
  add_tag(*run, key, value);
}

void RunRecorder::artifact(const std::string& kind, const std::string& path) {
  std::optional<int64_t> run = current_run();
  if (!run) throw Error("run recorder (" + path_ + "): artifact " + path + " before start_run");
  add_artifact(*run, kind, path);
}

void RunRecorder::flush() {
  std::lock_guard<std::mutex> lock(mu_);
  flush_locked();
}

void RunRecorder::flush_locked() {
  if (buffer_.empty() && info_buffer_.empty()) return;
  try {
    write_buffer_locked();
  } catch (const std::exception& e) {
    last_write_error_ = e.what();
    throw;
  }
  buffer_.clear();
  info_buffer_.clear();
}

void RunRecorder::write_buffer_locked() {
  guarded(path_, "writing metrics", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    write_info_locked();
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
}

RunStatus RunRecorder::finish_run(int64_t run_id, RunStatus status, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string text = error;
  try {
    flush_locked();
  } catch (const std::exception& e) {
    // The run's end matters more than its last rows: record it, as failed, saying what was lost.
    const size_t lost = buffer_.size();
    status = RunStatus::kFailed;
    text += fmt::format("{}{} metric row{} could not be written: {}", text.empty() ? "" : "\n",
                        lost, lost == 1 ? "" : "s", e.what());
  }
  guarded(path_, "finishing a run", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement up(impl_->db, std::string("UPDATE runs SET status = ?, ended_at = ") + kNow +
                                        ", error = ? WHERE id = ?");
    up.bind(1, run_status_name(status));
    bind_text_or_null(up, 2, text);
    up.bind(3, run_id);
    if (up.exec() == 0) throw Error("run database " + path_ + ": no run " + std::to_string(run_id));
    tx.commit();
  });
  if (current_run_ == run_id) current_run_.reset();
  return status;
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

void RunRecorder::delete_metrics_after(int64_t run_id, int64_t epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  buffer_.erase(std::remove_if(buffer_.begin(), buffer_.end(),
                               [&](const PendingMetric& m) {
                                 return m.run_id == run_id && m.epoch > epoch;
                               }),
                buffer_.end());
  guarded(path_, "deleting metrics", [&] {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement del(impl_->db, "DELETE FROM metrics WHERE run_id = ? AND epoch > ?");
    del.bind(1, run_id);
    del.bind(2, epoch);
    del.exec();
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

}  // namespace gom
