// search_space.cpp — distributions to and from JSON (validated), the values they accept, the
// --set text of a value, and the options checks the samplers and pruners share.
#include <fmt/format.h>

#include <cmath>
#include <set>
#include <string>

#include "gom/error.h"
#include "gom_core/search.h"
#include "search_internal.h"

namespace gom::search {

namespace {

using Kind = Distribution::Kind;
using nlohmann::json;

// Integers beyond 2^53 do not survive a double; Int bounds are stored as doubles.
constexpr double kMaxExactInt = 9007199254740992.0;

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Uniform:
      return "uniform";
    case Kind::LogUniform:
      return "loguniform";
    case Kind::Int:
      return "int";
    case Kind::Choice:
      return "choice";
  }
  return "?";
}

// A number field of a distribution; `where` names the distribution in messages.
double number_field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key))
    throw Error(fmt::format("{}: '{}' is missing (a finite number)", where, key));
  const json& v = j.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    throw Error(fmt::format("{}: '{}' must be a finite number, not {}", where, key, v.dump()));
  return v.get<double>();
}

int64_t integer_field(const json& j, const char* key, int64_t fallback, const std::string& where) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number_integer())
    throw Error(fmt::format("{}: '{}' must be an integer, not {}", where, key, v.dump()));
  return v.get<int64_t>();
}

void check_fields(const json& j, std::initializer_list<const char*> accepted,
                  const std::string& where) {
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* a : accepted) known = known || key == a;
    if (!known) {
      std::string names;
      for (const char* a : accepted) names += std::string(names.empty() ? "" : ", ") + a;
      throw Error(fmt::format("{}: unknown field '{}' (accepted: {})", where, key, names));
    }
  }
}

Distribution parse_distribution(const json& j, const std::string& where) {
  if (!j.is_object())
    throw Error(
        fmt::format("{}: expected an object such as {{\"type\": \"uniform\", \"low\": 0, "
                    "\"high\": 1}}, not {}",
                    where, j.dump()));
  const std::string type = j.contains("type") && j.at("type").is_string()
                               ? j.at("type").get<std::string>()
                               : std::string();
  Distribution d;
  if (type == "uniform" || type == "loguniform") {
    d.kind = type == "uniform" ? Kind::Uniform : Kind::LogUniform;
    check_fields(j, {"type", "low", "high", "grid"}, where);
    const int64_t grid = integer_field(j, "grid", 0, where);
    if (grid != 0 && (grid < 2 || grid > 1000000))
      throw Error(fmt::format("{}: 'grid' must be 0 (no grid) or 2 to 1000000 points, not {}",
                              where, grid));
    d.grid = int(grid);
  } else if (type == "int") {
    d.kind = Kind::Int;
    check_fields(j, {"type", "low", "high", "step", "log"}, where);
    d.step = integer_field(j, "step", 1, where);
    if (d.step < 1) throw Error(fmt::format("{}: 'step' must be >= 1, not {}", where, d.step));
    if (j.contains("log")) {
      if (!j.at("log").is_boolean())
        throw Error(
            fmt::format("{}: 'log' must be true or false, not {}", where, j.at("log").dump()));
      d.log = j.at("log").get<bool>();
    }
  } else if (type == "choice") {
    d.kind = Kind::Choice;
    check_fields(j, {"type", "choices"}, where);
    if (!j.contains("choices") || !j.at("choices").is_array() || j.at("choices").empty())
      throw Error(
          fmt::format("{}: 'choices' must be a non-empty array of strings, numbers or "
                      "booleans",
                      where));
    for (const json& c : j.at("choices")) {
      if (!c.is_string() && !c.is_number() && !c.is_boolean())
        throw Error(
            fmt::format("{}: choice {} is not a string, number or boolean", where, c.dump()));
      for (const json& seen : d.choices)
        if (seen == c) throw Error(fmt::format("{}: choice {} is given twice", where, c.dump()));
      d.choices.push_back(c);
    }
    return d;
  } else {
    throw Error(fmt::format("{}: 'type' must be one of uniform, loguniform, int, choice (got {})",
                            where, j.contains("type") ? j.at("type").dump() : "none"));
  }

  d.low = number_field(j, "low", where);
  d.high = number_field(j, "high", where);
  if (!(d.low < d.high))
    throw Error(fmt::format("{}: 'low' must be less than 'high' (got low {}, high {})", where,
                            d.low, d.high));
  const bool log = d.kind == Kind::LogUniform || d.log;
  if (d.kind == Kind::Int) {
    for (double b : {d.low, d.high})
      if (b != std::floor(b) || std::fabs(b) > kMaxExactInt)
        throw Error(fmt::format("{}: int bounds must be integers within ±2^53 (got {})", where, b));
    if (d.log && d.step != 1)
      throw Error(
          fmt::format("{}: a log int needs step 1 (got {}); drop 'step' or 'log'", where, d.step));
    if (d.log && d.low < 1)
      throw Error(fmt::format("{}: a log int needs low >= 1 (got {})", where, d.low));
  } else if (log && d.low <= 0) {
    throw Error(fmt::format("{}: a log scale needs low > 0 (got {})", where, d.low));
  }
  return d;
}

}  // namespace

