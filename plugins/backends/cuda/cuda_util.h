// cuda_util.h — what every CUDA kernel file of the backend shares: error checks, the device and
// stream a call runs on, library handles, scratch memory, strided indexing on the device, and
// the registration of kernel families.
//
// Conventions (read before writing a kernel):
//  - A kernel takes `cudaStream_t s = stream_of(c)` first: it selects the outputs' device and
//    returns the stream the call must queue to. Never use the legacy default stream (0), never
//    synchronise the host inside a kernel (read nothing back) unless the op's contract needs a
//    host value (say so in a comment).
//  - Launch with `grid_for(n)` / `kThreads` and a grid-stride loop; check with
//    GOM_CUDA_CHECK(cudaGetLastError()) after each launch.
//  - Strided inputs: pass a `Strided` (shape and strides, up to kMaxDims dims) by value and
//    map the output's row-major index to an input offset with `offset_of`.
//  - Scratch memory comes from `scratch(bytes, c)` (the caching allocator, on the call's stream).
//  - Each kernels_*.cu registers its family: `GOM_CUDA_KERNELS(register_fn)` with
//    `void register_fn(const std::string& provider)` calling register_cuda_kernel(...).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <string>

#include "gom/kernel.h"

namespace gom::cuda {

/// @brief Throws gom::Error with the CUDA error's text and where it happened.
[[noreturn]] void throw_cuda(const char* what, const char* expr, const char* file, int line);
#define GOM_CUDA_CHECK(expr)                                                                  \
  do {                                                                                        \
    if (cudaError_t gom_e = (expr); gom_e != cudaSuccess)                                     \
      ::gom::cuda::throw_cuda(cudaGetErrorString(gom_e), #expr, __FILE__, __LINE__);          \
  } while (0)
#define GOM_CUBLAS_CHECK(expr)                                                                \
  do {                                                                                        \
    if (cublasStatus_t gom_s = (expr); gom_s != CUBLAS_STATUS_SUCCESS)                        \
      ::gom::cuda::throw_cuda(cublasGetStatusString(gom_s), #expr, __FILE__, __LINE__);       \
  } while (0)
#define GOM_CUDNN_CHECK(expr)                                                                 \
  do {                                                                                        \
    if (cudnnStatus_t gom_s = (expr); gom_s != CUDNN_STATUS_SUCCESS)                          \
      ::gom::cuda::throw_cuda(cudnnGetErrorString(gom_s), #expr, __FILE__, __LINE__);         \
  } while (0)

/// @brief Makes `index` the calling thread's current CUDA device (cheap when it already is).
void set_device(int index);
/// @brief The backend's default stream of device `index` (a non-blocking stream made once).
cudaStream_t default_stream(int index);
/// @brief The stream `s` names: its handle, or the default stream of its device when null.
cudaStream_t resolve(Stream s);
/// @brief Selects the device of the call's outputs (or first input) and returns its stream.
cudaStream_t stream_of(const KernelCall& c);

/// @brief The calling thread's cuBLAS / cuBLASLt / cuDNN handle for the current device, bound
/// to `s`. TF32 is off unless GOM_CUDA_TF32=1 (exact float32 products, as on the CPU).
cublasHandle_t cublas(cudaStream_t s);
cublasLtHandle_t cublas_lt();
cudnnHandle_t cudnn(cudaStream_t s);
/// @brief Whether GOM_CUDA_TF32=1 allows TensorFloat-32 in matmuls and convolutions.
bool allow_tf32();

/// @brief Scratch memory of at least `bytes` on the call's device and stream, freed (back to
/// the cache) when the returned tensor goes.
Tensor scratch(size_t bytes, const KernelCall& c);

inline constexpr int kThreads = 256;
/// @brief Blocks for a grid-stride loop over `n` items.
inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 * 4 ? 65535 * 4 : blocks));
}

inline constexpr int kMaxDims = 8;
/// @brief A tensor's shape and strides (in elements), passed to a kernel by value.
struct Strided {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};
/// @brief `t`'s layout; throws for more than kMaxDims dims.
Strided strided(const Tensor& t);
/// @brief The layout of `t` seen with `shape` (same rank), e.g. an input broadcast to the
/// output's shape already has stride 0 in the broadcast dims.
Strided strided_as(const Tensor& t, const Shape& shape);

/// @brief The element offset of row-major index `i` of `s.shape` under `s.strides`.
__host__ __device__ inline int64_t offset_of(const Strided& s, int64_t i) {
  int64_t off = 0;
  for (int d = s.ndim - 1; d >= 0; --d) {
    const int64_t n = s.shape[d];
    off += (i % n) * s.strides[d];
    i /= n;
  }
  return off;
}

/// @brief Registers `fn` for the CUDA device, converting CUDA errors raised in it into
/// gom::Error naming the op.
void register_cuda_kernel(std::string_view op, KernelFn fn, std::string_view provider);

using RegisterFn = void (*)(const std::string& provider);
/// @brief A family of kernels registered with the plugin (see GOM_CUDA_KERNELS).
struct KernelFamily {
  explicit KernelFamily(RegisterFn fn);
};
/// @brief Every registered family, in the order their files were linked.
void register_families(const std::string& provider);
#define GOM_CUDA_KERNELS(fn) static const ::gom::cuda::KernelFamily gom_family_##fn(fn)

}  // namespace gom::cuda
