// The caching allocator: a repeated training step is served from the cache alone.
#include <catch2/catch.hpp>

#include "gom/gom.h"

using namespace gom;

namespace {
void train_step(Tensor& w1, Tensor& b1, Tensor& w2, const Tensor& x, const Tensor& y) {
  Tensor loss = cross_entropy(linear(relu(linear(x, w1, b1)), w2), y);
  loss.backward();
  NoGrad ng;
  for (Tensor* p : {&w1, &b1, &w2}) {
    add_(*p, p->grad(), -0.1);
    p->zero_grad();
  }
}
}  // namespace

TEST_CASE("after a warm-up step, training steps do not reach the device allocator", "[allocator]") {
  Generator g(1);
  Tensor x = randn({64, 20}, &g), y = randint(0, 5, {64}, &g);
  Tensor w1 = randn({32, 20}, &g), b1 = zeros({32}), w2 = randn({5, 32}, &g);
  for (Tensor* p : {&w1, &b1, &w2}) p->requires_grad_();
  train_step(w1, b1, w2, x, y);
  train_step(w1, b1, w2, x, y);
  const AllocatorStats before = allocator_stats(DeviceType::CPU);
  for (int i = 0; i < 5; ++i) train_step(w1, b1, w2, x, y);
  const AllocatorStats after = allocator_stats(DeviceType::CPU);
  CHECK(after.device_allocs == before.device_allocs);
  CHECK(after.cache_hits > before.cache_hits + 5 * 20);  // dozens of tensors per step
}

TEST_CASE("freed blocks are cached and empty_cache releases them", "[allocator]") {
  { Tensor big = Tensor::empty({1 << 20}); }
  CHECK(allocator_stats(DeviceType::CPU).bytes_cached >= (4u << 20));
  const uint64_t allocs = allocator_stats(DeviceType::CPU).device_allocs;
  { Tensor again = Tensor::empty({1 << 20}); }  // same size: from the cache
  CHECK(allocator_stats(DeviceType::CPU).device_allocs == allocs);
  empty_cache(DeviceType::CPU);
  CHECK(allocator_stats(DeviceType::CPU).bytes_cached == 0);
}

TEST_CASE("a freed block serves a request up to twice smaller, and goes back whole",
          "[allocator]") {
  empty_cache(DeviceType::CPU);
  const AllocatorStats start = allocator_stats(DeviceType::CPU);
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({3000});  // 12,000 bytes: a 12,288-byte block (512-byte steps)
    first = t.raw_data();
    CHECK(allocator_stats(DeviceType::CPU).bytes_in_use == start.bytes_in_use + 12288);
  }
  {
    Tensor smaller = Tensor::empty({2000});  // 8,000 bytes -> 8,192: the cached 12,288 fits
    CHECK(smaller.raw_data() == first);
    // The whole block is in use, not the request's rounded size.
    CHECK(allocator_stats(DeviceType::CPU).bytes_in_use == start.bytes_in_use + 12288);
  }
  CHECK(allocator_stats(DeviceType::CPU).bytes_cached == start.bytes_cached + 12288);
  {
    Tensor tiny = Tensor::empty({1000});  // 4,000 -> 4,096: 12,288 is more than twice that
    CHECK(tiny.raw_data() != first);
  }
  CHECK(allocator_stats(DeviceType::CPU).bytes_in_use == start.bytes_in_use);
  empty_cache(DeviceType::CPU);
  CHECK(allocator_stats(DeviceType::CPU).bytes_cached == 0);
}
