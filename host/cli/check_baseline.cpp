// check_baseline.cpp — `gom check --baseline`: the values a baseline claim compares against
// (check_baseline.h says which specs are accepted).
#include "check_baseline.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "gom/error.h"
#include "gom_core/recorder.h"
#include "gom_core/study.h"

namespace gom::cli {
namespace {

using json = nlohmann::json;

std::optional<int64_t> whole_number(const std::string& s) {
  int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

void add(check::Values& out, std::optional<int64_t> seed, std::optional<double> value) {
  if (!value) return;
  out.values.push_back(*value);
  out.seeds.push_back(seed.value_or(0));
}

check::Values from_run(RunRecorder& db, int64_t id, const std::string& metric, std::string& label) {
  RunDetails run;
  try {
    run = db.get_run(id);
  } catch (const Error& e) {
    throw UsageError(fmt::format("--baseline {}: {}", id, e.what()));
  }
  check::Values out;
  RunFilter children;
  children.parent = id;
  const auto kids = db.list_runs(children);
  bool seeded = true;
  if (kids.empty()) {
    add(out, run.run.seed, db.result_value(id, metric));
    seeded = run.run.seed.has_value();
    label = fmt::format("run {}", id);
  } else {
    for (const RunRecord& r : kids)
      if (r.status == "finished") {
        add(out, r.seed, db.result_value(r.id, metric));
        seeded = seeded && r.seed.has_value();
      }
    label = fmt::format("runs of {}", id);
  }
  if (!seeded) out.seeds.clear();
  return out;
}

check::Values from_league(RunRecorder& db, const std::string& spec, const std::string& metric,
                          std::string& label) {
  StudyStore store(db.path());
  std::string name = spec, contender;
  std::optional<StudyRecord> study = store.find(name);
  if (!study)
    if (const auto slash = spec.rfind('/'); slash != std::string::npos) {
      name = spec.substr(0, slash);
      contender = spec.substr(slash + 1);
      study = store.find(name);
    }
  if (!study || study->def.kind != StudyKind::kLeague)
    throw UsageError(fmt::format(
        "--baseline {}: no run, league or file of that name (a run id, league:NAME[/CONTENDER] "
        "or FILE.json)",
        spec));
  std::vector<std::string> names;
  for (const Contender& c : study->def.contenders) names.push_back(c.name);
  if (contender.empty()) {
    if (names.size() != 1)
      throw UsageError(fmt::format("--baseline league:{}: name one of its contenders: {}", name,
                                   fmt::join(names, ", ")));
    contender = names[0];
  } else if (std::find(names.begin(), names.end(), contender) == names.end()) {
    throw UsageError(fmt::format("--baseline league:{}/{}: no such contender (it has {})", name,
                                 contender, fmt::join(names, ", ")));
  }
  check::Values out;
  for (const TrialRecord& t : store.trials(study->id))
    if (t.contender == contender && t.state == TrialState::kFinished && t.run_id)
      add(out, t.seed, db.result_value(*t.run_id, metric));
  label = names.size() == 1 ? fmt::format("league {}", name)
                            : fmt::format("league {}/{}", name, contender);
  return out;
}

check::Values from_file(const std::string& path, const std::string& metric, std::string& label) {
  json j;
  try {
    std::ifstream in(path);
    j = json::parse(in);
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("--baseline {}: not JSON: {}", path, e.what()));
  }
  const auto bad = [&](const std::string& why) {
    return UsageError(fmt::format(
        "--baseline {}: {}; expected {{\"METRIC\": [values...]}} or {{\"METRIC\": {{\"SEED\": "
        "value, ...}}}}",
        path, why));
  };
  if (!j.is_object()) throw bad("not an object");
  if (!j.contains(metric)) throw bad(fmt::format("no key \"{}\"", metric));
  const json& v = j.at(metric);
  check::Values out;
  if (v.is_array()) {
    for (const json& x : v) {
      if (!x.is_number()) throw bad(fmt::format("\"{}\" has a value that is not a number", metric));
      out.values.push_back(x.get<double>());
    }
  } else if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      const auto seed = whole_number(k);
      if (!seed || !x.is_number())
        throw bad(fmt::format("\"{}\": \"{}\" is not a seed with a number", metric, k));
      out.values.push_back(x.get<double>());
      out.seeds.push_back(*seed);
    }
  } else {
    throw bad(fmt::format("\"{}\" is neither a list nor an object", metric));
  }
  label = std::filesystem::path(path).filename().string();
  return out;
}

}  // namespace

check::Values baseline_values(RunRecorder& db, const std::string& spec, const std::string& metric,
                              std::string& label) {
  check::Values out;
  std::error_code ec;
  if (spec.rfind("league:", 0) == 0)
    out = from_league(db, spec.substr(7), metric, label);
  else if (const auto id = whole_number(spec))
    out = from_run(db, *id, metric, label);
  else if (std::filesystem::is_regular_file(spec, ec))
    out = from_file(spec, metric, label);
  else
    out = from_league(db, spec, metric, label);
  if (out.values.empty())
    throw UsageError(fmt::format("--baseline {}: no value of {} there", spec, metric));
  return out;
}

}  // namespace gom::cli
