// kernels_rnn.h — what the CUDA recurrent kernels (kernels_rnn_forward.cu, kernels_rnn_backward.cu)
// share: the sizes of a call, the workspace layout, dense float views of inputs and the GEMMs.
//
// One layer over the whole sequence, time-major, PyTorch's equations and gate order (see
// gom/ops_rnn.h): the input projection of every step is one GEMM, then each step is one GEMM with
// w_hh and one pointwise kernel; the backward runs the same way from the last step down, and the
// weight gradients are one GEMM each over all steps at the end. Nothing is read back to the host.
//
// The training workspace (f32 elements, in this order):
//   gates [T, B, G*H]  the activated gates of every step: h (rnn), i f g o (lstm), r z n (gru)
//   extra [T, B, H]    lstm: the cell state c_t of every step; gru: W_hn h_{t-1} + b_hn (the hidden
//                      n-gate part the reset gate multiplies); none for rnn
// The hidden states h_t themselves are y, which rnn_backward is handed.
#pragma once

#include "cuda_util.h"
#include "gom/ops_rnn.h"

namespace gom::cuda::rnn {

/// @brief The sizes of one call: x [T, B, I], hidden H, G gates.
struct Dims {
  RnnMode mode;
  int64_t T, B, I, H, G;
};

/// @brief The dims of a call from x and the attrs mode and hidden; throws for an unknown mode.
Dims dims_of(const KernelCall& c, const Tensor& x);

/// @brief `t`; throws naming `what` when it is undefined (the message gets the op's name
/// from register_cuda_kernel).
const Tensor& required(const Tensor& t, const char* what);
/// @brief The elements of output `t`; throws unless it is defined and contiguous (the contract
/// promises both).
float* out_f32(const Tensor& t, const char* what);
/// @brief Throws unless `ws` is a dense f32 workspace of at least workspace_floats(d).
void check_workspace(const Tensor& ws, const Dims& d);

/// @brief f32 elements of the workspace's extra part: [T, B, H] for lstm and gru, else 0.
inline int64_t extra_floats(const Dims& d) {
  return d.mode == RnnMode::Lstm || d.mode == RnnMode::Gru ? d.T * d.B * d.H : 0;
}
/// @brief f32 elements the training forward's workspace needs.
inline int64_t workspace_floats(const Dims& d) {
  return d.T * d.B * d.G * d.H + extra_floats(d);
}

/// @brief A float tensor's elements, dense row-major on the device: the tensor itself when
/// contiguous, else a copy into scratch (kept alive by `keep`). `p` is null for an undefined
/// tensor (the kernels read zeros then).
struct DenseF32 {
  Tensor keep;
  const float* p = nullptr;
};
DenseF32 dense_f32(const Tensor& t, const KernelCall& c, cudaStream_t s);

/// @brief cublasSgemm_64 on stream `s` (column-major: C = op(A) op(B) + beta C, alpha 1), with
/// the handle's TF32 setting. Returns at once for an empty C; for k = 0 (cuBLAS rejects
/// lda < 1) it zeroes C when beta is 0 (C dense, ldc == m) and leaves it when beta is 1.
void gemm(cudaStream_t s, cublasOperation_t op_a, cublasOperation_t op_b, int64_t m, int64_t n,
          int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc);

/// @brief db[n] = the sum over rows of the row-major matrix m [rows, n] (a GEMV with ones).
void column_sums(const KernelCall& call, cudaStream_t s, const float* m, int64_t rows, int64_t n,
                 float* db);

}  // namespace gom::cuda::rnn
