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
