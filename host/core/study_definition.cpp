// study_definition.cpp — a study's definition as the JSON kept in studies.definition: what
// two invocations must agree on to be the same league or sweep.
#include <fmt/format.h>

#include "gom/error.h"
#include "gom_core/study.h"

namespace gom {

using json = nlohmann::json;

namespace {

json overrides_json(const std::vector<Override>& o) {
  json a = json::array();
  for (const auto& [k, v] : o) a.push_back(json::array({k, v}));
  return a;
}

std::vector<Override> overrides_from(const json& a) {
  std::vector<Override> out;
  for (const json& kv : a)
    out.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
  return out;
}

}  // namespace

json StudyDefinition::to_json() const {
  json j;
  j["kind"] = study_kind_name(kind);
  j["name"] = name;
  j["script"] = script;
  j["script_sha256"] = script_sha256;
  j["metric"] = metric;
  j["direction"] = maximize ? "maximize" : "minimize";
  j["set"] = overrides_json(common);
  if (kind == StudyKind::kLeague) {
    json cs = json::array();
    for (const Contender& c : contenders)
      cs.push_back(json{{"name", c.name}, {"set", overrides_json(c.overrides)}});
    j["contenders"] = cs;
    j["seeds"] = seeds;
  } else {
    j["space"] = space;
    j["sampler"] = sampler;
    j["sampler_options"] = sampler_options;
    j["pruner"] = pruner;
    j["pruner_options"] = pruner_options;
    j["trials"] = trials;
    j["seed"] = seed;
  }
  return j;
}

StudyDefinition StudyDefinition::from_json(const json& j) {
  try {
    StudyDefinition d;
    d.kind = j.at("kind") == "league" ? StudyKind::kLeague : StudyKind::kSweep;
    d.name = j.at("name");
    d.script = j.at("script");
    d.script_sha256 = j.value("script_sha256", "");
    d.metric = j.at("metric");
    d.maximize = j.at("direction") == "maximize";
    d.common = overrides_from(j.at("set"));
    if (d.kind == StudyKind::kLeague) {
      for (const json& c : j.at("contenders"))
        d.contenders.push_back({c.at("name"), overrides_from(c.at("set"))});
      d.seeds = j.at("seeds").get<std::vector<int64_t>>();
    } else {
      d.space = j.at("space");
      d.sampler = j.at("sampler");
      d.sampler_options = j.value("sampler_options", json::object());
      d.pruner = j.at("pruner");
      d.pruner_options = j.value("pruner_options", json::object());
      d.trials = j.at("trials");
      d.seed = j.at("seed");
    }
    return d;
  } catch (const json::exception& e) {
    throw Error(fmt::format("a study's definition in the database cannot be read: {}", e.what()));
  }
}

}  // namespace gom
