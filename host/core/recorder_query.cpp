// recorder_query.cpp — reading runs back: list_runs, get_run, params, metrics and ad-hoc queries.
// Reads take no write lock (WAL), so they never wait for writers; guarded retries the rare busy.
#include <SQLiteCpp/SQLiteCpp.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "recorder_internal.h"

namespace gom {

using recorder_detail::guarded;
using recorder_detail::opt_int;
using recorder_detail::opt_text;
using recorder_detail::text;

namespace {

// The columns read_run reads; a file of schema v1 (read-only, not migrated) has no process
// columns, so NULLs stand in for them.
std::string run_columns(int version) {
  const std::string stale = "julianday(r.heartbeat_at) < julianday('now', '-" +
                            std::to_string(kHeartbeatTimeoutS) + " seconds')";
  return std::string(
             "SELECT r.id, e.name, r.name, r.status, r.started_at, r.ended_at, r.error, "
             "(julianday(COALESCE(r.ended_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - "
             "julianday(r.started_at)) * 86400.0, "
             "r.script_path, r.script_sha256, r.seed, r.backend, r.device, r.threads, "
             "r.gom_version, r.git_commit, r.git_dirty, r.command_line, r.parent_run_id, ") +
         (version >= 2 ? "r.host, r.pid, r.process_started, r.heartbeat_at, " + stale +
                             ", (julianday(COALESCE(r.heartbeat_at, r.started_at)) - "
                             "julianday(r.started_at)) * 86400.0 "
                       : std::string("NULL, NULL, NULL, NULL, 0, NULL ")) +
         "FROM runs r JOIN experiments e ON e.id = r.experiment_id ";
}

// One row of run_columns. A running run whose process is gone reads as crashed, ended at its
// last heartbeat; `crashed_now` collects those (for record_crashed_locked).
RunRecord read_run(SQLite::Statement& q, std::vector<RunRecord>& crashed_now) {
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
  r.host = opt_text(q.getColumn(19));
  r.pid = opt_int(q.getColumn(20));
  r.process_started = opt_int(q.getColumn(21));
  r.heartbeat_at = opt_text(q.getColumn(22));
  if (r.status == "running" &&
      recorder_detail::process_gone(r.host, r.pid, r.process_started,
                                    q.getColumn(23).getInt() == 1)) {
    r.status = "crashed";
    r.ended_at = r.heartbeat_at ? r.heartbeat_at : std::optional<std::string>(r.started_at);
    r.duration_s = q.getColumn(24).getDouble();
    if (!r.error) r.error = recorder_detail::crashed_error(*r.host, *r.pid, r.heartbeat_at);
    crashed_now.push_back(r);
  }
  return r;
}

}  // namespace

std::vector<RunRecord> RunRecorder::list_runs(const RunFilter& filter) {
  if (!filter.status.empty()) parse_run_status(filter.status);  // a typo is an error, not []
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RunRecord> crashed_now;
  auto runs = guarded(path_, "listing runs", [&] {
    crashed_now.clear();
    // Status and limit are applied here: a row stored as running may read as crashed.
    SQLite::Statement q(impl_->db, run_columns(impl_->version) +
                                       "WHERE (?1 = '' OR e.name = ?1) ORDER BY r.id DESC");
    q.bind(1, filter.experiment);
    std::vector<RunRecord> out;
    while (q.executeStep()) {
      RunRecord r = read_run(q, crashed_now);
      if (!filter.status.empty() && r.status != filter.status) continue;
      if (filter.top_level && r.parent_run_id) continue;
      if (filter.parent && r.parent_run_id != filter.parent) continue;
      out.push_back(std::move(r));
      if (filter.limit > 0 && static_cast<int64_t>(out.size()) >= filter.limit) break;
    }
    return out;
  });
  record_crashed_locked(crashed_now);
  return runs;
}

void RunRecorder::record_crashed_locked(const std::vector<RunRecord>& runs) {
  // Only what is certain (the process was on this host) is written, and only while the row
  // still names that process: another may have resumed the run since it was read.
  if (impl_->read_only) return;
  const std::string host = recorder_detail::this_process().host;
  for (const RunRecord& r : runs) {
    if (!r.host || *r.host != host) continue;
    try {
      recorder_detail::retry_busy([&] {
        SQLite::Statement up(impl_->db,
                             "UPDATE runs SET status = 'crashed', ended_at = ?, "
                             "error = COALESCE(error, ?) WHERE id = ? AND status = 'running' "
                             "AND host = ? AND pid = ? AND process_started IS ?");
        up.bind(1, r.ended_at.value_or(r.started_at));
        up.bind(2, r.error.value_or(""));
        up.bind(3, r.id);
        up.bind(4, *r.host);
        up.bind(5, *r.pid);
        if (r.process_started)
          up.bind(6, *r.process_started);
        else
          up.bind(6);
        up.exec();
      });
    } catch (const SQLite::Exception&) {
      // A reader that cannot write still shows the run as crashed; the next one may record it.
    }
  }
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

std::optional<std::vector<std::pair<std::string, std::string>>> RunRecorder::run_overrides(
    int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (impl_->version < 2) return std::nullopt;
  return guarded(path_, "reading overrides",
                 [&]() -> std::optional<std::vector<std::pair<std::string, std::string>>> {
                   SQLite::Statement q(impl_->db, "SELECT key, value FROM overrides WHERE "
                                                  "run_id = ? ORDER BY position");
                   q.bind(1, run_id);
                   std::vector<std::pair<std::string, std::string>> out;
                   while (q.executeStep())
                     out.emplace_back(text(q.getColumn(0)), text(q.getColumn(1)));
                   if (out.empty()) return std::nullopt;
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
    std::vector<RunRecord> crashed_now;
    bool found = guarded(path_, "reading a run", [&] {
      SQLite::Statement q(impl_->db, run_columns(impl_->version) + "WHERE r.id = ?");
      q.bind(1, run_id);
      if (!q.executeStep()) return false;
      crashed_now.clear();
      d.run = read_run(q, crashed_now);
      d.tags.clear();  // built afresh should a busy database make guarded run this again
      d.artifacts.clear();
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
    record_crashed_locked(crashed_now);
  }
  d.params = run_params(run_id);
  d.metrics = run_metrics(run_id);
  return d;
}

}  // namespace gom
