// The definition of a league or a sweep from the command's options: contenders, the search
// space's distributions, the sampler and pruner with their options, the metric's direction.
#include "study_define.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <sstream>

#include "commands.h"
#include "gom/metric.h"
#include "gom_core/recorder.h"
#include "gom_core/search.h"

namespace gom::cli {
namespace {

using json = nlohmann::json;

Override split_override(const std::string& s, const std::string& what) {
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError(fmt::format("{} {}: expected KEY=VALUE", what, s));
  return {s.substr(0, eq), s.substr(eq + 1)};
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) out.push_back(part);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

// --contender NAME:KEY=VALUE[,KEY=VALUE...]
Contender parse_contender(const std::string& s) {
  const auto colon = s.find(':');
  if (colon == std::string::npos || colon == 0)
    throw UsageError(
        fmt::format("--contender {}: expected NAME:KEY=VALUE[,KEY=VALUE...] (such "
                    "as adam:optimizer.name=adam)",
                    s));
  Contender c{s.substr(0, colon), {}};
  for (const std::string& kv : split(s.substr(colon + 1), ','))
    if (!kv.empty()) c.overrides.push_back(split_override(kv, "--contender " + c.name + ":"));
  return c;
}

double parse_number(const std::string& s, const std::string& where) {
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    throw UsageError(fmt::format("{}: '{}' is not a number", where, s));
  return v;
}

json choice_value(const std::string& s) {
  if (s == "true" || s == "false") return s == "true";
  int64_t i = 0;
  if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      ec == std::errc() && p == s.data() + s.size())
    return i;
  double d = 0;
  if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      ec == std::errc() && p == s.data() + s.size())
    return d;
  return s;
}

// --param KEY=uniform:LO:HI[:grid=N] | loguniform:LO:HI[:grid=N] | int:LO:HI[:STEP] |
// logint:LO:HI | choice:A,B,...
std::pair<std::string, json> parse_param(const std::string& s) {
  const auto [key, spec] = split_override(s, "--param");
  const std::string where = "--param " + s;
  const auto parts = split(spec, ':');
  const std::string kind = parts.empty() ? "" : parts[0];
  search::Distribution d;
  if (kind == "choice" && parts.size() == 2) {
    d.kind = search::Distribution::Kind::Choice;
    for (const std::string& c : split(parts[1], ',')) d.choices.push_back(choice_value(c));
  } else if ((kind == "uniform" || kind == "loguniform") &&
             (parts.size() == 3 || parts.size() == 4)) {
    d.kind = kind == "uniform" ? search::Distribution::Kind::Uniform
                               : search::Distribution::Kind::LogUniform;
    d.low = parse_number(parts[1], where);
    d.high = parse_number(parts[2], where);
    if (parts.size() == 4) {
      if (parts[3].rfind("grid=", 0) != 0)
        throw UsageError(
            fmt::format("{}: the 4th field is grid=N (points of a grid search)", where));
      d.grid = int(parse_number(parts[3].substr(5), where));
    }
  } else if ((kind == "int" || kind == "logint") && (parts.size() == 3 || parts.size() == 4)) {
    d.kind = search::Distribution::Kind::Int;
    d.log = kind == "logint";
    d.low = parse_number(parts[1], where);
    d.high = parse_number(parts[2], where);
    if (parts.size() == 4) d.step = int64_t(parse_number(parts[3], where));
  } else {
    throw UsageError(fmt::format(
        "{}: expected KEY=uniform:LO:HI, loguniform:LO:HI (either with :grid=N), int:LO:HI[:STEP], "
        "logint:LO:HI or choice:A,B,...",
        where));
  }
  try {
    const json j = search::to_json(d);
    search::distribution_from_json(j);  // validates: bounds in order, a positive log range, ...
    return {key, j};
  } catch (const Error& e) {
    throw UsageError(fmt::format("{}: {}", where, e.what()));
  }
}

bool resolve_direction(const std::string& metric, const std::string& direction) {
  if (direction == "maximize" || direction == "max") return true;
  if (direction == "minimize" || direction == "min") return false;
  if (!direction.empty())
    throw UsageError(fmt::format("--direction {}: accepted: maximize, minimize", direction));
  switch (metric_info_by_name(metric).direction) {
    case MetricDirection::Maximize:
      return true;
    case MetricDirection::Minimize:
      return false;
    default:
      break;
  }
  throw UsageError(
      fmt::format("--metric {}: gom cannot tell from its name whether higher or "
                  "lower is better; give --direction maximize or minimize",
                  metric));
}

}  // namespace

StudyDefinition define_study(const StudyOptions& o, StudyKind kind) {
  StudyDefinition d;
  d.kind = kind;
  d.name = o.name;
  std::error_code ec;
  d.script = std::filesystem::absolute(o.script, ec).lexically_normal().string();
  d.script_sha256 = sha256_file_hex(d.script);
  if (o.metric.empty()) throw UsageError("--metric KEY is needed: the metric the study ranks by");
  d.metric = o.metric;
  d.maximize = resolve_direction(o.metric, o.direction);
  for (const std::string& s : o.sets) d.common.push_back(split_override(s, "--set"));
  if (kind == StudyKind::kLeague) {
    for (const std::string& c : o.contenders) d.contenders.push_back(parse_contender(c));
    if (d.contenders.size() < 2)
      throw UsageError("a league needs at least two --contender NAME:KEY=VALUE,...");
    for (size_t i = 0; i < d.contenders.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (d.contenders[i].name == d.contenders[j].name)
          throw UsageError(fmt::format("--contender {}: named twice", d.contenders[i].name));
    if (o.seeds < 1) throw UsageError("--seeds must be at least 1");
    for (int64_t s = 0; s < o.seeds; ++s) d.seeds.push_back(s);
  } else {
    for (const std::string& p : o.params) {
      auto [k, j] = parse_param(p);
      d.space[k] = j;
    }
    if (d.space.empty()) throw UsageError("a sweep needs at least one --param KEY=DISTRIBUTION");
    d.sampler = o.sampler;
    d.pruner = o.pruner;
    for (const std::string& s : o.sampler_options) {
      const auto [k, v] = split_override(s, "--sampler-option");
      d.sampler_options[k] = choice_value(v);
    }
    for (const std::string& s : o.pruner_options) {
      const auto [k, v] = split_override(s, "--pruner-option");
      d.pruner_options[k] = choice_value(v);
    }
    d.trials = o.trials;
    d.seed = o.seed;
    // The sampler and pruner names, and a grid's size, are checked before anything runs.
    try {
      const search::SearchSpace space = search::space_from_json(d.space);
      auto sampler =
          search::make_sampler(d.sampler, d.sampler_options, uint64_t(d.seed), d.maximize);
      search::make_pruner(d.pruner, d.pruner_options, d.maximize);
      if (d.trials <= 0) {
        const auto size = sampler->size(space);
        if (!size) throw UsageError("--trials N is needed (only a grid has a size of its own)");
        d.trials = *size;
      }
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }
  return d;
}

}  // namespace gom::cli
