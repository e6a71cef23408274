// The CUDA backend's device collectives (NCCL), as data-parallel training calls them. One GPU
// can host only a communicator of one rank (NCCL refuses two ranks on one GPU), so this checks
// the calls themselves: an id, a member, a sum in place on the compute stream, and the errors.
// The sums over several ranks need a machine with several GPUs (scripts/gpu_check's mpi step).
#include <catch2/catch.hpp>

#include "gpu_test.h"

using namespace gom;
using gom_gpu_test::differs;
using gom_gpu_test::kCuda;

TEST_CASE("NCCL: a communicator of one rank sums in place on the compute stream",
          "[gpu][collectives]") {
  const BackendInfo* b = find_backend(DeviceType::CUDA);
  REQUIRE(b);
  if (b->description.find("NCCL") == std::string::npos) {
    WARN("the CUDA backend was built without NCCL");
    CHECK_FALSE(b->collective_sum);  // then it offers no collectives at all
    return;
  }
  REQUIRE(b->collective_id);
  REQUIRE(b->collective_join);
  REQUIRE(b->collective_sum);
  const std::string id = b->collective_id();
  CHECK(id.size() == 128);  // NCCL_UNIQUE_ID_BYTES
  CHECK(b->collective_id() != id);
  const std::shared_ptr<void> member = b->collective_join(id, 0, 1, kCuda);
  REQUIRE(member);

  manual_seed(5);
  const Tensor host = randn({1000, 3});
  Tensor dev = host.to(kCuda);
  b->collective_sum(member.get(), dev.data<float>(), size_t(dev.numel()), current_stream(kCuda));
  CHECK(differs(host, dev.to(kCPU)) == "");  // the sum over one rank is the tensor itself

  // A slice's memory, as data-parallel training passes the parts of one buffer.
  Tensor part = dev.slice(0, 10, 20);
  b->collective_sum(member.get(), part.data<float>(), size_t(part.numel()), current_stream(kCuda));
  CHECK(differs(host.slice(0, 10, 20), part.to(kCPU)) == "");

  CHECK_THROWS_WITH(b->collective_join("short", 0, 1, kCuda),
                    Catch::Contains("a communicator id has 5 bytes, not 128"));
}
