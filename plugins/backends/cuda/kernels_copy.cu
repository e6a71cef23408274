// copy with a CUDA side (copy_ in host/core/ops_create.cpp routes it here): casts and strided
// copies on a device, and transfers host -> device, device -> host and between two devices.
//
// Host <-> device transfers go through pinned buffers of the calling thread: cudaMemcpyAsync
// from pageable memory is not asynchronous, and staging lets the caller free or overwrite its
// host tensor as soon as the copy returns. Casts and strides are resolved on the host side of a
// transfer (by the CPU copy kernel) or by a kernel on the device side; the bytes that cross are
// always dense in the destination's dtype.
#include <algorithm>
#include <array>
#include <cstring>

#include "elementwise.cuh"
#include "gom/ops.h"

namespace gom::cuda {
namespace {

template <class S, class D>
struct CastCopyFn {
  const S* src;
  D* dst;
  Layout from, to;
  __device__ void operator()(int64_t i) const { dst[to.at(i)] = static_cast<D>(src[from.at(i)]); }
};

// dst[to(i)] = D(src[from(i)]) for i in [0, n), queued on `s` (of the current device).
void cast_copy(const void* src, DType src_dtype, Layout from, void* dst, DType dst_dtype, Layout to,
               int64_t n, cudaStream_t s) {
  visit_dtype(src_dtype, [&](auto* stag) {
    visit_dtype(dst_dtype, [&](auto* dtag) {
      using S = tag_type<decltype(stag)>;
      using D = tag_type<decltype(dtag)>;
      launch_each(n, s,
                  CastCopyFn<S, D>{static_cast<const S*>(src), static_cast<D*>(dst), from, to});
    });
  });
}

// The stream the copy uses on device `d`: the call's own when it is d's (copy_ passes the
// current stream of the CUDA side, of the source when both are), else d's current stream.
Stream stream_for(const KernelCall& c, Device d) {
  return c.stream.device == d ? c.stream : current_stream(d);
}
// `st` as a cudaStream_t, with its device made current (resolve may create a stream elsewhere).
cudaStream_t enter(Stream st) {
  const cudaStream_t s = resolve(st);
  set_device(st.device.index);
  return s;
}

// Work queued on `waiter` from now on starts after what is queued on `producer` (of device
// `producer_device`) so far; the host does not wait. The two may be on different devices.
void stream_wait(cudaStream_t waiter, cudaStream_t producer, int producer_device) {
  set_device(producer_device);
  cudaEvent_t ev = nullptr;
  GOM_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  GOM_CUDA_CHECK(cudaEventRecord(ev, producer));
  GOM_CUDA_CHECK(cudaStreamWaitEvent(waiter, ev, 0));
  GOM_CUDA_CHECK(cudaEventDestroy(ev));  // released once the wait no longer needs it
}

// One pinned host buffer of the staging ring, and the event that marks the end of the last
// transfer queued out of it.
struct PinnedBuffer {
  char* data = nullptr;
  size_t capacity = 0;
  cudaEvent_t done = nullptr;
  int event_device = -1;  // an event is recorded on a stream of its own device
  bool pending = false;

  /// @brief Notes that a transfer just queued on `s`, a stream of the current device `device`,
  /// reads the buffer.
  void read_by(cudaStream_t s, int device) {
    if (event_device != device) {
      if (done) GOM_CUDA_CHECK(cudaEventDestroy(done));
      done = nullptr;
      event_device = -1;
      GOM_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
      event_device = device;
    }
    GOM_CUDA_CHECK(cudaEventRecord(done, s));
    pending = true;
  }
};

// The calling thread's pinned host buffers: a ring of kBuffers, each kept and grown as
// transfers need. Before a buffer is written again, the host waits until the transfer queued
// out of it kBuffers transfers ago is done: a batch of a few tensors is queued without waiting
// for the device to finish the work queued before it. A transfer larger than kChunkBytes goes
// through the ring in pieces, so the pinned memory stays bounded.
class Staging {
 public:
  static constexpr int kBuffers = 4;
  static constexpr size_t kChunkBytes = size_t(64) << 20;
  static constexpr size_t kMinBytes = size_t(1) << 20;

