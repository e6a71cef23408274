// The CUDA runtime under the ops: transfers between host and device (every dtype, strided
// sources, empty and 0-d tensors), the caching allocator during repeated training steps, and
// streams (work queued on a second stream through StreamGuard, ordered with wait_stream).
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>

#include "gpu_test.h"

using namespace gom;
using gom_gpu_test::differs;
using gom_gpu_test::kCuda;

TEST_CASE("host -> device -> host round-trips exactly: f32, i32, i64", "[gpu][copy]") {
  manual_seed(1);
  const Tensor f = randn({37, 129});
  const Tensor i32 = tensor_i32({0, -1, 7, std::numeric_limits<int32_t>::min(),
                                 std::numeric_limits<int32_t>::max(), 123456789},
                                {2, 3});
  // Values past 2^53 would not survive a detour through double or float.
  const Tensor i64 = tensor_i64({0, -1, (int64_t(1) << 60) + 1, std::numeric_limits<int64_t>::min(),
                                 std::numeric_limits<int64_t>::max(), -987654321012345},
                                {3, 2});
  for (const Tensor& t : {f, i32, i64}) {
    INFO(dtype_name(t.dtype()));
    const Tensor d = t.to(kCuda);
    CHECK(d.device() == kCuda);
    CHECK(d.dtype() == t.dtype());
    const Tensor back = d.to(kCPU);
    CHECK(back.device() == kCPU);
    CHECK(differs(t, back) == "");
  }
  // Large: many blocks, and a size that is not a multiple of 4.
  const Tensor big = randn({(1 << 22) + 3});
  CHECK(differs(big, big.to(kCuda).to(kCPU)) == "");
  // Empty and 0-d.
  const Tensor empty = Tensor::empty({0, 5});
  CHECK(empty.to(kCuda).to(kCPU).shape() == Shape{0, 5});
  CHECK(scalar(2.5).to(kCuda).item() == 2.5);
}

TEST_CASE("transfers and device copies of strided sources", "[gpu][copy]") {
  manual_seed(2);
  const Tensor h = randn({40, 30});
  const Tensor hi = randint(-1000, 1000, {40, 30});
  SECTION("host views to the device") {
    for (const Tensor& v : {h.t(), h.slice(1, 3, 29, 7), h.slice(0, 0, 1).expand({5, 30}), hi.t(),
                            hi.slice(0, 1, 40, 3).slice(1, 2, 30, 4)}) {
      const Tensor d = v.to(kCuda);
      CHECK(d.shape() == v.shape());
      CHECK(differs(v.contiguous(), d.to(kCPU)) == "");
    }
  }
  SECTION("device views to the host and within the device") {
    const Tensor d = h.to(kCuda), di = hi.to(kCuda);
    CHECK(differs(h.t().contiguous(), d.t().to(kCPU)) == "");
    CHECK(differs(h.slice(1, 3, 29, 7).contiguous(), d.slice(1, 3, 29, 7).to(kCPU)) == "");
    CHECK(differs(h.t().contiguous(), d.t().contiguous().to(kCPU)) == "");
    CHECK(differs(h.slice(0, 2, 3).expand({4, 30}).contiguous(),
                  d.slice(0, 2, 3).expand({4, 30}).contiguous().to(kCPU)) == "");
    CHECK(differs(hi.t().contiguous(), di.t().to(kCPU)) == "");
    // Casts on the device, from a strided source.
    CHECK(differs(hi.t().to(DType::F32), di.t().to(DType::F32).to(kCPU)) == "");
    CHECK(differs(h.t().to(DType::I64), d.t().to(DType::I64).to(kCPU)) == "");
  }
  SECTION("copy_ across devices into a slice") {
    Tensor dst = zeros({40, 30}).to(kCuda);
    Tensor part = dst.slice(1, 0, 30, 2);
    copy_(part, h.slice(1, 1, 30, 2));  // host strided -> device strided
    Tensor want = zeros({40, 30});
    Tensor want_part = want.slice(1, 0, 30, 2);
    copy_(want_part, h.slice(1, 1, 30, 2));
    CHECK(differs(want, dst.to(kCPU)) == "");
  }
}

