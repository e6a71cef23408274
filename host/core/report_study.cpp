// report_study.cpp — the JSON of `gom report --league NAME` and `--sweep NAME`
// (gom_core/html_report.h): the study's table or trials, the contenders' mean curves with their
// bootstrap bands, and the provenance of the study's run.
#include <fmt/format.h>

#include <map>

#include "gom/metric.h"
#include "gom_core/html_report.h"
#include "gom_core/stats.h"
#include "report_internal.h"

namespace gom::report {

using json = nlohmann::json;

namespace {

// The study's parent run (provenance), and the params that differ across its trials' runs.
void add_runs(RunRecorder& db, const StudyRecord& s, const std::vector<TrialRecord>& trials,
              json& data) {
  data["runs"] = json::array();
  if (s.run_id && !db.query("SELECT 1 FROM runs WHERE id = ?", {std::to_string(*s.run_id)}).empty())
    data["runs"].push_back(detail::run_json(db.get_run(*s.run_id)));
  std::vector<std::map<std::string, std::string>> params;
  for (const TrialRecord& t : trials)
    if (t.run_id) {
      const auto p = db.run_params(*t.run_id);
      params.emplace_back(p.begin(), p.end());
    }
  data["params_differ"] = detail::params_differ(params);
  data["metrics"] = json::array();
  data["confusion"] = json::array();
}

// Resamples of the bootstrap band at each epoch: fewer than the table's 10,000, as a band is
// drawn at every epoch of every metric.
constexpr int kBandResamples = 2000;

// Per metric key (logged once an epoch), per contender, per epoch: the finished trials' values.
// (A stand-in for gom_core/plot_data.h's league curves, which were not there yet: this and the
// band loop in league_data are what to replace with them.)
using Values = std::map<std::string, std::map<std::string, std::map<int64_t, std::vector<double>>>>;

Values league_values(RunRecorder& db, const std::vector<TrialRecord>& trials) {
  Values out;
  for (const TrialRecord& t : trials) {
    if (t.state != TrialState::kFinished || !t.run_id) continue;
    std::map<std::string, std::map<int64_t, double>> last;  // key → epoch → its last value
    for (const MetricRecord& m : db.run_metrics(*t.run_id)) last[m.key][m.epoch] = m.value;
    for (const auto& [key, by_epoch] : last)
      for (const auto& [epoch, v] : by_epoch)
        if (!std::isnan(v)) out[key][t.contender][epoch].push_back(v);
  }
  return out;
}

}  // namespace

json league_data(RunRecorder& db, StudyStore& store, const StudyRecord& league) {
  const LeagueReport r = league_report(store, league);
  json data{{"kind", "league"}, {"title", fmt::format("gom report: league {}", league.def.name)}};
  data["league"] = league_json(r);
  json contenders = json::object();
  for (const Contender& c : league.def.contenders) {
    json o = json::object();
    for (const auto& [k, v] : c.overrides) o[k] = v;
    contenders[c.name] = o;
  }
  data["league"]["contender_params"] = contenders;
  add_runs(db, league, r.trials, data);
  for (const auto& [key, by_contender] : league_values(db, r.trials)) {
    const MetricInfo mi = metric_info_by_name(key);
    const char* dir = key == league.def.metric ? (league.def.maximize ? "maximize" : "minimize")
                                               : metric_direction_name(mi.direction);
    json series = json::array();
    for (const stats::ContenderStats& c : r.stats.contenders) {  // in the table's order
      const auto it = by_contender.find(c.name);
      if (it == by_contender.end()) continue;
      json points = json::array();
      for (const auto& [epoch, v] : it->second) {
        const stats::Interval ci = stats::bootstrap_mean_ci(v, 0, kBandResamples);
        points.push_back({epoch, detail::number(stats::mean(v)), detail::number(ci.low),
                          detail::number(ci.high)});
      }
      series.push_back({{"label", c.name}, {"band", true}, {"points", std::move(points)}});
    }
    data["metrics"].push_back({{"key", key},
                               {"direction", *dir ? json(dir) : json(nullptr)},
                               {"phase", metric_phase_name(mi.phase)},
                               {"x", "epoch"},
                               {"series", std::move(series)}});
  }
  return data;
}

json sweep_data(RunRecorder& db, StudyStore& store, const StudyRecord& sweep) {
  const SweepReport r = sweep_report(store, sweep);
  json data{{"kind", "sweep"}, {"title", fmt::format("gom report: sweep {}", sweep.def.name)}};
  data["sweep"] = sweep_json(r);
  data["sweep"]["space"] = sweep.def.space;
  json importance = json::array();
  for (const ParamImportance& p : param_importance(r))
    importance.push_back(
        {{"param", p.param}, {"eta2", p.eta2}, {"groups", p.groups}, {"trials", p.trials}});
  data["sweep"]["importance"] = importance;
  data["sweep"]["parallel"] = parallel_coordinates(r);
  std::vector<TrialRecord> trials;
  for (const auto& tc : r.trials) trials.push_back(tc.first);
  add_runs(db, sweep, trials, data);
  return data;
}

}  // namespace gom::report
