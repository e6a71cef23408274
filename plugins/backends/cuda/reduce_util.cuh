// reduce_util.cuh — what the kernels that combine many values into one share (reduce, arg-max,
// softmax, losses, layer norm): team reductions (a thread, a warp or a block combining values in
// a fixed order, so repeated runs give identical bits), compact layouts with mergeable dims
// merged, and a dispatch on the element type.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "cuda_util.h"

namespace gom::cuda {

inline constexpr unsigned kFullMask = 0xffffffffu;
/// @brief Enough threads in flight to keep a large GPU busy; below it, work is split further.
inline constexpr int64_t kBusyThreads = int64_t(1) << 17;

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

/// @brief offset_of with the common cases (no dims, one dim) free of 64-bit divisions.
__host__ __device__ inline int64_t offset_in(const Strided& s, int64_t i) {
  if (s.ndim == 0) return 0;
  if (s.ndim == 1) return i * s.strides[0];
  return offset_of(s, i);
}

/// @brief Appends a dim of `n` elements `stride` apart to `s`, in row-major order. Size-1 dims
/// are dropped and a dim that continues the last one in memory is merged into it, so a dense
/// tensor becomes one dim (and offset_in a multiplication); row-major indices keep their meaning.
inline void push_dim(Strided& s, int64_t n, int64_t stride) {
  if (n == 1) return;
  if (s.ndim > 0 && s.strides[s.ndim - 1] == stride * n) {
    s.shape[s.ndim - 1] *= n;
    s.strides[s.ndim - 1] = stride;
    return;
  }
  if (s.ndim == kMaxDims)
    throw Error("cuda: more than " + std::to_string(kMaxDims) + " dims in a layout");
  s.shape[s.ndim] = n;
  s.strides[s.ndim] = stride;
  ++s.ndim;
}

/// @brief `shape` laid out with `strides` (same rank), dims merged as push_dim does.
inline Strided compact(const Shape& shape, const Shape& strides) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    throw Error("cuda: tensors of more than " + std::to_string(kMaxDims) +
                " dims are not supported");
  Strided s;
  for (size_t d = 0; d < shape.size(); ++d) push_dim(s, shape[d], strides[d]);
  return s;
}

/// @brief The smallest |stride| of `s`'s dims (INT64_MAX when it has none).
inline int64_t min_stride(const Strided& s) {
  int64_t m = INT64_MAX;
  for (int d = 0; d < s.ndim; ++d) {
    const int64_t a = s.strides[d] < 0 ? -s.strides[d] : s.strides[d];
    m = a < m ? a : m;
  }
  return m;
}

/// @brief Calls f with a typed null pointer for `t` (float, int32_t, int64_t).
template <class F>
void visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::F32:
      f(static_cast<float*>(nullptr));
      return;
    case DType::I32:
      f(static_cast<int32_t*>(nullptr));
      return;
    case DType::I64:
      f(static_cast<int64_t*>(nullptr));
      return;
  }
  throw Error("cuda: unknown dtype");
}

/// @brief __shfl_down_sync / __shfl_sync for any trivially copyable value of whole 32-bit words.
template <class T>
__device__ T shfl_down_any(T v, int delta) {
  static_assert(sizeof(T) % 4 == 0, "shuffled values are whole 32-bit words");
  int w[sizeof(T) / 4];
  memcpy(w, &v, sizeof(T));
  for (int i = 0; i < int(sizeof(T) / 4); ++i) w[i] = __shfl_down_sync(kFullMask, w[i], delta);
  memcpy(&v, w, sizeof(T));
  return v;
}
template <class T>
__device__ T shfl_any(T v, int lane) {
  int w[sizeof(T) / 4];
  memcpy(w, &v, sizeof(T));
  for (int i = 0; i < int(sizeof(T) / 4); ++i) w[i] = __shfl_sync(kFullMask, w[i], lane);
  memcpy(&v, w, sizeof(T));
  return v;
}

/// @brief Combines `v` over a team of `Team` consecutive threads (1, a warp of 32, or the whole
/// block of kThreads) with `f`, in a fixed order; every thread of the team gets the result.
/// All threads of the team must call it (for a block: all threads of the block).
template <int Team, class T, class F>
__device__ T team_reduce(T v, F f) {
  static_assert(Team == 1 || Team == 32 || Team == kThreads, "a team is a thread, warp or block");
  if constexpr (Team == 1) {
    return v;
  } else {
    for (int d = 16; d > 0; d /= 2) v = f(v, shfl_down_any(v, d));
    v = shfl_any(v, 0);  // lane 0 holds the warp's result
    if constexpr (Team == 32) {
      return v;
    } else {
      constexpr int kWarps = Team / 32;
      __shared__ T warp_result[kWarps];
      if (threadIdx.x % 32 == 0) warp_result[threadIdx.x / 32] = v;
      __syncthreads();
      T r = warp_result[0];
      for (int i = 1; i < kWarps; ++i) r = f(r, warp_result[i]);
      __syncthreads();  // the next call may overwrite warp_result
      return r;
    }
  }
}

/// @brief Blocks of kThreads for a loop of `items` teams of `team` threads each.
inline unsigned grid_for_teams(int64_t items, int team) {
  return grid_for(items * team);
}

}  // namespace gom::cuda
