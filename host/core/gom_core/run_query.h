// gom_core/run_query.h — `gom runs --where EXPR --sort KEY`: runs selected and ordered by their
// metrics, params and columns, in SQL with bound values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gom/error.h"
#include "gom_core/recorder.h"

namespace gom {

/// @brief A query the user got wrong (bad syntax, an unknown key): the CLI's exit code 2.
class RunQueryError : public Error {
 public:
  using Error::Error;
};

enum class QueryOp { kEq, kNe, kLt, kLe, kGt, kGe, kGlob };

/// @brief "KEY OP VALUE", OP one of = != < <= > >= ~ (~: a glob on text, "adam*"). VALUE is a
/// number, true/false (1/0), or text (in quotes, '...' or "...", to keep a number text).
struct QueryCondition {
  std::string key;
  QueryOp op = QueryOp::kEq;
  std::string text;              ///< the value as written, without quotes
  std::optional<double> number;  ///< where the value reads as a number (or true/false)
};

/// @brief "[-]KEY": by the key's value, descending with '-'; runs without it last.
struct QuerySort {
  std::string key;
  bool descending = false;
};

/// @brief What the --where and --sort options accept, for error messages.
extern const char* const kQueryForms;

/// @brief Parses "KEY OP VALUE" (spaces optional); RunQueryError naming kQueryForms otherwise.
QueryCondition parse_condition(std::string_view expr);
/// @brief Parses "[-]KEY"; RunQueryError for an empty key.
QuerySort parse_sort(std::string_view expr);
const char* query_op_text(QueryOp op);

struct RunQuery {
  std::vector<QueryCondition> where;  ///< all must hold
  std::optional<QuerySort> sort;      ///< else newest first
};

/// @brief A key's value in a run: a number, text, or neither where the run lacks it.
struct QueryValue {
  std::optional<double> number;
  std::optional<std::string> text;
  bool missing() const { return !number && !text; }
};

struct QueryRow {
  RunRecord run;
  std::vector<QueryValue> values;  ///< by QueryResult::keys
};

struct QueryResult {
  std::vector<std::string> keys;  ///< the where keys, then the sort key, each once
  std::vector<QueryRow> rows;
};

/// @brief The runs of `filter` (its limit applied last) for which every condition holds, in
/// the sort's order. A KEY is, first match wins: a run column (status, experiment, name, seed,
/// duration_s), a metric (its final value, as metric_summary has it), a param (typed as
/// param_values has it: a number compares as a number, text as text); "best:KEY" is a metric's
/// best value (by its direction) and "param:KEY" a param even where a metric has its name. A
/// run without the key matches no condition on it. RunQueryError for an unknown key (with the
/// closest known one) or a value of the wrong kind (text for a metric).
QueryResult query_runs(RunRecorder& db, const RunQuery& query, const RunFilter& filter = {});

}  // namespace gom
