// recorder_metric_info.cpp — what the metrics of a run mean (table metric_info, schema v4), and
// what is read through it: the metric_summary view and a run's result for a metric.
#include <SQLiteCpp/SQLiteCpp.h>

#include <limits>
#include <string>
#include <vector>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "recorder_internal.h"

namespace gom {

using recorder_detail::guarded;
using recorder_detail::text;

namespace {

void bind_name_or_null(SQLite::Statement& st, int i, const char* name) {
  if (*name)
    st.bind(i, name);
  else
    st.bind(i);
}

double value_or_nan(const SQLite::Column& c) {
  return c.isNull() ? std::numeric_limits<double>::quiet_NaN() : c.getDouble();
}

}  // namespace

namespace recorder_detail {

void write_metric_info(SQLite::Database& db, int64_t run_id, const std::string& key,
                       const MetricInfo& info, bool replace) {
  SQLite::Statement ins(db, std::string("INSERT OR ") + (replace ? "REPLACE" : "IGNORE") +
                                " INTO metric_info(run_id, key, direction, phase) "
                                "VALUES (?, ?, ?, ?)");
  ins.bind(1, run_id);
  ins.bind(2, key);
  bind_name_or_null(ins, 3, metric_direction_name(info.direction));
  bind_name_or_null(ins, 4, metric_phase_name(info.phase));
  ins.exec();
}

}  // namespace recorder_detail

void RunRecorder::describe_metric(int64_t run_id, const std::string& key, const MetricInfo& info) {
  std::lock_guard<std::mutex> lock(mu_);
  check_run_locked(run_id, "describe metric '" + key + "'");
  impl_->described.insert({run_id, key});
  info_buffer_.push_back({run_id, key, info, true});
}

void RunRecorder::describe(const std::string& key, const MetricInfo& info) {
  std::optional<int64_t> run = current_run();
  if (!run)
    throw Error("run recorder (" + path_ + "): metric '" + key + "' described before start_run");
  describe_metric(*run, key, info);
}

// In the order they were buffered: a declaration that follows the name rule's row replaces it.
void RunRecorder::write_info_locked() {
  for (const PendingInfo& p : info_buffer_)
    recorder_detail::write_metric_info(impl_->db, p.run_id, p.key, p.info, p.declared);
}

std::vector<MetricSummaryRow> RunRecorder::metric_summary(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return guarded(path_, "reading the metric summary", [&] {
    std::string sql;
    std::vector<std::string> keys;
    if (impl_->version >= 4) {
      sql =
          "SELECT key, direction, phase, n, final_value, final_epoch, best_value, best_epoch "
          "FROM metric_summary WHERE run_id = ? ORDER BY key";
    } else {
      // A file of an older schema opened read-only: its keys get the name rule's rows here, as
      // the migration would have given them.
      SQLite::Statement q(impl_->db, "SELECT DISTINCT key FROM metrics WHERE run_id = ?");
      q.bind(1, run_id);
      while (q.executeStep()) keys.push_back(text(q.getColumn(0)));
      if (keys.empty()) return std::vector<MetricSummaryRow>{};
      sql = "WITH metric_info(run_id, key, direction, phase) AS (VALUES ";
      for (size_t i = 0; i < keys.size(); ++i) sql += i ? ", (?1, ?, ?, ?)" : "(?1, ?, ?, ?)";
      sql = sql + "), metric_summary AS (" + recorder_detail::kMetricSummarySelect +
            ") SELECT key, direction, phase, n, final_value, final_epoch, best_value, "
            "best_epoch FROM metric_summary WHERE run_id = ?1 ORDER BY key";
    }
    SQLite::Statement q(impl_->db, sql);
    q.bind(1, run_id);
    int i = 2;
    for (const std::string& key : keys) {
      const MetricInfo info = metric_info_by_name(key);
      q.bind(i++, key);
      bind_name_or_null(q, i++, metric_direction_name(info.direction));
      bind_name_or_null(q, i++, metric_phase_name(info.phase));
    }
    std::vector<MetricSummaryRow> out;
    while (q.executeStep()) {
      MetricSummaryRow r;
      r.key = text(q.getColumn(0));
      r.info = {parse_metric_direction(text(q.getColumn(1))),
                parse_metric_phase(text(q.getColumn(2)))};
      r.n = q.getColumn(3).getInt64();
      r.final_value = value_or_nan(q.getColumn(4));
      r.final_epoch = q.getColumn(5).isNull() ? 0 : q.getColumn(5).getInt64();
      if (!q.getColumn(6).isNull()) r.best_value = q.getColumn(6).getDouble();
      r.best_epoch = q.getColumn(7).isNull() ? 0 : q.getColumn(7).getInt64();
      out.push_back(std::move(r));
    }
    return out;
  });
}

std::optional<double> RunRecorder::result_value(int64_t run_id, const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  return guarded(path_, "reading a run's result", [&]() -> std::optional<double> {
    // The latest row at the epoch of the weights the run ended with, else the final row (the
    // order metric_summary's final_value takes).
    SQLite::Statement q(impl_->db,
                        "SELECT value FROM metrics WHERE run_id = ?1 AND key = ?2 AND epoch = "
                        "(SELECT CAST(value AS INTEGER) FROM tags WHERE run_id = ?1 AND "
                        "key = 'weights_epoch') ORDER BY step DESC, rowid DESC LIMIT 1");
    q.bind(1, run_id);
    q.bind(2, key);
    if (q.executeStep()) return value_or_nan(q.getColumn(0));
    SQLite::Statement f(impl_->db,
                        "SELECT value FROM metrics WHERE run_id = ?1 AND key = ?2 "
                        "ORDER BY step DESC, epoch DESC, rowid DESC LIMIT 1");
    f.bind(1, run_id);
    f.bind(2, key);
    if (f.executeStep()) return value_or_nan(f.getColumn(0));
    return std::nullopt;
  });
}

}  // namespace gom
