// The caching allocator: freed blocks are kept by size and handed out again, so a training step
// with the same shapes as the last one does not reach the device allocator at all.
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "gom/kernel.h"

namespace gom {
namespace {

// 64-byte alignment suits AVX-512 loads and oneDNN's preference.
struct CpuAllocator : DeviceAllocator {
  void* allocate(size_t nbytes, Device) override {
    // More than the machine's memory cannot succeed; under overcommit malloc might still say
    // yes, and the first fill would then end the process instead of raising an error.
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && nbytes / size_t(page) > size_t(pages))
      throw Error("out of CPU memory: the machine has " +
                  std::to_string(size_t(pages) * size_t(page)) + " bytes in all");
    void* p = std::aligned_alloc(64, (nbytes + 63) / 64 * 64);
    if (!p) throw Error("out of CPU memory allocating " + std::to_string(nbytes) + " bytes");
    return p;
  }
  void deallocate(void* p, size_t, Device) override { std::free(p); }
};

constexpr size_t kBestFitBytes = size_t(1) << 20;

// Rounding keeps the number of distinct sizes small: 512 B steps below 1 MiB, 2 MiB above.
size_t round_size(size_t n) {
  if (n == 0) n = 1;
  const size_t step = n < kBestFitBytes ? 512 : (2u << 20);
  return (n + step - 1) / step * step;
}

// The sizes of blocks are known to their owners (Storage keeps them), and each (stream, size)
// has a list of free blocks that is never erased: in the steady state of a training loop, where
// each step frees and allocates the same sizes, no call allocates a node or a list.
// One cache per device; on a device with streams a freed block goes back to the list of the
// stream it was allocated for, so only that stream's later work reuses it (its earlier work
// on the block is ordered before by the stream itself), as in PyTorch's caching allocator.
class CachingAllocator {
 public:
  struct Block {
    void* data;
    size_t size;
  };
  Block allocate(size_t nbytes, Device dev, void* stream) {
    const size_t size = round_size(nbytes);
    std::lock_guard lock(mu_);
    // The same size first. Large requests may then take the best fit up to twice their size
    // (more would waste memory); small ones never do: with exact sizes alone, a step that repeats
    // the last one's allocations is served from the cache entirely, whereas a small block taken
    // by a smaller request can leave the next request of its own size short, step after step.
    auto it = free_.find({stream, size});
    if ((it == free_.end() || it->second.empty()) && size >= kBestFitBytes) {
      it = free_.lower_bound({stream, size});
      while (it != free_.end() && it->first.first == stream && it->first.second <= 2 * size &&
             it->second.empty())
        ++it;
    }
    if (it != free_.end() && it->first.first == stream && it->first.second <= 2 * size &&
        !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= it->first.second;
      stats_.bytes_in_use += it->first.second;
      ++stats_.cache_hits;
      return {p, it->first.second};
    }
    void* p = raw(dev.type).allocate(size, dev);
    ++stats_.device_allocs;
    stats_.bytes_in_use += size;
    return {p, size};
  }
  void deallocate(void* p, size_t size, void* stream) {
    std::lock_guard lock(mu_);
    free_[{stream, size}].push_back(p);
    stats_.bytes_in_use -= size;
    stats_.bytes_cached += size;
  }
  void empty(Device dev) {
    std::lock_guard lock(mu_);
    for (auto& [key, blocks] : free_)
      for (void* p : blocks) raw(dev.type).deallocate(p, key.second, dev);
    free_.clear();
    stats_.bytes_cached = 0;
  }
  AllocatorStats stats() {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  DeviceAllocator& raw(DeviceType dev) {
    const BackendInfo* b = find_backend(dev);
    if (b && b->allocator) return *b->allocator;
    if (dev != DeviceType::CPU)
      throw Error("no backend provides memory for device " + Device{dev, 0}.str() +
                  " (is its plugin loaded?)");
    static CpuAllocator cpu;
    return cpu;
  }
  std::mutex mu_;
  std::map<std::pair<void*, size_t>, std::vector<void*>> free_;  // free blocks by stream, size
  AllocatorStats stats_;
};

CachingAllocator& cache(Device dev) {
  // Leaked on purpose: tensors held by static objects may be freed after main returns.
  static auto* caches = new CachingAllocator[kNumDeviceTypes * kMaxDevices];
  return caches[static_cast<int>(dev.type) * kMaxDevices + dev.index];
}

}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  // The CPU has no streams and nothing sets one for it, outside the allocator's tests.
  void* stream = current_stream(device).handle;
  const auto block = cache(device).allocate(nbytes, device, stream);
  return std::make_shared<Storage>(block.data, nbytes, device, block.size, stream);
}

Storage::~Storage() {
  if (!block_) return;
  // Work queued on other streams may still read the block: its own stream waits for that work
  // before anything it queues later, so reusing the block there is safe.
  if (!used_streams_.empty())
    if (const BackendInfo* b = find_backend(device_.type); b && b->wait_stream)
      for (void* used : used_streams_) b->wait_stream({device_, stream_}, {device_, used});
  cache(device_).deallocate(data_, block_, stream_);
}

AllocatorStats allocator_stats(Device device) {
  return cache(device).stats();
}
AllocatorStats allocator_stats(DeviceType device) {
  return allocator_stats(Device{device, 0});
}
void empty_cache(Device device) {
  cache(device).empty(device);
}
void empty_cache(DeviceType device) {
  empty_cache(Device{device, 0});
}

}  // namespace gom