TEST_CASE("repeated training steps on cuda:0 are served from the allocator's cache",
          "[gpu][allocator]") {
  manual_seed(3);
  auto model = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  model->add(create_layer("linear", {{"in", 64}, {"out", 128}}))
      ->add(create_layer("relu"))
      ->add(create_layer("linear", {{"in", 128}, {"out", 10}}));
  model->to(kCuda);
  auto loss_fn = create_layer("cross_entropy");
  auto opt = create_optimizer("adam", model->parameters(), {{"lr", 1e-3}});
  const Tensor x = randn({32, 64}), y = randint(0, 10, {32});
  auto step = [&] {
    opt->zero_grad();
    Tensor loss = loss_fn->forward(model->forward(x.to(kCuda)), y.to(kCuda));
    loss.backward();
    opt->step();
    return loss.item();
  };
  // Each step's cudaMalloc calls: the first makes the optimizer's state and the cache's blocks,
  // the second may still add blocks (its gradients exist already); then nothing.
  std::string allocs_per_step;
  uint64_t last = allocator_stats(kCuda).device_allocs;
  auto counted_step = [&] {
    const double loss = step();
    const uint64_t now = allocator_stats(kCuda).device_allocs;
    allocs_per_step += std::to_string(now - last) + " ";
    last = now;
    return loss;
  };
  counted_step();
  counted_step();
  const AllocatorStats before = allocator_stats(kCuda);
  double loss = 0;
  for (int i = 0; i < 3; ++i) loss = counted_step();
  const AllocatorStats after = allocator_stats(kCuda);
  CHECK(std::isfinite(loss));
  INFO("cudaMalloc calls per step: " << allocs_per_step << "; cache_hits " << before.cache_hits
                                     << " -> " << after.cache_hits);
  CHECK(after.cache_hits > before.cache_hits);
  CHECK(after.device_allocs == before.device_allocs);  // warm steps never reach cudaMalloc
  CHECK(after.bytes_in_use > 0);
  CHECK(allocator_stats(DeviceType::CUDA).cache_hits == after.cache_hits);  // device 0
}

TEST_CASE("work on a second stream gives the right result once ordered or synchronised",
          "[gpu][stream]") {
  const BackendInfo* cuda = find_backend(DeviceType::CUDA);
  REQUIRE(cuda != nullptr);
  REQUIRE(cuda->new_stream);
  REQUIRE(cuda->wait_stream);
  REQUIRE(cuda->synchronize);
  manual_seed(4);
  const Tensor a = randn({256, 192}), b = randn({192, 128});
  const Tensor want = relu(matmul(a, b)) + 1.0;
  // f32 products of 192 terms (TF32: 10-bit products).
  const double rtol = gom_gpu_test::tf32() ? 2e-2 : 1e-4, atol = gom_gpu_test::tf32() ? 5e-2 : 1e-4;
  const Tensor da = a.to(kCuda), db = b.to(kCuda);
  const Stream main_stream = current_stream(kCuda);
  const Stream side{kCuda, cuda->new_stream(0)};
  REQUIRE(side.handle != nullptr);
  REQUIRE_FALSE(side == main_stream);
  // da and db were copied on the main stream (a copy from pageable memory may still be in
  // flight when it returns): the side stream's work must start after it, as in PyTorch.
  cuda->wait_stream(side, main_stream);

  SECTION("ordered with wait_stream: the host does not wait") {
    Tensor y;
    {
      StreamGuard guard(side);
      CHECK(current_stream(kCuda) == side);
      y = relu(matmul(da, db)) + 1.0;
    }
    CHECK(current_stream(kCuda) == main_stream);
    cuda->wait_stream(main_stream, side);  // the main stream's next work starts after side's
    CHECK(differs(want, y.to(kCPU), rtol, atol) == "");
  }
  SECTION("synchronised on the host") {
    Tensor y;
    {
      StreamGuard guard(side);
      y = relu(matmul(da, db)) + 1.0;
      cuda->synchronize(side);
    }
    CHECK(differs(want, y.to(kCPU), rtol, atol) == "");
  }
  SECTION("both streams busy at once, each with its own result") {
    Tensor on_side, on_main;
    {
      StreamGuard guard(side);
      on_side = matmul(da, db);
      for (int i = 0; i < 20; ++i) on_side = on_side * 0.5 + 1.0;
    }
    on_main = relu(matmul(da, db)) + 1.0;
    Tensor side_want = matmul(a, b);
    for (int i = 0; i < 20; ++i) side_want = side_want * 0.5 + 1.0;
    cuda->wait_stream(main_stream, side);
    CHECK(differs(want, on_main.to(kCPU), rtol, atol) == "");
    CHECK(differs(side_want, on_side.to(kCPU), rtol, atol) == "");
    synchronize(kCuda);
  }
}
