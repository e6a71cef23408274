// svd through cuSOLVER's Jacobi SVD: gesvdjBatched for a batch of matrices of at most 32 x 32,
// else gesvdj once per matrix of the batch.
//
// Conventions as the CPU's (U [B, M, K'], S [B, K] descending, Vh [B, K'', N]); singular
// vectors are unique only up to sign (and within repeated singular values), and Jacobi may pick
// other signs than LAPACK's sgesdd, so a comparison with the CPU must compare U diag(S) Vh (and
// S), not U and Vh themselves.
//
// The solver reports non-convergence in a device-side info; the kernel reads it back (the one
// host wait here) to raise the CPU's error.
#include <cusolverDn.h>

#include <array>
#include <climits>
#include <vector>

#include "reduce_util.cuh"

namespace gom::cuda {
namespace {

#define GOM_CUSOLVER_CHECK(expr)                                                                \
  do {                                                                                          \
    if (cusolverStatus_t gom_s = (expr); gom_s != CUSOLVER_STATUS_SUCCESS)                      \
      ::gom::cuda::throw_cuda(("cuSOLVER status " + std::to_string(int(gom_s))).c_str(), #expr, \
                              __FILE__, __LINE__);                                              \
  } while (0)

// The calling thread's cuSOLVER handle for the current device, bound to `s`.
cusolverDnHandle_t cusolver(cudaStream_t s) {
  thread_local std::array<cusolverDnHandle_t, kMaxDevices> handles{};
  int device = 0;
  GOM_CUDA_CHECK(cudaGetDevice(&device));
  cusolverDnHandle_t& h = handles.at(static_cast<size_t>(device));
  if (!h) GOM_CUSOLVER_CHECK(cusolverDnCreate(&h));
  GOM_CUSOLVER_CHECK(cusolverDnSetStream(h, s));
  return h;
}

// gesvdj's parameters (tolerance, sweeps) at their defaults, for one call.
struct JacobiParams {
  gesvdjInfo_t p = nullptr;
  JacobiParams() { GOM_CUSOLVER_CHECK(cusolverDnCreateGesvdjInfo(&p)); }
  ~JacobiParams() { cusolverDnDestroyGesvdjInfo(p); }
  JacobiParams(const JacobiParams&) = delete;
  JacobiParams& operator=(const JacobiParams&) = delete;
};

// Each of `batch` [rows, cols] blocks of `p` set to an identity-like matrix (1 on the diagonal):
// the singular vectors of an empty matrix, as the CPU's.
__global__ void fill_eye(float* p, int64_t batch, int64_t rows, int64_t cols) {
  const int64_t total = batch * rows * cols;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e % cols, r = e / cols % rows;
    p[e] = r == c ? 1.f : 0.f;
  }
}

// dst[b][i] = src[b * src_stride + i] for i < len: the leading `len` elements of each block.
__global__ void copy_prefix(float* dst, const float* src, int64_t batch, int64_t len,
                            int64_t src_stride) {
  const int64_t total = batch * len;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x)
    dst[e] = src[e / len * src_stride + e % len];
}

// u[b][i][c] (row-major [rows, cols]) = v[b * v_stride + c * rows + i]: the leading `cols`
// columns of each column-major block of `rows` rows, transposed.
__global__ void transpose_leading(float* u, const float* v, int64_t batch, int64_t rows,
                                  int64_t cols, int64_t v_stride) {
  const int64_t total = batch * rows * cols;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e % cols, i = e / cols % rows, b = e / (cols * rows);
    u[e] = v[b * v_stride + c * rows + i];
  }
}

