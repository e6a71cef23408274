// The kernel registry's fast path: interned op ids, the lock-free lookup of the published
// snapshot, replacement of a kernel, the error of a missing one, and lookups from two threads.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <omp.h>

#include <atomic>
#include <thread>

#include "gom/gom.h"

using namespace gom;

namespace {

// A kernel that writes `value` into out[0][0], so a call shows which kernel ran.
KernelFn writes(float value) {
  return [value](const KernelCall& c) { c.out[0].data<float>()[0] = value; };
}

}  // namespace

TEST_CASE("op ids are stable, distinct and name their op", "[dispatch]") {
  const OpId binary = op_id("binary");
  CHECK(op_id("binary") == binary);
  CHECK(op_id(std::string("bin") + "ary") == binary);
  CHECK_FALSE(op_id("unary") == binary);
  CHECK(op_name(binary) == "binary");
  CHECK(op_name(op_id("unary")) == "unary");
  // A name with no kernel gets an id too, distinct from the others.
  const OpId fresh = op_id("test_dispatch_never_registered");
  CHECK_FALSE(fresh == binary);
  CHECK(op_name(fresh) == "test_dispatch_never_registered");
  CHECK_THROWS_WITH(op_name(OpId{-1}), Catch::Contains("never handed out"));
}

TEST_CASE("a missing kernel names the op and the device, by name and by id", "[dispatch]") {
  // Whether a CUDA backend is loaded depends on the build: the message says which.
  const std::string msg = fmt::format(
      "no kernel for op 'test_dispatch_never_registered' on device cuda ({}); no device has it: "
      "is the plugin that provides it loaded?",
      find_backend(DeviceType::CUDA) ? "backend 'cuda' does not implement it"
                                     : "no backend for that device is loaded");
  CHECK_THROWS_WITH(find_kernel("test_dispatch_never_registered", DeviceType::CUDA), msg);
  CHECK_THROWS_WITH(find_kernel(op_id("test_dispatch_never_registered"), DeviceType::CUDA), msg);
  // An op that exists on the CPU only says where it is available.
  register_kernel("test_dispatch_cpu_only", DeviceType::CPU, writes(1), "cpu_test");
  CHECK_THROWS_WITH(find_kernel(op_id("test_dispatch_cpu_only"), DeviceType::CUDA),
                    Catch::Contains("it is available on: cpu (from cpu_test)"));
  CHECK_FALSE(has_kernel("test_dispatch_never_registered", DeviceType::CPU));
}

TEST_CASE("a kernel registered later replaces the earlier one on the fast path", "[dispatch]") {
  static const OpId id = op_id("test_dispatch_replace");
  Tensor out = zeros({1});
  register_kernel("test_dispatch_replace", DeviceType::CPU, writes(1), "first");
  run_kernel(id, {}, {out});
  CHECK(out.item() == 1.0);
  register_kernel("test_dispatch_replace", DeviceType::CPU, writes(2), "second");
  run_kernel(id, {}, {out});
  CHECK(out.item() == 2.0);
  run_kernel("test_dispatch_replace", {}, {out});  // the string API sees it too
  CHECK(out.item() == 2.0);
  CHECK(kernel_provider("test_dispatch_replace", DeviceType::CPU) == "second");
  CHECK(has_kernel("test_dispatch_replace", DeviceType::CPU));
}

TEST_CASE("kernel lookups from two threads while kernels are registered", "[dispatch]") {
  register_kernel("test_dispatch_threads_a", DeviceType::CPU, writes(3), "test");
  register_kernel("test_dispatch_threads_b", DeviceType::CPU, writes(4), "test");
  const OpId a = op_id("test_dispatch_threads_a");
  std::atomic<int> wrong{0};
  auto reader = [&](float expected, bool by_id) {
    Tensor out = zeros({1});
    for (int i = 0; i < 2000; ++i) {
      if (by_id)
        run_kernel(a, {}, {out});
      else
        run_kernel("test_dispatch_threads_b", {}, {out});
      if (out.data<float>()[0] != expected) ++wrong;
    }
  };
  std::thread t1(reader, 3.0f, true), t2(reader, 4.0f, false);
  // New ops published meanwhile must not disturb the readers' lookups.
  for (int i = 0; i < 50; ++i)
    register_kernel("test_dispatch_threads_extra" + std::to_string(i), DeviceType::CPU, writes(9),
                    "test");
  t1.join();
  t2.join();
  CHECK(wrong == 0);
}

TEST_CASE("a small op runs on one thread and gives the threads back, even when it throws",
          "[dispatch]") {
  const int before = omp_get_max_threads();
  set_num_threads(2);
  REQUIRE(omp_get_max_threads() == 2);
  // Small (under the backend's grain): run on one thread inside the kernel.
  Tensor a = arange(0, 8).reshape({2, 4}), b = full({4}, 1.0);
  Tensor c = add(a, b);
  CHECK(c.data<float>()[7] == 8.0f);
  CHECK(omp_get_max_threads() == 2);
  // A kernel that throws (the reduction takes f32 only) leaves the thread count as it was.
  Tensor ints = Tensor::empty({4}, {DType::I64}), out = Tensor::empty({1}, {DType::I64});
  Attrs attrs{{"op", int64_t(ReduceOp::Sum)}};
  CHECK_THROWS_WITH(find_kernel("reduce", DeviceType::CPU)(
                        KernelCall{std::span<const Tensor>(&ints, 1),
                                   std::span<const Tensor>(&out, 1), attrs}),
                    Catch::Contains("only f32"));
  CHECK(omp_get_max_threads() == 2);
  set_num_threads(before);
}
