// What every test runner does first: load the real plugins (gom::init) and set the compute
// threads from GOM_TEST_THREADS (default 1: ctest runs two test processes at once on two cores,
// and OpenMP threads that lose their core stall every parallel region).
#pragma once

#include <cstdlib>
#include <iostream>

#include "gom/gom.h"

namespace gom_test {

/// @brief false, with the reason on stderr under `program`'s name, when gom cannot start.
inline bool start_gom(const char* program) {
  try {
    gom::init();
    const char* threads = std::getenv("GOM_TEST_THREADS");
    gom::set_num_threads(threads ? std::atoi(threads) : 1);
    return true;
  } catch (const std::exception& e) {
    std::cerr << program << ": cannot start: " << e.what() << "\n";
    return false;
  }
}

}  // namespace gom_test
