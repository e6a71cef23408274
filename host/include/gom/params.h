// gom/params.h — configuration values, parameter schemas and validated parameters.
//
// Every component declares a Schema: its parameters with type, default (or required), range and
// a one-line doc. A Config (from C++, a Lua table or --set) is validated against it; the errors
// name the component, the key, the problem and what is accepted. The result, Params, has every
// default filled in and flattens to key/value pairs for the run record.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gom/error.h"

namespace gom {

/// @brief A configuration value: null, bool, integer, number, string or a list of values.
class Value {
 public:
  using List = std::vector<Value>;
  Value() = default;
  Value(bool b) : v_(b) {}
  Value(int i) : v_(int64_t(i)) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(List l) : v_(std::move(l)) {}
  Value(std::initializer_list<double> l);

  bool is_null() const { return v_.index() == 0; }
  bool is_bool() const { return v_.index() == 1; }
  bool is_int() const { return v_.index() == 2; }
  bool is_number() const { return v_.index() == 2 || v_.index() == 3; }  ///< int or double
  bool is_string() const { return v_.index() == 4; }
  bool is_list() const { return v_.index() == 5; }

  bool as_bool() const;
  int64_t as_int() const;  ///< also a double with an integral value
  double as_number() const;
  const std::string& as_string() const;
  const List& as_list() const;

  /// @brief "null", "bool", "integer", "number", "string" or "list".
  const char* type_name() const;
  /// @brief How the value reads in messages and records: 3, 0.001, true, "adam", [0.9, 0.999].
  std::string str() const;
  bool operator==(const Value& o) const { return v_ == o.v_; }

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, List> v_;
};

/// @brief What a user passes to create a component: parameter name -> value.
using Config = std::map<std::string, Value>;

enum class ParamType { Int, Number, Bool, String, List, Enum };
const char* param_type_name(ParamType t);

/// @brief One parameter of a component's schema. Built with chained setters:
///   schema.integer("out", "output features").required().min(1);
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::Number;
  std::string doc;
  Value default_value;  ///< null with required == false means "optional, no default"
  bool is_required = false;
  std::optional<double> lo, hi;      ///< inclusive range (numbers, and each element of a list)
  std::vector<std::string> choices;  ///< for Enum
  bool scalar_ok = false;            ///< a List that also takes one number (kernel = 3)
  bool strings = false;              ///< a List of strings (column names) instead of numbers

  ParamSpec& def(Value v) {
    default_value = std::move(v);
    return *this;
  }
  ParamSpec& required() {
    is_required = true;
    return *this;
  }
  ParamSpec& min(double v) {
    lo = v;
    return *this;
  }
  ParamSpec& max(double v) {
    hi = v;
    return *this;
  }
  ParamSpec& range(double a, double b) {
    lo = a;
    hi = b;
    return *this;
  }
  /// @brief A List that also takes a single number (a size given for both dims, say).
  ParamSpec& or_scalar() {
    scalar_ok = true;
    return *this;
  }
  /// @brief A List of strings (names) rather than numbers; with or_scalar(), one string too.
  ParamSpec& of_strings() {
    strings = true;
    return *this;
  }
  /// @brief "integer >= 1", "number in [0, 1]", "one of: min, max, auto", ...
  std::string accepted() const;
};

/// @brief The parameters a component accepts, in declaration order.
class Schema {
 public:
  ParamSpec& integer(std::string name, std::string doc) {
    return add(std::move(name), ParamType::Int, std::move(doc));
  }
  ParamSpec& number(std::string name, std::string doc) {
    return add(std::move(name), ParamType::Number, std::move(doc));
  }
  ParamSpec& boolean(std::string name, std::string doc) {
    return add(std::move(name), ParamType::Bool, std::move(doc));
  }
  ParamSpec& string(std::string name, std::string doc) {
    return add(std::move(name), ParamType::String, std::move(doc));
  }
  ParamSpec& list(std::string name, std::string doc) {
    return add(std::move(name), ParamType::List, std::move(doc));
  }
  ParamSpec& choice(std::string name, std::vector<std::string> choices, std::string doc);

  const std::vector<ParamSpec>& specs() const { return specs_; }
  const ParamSpec* find(const std::string& name) const;

 private:
  ParamSpec& add(std::string name, ParamType t, std::string doc);
  std::vector<ParamSpec> specs_;
};

/// @brief Validated parameters: every declared key with its value (defaults filled in).
class Params {
 public:
  Params() = default;
  Params(std::string owner, std::map<std::string, Value> values)
      : owner_(std::move(owner)), values_(std::move(values)) {}

  int64_t i(const std::string& name) const { return get(name).as_int(); }
  double f(const std::string& name) const { return get(name).as_number(); }
  bool b(const std::string& name) const { return get(name).as_bool(); }
  const std::string& s(const std::string& name) const { return get(name).as_string(); }
  std::vector<double> list_f(const std::string& name) const;
  std::vector<int64_t> list_i(const std::string& name) const;  ///< a lone number: a list of one
  std::vector<std::string> list_s(const std::string& name) const;  ///< of_strings() lists
  /// @brief Whether an optional parameter without a default was given.
  bool has(const std::string& name) const;
  const Value& get(const std::string& name) const;
  const std::map<std::string, Value>& values() const { return values_; }
  /// @brief ("prefix.key", "value") pairs for the run record, in key order.
  std::vector<std::pair<std::string, std::string>> flatten(const std::string& prefix) const;

 private:
  std::string owner_;  // "layer 'linear'", for messages
  std::map<std::string, Value> values_;
};

/// @brief Checks `config` against `schema` and fills in defaults. `owner` names the component
/// in messages ("layer 'linear'"). Throws gom::Error for an unknown key (with the closest
/// accepted one), a wrong type, a value out of range or not among the choices, or a missing
/// required parameter — each naming the key and what is accepted.
Params validate(const std::string& owner, const Schema& schema, const Config& config);

/// @brief The candidate closest to `word` by edit distance, if it is close enough to be a
/// plausible typo; for "did you mean" hints.
std::optional<std::string> closest(const std::string& word,
                                   const std::vector<std::string>& candidates);

}  // namespace gom
