// Catch2 runner: loads the real plugins (the oneDNN backend) before any test runs.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "gom/gom.h"

int main(int argc, char** argv) {
  gom::init();
  gom::set_num_threads(2);
  return Catch::Session().run(argc, argv);
}
