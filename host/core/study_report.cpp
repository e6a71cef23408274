// study_report.cpp — a league's table and a sweep's trials as text, JSON and CSV.
#include "gom_core/study_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "gom_core/text_table.h"

namespace gom {

using json = nlohmann::json;

namespace {

std::string num(double v) {
  return std::isnan(v) ? "-" : fmt::format("{:.5g}", v);
}
json num_json(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
std::string csv_line(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_field(fields[i]);
  return out + "\n";
}

std::string direction_words(const StudyDefinition& d) {
  return d.maximize ? "higher is better" : "lower is better";
}

std::string params_text(const json& params) {
  std::string out;
  for (const auto& [k, v] : params.items())
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", k,
                       v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

}  // namespace

std::string trial_counts(const std::vector<TrialRecord>& trials) {
  std::map<TrialState, int> n;
  for (const TrialRecord& t : trials) ++n[t.state];
  std::string out;
  for (TrialState s : {TrialState::kFinished, TrialState::kPruned, TrialState::kFailed,
                       TrialState::kCrashed, TrialState::kRunning, TrialState::kWaiting})
    if (n[s] > 0) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n[s], trial_state_name(s));
  return out.empty() ? "no trials yet" : out;
}

// ------------------------------------------------------------------------------ leagues
LeagueReport league_report(StudyStore& store, const StudyRecord& league, uint64_t seed,
                           double alpha) {
  LeagueReport r{league, store.trials(league.id), {}};
  std::map<std::string, std::map<int64_t, double>> values;
  for (const Contender& c : league.def.contenders) values[c.name];  // listed with no runs yet
  for (const TrialRecord& t : r.trials)
    if (t.state == TrialState::kFinished && t.value) values[t.contender][t.seed] = *t.value;
  r.stats = stats::league_stats(values, league.def.maximize, seed, alpha);
  return r;
}

std::string league_text(const LeagueReport& r) {
  const StudyDefinition& d = r.study.def;
  std::string out =
      fmt::format("league {}: {} ({}), {} contenders x {} seeds; trials: {}{}\n", d.name, d.metric,
                  direction_words(d), d.contenders.size(), d.seeds.size(), trial_counts(r.trials),
                  r.study.run_id ? fmt::format(" (run {})", *r.study.run_id) : "");
  std::vector<Row> rows{
      {"rank", "contender", "runs", "mean", "95% CI (bootstrap)", "IQM", "median", "min", "max"}};
  for (const stats::ContenderStats& c : r.stats.contenders)
    rows.push_back({c.n ? fmt::format("{}{}", c.rank, c.rank_shared ? "=" : "") : "-", c.name,
                    std::to_string(c.n), num(c.mean),
                    c.n ? fmt::format("[{}, {}]", num(c.ci.low), num(c.ci.high)) : "-", num(c.iqm),
                    num(c.median), num(c.min), num(c.max)});
  out += table(rows);
  if (r.stats.pairs.empty()) return out;
  out += fmt::format(
      "\npairwise, paired on seeds (Wilcoxon signed-rank, two-sided; p Holm-adjusted over {} "
      "pairs):\n",
      r.stats.pairs.size());
  std::vector<Row> pr{{"a", "b", "pairs", "wins a-b", "P(a better)", "p", "p (Holm)", "verdict"}};
  int fewest = 0;
  for (const stats::PairStats& p : r.stats.pairs) {
    pr.push_back({p.a, p.b, std::to_string(p.pairs),
                  fmt::format("{}-{}{}", p.wins_a, p.wins_b,
                              p.ties ? fmt::format(" ({} tied)", p.ties) : ""),
                  num(p.p_improvement), num(p.test.p_value), num(p.p_holm), p.verdict});
    if (p.pairs > 0 && (fewest == 0 || p.pairs < fewest)) fewest = p.pairs;
  }
  out += table(pr);
  if (fewest > 0 && stats::min_p_value(fewest) >= 0.05)
    out += fmt::format(
        "note: with {} paired seeds the exact two-sided test cannot give p below {:.4g}: no "
        "difference can be called significant at 0.05. Run at least 6 seeds for a verdict.\n",
        fewest, stats::min_p_value(fewest));
  return out;
}

json league_json(const LeagueReport& r) {
  const StudyDefinition& d = r.study.def;
  json j{{"league", d.name},
         {"metric", d.metric},
         {"direction", d.maximize ? "maximize" : "minimize"},
         {"run_id", r.study.run_id ? json(*r.study.run_id) : json(nullptr)},
         {"seeds", d.seeds},
         {"trials", trial_counts(r.trials)}};
  json cs = json::array();
  for (const stats::ContenderStats& c : r.stats.contenders)
    cs.push_back({{"contender", c.name},
                  {"rank", c.rank},
                  {"rank_shared", c.rank_shared},
                  {"runs", c.n},
                  {"mean", num_json(c.mean)},
                  {"ci_low", num_json(c.ci.low)},
                  {"ci_high", num_json(c.ci.high)},
                  {"iqm", num_json(c.iqm)},
                  {"median", num_json(c.median)},
                  {"min", num_json(c.min)},
                  {"max", num_json(c.max)}});
  j["contenders"] = cs;
  json ps = json::array();
  for (const stats::PairStats& p : r.stats.pairs)
    ps.push_back({{"a", p.a},
                  {"b", p.b},
                  {"pairs", p.pairs},
                  {"wins_a", p.wins_a},
                  {"wins_b", p.wins_b},
                  {"ties", p.ties},
                  {"p_improvement", num_json(p.p_improvement)},
                  {"statistic", num_json(p.test.statistic)},
                  {"p_value", num_json(p.test.p_value)},
                  {"exact", p.test.exact},
                  {"p_holm", num_json(p.p_holm)},
                  {"verdict", p.verdict}});
  j["pairs"] = ps;
  return j;
}

std::string league_csv(const LeagueReport& r, bool pairwise) {
  const auto f = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{}", v); };
  std::string out;
  if (pairwise) {
    out = csv_line({"a", "b", "pairs", "wins_a", "wins_b", "ties", "p_improvement", "statistic",
                    "p_value", "p_holm", "verdict"});
    for (const stats::PairStats& p : r.stats.pairs)
      out += csv_line({p.a, p.b, std::to_string(p.pairs), std::to_string(p.wins_a),
                       std::to_string(p.wins_b), std::to_string(p.ties), f(p.p_improvement),
                       f(p.test.statistic), f(p.test.p_value), f(p.p_holm), p.verdict});
    return out;
  }
  out = csv_line({"rank", "rank_shared", "contender", "runs", "mean", "ci_low", "ci_high", "iqm",
                  "median", "min", "max"});
  for (const stats::ContenderStats& c : r.stats.contenders)
    out += csv_line({std::to_string(c.rank), c.rank_shared ? "true" : "false", c.name,
                     std::to_string(c.n), f(c.mean), f(c.ci.low), f(c.ci.high), f(c.iqm),
                     f(c.median), f(c.min), f(c.max)});
  return out;
}

// ------------------------------------------------------------------------------ sweeps
SweepReport sweep_report(StudyStore& store, const StudyRecord& sweep) {
  SweepReport r{sweep, store.curves(sweep.id), std::nullopt};
  for (const auto& [t, c] : r.trials) {
    if (t.state != TrialState::kFinished || !t.value) continue;
    if (!r.best || (sweep.def.maximize ? *t.value > *r.best->value : *t.value < *r.best->value))
      r.best = t;
  }
  return r;
}

std::string sweep_text(const SweepReport& r) {
  const StudyDefinition& d = r.study.def;
  std::vector<TrialRecord> trials;
  for (const auto& [t, c] : r.trials) trials.push_back(t);
  std::string out = fmt::format(
      "sweep {}: {} ({}), sampler {}, pruner {}, budget {} trials; trials: {}{}\n", d.name,
      d.metric, direction_words(d), d.sampler, d.pruner, d.trials, trial_counts(trials),
      r.study.run_id ? fmt::format(" (run {})", *r.study.run_id) : "");
  if (r.best)
    out += fmt::format("best: trial {} (run {}): {} = {}; {}\n", r.best->number + 1,
                       r.best->run_id.value_or(0), d.metric, num(*r.best->value),
                       params_text(r.best->params));
  std::vector<std::string> keys;
  for (const auto& [k, v] : d.space.items()) keys.push_back(k);
  Row head{"", "trial", "state", d.metric, "epochs"};
  head.insert(head.end(), keys.begin(), keys.end());
  head.push_back("run");
  std::vector<Row> rows{head};
  for (const auto& [t, c] : r.trials) {
    Row row{r.best && r.best->id == t.id ? "*" : "", std::to_string(t.number + 1),
            trial_state_name(t.state), t.value ? num(*t.value) : "-",
            c.empty() ? "-" : std::to_string(c.rbegin()->first)};
    for (const std::string& k : keys) {
      const json v = t.params.contains(k) ? t.params.at(k) : json(nullptr);
      row.push_back(v.is_null()           ? "-"
                    : v.is_number_float() ? num(v.get<double>())
                    : v.is_string()       ? v.get<std::string>()
                                          : v.dump());
    }
    row.push_back(t.run_id ? std::to_string(*t.run_id) : "-");
    rows.push_back(std::move(row));
  }
  return out + table(rows);
}

json sweep_json(const SweepReport& r) {
  const StudyDefinition& d = r.study.def;
  json j{{"sweep", d.name},
         {"metric", d.metric},
         {"direction", d.maximize ? "maximize" : "minimize"},
         {"sampler", d.sampler},
         {"pruner", d.pruner},
         {"budget", d.trials},
         {"run_id", r.study.run_id ? json(*r.study.run_id) : json(nullptr)}};
  json ts = json::array();
  for (const auto& [t, c] : r.trials) {
    json curve = json::object();
    for (const auto& [e, v] : c) curve[std::to_string(e)] = num_json(v);
    ts.push_back({{"number", t.number + 1},
                  {"state", trial_state_name(t.state)},
                  {"value", t.value ? num_json(*t.value) : json(nullptr)},
                  {"params", t.params},
                  {"run_id", t.run_id ? json(*t.run_id) : json(nullptr)},
                  {"intermediate", curve}});
  }
  j["trials"] = ts;
  j["best"] = r.best ? json{{"number", r.best->number + 1},
                            {"value", num_json(*r.best->value)},
                            {"params", r.best->params},
                            {"run_id", r.best->run_id ? json(*r.best->run_id) : json(nullptr)}}
                     : json(nullptr);
  return j;
}

std::string sweep_csv(const SweepReport& r) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : r.study.def.space.items()) keys.push_back(k);
  std::vector<std::string> head{"trial", "state", r.study.def.metric, "epochs", "run_id"};
  head.insert(head.end(), keys.begin(), keys.end());
  std::string out = csv_line(head);
  for (const auto& [t, c] : r.trials) {
    std::vector<std::string> row{std::to_string(t.number + 1), trial_state_name(t.state),
                                 t.value ? fmt::format("{}", *t.value) : "",
                                 c.empty() ? "" : std::to_string(c.rbegin()->first),
                                 t.run_id ? std::to_string(*t.run_id) : ""};
    for (const std::string& k : keys) {
      const json v = t.params.contains(k) ? t.params.at(k) : json(nullptr);
      row.push_back(v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump());
    }
    out += csv_line(row);
  }
  return out;
}

}  // namespace gom
