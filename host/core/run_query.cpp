// run_query.cpp — `gom runs --where/--sort`: each condition becomes SQL over the runs, the
// metric_summary view and param_values (read through a WITH clause, so a file this gom could not
// migrate is queried alike), every value bound, never pasted into the statement.
#include "gom_core/run_query.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "gom/params.h"
#include "recorder_internal.h"

namespace gom {

const char* const kQueryForms =
    "accepted: KEY OP VALUE, OP one of = != < <= > >= ~ (~: a glob on text), VALUE a number, "
    "true/false, or text (quoted to keep a number text), as in 'accuracy > 0.88', "
    "'optimizer.lr<1e-2', 'optimizer.type = adam', 'name ~ \"base*\"'; KEY a metric (its final "
    "value), best:METRIC (its best), a param, param:KEY, or status, experiment, name, seed, "
    "duration_s";

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<double> read_number(const std::string& s) {
  if (s == "true") return 1.0;
  if (s == "false") return 0.0;
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

enum class KeyKind { kText, kNumber, kMetric, kParam };

// A key as SQL: the expression of its value in a run (`r` the run, `e` its experiment), with the
// key bound to its one '?' (none for a column).
struct ResolvedKey {
  KeyKind kind = KeyKind::kText;
  std::string expr;
  std::optional<std::string> arg;
};

const std::map<std::string, std::pair<KeyKind, std::string>>& run_columns() {
  static const std::map<std::string, std::pair<KeyKind, std::string>> m = {
      {"status", {KeyKind::kText, "r.status"}},
      {"experiment", {KeyKind::kText, "e.name"}},
      {"name", {KeyKind::kText, "r.name"}},
      {"seed", {KeyKind::kNumber, "r.seed"}},
      {"duration_s",
       {KeyKind::kNumber,
        "((julianday(COALESCE(r.ended_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - "
        "julianday(r.started_at)) * 86400.0)"}}};
  return m;
}

std::string param_select(const std::string& column) {
  return "(SELECT " + column + " FROM param_values p WHERE p.run_id = r.id AND p.key = ?)";
}

class Resolver {
 public:
  explicit Resolver(RunRecorder& db) {
    for (const auto& row : db.query("SELECT DISTINCT key FROM metric_info"))
      if (row[0]) metrics_.insert(*row[0]);
    for (const auto& row : db.query("SELECT DISTINCT key FROM params"))
      if (row[0]) params_.insert(*row[0]);
  }

  ResolvedKey resolve(const std::string& key) const {
    if (key.rfind("best:", 0) == 0) {
      const std::string metric = key.substr(5);
      if (!metrics_.count(metric)) unknown(key, metric, metrics_, "metric");
      return {KeyKind::kMetric,
              "(SELECT s.best_value FROM metric_summary s WHERE s.run_id = r.id AND s.key = ?)",
              metric};
    }
    if (key.rfind("param:", 0) == 0) {
      const std::string param = key.substr(6);
      if (!params_.count(param)) unknown(key, param, params_, "param");
      return {KeyKind::kParam, "", param};
    }
    if (const auto it = run_columns().find(key); it != run_columns().end())
      return {it->second.first, it->second.second, std::nullopt};
    if (metrics_.count(key))
      return {KeyKind::kMetric,
              "(SELECT s.final_value FROM metric_summary s WHERE s.run_id = r.id AND s.key = ?)",
              key};
    if (params_.count(key)) return {KeyKind::kParam, "", key};
    std::set<std::string> all(metrics_.begin(), metrics_.end());
    all.insert(params_.begin(), params_.end());
    for (const auto& [name, column] : run_columns()) all.insert(name);
    unknown(key, key, all, "metric, param or run column");
  }

 private:
  [[noreturn]] static void unknown(const std::string& key, const std::string& name,
                                   const std::set<std::string>& known, const char* what) {
    const auto near = closest(name, {known.begin(), known.end()});
    throw RunQueryError(fmt::format("no {} '{}' in any run{}", what, key,
                                    near ? fmt::format(" (did you mean '{}'?)", *near) : ""));
  }
  std::set<std::string> metrics_, params_;
};

// SQL under construction: text and its bound values in order.
struct Sql {
  std::string text;
  std::vector<std::string> args;
  void add(const std::string& s, const std::optional<std::string>& arg = std::nullopt) {
    text += s;
    if (arg) args.push_back(*arg);
  }
};

// The value of a key, for the listing and the sort.
void add_value(Sql& sql, const ResolvedKey& k) {
  if (k.kind == KeyKind::kParam)
    // A boolean shows as true/false (and sorts false first).
    sql.add(param_select("CASE p.type WHEN 'boolean' THEN p.value "
                         "ELSE COALESCE(p.number, p.text, p.value) END"),
            k.arg);
  else
    sql.add(k.expr, k.arg);
}

void add_condition(Sql& sql, const QueryCondition& c, const ResolvedKey& k) {
  const bool numeric_key = k.kind == KeyKind::kNumber || k.kind == KeyKind::kMetric;
  if (numeric_key && (c.op == QueryOp::kGlob || !c.number))
    throw RunQueryError(
        fmt::format("'{} {} {}': {} is a number, compared with a number by = != < <= > >=", c.key,
                    query_op_text(c.op), c.text, c.key));
  const std::string op =
      c.op == QueryOp::kGlob ? " GLOB " : fmt::format(" {} ", query_op_text(c.op));
  // A param compares as a number with a number (and true/false), else as text.
  const bool as_number =
      numeric_key || (k.kind == KeyKind::kParam && c.number && c.op != QueryOp::kGlob);
  if (k.kind == KeyKind::kParam)
    sql.add(param_select(as_number ? "p.number" : "COALESCE(p.text, p.value)"), k.arg);
  else
    sql.add(k.expr, k.arg);
  if (as_number)  // SQLite reads 9e999 as Inf (and "inf" as 0)
    sql.add(op + "CAST(? AS REAL)", std::isinf(*c.number) ? (*c.number > 0 ? "9e999" : "-9e999")
                                                          : fmt::format("{:.17g}", *c.number));
  else
    sql.add(op + "?", c.text);
}

// A condition on text, in C++: the status of a run whose process is gone is "crashed" as
// list_runs reads it, while the row may still say "running". fnmatch(3) globs as GLOB does.
bool text_holds(const std::string& value, const QueryCondition& c) {
  switch (c.op) {
    case QueryOp::kEq:
      return value == c.text;
    case QueryOp::kNe:
      return value != c.text;
    case QueryOp::kLt:
      return value < c.text;
    case QueryOp::kLe:
      return value <= c.text;
    case QueryOp::kGt:
      return value > c.text;
    case QueryOp::kGe:
      return value >= c.text;
    case QueryOp::kGlob:
      return fnmatch(c.text.c_str(), value.c_str(), 0) == 0;
  }
  return false;
}

}  // namespace

const char* query_op_text(QueryOp op) {
  switch (op) {
    case QueryOp::kEq:
      return "=";
    case QueryOp::kNe:
      return "!=";
    case QueryOp::kLt:
      return "<";
    case QueryOp::kLe:
      return "<=";
    case QueryOp::kGt:
      return ">";
    case QueryOp::kGe:
      return ">=";
    case QueryOp::kGlob:
      return "~";
  }
  return "?";
}

QueryCondition parse_condition(std::string_view expr) {
  auto bad = [&](const char* why) {
    return RunQueryError(fmt::format("--where '{}': {}; {}", expr, why, kQueryForms));
  };
  const size_t at = expr.find_first_of("=!<>~");
  if (at == std::string_view::npos) throw bad("no operator");
  QueryCondition c;
  c.key = std::string(trim(expr.substr(0, at)));
  if (c.key.empty()) throw bad("no key before the operator");
  const std::string_view rest = expr.substr(at);
  static const std::pair<const char*, QueryOp> kOps[] = {
      {"<=", QueryOp::kLe}, {">=", QueryOp::kGe}, {"!=", QueryOp::kNe}, {"==", QueryOp::kEq},
      {"=", QueryOp::kEq},  {"<", QueryOp::kLt},  {">", QueryOp::kGt},  {"~", QueryOp::kGlob}};
  size_t op_len = 0;
  for (const auto& [text, op] : kOps)
    if (rest.rfind(text, 0) == 0) {
      c.op = op;
      op_len = std::char_traits<char>::length(text);
      break;
    }
  if (op_len == 0) throw bad("'!' without '='");
  std::string_view value = trim(rest.substr(op_len));
  if (value.empty()) throw bad("no value after the operator");
  if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') &&
      value.back() == value.front()) {
    c.text = std::string(value.substr(1, value.size() - 2));
  } else {
    c.text = std::string(value);
    c.number = read_number(c.text);
  }
  return c;
}