// in {a [B, M, N] f32 contiguous} -> out {U [B, M, K'], S [B, K], Vh [B, K'', N]}
void svd(const KernelCall& c) {
  const cudaStream_t s = stream_of(c);
  const Tensor& a = c.in[0];
  const Tensor &u = c.out[0], &sv = c.out[1], &vh = c.out[2];
  if (a.dtype() != DType::F32 || !a.is_contiguous() || a.dim() != 3)
    throw Error("svd: expects a contiguous f32 [B, M, N] input");
  const int64_t batch = a.shape()[0], m = a.shape()[1], n = a.shape()[2];
  const bool full = c.attrs.i("full_matrices") != 0;
  const int64_t k = m < n ? m : n, ucols = full ? m : k, vrows = full ? n : k;
  if (batch == 0) return;
  if (k == 0) {
    if (u.numel() > 0)
      fill_eye<<<grid_for(u.numel()), kThreads, 0, s>>>(u.data<float>(), batch, m, ucols);
    if (vh.numel() > 0)
      fill_eye<<<grid_for(vh.numel()), kThreads, 0, s>>>(vh.data<float>(), batch, vrows, n);
    GOM_CUDA_CHECK(cudaGetLastError());
    return;
  }
  if (m > INT_MAX || n > INT_MAX || batch > INT_MAX)
    throw Error("svd: matrices or batches beyond 2^31 - 1 are not supported on CUDA");

  // cuSOLVER is column-major: a's row-major [M, N] matrix is the column-major N x M matrix
  // At = A^T. The solver gives At = U' S V'^T, so A = V' S U'^T: Vh = U'^T, whose row-major
  // layout is U' column-major (its leading K'' columns), and U = V' (its leading K' columns),
  // transposed on the way out.
  const int rows = static_cast<int>(n), cols = static_cast<int>(m);
  const bool batched = rows <= 32 && cols <= 32;  // gesvdjBatched's limit; it has no econ mode
  const int econ = batched || full ? 0 : 1;
  const int64_t up_cols = econ ? k : n, vp_cols = econ ? k : m;  // columns of U' and V'

  const Tensor work_a = scratch(sizeof(float) * a.numel(), c);  // the solver overwrites A
  auto* pa = static_cast<float*>(work_a.raw_data());
  GOM_CUDA_CHECK(
      cudaMemcpyAsync(pa, a.raw_data(), sizeof(float) * a.numel(), cudaMemcpyDeviceToDevice, s));
  // U' goes straight into Vh when its columns are exactly Vh's rows.
  Tensor up_buf;
  float* pu = vh.data<float>();
  if (up_cols != vrows)
    pu = static_cast<float*>((up_buf = scratch(sizeof(float) * batch * n * up_cols, c)).raw_data());
  const Tensor vp_buf = scratch(sizeof(float) * batch * m * vp_cols, c);
  auto* pv = static_cast<float*>(vp_buf.raw_data());
  float* ps = sv.data<float>();
  const Tensor info_buf = scratch(sizeof(int) * batch, c);
  auto* info = static_cast<int*>(info_buf.raw_data());

  cusolverDnHandle_t h = cusolver(s);
  const JacobiParams params;
  const auto mode = CUSOLVER_EIG_MODE_VECTOR;
  int lwork = 0;
  if (batched) {
    GOM_CUSOLVER_CHECK(cusolverDnSgesvdjBatched_bufferSize(h, mode, rows, cols, pa, rows, ps, pu,
                                                           rows, pv, cols, &lwork, params.p,
                                                           static_cast<int>(batch)));
    const Tensor work = scratch(sizeof(float) * (lwork > 0 ? lwork : 1), c);
    GOM_CUSOLVER_CHECK(cusolverDnSgesvdjBatched(h, mode, rows, cols, pa, rows, ps, pu, rows, pv,
                                                cols, static_cast<float*>(work.raw_data()), lwork,
                                                info, params.p, static_cast<int>(batch)));
  } else {
    GOM_CUSOLVER_CHECK(cusolverDnSgesvdj_bufferSize(h, mode, econ, rows, cols, pa, rows, ps, pu,
                                                    rows, pv, cols, &lwork, params.p));
    const Tensor work = scratch(sizeof(float) * (lwork > 0 ? lwork : 1), c);
    for (int64_t b = 0; b < batch; ++b)
      GOM_CUSOLVER_CHECK(
          cusolverDnSgesvdj(h, mode, econ, rows, cols, pa + b * m * n, rows, ps + b * k,
                            pu + b * n * up_cols, rows, pv + b * m * vp_cols, cols,
                            static_cast<float*>(work.raw_data()), lwork, info + b, params.p));
  }
  if (up_cols != vrows) {
    copy_prefix<<<grid_for(vh.numel()), kThreads, 0, s>>>(vh.data<float>(), pu, batch, vrows * n,
                                                          n * up_cols);
    GOM_CUDA_CHECK(cudaGetLastError());
  }
  transpose_leading<<<grid_for(u.numel()), kThreads, 0, s>>>(u.data<float>(), pv, batch, m, ucols,
                                                             m * vp_cols);
  GOM_CUDA_CHECK(cudaGetLastError());

  // The one host wait: the solver's info, so that a failure raises as on the CPU.
  std::vector<int> host_info(static_cast<size_t>(batch));
  GOM_CUDA_CHECK(
      cudaMemcpyAsync(host_info.data(), info, sizeof(int) * batch, cudaMemcpyDeviceToHost, s));
  GOM_CUDA_CHECK(cudaStreamSynchronize(s));
  for (int64_t b = 0; b < batch; ++b)
    if (const int i = host_info[static_cast<size_t>(b)]; i != 0)
      throw Error("svd: cuSOLVER gesvdj failed on matrix " + std::to_string(b) +
                  " of the batch (info " + std::to_string(i) +
                  (i > 0 ? ": it did not converge)" : ": a bad argument)"));
}

void register_linalg(const std::string& provider) {
  register_cuda_kernel("svd", svd, provider);
}

}  // namespace

GOM_CUDA_KERNELS(register_linalg);

}  // namespace gom::cuda
