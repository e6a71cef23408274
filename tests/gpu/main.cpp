// Runner of the GPU tests: loads the plugins as gom_tests does, then exits 77 (ctest's skip
// code) with the reason when cuda:0 cannot run here.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "start_gom.h"

int main(int argc, char** argv) {
  if (!gom_test::start_gom("gom_gpu_tests")) return 1;
  if (const std::string why = gom::device_unavailable({gom::DeviceType::CUDA, 0}); !why.empty()) {
    std::cerr << "gom_gpu_tests: skipped: " << why << "\n";
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