QuerySort parse_sort(std::string_view expr) {
  QuerySort s;
  expr = trim(expr);
  if (!expr.empty() && expr.front() == '-') {
    s.descending = true;
    expr.remove_prefix(1);
  }
  s.key = std::string(trim(expr));
  if (s.key.empty())
    throw RunQueryError(
        "--sort needs a key: KEY ascending, -KEY descending (a metric, best:METRIC, a param, "
        "param:KEY, or status, experiment, name, seed, duration_s)");
  return s;
}

QueryResult query_runs(RunRecorder& db, const RunQuery& query, const RunFilter& filter) {
  const bool keyed = !query.where.empty() || query.sort;
  if (keyed && db.schema_version() < 4)
    throw Error(
        fmt::format("{} has schema version {}: open it where it can be written (gom "
                    "migrates it) to query it",
                    db.path(), db.schema_version()));
  QueryResult result;
  for (const QueryCondition& c : query.where)
    if (std::find(result.keys.begin(), result.keys.end(), c.key) == result.keys.end())
      result.keys.push_back(c.key);
  if (query.sort &&
      std::find(result.keys.begin(), result.keys.end(), query.sort->key) == result.keys.end())
    result.keys.push_back(query.sort->key);

  std::map<std::string, ResolvedKey> resolved;
  if (keyed) {
    const Resolver resolver(db);
    for (const std::string& key : result.keys) resolved[key] = resolver.resolve(key);
  }

  Sql inner;
  inner.add("SELECT r.id AS id");
  for (size_t i = 0; i < result.keys.size(); ++i) {
    inner.add(", ");
    add_value(inner, resolved[result.keys[i]]);
    inner.add(fmt::format(" AS k{}", i));
  }
  inner.add(" FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE 1");
  for (const QueryCondition& c : query.where) {
    if (c.key == "status") continue;  // below: the status as list_runs reads it
    inner.add(" AND ");
    add_condition(inner, c, resolved[c.key]);
  }
  std::string outer =
      std::string("WITH param_values AS (") + recorder_detail::kParamValuesSelect + ") SELECT id";
  for (size_t i = 0; i < result.keys.size(); ++i) outer += fmt::format(", k{0}, typeof(k{0})", i);
  outer += " FROM (" + inner.text + ") ORDER BY ";
  if (query.sort) {
    const size_t i =
        std::find(result.keys.begin(), result.keys.end(), query.sort->key) - result.keys.begin();
    outer += fmt::format("k{0} IS NULL, k{0}{1}, ", i, query.sort->descending ? " DESC" : "");
  }
  outer += "id DESC";

  // The runs the filter admits, as list_runs reads them (a running run whose process is gone
  // reads as crashed); the limit counts the runs that match.
  RunFilter all = filter;
  all.limit = 0;
  std::map<int64_t, RunRecord> runs;
  for (RunRecord& r : db.list_runs(all)) runs.emplace(r.id, std::move(r));
  for (const auto& row : db.query(outer, inner.args)) {
    const auto it = runs.find(std::stoll(*row[0]));
    if (it == runs.end()) continue;
    if (!std::all_of(query.where.begin(), query.where.end(), [&](const QueryCondition& c) {
          return c.key != "status" || text_holds(it->second.status, c);
        }))
      continue;
    QueryRow& out = result.rows.emplace_back();
    out.run = it->second;
    for (size_t i = 0; i < result.keys.size(); ++i) {
      const auto& value = row[1 + 2 * i];
      const auto& type = row[2 + 2 * i];
      QueryValue v;
      if (value && (*type == "real" || *type == "integer"))
        v.number = std::strtod(value->c_str(), nullptr);
      else if (value)
        v.text = *value;
      out.values.push_back(std::move(v));
    }
    if (filter.limit > 0 && static_cast<int64_t>(result.rows.size()) >= filter.limit) break;
  }
  return result;
}

}  // namespace gom
