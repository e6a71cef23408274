// fill and arange: one value, or start + step * i, written to a dense tensor of any dtype.
#include <cstring>

#include "elementwise.cuh"

namespace gom::cuda {
namespace {

template <class T>
struct FillFn {
  T* out;
  T value;
  __device__ void operator()(int64_t i) const { out[i] = value; }
};

// start + step * i rounded as the CPU does (a double product, then a double sum: no fused
// multiply-add, which the CPU build has not either).
template <class T>
struct ArangeFn {
  T* out;
  double start, step;
  __device__ void operator()(int64_t i) const {
    out[i] = static_cast<T>(__dadd_rn(start, __dmul_rn(step, double(i))));
  }
};

// The core fills contiguous tensors only (a strided fill_ is a copy from a scalar).
void fill(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& out = c.out[0];
  const int64_t n = out.numel();
  if (n == 0) return;
  const double v = c.attrs.f("value");
  visit_dtype(out.dtype(), [&](auto* tag) {
    using T = tag_type<decltype(tag)>;
    const T x = static_cast<T>(v);  // converted on the host, as the CPU does
    T* p = static_cast<T*>(out.raw_data());
    const T zero{};
    if (std::memcmp(&x, &zero, sizeof(T)) == 0) {  // all bits zero (not -0.0): a memset
      GOM_CUDA_CHECK(cudaMemsetAsync(p, 0, size_t(n) * sizeof(T), s));
      return;
    }
    launch_each(n, s, FillFn<T>{p, x});
  });
}

void arange(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& out = c.out[0];
  const double start = c.attrs.f("start"), step = c.attrs.f("step");
  visit_dtype(out.dtype(), [&](auto* tag) {
    using T = tag_type<decltype(tag)>;
    launch_each(out.numel(), s, ArangeFn<T>{static_cast<T*>(out.raw_data()), start, step});
  });
}

void register_fill(const std::string& provider) {
  register_cuda_kernel("fill", fill, provider);
  register_cuda_kernel("arange", arange, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_fill);

}  // namespace gom::cuda
