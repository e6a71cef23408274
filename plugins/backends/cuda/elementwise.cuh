// elementwise.cuh — what the elementwise kernel files share: where element i of a (possibly
// strided or broadcast) tensor lives, and a grid-stride launch of a functor over n items. The
// dtype dispatch (visit_dtype) and merged layouts (compact) come from reduce_util.cuh.
#pragma once

#include <cstdint>
#include <type_traits>

#include "cuda_util.h"
#include "reduce_util.cuh"

namespace gom::cuda {

/// @brief Where row-major element i of a tensor lives: at i when it is dense, else through its
/// strides (stride 0 in broadcast dims), with the dims that continue each other in memory merged
/// (fewer 64-bit divisions per element). Dense tensors skip the index arithmetic, and need no
/// Strided (so they may have more than kMaxDims dims).
struct Layout {
  Strided s;
  bool dense = true;
  __device__ int64_t at(int64_t i) const { return dense ? i : offset_in(s, i); }
};

/// @brief `t`'s layout seen with `shape` (same rank; dims of 1 in `t` broadcast).
inline Layout layout_as(const Tensor& t, const Shape& shape) {
  Layout l;
  l.dense = t.is_contiguous() && t.shape() == shape;
  if (!l.dense) {
    const Strided seen = strided_as(t, shape);
    l.s = compact(shape, Shape(seen.strides, seen.strides + seen.ndim));
  }
  return l;
}
inline Layout layout_of(const Tensor& t) {
  return layout_as(t, t.shape());
}

template <class F>
__global__ void each_kernel(int64_t n, F f) {
  const int64_t step = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) f(i);
}

/// @brief Runs f(i) for i in [0, n) on stream `s` (nothing for n <= 0). `f` is a trivially
/// copyable functor with a `__device__ void operator()(int64_t) const`, defined at namespace
/// scope (a kernel cannot be instantiated on a local type).
template <class F>
void launch_each(int64_t n, cudaStream_t s, const F& f) {
  if (n <= 0) return;
  each_kernel<<<grid_for(n), kThreads, 0, s>>>(n, f);
  GOM_CUDA_CHECK(cudaGetLastError());
}

/// @brief The T of visit_dtype's tag argument.
template <class Tag>
using tag_type = std::remove_pointer_t<Tag>;

}  // namespace gom::cuda
