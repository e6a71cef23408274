// tests/temp_files.h — a fresh folder per test for the files a test writes, and the two
// questions dataset tests ask of what is made from them (test-only).
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "gom/dataset.h"

namespace gom_test {

/// @brief A new, empty folder under the system temp dir, removed with everything in it at the
/// end of the scope.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           fmt::format("gom_test_{}_{}", static_cast<long>(getpid()), counter++);
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  /// @brief The path of `name` in the folder.
  std::string operator/(const std::string& name) const { return (path / name).string(); }
  /// @brief Writes `bytes` to `name` in the folder and returns its path.
  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string p = *this / name;
    std::ofstream f(p, std::ios::binary);
    f << bytes;
    REQUIRE(f.good());
    return p;
  }
};

/// @brief The message of the gom::Error that creating dataset `name` from `c` throws, or
/// "no error".
inline std::string dataset_error(const std::string& name, const gom::Config& c) {
  try {
    gom::create_dataset(name, c);
  } catch (const gom::Error& e) {
    return e.what();
  }
  return "no error";
}

/// @brief 0, 1, ..., size-1: every example of `ds`, in order.
inline std::vector<int64_t> all_indices(const gom::Dataset& ds) {
  std::vector<int64_t> idx(size_t(ds.size()));
  std::iota(idx.begin(), idx.end(), 0);
  return idx;
}

}  // namespace gom_test
