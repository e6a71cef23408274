// The CUDA backend: its plugin entry, device memory, streams and whether it can run here.
// The plugin loads wherever it was built; without a usable device it registers itself and its
// kernels all the same, and says why it cannot run (`gom plugins`, `--backend cuda`).
#include <cuda_runtime.h>
#include <cudnn.h>
#include <fmt/format.h>

#include <mutex>

#include "collectives.h"
#include "cuda_util.h"
#include "gom/plugin.h"

namespace gom::cuda {
namespace {

// "" when a device is usable, else why not; asked once (the answer does not change).
const std::string& why_unavailable() {
  static const std::string why = [] {
    int n = 0;
    if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess) {
      cudaGetLastError();  // clear the sticky error
      return fmt::format("no CUDA device ({})", cudaGetErrorString(e));
    }
    return n == 0 ? std::string("no CUDA device") : std::string();
  }();
  return why;
}

int device_count() {
  if (!why_unavailable().empty()) return 0;
  int n = 0;
  GOM_CUDA_CHECK(cudaGetDeviceCount(&n));
  return n;
}

struct CudaAllocator : DeviceAllocator {
  void* allocate(size_t nbytes, Device device) override {
    set_device(device.index);
    void* p = nullptr;
    if (cudaError_t e = cudaMalloc(&p, nbytes); e != cudaSuccess) {
      cudaGetLastError();
      size_t free = 0, total = 0;
      cudaMemGetInfo(&free, &total);
      throw Error(fmt::format("out of memory on {}: {} bytes asked, {} of {} bytes free ({})",
                              device.str(), nbytes, free, total, cudaGetErrorString(e)));
    }
    return p;
  }
  void deallocate(void* p, size_t, Device device) override {
    set_device(device.index);
    cudaFree(p);  // no throw: called while freeing
  }
};

std::string device_name(int index) {
  cudaDeviceProp prop{};
  GOM_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return fmt::format("{} (sm_{}{}, {:.0f} GiB)", prop.name, prop.major, prop.minor,
                     double(prop.totalGlobalMem) / double(1ull << 30));
}

std::string description() {
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  const size_t dnn = cudnnGetVersion();
  const std::string nccl = collectives_description();
  return fmt::format("CUDA runtime {}.{}, cuBLAS/cuBLASLt, cuDNN {}.{}.{}, {}own kernels",
                     runtime / 1000, runtime % 1000 / 10, dnn / 10000, dnn % 10000 / 100, dnn % 100,
                     nccl.empty() ? "" : nccl + ", ");
}

void register_all(const PluginContext& ctx) {
  BackendInfo info;
  info.name = "cuda";
  info.device = DeviceType::CUDA;
  info.description = description();
  info.device_name = device_name;
  info.allocator = std::make_shared<CudaAllocator>();
  info.unavailable = [] { return why_unavailable(); };
  info.device_count = device_count;
  info.synchronize = [](Stream s) {
    set_device(s.device.index);
    GOM_CUDA_CHECK(cudaStreamSynchronize(resolve(s)));
  };
  info.new_stream = [](int index) -> void* {
    set_device(index);
    cudaStream_t s = nullptr;
    GOM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  };
  info.wait_stream = [](Stream waiter, Stream producer) {
    set_device(producer.device.index);
    cudaEvent_t ev = nullptr;
    GOM_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
    GOM_CUDA_CHECK(cudaEventRecord(ev, resolve(producer)));
    GOM_CUDA_CHECK(cudaStreamWaitEvent(resolve(waiter), ev, 0));
    GOM_CUDA_CHECK(cudaEventDestroy(ev));  // released once the wait no longer needs it
  };
  add_collectives(info);
  register_backend(std::move(info));
  register_families(ctx.name);
}

}  // namespace
}  // namespace gom::cuda

GOM_PLUGIN(gom::cuda::register_all)
