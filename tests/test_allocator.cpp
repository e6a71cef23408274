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

TEST_CASE("a freed large block serves a request up to twice smaller, and goes back whole",
          "[allocator]") {
  empty_cache(DeviceType::CPU);
  const AllocatorStats start = allocator_stats(DeviceType::CPU);
  constexpr size_t kMiB = size_t(1) << 20;
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({int64_t(5 * kMiB / 4)});  // 5 MiB: a 6 MiB block (2 MiB steps)
    first = t.raw_data();
    CHECK(allocator_stats(DeviceType::CPU).bytes_in_use == start.bytes_in_use + 6 * kMiB);
  }
  {
    Tensor smaller = Tensor::empty({int64_t(3 * kMiB / 4)});  // 3 MiB -> 4 MiB: the 6 MiB fits
    CHECK(smaller.raw_data() == first);
    // The whole block is in use, not the request's rounded size.
    CHECK(allocator_stats(DeviceType::CPU).bytes_in_use == start.bytes_in_use + 6 * kMiB);
  }
  CHECK(allocator_stats(DeviceType::CPU).bytes_cached == start.bytes_cached + 6 * kMiB);
  {
    Tensor quarter = Tensor::empty({int64_t(kMiB / 4)});  // 1 MiB -> 2 MiB: 6 MiB is too big
    CHECK(quarter.raw_data() != first);
  }
  CHECK(allocator_stats(DeviceType::CPU).bytes_in_use == start.bytes_in_use);
  empty_cache(DeviceType::CPU);
  CHECK(allocator_stats(DeviceType::CPU).bytes_cached == 0);
}

TEST_CASE("a small block serves only requests of its own rounded size", "[allocator]") {
  empty_cache(DeviceType::CPU);
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({3000});  // 12,000 bytes: a 12,288-byte block (512-byte steps)
    first = t.raw_data();
  }
  {
    Tensor smaller = Tensor::empty({2000});  // 8,192 bytes: not the cached 12,288
    CHECK(smaller.raw_data() != first);
    Tensor same = Tensor::empty({3050});  // 12,200 -> 12,288: the cached block
    CHECK(same.raw_data() == first);
  }
  empty_cache(DeviceType::CPU);
}

TEST_CASE("warm steps of a layered model with Adam allocate nothing", "[allocator]") {
  manual_seed(3);
  auto model = std::static_pointer_cast<Sequential>(create_layer("sequential"));
  model->add(create_layer("linear", {{"in", 64}, {"out", 128}}))
      ->add(create_layer("relu"))
      ->add(create_layer("linear", {{"in", 128}, {"out", 10}}));
  auto loss_fn = create_layer("cross_entropy");
  auto opt = create_optimizer("adam", model->parameters(), {{"lr", 1e-3}});
  const Tensor x = randn({32, 64}), y = randint(0, 10, {32});
  auto step = [&] {
    opt->zero_grad();
    Tensor loss = loss_fn->forward(model->forward(x), y);
    loss.backward();
    opt->step();
  };
  std::string per_step;
  uint64_t last = allocator_stats(DeviceType::CPU).device_allocs;
  for (int i = 0; i < 6; ++i) {
    step();
    const uint64_t now = allocator_stats(DeviceType::CPU).device_allocs;
    per_step += std::to_string(now - last) + (i == 1 ? " | " : " ");
    last = now;
  }
  INFO("device allocations per step: " << per_step);
  CHECK(per_step.substr(per_step.find('|')) == "| 0 0 0 0 ");
}