  Staging() = default;
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() {  // no checks: this runs at thread exit, maybe after the runtime has gone
    for (PinnedBuffer& b : ring_) {
      if (b.pending) cudaEventSynchronize(b.done);
      if (b.data) cudaFreeHost(b.data);
      if (b.done) cudaEventDestroy(b.done);
    }
  }

  /// @brief The next buffer of the ring, of at least `bytes` (<= kChunkBytes), once no
  /// transfer reads it any more.
  PinnedBuffer& acquire(size_t bytes) {
    PinnedBuffer& b = ring_[next_];
    next_ = (next_ + 1) % kBuffers;
    if (b.pending) {
      GOM_CUDA_CHECK(cudaEventSynchronize(b.done));
      b.pending = false;
    }
    if (bytes > b.capacity) {
      const size_t grown = std::min(kChunkBytes, std::max({bytes, 2 * b.capacity, kMinBytes}));
      if (b.data) GOM_CUDA_CHECK(cudaFreeHost(b.data));
      b.data = nullptr;
      b.capacity = 0;
      void* p = nullptr;
      // Portable: pinned for every device's context, not only the current one's.
      GOM_CUDA_CHECK(cudaHostAlloc(&p, grown, cudaHostAllocPortable));
      b.data = static_cast<char*>(p);
      b.capacity = grown;
    }
    return b;
  }

