// tests/fixture_file.h — reads a committed fixture file of tests/fixtures (test-only).
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "gom/error.h"

namespace gom_test {

/// @brief The parsed JSON of tests/fixtures/`name`; a missing file is an error naming it.
inline nlohmann::json read_fixture(const std::string& name) {
  const std::string path = std::string(GOM_FIXTURE_DIR) + "/" + name;
  std::ifstream in(path);
  if (!in) throw gom::Error("cannot open " + path);
  return nlohmann::json::parse(in);
}

}  // namespace gom_test
