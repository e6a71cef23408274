// The helpers the CUDA recurrent kernels share (see kernels_rnn.h): sizes, dense copies of
// strided inputs, the GEMM wrapper and the bias-gradient column sums.
#include "kernels_rnn.h"

namespace gom::cuda::rnn {
namespace {

__global__ void gather_f32(const float* src, Strided layout, int64_t n, float* dst) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = src[offset_of(layout, i)];
}

__global__ void fill_f32(float* p, int64_t n, float v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    p[i] = v;
}

}  // namespace

Dims dims_of(const KernelCall& c, const Tensor& x) {
  const int64_t m = c.attrs.i("mode");
  if (m < int64_t(RnnMode::Tanh) || m > int64_t(RnnMode::Gru))
    throw Error("unknown recurrent mode " + std::to_string(m));
  if (x.dim() != 3) throw Error("x has shape " + shape_str(x.shape()) + ", expected [T, B, I]");
  const auto mode = RnnMode(m);
  const int64_t G = mode == RnnMode::Lstm ? 4 : mode == RnnMode::Gru ? 3 : 1;
  return {mode, x.shape()[0], x.shape()[1], x.shape()[2], c.attrs.i("hidden"), G};
}

const Tensor& required(const Tensor& t, const char* what) {
  if (!t.defined()) throw Error(std::string(what) + " is missing");
  return t;
}

float* out_f32(const Tensor& t, const char* what) {
  if (!required(t, what).is_contiguous())
    throw Error(std::string(what) + " (an output) is not contiguous");
  return t.data<float>();
}

void check_workspace(const Tensor& ws, const Dims& d) {
  const int64_t need = workspace_floats(d);
  required(ws, "workspace");
  if (ws.dtype() != DType::F32 || ws.numel() < need || !ws.is_contiguous())
    throw Error("workspace of " + std::to_string(ws.numel()) +
                " elements, expected a dense f32 one of at least " + std::to_string(need));
}

DenseF32 dense_f32(const Tensor& t, const KernelCall& c, cudaStream_t s) {
  DenseF32 d;
  if (!t.defined()) return d;
  const float* src = t.data<float>();  // checks the dtype, as the CPU kernel's data<float>()
  if (t.is_contiguous()) {
    d.p = src;
    return d;
  }
  const int64_t n = t.numel();
  d.keep = scratch(static_cast<size_t>(n) * sizeof(float), c);
  gather_f32<<<grid_for(n), kThreads, 0, s>>>(src, strided(t), n, d.keep.data<float>());
  GOM_CUDA_CHECK(cudaGetLastError());
  d.p = d.keep.data<float>();
  return d;
}

void gemm(cudaStream_t s, cublasOperation_t op_a, cublasOperation_t op_b, int64_t m, int64_t n,
          int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == 0.0f) GOM_CUDA_CHECK(cudaMemsetAsync(c, 0, size_t(m * n) * sizeof(float), s));
    return;
  }
  const float one = 1.0f;
  GOM_CUBLAS_CHECK(
      cublasSgemm_64(cublas(s), op_a, op_b, m, n, k, &one, a, lda, b, ldb, &beta, c, ldc));
}

void column_sums(const KernelCall& call, cudaStream_t s, const float* m, int64_t rows, int64_t n,
                 float* db) {
  if (n == 0) return;
  // rows >= 1 here (T and B are at least 1). The row-major [rows, n] matrix is column-major
  // [n, rows]: db = that matrix times a vector of ones.
  Tensor ones = scratch(static_cast<size_t>(rows) * sizeof(float), call);
  fill_f32<<<grid_for(rows), kThreads, 0, s>>>(ones.data<float>(), rows, 1.0f);
  GOM_CUDA_CHECK(cudaGetLastError());
  const float one = 1.0f, zero = 0.0f;
  GOM_CUBLAS_CHECK(cublasSgemv_64(cublas(s), CUBLAS_OP_N, n, rows, &one, m, n, ones.data<float>(),
                                  1, &zero, db, 1));
}

}  // namespace gom::cuda::rnn
