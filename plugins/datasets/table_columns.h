// table_columns.h — what the csv and ratings datasets do with the columns of a parsed table:
// find them by name (with "did you mean"), decide which are categorical and continuous, and
// number distinct values in a stable order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "csv_format.h"
#include "gom/params.h"

namespace gom::datasets {

/// @brief Column name -> index of a table read from `path`.
class ColumnLookup {
 public:
  ColumnLookup(const std::vector<std::string>& columns, std::string path);
  /// @brief The index of `name`, or "ROLE 'NAME' is not a column of PATH (did you mean 'X'?);
  /// columns: a, b, c".
  size_t find(const std::string& name, const std::string& role) const;
  const std::vector<std::string>& columns() const { return columns_; }
  const std::string& path() const { return path_; }

 private:
  std::vector<std::string> columns_;
  std::string path_;
};

/// @brief "a, b ,c" -> {"a", "b", "c"} (spaces around names dropped, empty names skipped).
std::vector<std::string> split_names(const std::string& list);

/// @brief The input columns of a csv dataset, each list in its order.
struct ColumnRoles {
  std::vector<size_t> categorical, continuous;
};

/// @brief Roles from the params categorical, continuous and ignore: a listed column has the
/// role it is listed with; the others are continuous when every non-missing cell is a number,
/// else categorical (or, when only one list is given, the other role). Errors for a column
/// listed twice, the target listed, a continuous column with a cell that is not a number
/// ("PATH:LINE: ..."), and with both lists given, a column in neither.
ColumnRoles assign_roles(const Params& p, const ColumnLookup& cols, const csv::Table& t,
                         size_t target);

/// @brief The distinct `values`, sorted by number when every one is a number (ties by bytes),
/// else by bytes.
std::vector<std::string> sorted_distinct(std::vector<std::string> values);

/// @brief sorted[k] -> k + first.
std::map<std::string, int64_t> index_of(const std::vector<std::string>& sorted, int64_t first);

/// @brief The most frequent of `values`; ties: the first in `sorted` (their sorted_distinct).
std::string mode_of(const std::vector<std::string>& values, const std::vector<std::string>& sorted);

}  // namespace gom::datasets
