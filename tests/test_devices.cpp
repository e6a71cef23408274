// Devices on a machine that may have no GPU: streams and the per-stream cache, moving modules,
// the errors of a device that cannot run, the device-side variants run on the CPU, and the CPU
// paths that stand in for them. tests/gpu/ runs the same on a CUDA device.
#include <catch2/catch.hpp>

#include "gom/gom.h"
#include "gom/grad_clip.h"
#include "gom_core/trainer.h"
#include "lua_script.h"

using namespace gom;
using gom_test::require_ok;
using gom_test::run_lua;

namespace {
void* fake_stream(uintptr_t n) {
  return reinterpret_cast<void*>(n);
}
}  // namespace

TEST_CASE("a StreamGuard sets the thread's current stream of one device and restores it",
          "[devices]") {
  const Device cuda1{DeviceType::CUDA, 1};
  CHECK(current_stream(cuda1).handle == nullptr);
  {
    StreamGuard a(Stream{cuda1, fake_stream(16)});
    CHECK(current_stream(cuda1).handle == fake_stream(16));
    CHECK(current_stream(Device{DeviceType::CUDA, 0}).handle == nullptr);  // its own device only
    {
      StreamGuard b(Stream{cuda1, fake_stream(32)});
      CHECK(current_stream(cuda1).handle == fake_stream(32));
    }
    CHECK(current_stream(cuda1).handle == fake_stream(16));
    std::thread([&] { CHECK(current_stream(cuda1).handle == nullptr); }).join();  // per thread
  }
  CHECK(current_stream(cuda1).handle == nullptr);
}

TEST_CASE("a freed block is reused only by work on the stream it was allocated for",
          "[devices][allocator]") {
  empty_cache(kCPU);
  const size_t bytes = 3 << 20;  // a size no other test allocates
  std::shared_ptr<Storage> held;
  {
    StreamGuard on(Stream{kCPU, fake_stream(64)});
    held = Storage::allocate(bytes, kCPU);
    CHECK(held->stream() == fake_stream(64));
  }
  held.reset();  // back to stream 64's list
  const AllocatorStats before = allocator_stats(kCPU);
  auto other = Storage::allocate(bytes, kCPU);  // the default stream: not from stream 64's list
  CHECK(allocator_stats(kCPU).device_allocs == before.device_allocs + 1);
  {
    StreamGuard on(Stream{kCPU, fake_stream(64)});
    auto again = Storage::allocate(bytes, kCPU);
    CHECK(allocator_stats(kCPU).device_allocs == before.device_allocs + 1);  // a cache hit
    CHECK(allocator_stats(kCPU).cache_hits == before.cache_hits + 1);
  }
  other.reset();
  empty_cache(kCPU);
}

TEST_CASE("record_stream keeps each other stream once", "[devices][allocator]") {
  auto s = Storage::allocate(64, kCPU);
  s->record_stream(Stream{kCPU, nullptr});  // its own stream: nothing to wait for
  CHECK(s->used_streams().empty());
  s->record_stream(Stream{kCPU, fake_stream(8)});
  s->record_stream(Stream{kCPU, fake_stream(8)});
  s->record_stream(Stream{kCPU, fake_stream(24)});
  CHECK(s->used_streams() == std::vector<void*>{fake_stream(8), fake_stream(24)});
}

TEST_CASE("device names are parsed and printed in one way", "[devices]") {
  CHECK(Device::parse("cpu") == kCPU);
  CHECK(Device::parse("cuda") == Device{DeviceType::CUDA, 0});
  CHECK(Device::parse("cuda:3").str() == "cuda:3");
  CHECK(std::string(device_type_name(DeviceType::CUDA)) == "cuda");
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:16", "cuda:-1", "CPU"})
    CHECK_THROWS_WITH(Device::parse(bad), Catch::Contains("expected cpu, cuda or cuda:N"));
}

