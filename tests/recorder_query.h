// recorder_query.h — the tests' one-value query on a run database.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "gom_core/recorder.h"

namespace gom_test {

/// @brief The single value of `sql` (one row of one column, required), "NULL" for NULL.
inline std::string one(gom::RunRecorder& r, const std::string& sql,
                       const std::vector<std::string>& args = {}) {
  auto rows = r.query(sql, args);
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].size() == 1);
  return rows[0][0].value_or("NULL");
}

}  // namespace gom_test