 private:
  std::array<PinnedBuffer, kBuffers> ring_{};
  int next_ = 0;
};

Staging& staging() {
  thread_local Staging ring;
  return ring;
}

size_t bytes_of(const Tensor& t) {
  return size_t(t.numel()) * dtype_size(t.dtype());
}

// Temporary device memory of `bytes` on `on`'s device, for work queued on `on`.
Tensor device_bytes(size_t bytes, Stream on) {
  StreamGuard guard(on);
  return Tensor::empty({int64_t((bytes + 3) / 4)}, {DType::F32, on.device});
}

// host -> device, asynchronous: the host side is made dense in dst's dtype on the host (the CPU
// copy kernel handles its strides, broadcast and cast), copied into the pinned buffer and
// queued from there. A strided dst receives it through device scratch.
void host_to_device(const KernelCall& c, const Tensor& src, const Tensor& dst) {
  const Stream on = stream_for(c, dst.device());
  const cudaStream_t s = enter(on);
  Tensor host = src;
  if (!src.is_contiguous() || src.dtype() != dst.dtype()) {
    host = Tensor::empty(dst.shape(), {dst.dtype(), kCPU});
    copy_(host, src);
  }
  const size_t bytes = bytes_of(dst);
  Tensor landing;
  char* to = static_cast<char*>(dst.raw_data());
  if (!dst.is_contiguous()) {
    landing = device_bytes(bytes, on);
    to = static_cast<char*>(landing.raw_data());
  }
  const char* from = static_cast<const char*>(host.raw_data());
  Staging& ring = staging();
  for (size_t done = 0; done < bytes; done += Staging::kChunkBytes) {
    const size_t n = std::min(Staging::kChunkBytes, bytes - done);
    PinnedBuffer& pinned = ring.acquire(n);
    std::memcpy(pinned.data, from + done, n);
    GOM_CUDA_CHECK(cudaMemcpyAsync(to + done, pinned.data, n, cudaMemcpyHostToDevice, s));
    pinned.read_by(s, dst.device().index);
  }
  if (landing.defined())
    cast_copy(landing.raw_data(), dst.dtype(), Layout{}, dst.raw_data(), dst.dtype(),
              layout_of(dst), dst.numel(), s);
}

// device -> host: the device side is made dense in dst's dtype on the device, copied into the
// pinned buffer and from there into dst (through a dense host tensor when dst is strided). The
// host reads the values before this returns, so it waits for the stream here: the one place a
// kernel of this backend synchronises, as a copy to the host must.
void device_to_host(const KernelCall& c, const Tensor& src, const Tensor& dst) {
  const Stream on = stream_for(c, src.device());
  const cudaStream_t s = enter(on);
  const size_t bytes = bytes_of(dst);
  Tensor dense_src;
  const char* from = static_cast<const char*>(src.raw_data());
  if (!src.is_contiguous() || src.dtype() != dst.dtype()) {
    dense_src = device_bytes(bytes, on);
    cast_copy(src.raw_data(), src.dtype(), layout_as(src, dst.shape()), dense_src.raw_data(),
              dst.dtype(), Layout{}, dst.numel(), s);
    from = static_cast<const char*>(dense_src.raw_data());
  }
  Tensor host = dst;
  if (!dst.is_contiguous()) host = Tensor::empty(dst.shape(), {dst.dtype(), kCPU});
  char* to = static_cast<char*>(host.raw_data());
  Staging& ring = staging();
  for (size_t done = 0; done < bytes; done += Staging::kChunkBytes) {
    const size_t n = std::min(Staging::kChunkBytes, bytes - done);
    PinnedBuffer& pinned = ring.acquire(n);
    GOM_CUDA_CHECK(cudaMemcpyAsync(pinned.data, from + done, n, cudaMemcpyDeviceToHost, s));
    GOM_CUDA_CHECK(cudaStreamSynchronize(s));
    std::memcpy(to + done, pinned.data, n);
  }
  if (!host.same(dst)) {
    Tensor out = dst;
    copy_(out, host);  // the CPU copy kernel: dst's strides
  }
}

// Between two devices: src made dense in dst's dtype on its own device, copied with
// cudaMemcpyPeerAsync on src's stream, and spread into a strided dst on dst's device. The copy
// waits for the work queued on dst's stream so far (it may still use the memory the copy
// overwrites), and dst's stream waits for the copy.
void peer_copy(const KernelCall& c, const Tensor& src, const Tensor& dst) {
  const Device a = src.device(), b = dst.device();
  const size_t bytes = bytes_of(dst);
  const Stream on_b = stream_for(c, b);
  const cudaStream_t sb = enter(on_b);
  Tensor landing;
  void* to = dst.raw_data();
  if (!dst.is_contiguous()) {
    landing = device_bytes(bytes, on_b);
    to = landing.raw_data();
  }
  const Stream on_a = stream_for(c, a);
  const cudaStream_t sa = enter(on_a);
  Tensor dense_src;
  const void* from = src.raw_data();
  if (!src.is_contiguous() || src.dtype() != dst.dtype()) {
    dense_src = device_bytes(bytes, on_a);
    cast_copy(src.raw_data(), src.dtype(), layout_as(src, dst.shape()), dense_src.raw_data(),
              dst.dtype(), Layout{}, dst.numel(), sa);
    from = dense_src.raw_data();
  }
  stream_wait(sa, sb, b.index);
  set_device(a.index);
  GOM_CUDA_CHECK(cudaMemcpyPeerAsync(to, b.index, from, a.index, bytes, sa));
  stream_wait(sb, sa, a.index);
  if (landing.defined()) {
    set_device(b.index);
    cast_copy(landing.raw_data(), dst.dtype(), Layout{}, dst.raw_data(), dst.dtype(),
              layout_of(dst), dst.numel(), sb);
  }
}

void device_to_device(const KernelCall& c, const Tensor& src, const Tensor& dst) {
  if (src.device() != dst.device()) return peer_copy(c, src, dst);
  const cudaStream_t s = enter(stream_for(c, dst.device()));
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    GOM_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), bytes_of(dst),
                                   cudaMemcpyDeviceToDevice, s));
    return;
  }
  cast_copy(src.raw_data(), src.dtype(), layout_as(src, dst.shape()), dst.raw_data(), dst.dtype(),
            layout_of(dst), dst.numel(), s);
}

// in[0] -> out[0] of one shape (src already expanded to it), either side on a CUDA device.
void copy(const KernelCall& c) {
  const Tensor &src = c.in[0], &dst = c.out[0];
  if (dst.numel() == 0) return;
  const bool src_on_cuda = src.device().type == DeviceType::CUDA;
  const bool dst_on_cuda = dst.device().type == DeviceType::CUDA;
  if (src_on_cuda && dst_on_cuda) return device_to_device(c, src, dst);
  if (dst_on_cuda) return host_to_device(c, src, dst);
  if (src_on_cuda) return device_to_host(c, src, dst);
  throw Error("copy: neither tensor is on a CUDA device");
}

void register_copy(const std::string& provider) {
  register_cuda_kernel("copy", copy, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_copy);

}  // namespace gom::cuda
