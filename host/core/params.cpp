// Config values, schemas and their validation.
#include "gom/params.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace gom {

Value::Value(std::initializer_list<double> l) {
  List out;
  for (double d : l) out.emplace_back(d);
  v_ = std::move(out);
}

bool Value::as_bool() const {
  if (auto* b = std::get_if<bool>(&v_)) return *b;
  throw Error(fmt::format("expected a bool, got {} {}", type_name(), str()));
}

int64_t Value::as_int() const {
  if (auto* i = std::get_if<int64_t>(&v_)) return *i;
  if (auto* d = std::get_if<double>(&v_); d && std::floor(*d) == *d && std::fabs(*d) < 9e15)
    return static_cast<int64_t>(*d);
  throw Error(fmt::format("expected an integer, got {} {}", type_name(), str()));
}

double Value::as_number() const {
  if (auto* d = std::get_if<double>(&v_)) return *d;
  if (auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  throw Error(fmt::format("expected a number, got {} {}", type_name(), str()));
}

const std::string& Value::as_string() const {
  if (auto* s = std::get_if<std::string>(&v_)) return *s;
  throw Error(fmt::format("expected a string, got {} {}", type_name(), str()));
}

const Value::List& Value::as_list() const {
  if (auto* l = std::get_if<List>(&v_)) return *l;
  throw Error(fmt::format("expected a list, got {} {}", type_name(), str()));
}

const char* Value::type_name() const {
  static const char* names[] = {"null", "bool", "integer", "number", "string", "list"};
  return names[v_.index()];
}

std::string Value::str() const {
  switch (v_.index()) {
    case 0:
      return "null";
    case 1:
      return std::get<bool>(v_) ? "true" : "false";
    case 2:
      return std::to_string(std::get<int64_t>(v_));
    case 3:
      return fmt::format("{}", std::get<double>(v_));  // shortest round-trip form
    case 4:
      return "\"" + std::get<std::string>(v_) + "\"";
    default: {
      std::vector<std::string> parts;
      for (const Value& v : std::get<List>(v_)) parts.push_back(v.str());
      return fmt::format("[{}]", fmt::join(parts, ", "));
    }
  }
}

const char* param_type_name(ParamType t) {
  switch (t) {
    case ParamType::Int:
      return "integer";
    case ParamType::Number:
      return "number";
    case ParamType::Bool:
      return "bool";
    case ParamType::String:
      return "string";
    case ParamType::List:
      return "list";
    case ParamType::Enum:
      return "enum";
  }
  return "?";
}

std::string ParamSpec::accepted() const {
  if (type == ParamType::Enum) return fmt::format("one of: {}", fmt::join(choices, ", "));
  const char* item = strings ? "string" : "number";
  std::string what = type == ParamType::List
                         ? fmt::format(fmt::runtime(scalar_ok ? "a {0} or a list of {0}s"
                                                              : "a list of {0}s"),
                                       item)
                         : param_type_name(type);
  if (type == ParamType::Int) what = "an integer";
  if (type == ParamType::Number) what = "a number";
  if (type == ParamType::Bool) what = "true or false";
  if (type == ParamType::String) what = "a string";
  const char* each = type == ParamType::List ? " (each)" : "";
  if (lo && hi) return fmt::format("{}{} in [{}, {}]", what, each, *lo, *hi);
  if (lo) return fmt::format("{}{} >= {}", what, each, *lo);
  if (hi) return fmt::format("{}{} <= {}", what, each, *hi);
  return what;
}

ParamSpec& Schema::add(std::string name, ParamType t, std::string doc) {
  if (find(name)) throw Error("schema declares parameter '" + name + "' twice");
  specs_.push_back(ParamSpec{std::move(name), t, std::move(doc)});
  return specs_.back();
}

ParamSpec& Schema::choice(std::string name, std::vector<std::string> choices, std::string doc) {
  ParamSpec& p = add(std::move(name), ParamType::Enum, std::move(doc));
  p.choices = std::move(choices);
  return p;
}

const ParamSpec* Schema::find(const std::string& name) const {
  for (const ParamSpec& p : specs_)
    if (p.name == name) return &p;
  return nullptr;
}

// ---------------------------------------------------------------- validation

std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& cands) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1,
                           prev[j - 1] + (std::tolower(a[i - 1]) != std::tolower(b[j - 1]))});
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::optional<std::string> best;
  size_t best_d = 0;
  for (const std::string& c : cands) {
    const size_t d = distance(word, c);
    if (!best || d < best_d) {
      best = c;
      best_d = d;
    }
  }
  // Plausible typos only: at most a third of the word wrong (and at least one edit allowed).
  if (best && best_d <= std::max<size_t>(1, std::max(word.size(), best->size()) / 3)) return best;
  // Else a candidate the word begins ("xavier" -> "xavier_uniform"), the first declared.
  if (word.size() >= 3)
    for (const std::string& c : cands)
      if (c.rfind(word, 0) == 0) return c;
  return std::nullopt;
}

