// Catch2 runner: loads the real plugins (the oneDNN backend) before any test runs.
// GOM_TEST_THREADS sets the compute threads (default 1: ctest runs two test processes at once on
// two cores, and OpenMP threads that lose their core stall every parallel region).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>

#include "gom/gom.h"

int main(int argc, char** argv) {
  try {
    gom::init();
    const char* threads = std::getenv("GOM_TEST_THREADS");
    gom::set_num_threads(threads ? std::atoi(threads) : 1);
  } catch (const std::exception& e) {
    std::cerr << "gom_tests: cannot start: " << e.what() << "\n";
    return 1;
  }
  return Catch::Session().run(argc, argv);
}
