// Catch2 runner: loads the real plugins (the oneDNN backend) before any test runs.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "start_gom.h"

int main(int argc, char** argv) {
  if (!gom_test::start_gom("gom_tests")) return 1;
  return Catch::Session().run(argc, argv);
}