namespace {

Value check_value(const std::string& owner, const ParamSpec& p, const Value& v) {
  auto fail = [&](const std::string& problem) {
    return Error(fmt::format("{}: parameter '{}' {}; expected {} ({})", owner, p.name, problem,
                             p.accepted(), p.doc));
  };
  auto check_range = [&](double x, const Value& shown) {
    if ((p.lo && x < *p.lo) || (p.hi && x > *p.hi))
      throw fail(fmt::format("= {} is out of range", shown.str()));
  };
  switch (p.type) {
    case ParamType::Int: {
      if (!v.is_number())
        throw fail(fmt::format("has the wrong type: {} {}", v.type_name(), v.str()));
      int64_t i;
      try {
        i = v.as_int();
      } catch (const Error&) {
        throw fail(fmt::format("= {} is not a whole number", v.str()));
      }
      check_range(double(i), v);
      return Value(i);
    }
    case ParamType::Number:
      if (!v.is_number())
        throw fail(fmt::format("has the wrong type: {} {}", v.type_name(), v.str()));
      check_range(v.as_number(), v);
      return Value(v.as_number());
    case ParamType::Bool:
      if (!v.is_bool())
        throw fail(fmt::format("has the wrong type: {} {}", v.type_name(), v.str()));
      return v;
    case ParamType::String:
      if (!v.is_string())
        throw fail(fmt::format("has the wrong type: {} {}", v.type_name(), v.str()));
      return v;
    case ParamType::Enum: {
      if (!v.is_string())
        throw fail(fmt::format("has the wrong type: {} {}", v.type_name(), v.str()));
      if (std::find(p.choices.begin(), p.choices.end(), v.as_string()) == p.choices.end()) {
        auto near = closest(v.as_string(), p.choices);
        throw fail(fmt::format("= {} is not accepted{}", v.str(),
                               near ? " (did you mean '" + *near + "'?)" : ""));
      }
      return v;
    }
    case ParamType::List: {
      if (p.strings) {
        if (p.scalar_ok && v.is_string()) return v;
        if (!v.is_list())
          throw fail(fmt::format("has the wrong type: {} {}", v.type_name(), v.str()));
        for (const Value& e : v.as_list())
          if (!e.is_string())
            throw fail(
                fmt::format("has an element of the wrong type: {} {}", e.type_name(), e.str()));
        return v;
      }
      if (p.scalar_ok && v.is_number()) {
        check_range(v.as_number(), v);
        return v;
      }
      if (!v.is_list())
        throw fail(fmt::format("has the wrong type: {} {}", v.type_name(), v.str()));
      for (const Value& e : v.as_list()) {
        if (!e.is_number())
          throw fail(
              fmt::format("has an element of the wrong type: {} {}", e.type_name(), e.str()));
        check_range(e.as_number(), e);
      }
      return v;
    }
  }
  return v;
}

}  // namespace

Params validate(const std::string& owner, const Schema& schema, const Config& config) {
  std::vector<std::string> names;
  for (const ParamSpec& p : schema.specs()) names.push_back(p.name);
  for (const auto& [key, v] : config) {
    if (schema.find(key)) continue;
    auto near = closest(key, names);
    throw Error(fmt::format("{}: unknown parameter '{}'{}; accepted: {}", owner, key,
                            near ? " (did you mean '" + *near + "'?)" : "",
                            names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
  }
  std::map<std::string, Value> values;
  for (const ParamSpec& p : schema.specs()) {
    auto it = config.find(p.name);
    if (it != config.end() && !it->second.is_null()) {
      values[p.name] = check_value(owner, p, it->second);
    } else if (p.is_required) {
      throw Error(fmt::format("{}: missing required parameter '{}' ({}: {})", owner, p.name,
                              p.accepted(), p.doc));
    } else {
      values[p.name] = p.default_value;
    }
  }
  return Params(owner, std::move(values));
}

// ---------------------------------------------------------------- Params

const Value& Params::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end())
    throw Error(fmt::format("{}: asked for parameter '{}', which its schema does not declare",
                            owner_, name));
  return it->second;
}

bool Params::has(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && !it->second.is_null();
}

// A list parameter declared or_scalar() may hold one number: a list of one.
std::vector<double> Params::list_f(const std::string& name) const {
  const Value& v = get(name);
  if (v.is_number()) return {v.as_number()};
  std::vector<double> out;
  for (const Value& e : v.as_list()) out.push_back(e.as_number());
  return out;
}

std::vector<std::string> Params::list_s(const std::string& name) const {
  const Value& v = get(name);
  if (v.is_string()) return {v.as_string()};
  std::vector<std::string> out;
  for (const Value& e : v.as_list()) out.push_back(e.as_string());
  return out;
}

std::vector<int64_t> Params::list_i(const std::string& name) const {
  const Value& v = get(name);
  if (v.is_number()) return {v.as_int()};
  std::vector<int64_t> out;
  for (const Value& e : v.as_list()) out.push_back(e.as_int());
  return out;
}

std::vector<std::pair<std::string, std::string>> Params::flatten(const std::string& prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : values_) {
    // Strings are recorded bare (adam, not "adam"); everything else as it reads.
    out.emplace_back(prefix.empty() ? k : prefix + "." + k,
                     v.is_string() ? v.as_string() : v.str());
  }
  return out;
}

}  // namespace gom