json to_json(const Distribution& d) {
  json j = {{"type", kind_name(d.kind)}};
  switch (d.kind) {
    case Kind::Uniform:
    case Kind::LogUniform:
      j["low"] = d.low;
      j["high"] = d.high;
      if (d.grid != 0) j["grid"] = d.grid;
      break;
    case Kind::Int:
      j["low"] = int64_t(d.low);
      j["high"] = int64_t(d.high);
      j["step"] = d.step;
      j["log"] = d.log;
      break;
    case Kind::Choice:
      j["choices"] = d.choices;
      break;
  }
  return j;
}

Distribution distribution_from_json(const json& j) {
  return parse_distribution(j, "search space distribution " + j.dump());
}

json to_json(const SearchSpace& space) {
  json j = json::object();
  for (const auto& [key, d] : space) j[key] = to_json(d);
  return j;
}

SearchSpace space_from_json(const json& j) {
  if (!j.is_object())
    throw Error(
        fmt::format("search space: expected an object {{key: distribution}}, not {}", j.dump()));
  SearchSpace space;
  for (const auto& [key, value] : j.items())  // nlohmann's objects iterate in key order
    space.emplace_back(key, parse_distribution(value, "search space key '" + key + "'"));
  return space;
}

bool accepts(const Distribution& d, const json& v) {
  if (d.kind == Kind::Choice) return detail::choice_index(d, v).has_value();
  if (!v.is_number()) return false;
  const double x = v.get<double>();
  if (!(x >= d.low && x <= d.high)) return false;  // NaN too
  if (d.kind != Kind::Int) return true;
  return x == std::floor(x) && std::fmod(x - d.low, double(d.step)) == 0;
}

std::string override_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    // fmt's "{}" is the shortest text that reads back to the same double; a whole number gets
    // ".0" so that it still reads as a float, as Python's repr writes it.
    std::string text = fmt::format("{}", v.get<double>());
    if (text.find_first_of(".eni") == std::string::npos) text += ".0";
    return text;
  }
  throw Error(
      fmt::format("a hyperparameter value must be a string, number or boolean, not {}", v.dump()));
}

namespace detail {

int64_t int_high(const Distribution& d) {
  const int64_t low = int64_t(d.low), high = int64_t(d.high);
  return low + (high - low) / d.step * d.step;
}

int64_t int_count(const Distribution& d) {
  return (int64_t(d.high) - int64_t(d.low)) / d.step + 1;
}

std::optional<size_t> choice_index(const Distribution& d, const json& v) {
  for (size_t i = 0; i < d.choices.size(); ++i)
    if (d.choices[i] == v) return i;
  return std::nullopt;
}

void check_options(const json& options, const std::string& what,
                   std::initializer_list<const char*> accepted) {
  if (options.is_null()) return;
  std::string names;
  for (const char* a : accepted) names += std::string(names.empty() ? "" : ", ") + a;
  if (names.empty()) names = "none";
  if (!options.is_object())
    throw Error(fmt::format("{} options must be an object (accepted: {}), not {}", what, names,
                            options.dump()));
  for (const auto& [key, value] : options.items()) {
    bool known = false;
    for (const char* a : accepted) known = known || key == a;
    if (!known)
      throw Error(fmt::format("{}: unknown option '{}' (accepted: {})", what, key, names));
  }
}

int64_t int_option(const json& options, const std::string& what, const char* key, int64_t fallback,
                   int64_t min) {
  if (!options.is_object() || !options.contains(key)) return fallback;
  const json& v = options.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < min)
    throw Error(
        fmt::format("{}: option '{}' must be an integer >= {}, not {}", what, key, min, v.dump()));
  return v.get<int64_t>();
}

double number_option(const json& options, const std::string& what, const char* key, double fallback,
                     double min) {
  if (!options.is_object() || !options.contains(key)) return fallback;
  const json& v = options.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || !(v.get<double>() > min))
    throw Error(
        fmt::format("{}: option '{}' must be a number > {}, not {}", what, key, min, v.dump()));
  return v.get<double>();
}

}  // namespace detail

}  // namespace gom::search