TEST_CASE("a device that cannot run here says why, and a module refuses to move there",
          "[devices]") {
  const Device cuda{DeviceType::CUDA, 0};
  const std::string why = device_unavailable(cuda);
  if (why.empty()) {
    WARN("this machine has a CUDA device: tests/gpu covers moving to it");
    return;
  }
  // Built without the CUDA backend: no backend; built with it on a machine without a GPU: the
  // backend's own reason.
  const BackendInfo* b = find_backend(DeviceType::CUDA);
  CHECK_THAT(why, b ? Catch::Contains("backend 'cuda' cannot run here: no CUDA device")
                    : Catch::Contains("no backend for device cuda:0 is loaded"));
  CHECK(device_unavailable(kCPU).empty());
  auto m = create_layer("linear", Config{{"in", 3}, {"out", 2}});
  const Tensor w = m->named_parameters().front().second;
  const std::vector<float> before = w.to_vector<float>();
  CHECK_THROWS_WITH(m->to(cuda), Catch::Contains("cannot move linear to cuda:0: " + why));
  CHECK(m->device() == kCPU);
  CHECK(w.to_vector<float>() == before);  // nothing moved, nothing lost
}

TEST_CASE("Module::to(cpu) keeps every handle, and device() reports where the model is",
          "[devices]") {
  auto m = create_layer("batchnorm1d", Config{{"num_features", 4}});
  const Tensor w = m->named_parameters().front().second;
  const void* data = w.raw_data();
  m->to(kCPU);
  CHECK(w.raw_data() == data);  // already there: not copied
  CHECK(m->device() == kCPU);
  CHECK(create_layer("relu", Config{})->device() == kCPU);  // no tensors: the CPU
}

TEST_CASE("clip_grad_norm_device_ scales like clip_grad_norm_ and returns the norm as a tensor",
          "[devices][grad_clip]") {
  Generator g(5);
  for (double norm_type : {2.0, 1.0, 3.0, std::numeric_limits<double>::infinity()}) {
    for (double max_norm : {0.5, 1e6}) {
      Tensor a = randn({4, 3}, &g).requires_grad_(), b = randn({5}, &g).requires_grad_();
      Tensor c = a.detach().clone().requires_grad_(), d = b.detach().clone().requires_grad_();
      a.set_grad(randn({4, 3}, &g));
      b.set_grad(randn({5}, &g));
      c.set_grad(a.grad().clone());
      d.set_grad(b.grad().clone());
      const double host = clip_grad_norm_({a, b}, max_norm, norm_type);
      const Tensor dev = clip_grad_norm_device_({c, d}, max_norm, norm_type);
      REQUIRE(dev.defined());
      CHECK(dev.dim() == 0);
      CHECK(dev.item() == Approx(host).epsilon(1e-5));
      CHECK(allclose(c.grad(), a.grad(), 1e-5, 1e-6));
      CHECK(allclose(d.grad(), b.grad(), 1e-5, 1e-6));
    }
  }
  Tensor none = randn({2}, &g).requires_grad_();
  CHECK_FALSE(clip_grad_norm_device_({none}, 1.0).defined());  // no gradient: nothing to clip
  CHECK_THROWS_WITH(clip_grad_norm_device_({none}, -1.0), Catch::Contains("max_norm"));
}

TEST_CASE("Lua: m:to, m:cpu, m:cuda and m:device", "[devices][lua]") {
  require_ok(run_lua(R"(
    local m = gom.sequential{gom.layer("linear", {["in"] = 2, out = 3})}
    assert(m:device() == "cpu")
    assert(m:to("cpu") == m and m:cpu() == m)
    local ok, err = pcall(function() m:cuda() end)
    assert(not ok and tostring(err):find("cannot move sequential to cuda:0", 1, true), tostring(err))
    ok, err = pcall(function() m:to("tpu") end)
    assert(not ok and tostring(err):find("expected cpu, cuda or cuda:N", 1, true), tostring(err))
  )"));
}

TEST_CASE("the CUDA backend, when built, has a kernel for every op the CPU backends have",
          "[devices]") {
  if (!find_backend(DeviceType::CUDA)) {
    WARN("the CUDA backend is not built here (GOM_CUDA=OFF or no nvcc)");
    return;
  }
  // The built-in plugins' CPU kernels (test plugins register ops of their own).
  std::vector<std::string> missing;
  for (const std::string& op : kernel_ops()) {
    const std::string cpu = kernel_provider(op, DeviceType::CPU);
    if ((cpu == "gom_onednn" || cpu == "gom_optimizers") && !has_kernel(op, DeviceType::CUDA))
      missing.push_back(op);
  }
  INFO("ops with a CPU kernel and no CUDA one: " << Catch::Detail::stringify(missing));
  CHECK(missing.empty());
  CHECK(has_kernel("matmul", DeviceType::CUDA));  // the list above was not empty by mistake
}
