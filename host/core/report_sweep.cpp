// report_sweep.cpp — a sweep's parameter importance (η²) and parallel coordinates, for
// `gom report --sweep` (gom_core/html_report.h says what each is, exactly).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "gom_core/html_report.h"
#include "gom_core/search.h"
#include "report_internal.h"

namespace gom::report {

using json = nlohmann::json;
using search::Distribution;

namespace {

// The group of each value (same order as `values`): choices by value; numbers by value when few
// are distinct, else kImportanceBins bins by rank, equal values in the bin of the first.
std::vector<std::string> groups_of(const Distribution& d, const std::vector<json>& values) {
  std::vector<std::string> g(values.size());
  std::set<double> distinct;
  bool numbers = d.kind != Distribution::Kind::Choice;
  for (const json& v : values) {
    numbers = numbers && v.is_number();
    if (v.is_number()) distinct.insert(v.get<double>());
  }
  if (!numbers || distinct.size() <= static_cast<size_t>(kImportanceBins)) {
    for (size_t i = 0; i < values.size(); ++i) g[i] = values[i].dump();
    return g;
  }
  std::vector<size_t> order(values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return values[a].get<double>() < values[b].get<double>();
  });
  const size_t n = order.size();
  size_t bin = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool same = i > 0 && values[order[i]] == values[order[i - 1]];
    if (!same) bin = i * kImportanceBins / n;
    g[order[i]] = std::to_string(bin);
  }
  return g;
}

double eta_squared(const std::vector<std::string>& groups, const std::vector<double>& y) {
  double mean = 0;
  for (double v : y) mean += v;
  mean /= static_cast<double>(y.size());
  std::map<std::string, std::pair<double, int>> sums;  // group → (sum, count)
  double total = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    total += (y[i] - mean) * (y[i] - mean);
    sums[groups[i]].first += y[i];
    ++sums[groups[i]].second;
  }
  if (!(total > 0)) return 0;
  double between = 0;
  for (const auto& [g, sc] : sums) {
    const double m = sc.first / sc.second;
    between += sc.second * (m - mean) * (m - mean);
  }
  return std::clamp(between / total, 0.0, 1.0);
}

// Where v lies between lo and hi (of the logs on a log axis), in [0, 1]; 0.5 when lo == hi.
json position(double v, double lo, double hi, bool log) {
  if (log) {
    if (!(v > 0) || !(lo > 0)) return nullptr;
    v = std::log(v), lo = std::log(lo), hi = std::log(hi);
  }
  if (!(hi > lo)) return 0.5;
  return detail::number((v - lo) / (hi - lo));
}

}  // namespace

std::vector<ParamImportance> param_importance(const SweepReport& r) {
  std::vector<ParamImportance> out;
  for (const auto& [key, d] : search::space_from_json(r.study.def.space)) {
    std::vector<json> values;
    std::vector<double> y;
    for (const auto& [t, c] : r.trials) {
      if (t.state != TrialState::kFinished || !t.value || !std::isfinite(*t.value)) continue;
      if (!t.params.contains(key) || t.params.at(key).is_null()) continue;
      values.push_back(t.params.at(key));
      y.push_back(*t.value);
    }
    ParamImportance p{key, 0, 0, static_cast<int>(y.size())};
    if (!y.empty()) {
      const std::vector<std::string> g = groups_of(d, values);
      p.groups = static_cast<int>(std::set<std::string>(g.begin(), g.end()).size());
      p.eta2 = eta_squared(g, y);
    }
    out.push_back(p);
  }
  std::stable_sort(out.begin(), out.end(), [](const ParamImportance& a, const ParamImportance& b) {
    return a.eta2 != b.eta2 ? a.eta2 > b.eta2 : a.param < b.param;
  });
  return out;
}

json parallel_coordinates(const SweepReport& r) {
  const search::SearchSpace space = search::space_from_json(r.study.def.space);
  json axes = json::array();
  for (const auto& [key, d] : space) {
    using K = Distribution::Kind;
    const bool log = d.kind == K::LogUniform || (d.kind == K::Int && d.log);
    json a{{"name", key}, {"kind", d.kind == K::Choice ? "choice" : log ? "log" : "number"}};
    if (d.kind == K::Choice)
      a["choices"] = d.choices;
    else
      a["min"] = d.low, a["max"] = d.high;
    axes.push_back(std::move(a));
  }
  // The objective: a finished trial's value, a pruned one's last intermediate value.
  std::vector<std::pair<const TrialRecord*, double>> shown;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& [t, c] : r.trials) {
    std::optional<double> v;
    if (t.state == TrialState::kFinished && t.value) v = *t.value;
    if (t.state == TrialState::kPruned && !c.empty()) v = c.rbegin()->second;
    if (!v || !std::isfinite(*v)) continue;
    shown.emplace_back(&t, *v);
    lo = std::min(lo, *v), hi = std::max(hi, *v);
  }
  axes.push_back({{"name", r.study.def.metric},
                  {"kind", "number"},
                  {"min", shown.empty() ? json(nullptr) : json(lo)},
                  {"max", shown.empty() ? json(nullptr) : json(hi)}});
  json rows = json::array();
  for (const auto& [t, objective] : shown) {
    json values = json::array(), y = json::array();
    for (const auto& [key, d] : space) {
      const json v = t->params.contains(key) ? t->params.at(key) : json(nullptr);
      values.push_back(v);
      if (d.kind == Distribution::Kind::Choice) {
        const auto it = std::find(d.choices.begin(), d.choices.end(), v);
        const auto n = static_cast<double>(d.choices.size());
        y.push_back(it == d.choices.end() ? json(nullptr)
                    : n < 2               ? json(0.5)
                                          : json(double(it - d.choices.begin()) / (n - 1)));
      } else {
        const bool log = d.kind == Distribution::Kind::LogUniform || d.log;
        y.push_back(v.is_number() ? position(v.get<double>(), d.low, d.high, log) : json(nullptr));
      }
    }
    values.push_back(objective);
    y.push_back(position(objective, lo, hi, false));
    rows.push_back({{"number", t->number + 1},
                    {"state", trial_state_name(t->state)},
                    {"values", std::move(values)},
                    {"y", std::move(y)}});
  }
  return {{"axes", std::move(axes)}, {"rows", std::move(rows)}};
}

}  // namespace gom::report
