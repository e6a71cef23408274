// report_runs.cpp — the JSON of `gom report RUN...`: provenance, params, metric curves and
// confusion matrices of each run (gom_core/html_report.h).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "gom/error.h"
#include "gom/metric.h"
#include "gom_core/html_report.h"
#include "report_internal.h"

namespace gom::report {

using json = nlohmann::json;

namespace detail {

namespace {

template <typename T>
json optional_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

json run_json(const RunDetails& d) {
  const RunRecord& r = d.run;
  json params = json::object();
  for (const auto& [k, v] : d.params) params[k] = v;
  return {{"id", r.id},
          {"experiment", r.experiment},
          {"name", r.name},
          {"status", r.status},
          {"started_at", r.started_at},
          {"ended_at", optional_json(r.ended_at)},
          {"duration_s", r.duration_s ? number(*r.duration_s) : json(nullptr)},
          {"seed", optional_json(r.seed)},
          {"backend", r.backend},
          {"device", r.device},
          {"threads", optional_json(r.threads)},
          {"gom_version", r.gom_version},
          {"git_commit", optional_json(r.git_commit)},
          {"git_dirty", optional_json(r.git_dirty)},
          {"command_line", r.command_line},
          {"script_path", r.script_path},
          {"script_sha256", r.script_sha256},
          {"parent_run_id", optional_json(r.parent_run_id)},
          {"host", optional_json(r.host)},
          {"error", optional_json(r.error)},
          {"params", params}};
}

std::vector<std::string> params_differ(
    const std::vector<std::map<std::string, std::string>>& params) {
  std::set<std::string> keys;
  for (const auto& p : params)
    for (const auto& kv : p) keys.insert(kv.first);
  std::vector<std::string> out;
  for (const std::string& k : keys) {
    std::set<std::optional<std::string>> values;
    for (const auto& p : params) {
      const auto it = p.find(k);
      values.insert(it == p.end() ? std::nullopt : std::optional<std::string>(it->second));
    }
    if (values.size() > 1) out.push_back(k);
  }
  return out;
}

json confusion_json(const RunDetails& d) {
  json out = json::array();
  for (const auto& [key, value] : d.tags) {
    if (key.find(".epoch_") != std::string::npos) continue;  // every_epoch's copies
    const json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("matrix") || !j.contains("classes")) continue;
    json m = j;
    m["run_id"] = d.run.id;
    m["key"] = key;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace detail

namespace {

// One run's rows of one metric, in the order recorded (by step, then epoch).
using Rows = std::vector<const MetricRecord*>;

// Whether some epoch holds more than one row: then the curve is drawn by step.
bool by_step(const Rows& rows) {
  std::set<int64_t> epochs;
  for (const MetricRecord* m : rows)
    if (!epochs.insert(m->epoch).second) return true;
  return false;
}

std::string run_label(const RunRecord& r) {
  return r.name.empty() ? fmt::format("run {}", r.id) : fmt::format("run {} ({})", r.id, r.name);
}

}  // namespace

json runs_data(RunRecorder& db, const std::vector<int64_t>& run_ids) {
  std::vector<RunDetails> runs;
  for (int64_t id : run_ids) {
    if (db.query("SELECT 1 FROM runs WHERE id = ?", {std::to_string(id)}).empty())
      throw Error(fmt::format("no run {} in {}", id, db.path()));
    runs.push_back(db.get_run(id));
  }
  json data{{"kind", "runs"},
            {"runs", json::array()},
            {"metrics", json::array()},
            {"confusion", json::array()}};
  data["title"] = run_ids.size() == 1 ? fmt::format("gom report: run {}", run_ids[0])
                                      : fmt::format("gom report: {} runs", run_ids.size());
  std::vector<std::map<std::string, std::string>> params;
  // key → (direction, phase) from the first run that has it, and each run's rows.
  std::map<std::string, MetricInfo> info;
  std::map<std::string, std::vector<std::pair<const RunDetails*, Rows>>> rows;
  for (const RunDetails& d : runs) {
    data["runs"].push_back(detail::run_json(d));
    params.emplace_back(d.params.begin(), d.params.end());
    for (json& m : detail::confusion_json(d)) data["confusion"].push_back(std::move(m));
    for (const MetricSummaryRow& s : db.metric_summary(d.run.id)) info.emplace(s.key, s.info);
    std::map<std::string, Rows> mine;
    for (const MetricRecord& m : d.metrics) mine[m.key].push_back(&m);
    for (auto& [k, r] : mine) rows[k].emplace_back(&d, std::move(r));
  }
  data["params_differ"] = detail::params_differ(params);
  for (const auto& [key, per_run] : rows) {
    bool step = false;
    for (const auto& pr : per_run) step = step || by_step(pr.second);
    const MetricInfo mi = info.count(key) ? info.at(key) : metric_info_by_name(key);
    json series = json::array();
    for (const auto& [d, r] : per_run) {
      json points = json::array();
      // Each point's step, epoch and seconds since the run's first metric row (gom plot --x).
      json xs{{"step", json::array()}, {"epoch", json::array()}, {"time", json::array()}};
      double t0 = 0;
      for (size_t i = 0; i < d->metrics.size(); ++i)
        t0 = i == 0 ? d->metrics[i].wall_time : std::min(t0, d->metrics[i].wall_time);
      for (const MetricRecord* m : r) {
        points.push_back({step ? m->step : m->epoch, detail::number(m->value)});
        xs["step"].push_back(m->step);
        xs["epoch"].push_back(m->epoch);
        xs["time"].push_back(m->wall_time - t0);
      }
      series.push_back({{"label", run_label(d->run)},
                        {"run_id", d->run.id},
                        {"band", false},
                        {"points", std::move(points)},
                        {"xs", std::move(xs)}});
    }
    const char* dir = metric_direction_name(mi.direction);
    data["metrics"].push_back({{"key", key},
                               {"direction", *dir ? json(dir) : json(nullptr)},
                               {"phase", metric_phase_name(mi.phase)},
                               {"x", step ? "step" : "epoch"},
                               {"series", std::move(series)}});
  }
  return data;
}

}  // namespace gom::report
